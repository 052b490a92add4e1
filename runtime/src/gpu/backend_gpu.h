/* The GPU backend (backend_gpu.c: device, memory, program load), written
 * once for HIP and CUDA over gpu_api.h. Running a loaded program is
 * graph_runner.h's job; this header includes it for the tests' hooks.
 */
#ifndef GRETA_BACKEND_GPU_H
#define GRETA_BACKEND_GPU_H

#include <stdint.h>

#include "../backend.h"
#include "gpu_api.h"
#include "graph_runner.h"

typedef struct greta_gpu_backend_s {
  greta_backend_t base; /* first: the session sees only this */
  greta_gpu_api_t *api; /* owned */
} greta_gpu_backend_t;

#endif /* GRETA_BACKEND_GPU_H */
