/* The internal GPU interface: what backend_gpu.c and graph_runner.c need
 * from a GPU driver, implemented twice by small adapters over dlopen'ed
 * symbol tables (gpu_hip.c over libamdhip64, gpu_cuda.c over libcuda).
 *
 * Everything above this header is written once and runs unchanged on AMD and
 * NVIDIA. No GPU header is included anywhere: the adapters declare the few
 * handle types and enum values they need themselves.
 *
 * Handles (modules, functions, graphs) are opaque `void *`. Device addresses
 * are `void *` too (CUdeviceptr is a 64-bit integer; only x86-64 and aarch64
 * are supported, where the two have the same width).
 *
 * An adapter owns one device, one context (CUDA's primary context) and one
 * stream; every asynchronous operation below is enqueued on that stream.
 */
#ifndef GRETA_GPU_API_H
#define GRETA_GPU_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../dynlib.h"
#include "greta/greta.h"

typedef enum greta_gpu_kind_e {
  GRETA_GPU_HIP = 0,
  GRETA_GPU_CUDA = 1,
} greta_gpu_kind_t;

typedef struct greta_gpu_api_s greta_gpu_api_t;

/* What the backend needs to know about the device, read once at open. */
typedef struct greta_gpu_device_info_s {
  char name[256];            /* "NVIDIA H100 80GB HBM3", "AMD Instinct MI300X" */
  char target[64];           /* full target ID: "sm_90", "gfx942:sramecc+:xnack-" */
  int max_threads_per_block; /* device limit; a kernel may have a lower one */
  int max_shared_per_block;  /* bytes usable without opting in */
  int max_shared_per_block_optin; /* bytes usable after opting in (>= the above) */
} greta_gpu_device_info_t;

/* The one internal interface. Every fallible call returns a status whose
 * message names the driver call that failed (see greta_gpu_error). */
typedef struct greta_gpu_ops_s {
  void (*close)(greta_gpu_api_t *api);
  greta_status_t (*alloc)(greta_gpu_api_t *api, size_t bytes, void **out_device);
  greta_status_t (*free)(greta_gpu_api_t *api, void *device);
  greta_status_t (*memory_info)(greta_gpu_api_t *api, uint64_t *out_free, uint64_t *out_total);
  /* Synchronous copies. */
  greta_status_t (*copy_to_device)(greta_gpu_api_t *api, void *device, const void *host,
                                   size_t bytes);
  greta_status_t (*copy_to_host)(greta_gpu_api_t *api, void *host, const void *device,
                                 size_t bytes);
  /* Enqueued on the stream; `host` must stay valid until the stream is
   * synchronized. */
  greta_status_t (*copy_to_device_async)(greta_gpu_api_t *api, void *device,
                                         const void *host, size_t bytes);
  /* Loads a whole code object (HSACO / cubin) as it is. */
  greta_status_t (*module_load)(greta_gpu_api_t *api, const void *image, void **out_module);
  void (*module_unload)(greta_gpu_api_t *api, void *module);
  /* GRETA_NOT_FOUND when the module has no kernel `name`. */
  greta_status_t (*function_get)(greta_gpu_api_t *api, void *module, const char *name,
                                 void **out_function);
  /* The kernel's own limits: most threads per block it can be launched with
   * (its launch bounds / registers), and its static shared memory in bytes. */
  greta_status_t (*function_limits)(greta_gpu_api_t *api, void *function,
                                    int *out_max_threads, int *out_static_shared);
  /* Allows `bytes` of dynamic shared memory above the default limit (CUDA's
   * opt-in; a no-op where the driver needs none). */
  greta_status_t (*function_allow_shared)(greta_gpu_api_t *api, void *function, int bytes);
  /* Enqueues one launch; `args` holds one pointer per kernel argument, each
   * pointing at the argument's value (the driver copies them at the call).
   * early: the launch may start while the one before it on the stream still
   * runs, because its kernel waits for it in greta_grid_begin (prelude.h;
   * CUDA's programmatic dependent launch, sm_90 and later; on by default,
   * GRETA_OVERLAP=0 turns it off). An adapter that cannot launches in
   * order. */
  greta_status_t (*launch)(greta_gpu_api_t *api, void *function, const uint32_t grid[3],
                           const uint32_t block[3], uint32_t shared_bytes, void **args,
                           bool early);
  /* The tensor map (GRETA_GPU_TENSOR_MAP_BYTES, 64-aligned) of a tensor of
   * 2-byte elements at `address` for the copy engine: `rank` (2 to 5)
   * dimensions, innermost first, dims[d] elements, dimension d >= 1
   * strides[d - 1] elements apart; boxes of box[d] elements, box[0] = 64
   * (128-byte rows, the 128-byte swizzle); zeros past the bounds (the
   * prefill GEMMs' attr tma; templates/gemm_wgmma.h). NULL on an adapter
   * that has none: GRETA_UNAVAILABLE. */
  greta_status_t (*tensor_map)(greta_gpu_api_t *api, void *out_map, const void *address,
                               uint32_t rank, const uint64_t *dims, const uint64_t *strides,
                               const uint32_t *box);
  /* Stream capture: launches between begin and end are recorded, not run. */
  greta_status_t (*capture_begin)(greta_gpu_api_t *api);
  greta_status_t (*capture_end)(greta_gpu_api_t *api, void **out_graph);
  greta_status_t (*graph_instantiate)(greta_gpu_api_t *api, void *graph, void **out_exec);
  greta_status_t (*graph_launch)(greta_gpu_api_t *api, void *exec);
  void (*graph_exec_destroy)(greta_gpu_api_t *api, void *exec);
  void (*graph_destroy)(greta_gpu_api_t *api, void *graph);
  /* Waits for everything enqueued on the stream. */
  greta_status_t (*synchronize)(greta_gpu_api_t *api);
  /* Events: markers recorded on the stream, for timing (graph_runner.c).
   * events_begin makes the device current for the event calls that follow;
   * it is GRETA_UNAVAILABLE when the driver library lacks the event
   * functions (optional symbols). */
  greta_status_t (*events_begin)(greta_gpu_api_t *api);
  greta_status_t (*event_create)(greta_gpu_api_t *api, void **out_event);
  /* Enqueued on the stream. */
  greta_status_t (*event_record)(greta_gpu_api_t *api, void *event);
  /* Milliseconds from `start` to `end`, both recorded and reached. */
  greta_status_t (*event_elapsed)(greta_gpu_api_t *api, void *start, void *end, float *out_ms);
  void (*event_destroy)(greta_gpu_api_t *api, void *event);
} greta_gpu_ops_t;

#define GRETA_GPU_TENSOR_MAP_BYTES 128

/* The common head of both adapters' private structs. */
struct greta_gpu_api_s {
  const greta_gpu_ops_t *ops;
  greta_gpu_kind_t kind;
  const char *kind_name; /* "hip", "cuda" */
  greta_gpu_device_info_t info;
};

/* Opens device `ordinal`: loads the driver library, resolves its symbol
 * table, creates the context and the stream. GRETA_UNAVAILABLE, naming the
 * libraries tried or the device count, when there is no driver or device.
 * The caller owns *out_api and releases it with api->ops->close(api). */
greta_status_t greta_gpu_hip_open(int ordinal, greta_gpu_api_t **out_api);
greta_status_t greta_gpu_cuda_open(int ordinal, greta_gpu_api_t **out_api);

/* ---- symbol tables, without a device (tests, diagnostics) --------------- */

/* What the symbol table resolved: library path, required / optional counts. */
typedef greta_dynlib_report_t greta_gpu_symbols_report_t;

/* Loads the library and resolves its whole symbol table, calling nothing in
 * it, then unloads it. Fails like *_open when the library or a required
 * symbol is missing. */
greta_status_t greta_gpu_hip_probe(greta_gpu_symbols_report_t *out_report);
greta_status_t greta_gpu_cuda_probe(greta_gpu_symbols_report_t *out_report);

/* ---- shared by the adapters (gpu_errors.c) ------------------------------ */

/* The one table of driver error codes: "<call> failed: <name> (<code>):
 * <text>", with the greta status code the driver code maps to. `text` is
 * the driver's own description (may be NULL). */
greta_status_t greta_gpu_error(greta_gpu_kind_t kind, int code, const char *call,
                               const char *text);
/* The driver's name for `code` from the same table ("hipErrorNoDevice",
 * "CUDA_ERROR_OUT_OF_MEMORY"); "unknown error" when not listed. */
const char *greta_gpu_error_name(greta_gpu_kind_t kind, int code);

#endif /* GRETA_GPU_API_H */
