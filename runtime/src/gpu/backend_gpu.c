/* Placeholder until the GPU backend lands. */
#include "backend.h"
#include "status.h"

greta_status_t greta_backend_hip_create(int ordinal, greta_backend_t **out_backend) {
  *out_backend = NULL;
  return greta_status_make(GRETA_UNAVAILABLE, "HIP backend: not built yet");
}

greta_status_t greta_backend_cuda_create(int ordinal, greta_backend_t **out_backend) {
  *out_backend = NULL;
  return greta_status_make(GRETA_UNAVAILABLE, "CUDA backend: not built yet");
}
