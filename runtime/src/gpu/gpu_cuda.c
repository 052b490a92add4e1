/* The CUDA adapter: greta_gpu_ops_t over a dlopen'ed libcuda (the driver
 * API, not the runtime: it loads a cubin as it is, like HIP's module API).
 *
 * The device's primary context is made current at every entry, since the
 * caller may use the backend from any thread.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_api.h"
#include "status.h"

typedef int cu_result_t;                   /* CUresult; 0 = CUDA_SUCCESS */
typedef unsigned long long cu_deviceptr_t; /* CUdeviceptr */

/* CUlaunchAttribute and CUlaunchConfig, laid out as in cuda.h: the value is
 * a 64-byte union, of which programmatic stream serialization reads one
 * int. */
typedef struct cu_launch_attribute_s {
  int id;
  char pad[4];
  union {
    char bytes[64];
    int programmatic_stream_serialization_allowed;
  } value;
} cu_launch_attribute_t;
typedef struct cu_launch_config_s {
  unsigned int grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
  void *stream;
  cu_launch_attribute_t *attrs;
  unsigned int n_attrs;
} cu_launch_config_t;

/* Enum values from cuda.h. */
enum {
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
  CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
  CU_STREAM_DEFAULT = 0,
  CU_EVENT_DEFAULT = 0,
  CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6,
};

typedef struct cuda_symbols_s {
#define GRETA_CUDA_REQUIRED(ret, name, params) ret(*name) params;
#define GRETA_CUDA_OPTIONAL(ret, name, params) ret(*name) params;
#include "cuda_symbols.h"
#undef GRETA_CUDA_REQUIRED
#undef GRETA_CUDA_OPTIONAL
} cuda_symbols_t;

static const greta_dynlib_symbol_t cuda_symbol_list[] = {
#define GRETA_CUDA_REQUIRED(ret, name, params) {#name, offsetof(cuda_symbols_t, name), 1},
#define GRETA_CUDA_OPTIONAL(ret, name, params) {#name, offsetof(cuda_symbols_t, name), 0},
#include "cuda_symbols.h"
#undef GRETA_CUDA_REQUIRED
#undef GRETA_CUDA_OPTIONAL
};

static const char *const cuda_libraries[] = {"libcuda.so.1", "libcuda.so", NULL};

typedef struct cuda_api_s {
  greta_gpu_api_t base; /* first: the backend sees only this */
  void *library;        /* dlopen handle */
  cuda_symbols_t cu;
  int device;
  void *context; /* the primary context, retained */
  void *stream;
  bool early_launch; /* programmatic dependent launch: sm_90+, cuLaunchKernelEx */
} cuda_api_t;

static greta_status_t cuda_check(const cuda_api_t *api, cu_result_t result, const char *call) {
  if (result == 0) return NULL;
  const char *text = NULL;
  if (api->cu.cuGetErrorString(result, &text) != 0) text = NULL;
  return greta_gpu_error(GRETA_GPU_CUDA, result, call, text);
}

/* Calls `fn args` and turns its result into a status naming `fn`. */
#define CUDA_CALL(api, fn, args) cuda_check((api), (api)->cu.fn args, #fn)

static cuda_api_t *cuda_api(greta_gpu_api_t *base) { return (cuda_api_t *)base; }

static cu_deviceptr_t cuda_ptr(const void *device) { return (cu_deviceptr_t)(uintptr_t)device; }

static greta_status_t cuda_load(cuda_api_t *api, greta_gpu_symbols_report_t *report) {
  GRETA_RETURN_IF_ERROR(greta_dynlib_open("CUDA", cuda_libraries, &api->library));
  return greta_dynlib_resolve(api->library, "CUDA", cuda_symbol_list,
                                   sizeof cuda_symbol_list / sizeof cuda_symbol_list[0],
                                   &api->cu, report);
}

greta_status_t greta_gpu_cuda_probe(greta_gpu_symbols_report_t *out_report) {
  cuda_api_t api = {0};
  greta_status_t status = cuda_load(&api, out_report);
  if (api.library) dlclose(api.library);
  return status;
}

static greta_status_t cuda_enter(cuda_api_t *api) {
  return CUDA_CALL(api, cuCtxSetCurrent, (api->context));
}

static void cuda_close(greta_gpu_api_t *base) {
  cuda_api_t *api = cuda_api(base);
  if (!api) return;
  if (api->context) {
    api->cu.cuCtxSetCurrent(api->context);
    if (api->stream) api->cu.cuStreamDestroy_v2(api->stream);
    api->cu.cuDevicePrimaryCtxRelease_v2(api->device);
  }
  if (api->library) dlclose(api->library); /* opened RTLD_NODELETE: stays mapped */
  free(api);
}

static greta_status_t cuda_alloc(greta_gpu_api_t *base, size_t bytes, void **out_device) {
  cuda_api_t *api = cuda_api(base);
  cu_deviceptr_t device = 0;
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  GRETA_RETURN_IF_ERROR(CUDA_CALL(api, cuMemAlloc_v2, (&device, bytes)));
  *out_device = (void *)(uintptr_t)device;
  return NULL;
}

static greta_status_t cuda_free(greta_gpu_api_t *base, void *device) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuMemFree_v2, (cuda_ptr(device)));
}

static greta_status_t cuda_memory_info(greta_gpu_api_t *base, uint64_t *out_free,
                                       uint64_t *out_total) {
  cuda_api_t *api = cuda_api(base);
  size_t free_bytes = 0, total_bytes = 0;
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  GRETA_RETURN_IF_ERROR(CUDA_CALL(api, cuMemGetInfo_v2, (&free_bytes, &total_bytes)));
  *out_free = free_bytes;
  *out_total = total_bytes;
  return NULL;
}

static greta_status_t cuda_copy_to_device(greta_gpu_api_t *base, void *device, const void *host,
                                          size_t bytes) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuMemcpyHtoD_v2, (cuda_ptr(device), host, bytes));
}

static greta_status_t cuda_copy_to_host(greta_gpu_api_t *base, void *host, const void *device,
                                        size_t bytes) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuMemcpyDtoH_v2, (host, cuda_ptr(device), bytes));
}

static greta_status_t cuda_copy_to_device_async(greta_gpu_api_t *base, void *device,
                                                const void *host, size_t bytes) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuMemcpyHtoDAsync_v2, (cuda_ptr(device), host, bytes, api->stream));
}

static greta_status_t cuda_module_load(greta_gpu_api_t *base, const void *image,
                                       void **out_module) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuModuleLoadData, (out_module, image));
}

static void cuda_module_unload(greta_gpu_api_t *base, void *module) {
  cuda_api_t *api = cuda_api(base);
  if (cuda_enter(api) == NULL) api->cu.cuModuleUnload(module);
}

static greta_status_t cuda_function_get(greta_gpu_api_t *base, void *module, const char *name,
                                        void **out_function) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuModuleGetFunction, (out_function, module, name));
}

static greta_status_t cuda_function_limits(greta_gpu_api_t *base, void *function,
                                           int *out_max_threads, int *out_static_shared) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  GRETA_RETURN_IF_ERROR(CUDA_CALL(
      api, cuFuncGetAttribute, (out_max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, function)));
  return CUDA_CALL(api, cuFuncGetAttribute,
                   (out_static_shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function));
}

static greta_status_t cuda_function_allow_shared(greta_gpu_api_t *base, void *function,
                                                 int bytes) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuFuncSetAttribute,
                   (function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes));
}

static greta_status_t cuda_launch(greta_gpu_api_t *base, void *function, const uint32_t grid[3],
                                  const uint32_t block[3], uint32_t shared_bytes, void **args,
                                  bool early) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  if (early && api->early_launch) {
    cu_launch_attribute_t attr = {.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION};
    attr.value.programmatic_stream_serialization_allowed = 1;
    const cu_launch_config_t config = {
        grid[0],  grid[1],  grid[2], block[0], block[1], block[2], shared_bytes, api->stream,
        &attr, 1,
    };
    return CUDA_CALL(api, cuLaunchKernelEx, (&config, function, args, NULL));
  }
  return CUDA_CALL(api, cuLaunchKernel,
                   (function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                    shared_bytes, api->stream, args, NULL));
}

/* cuda.h's CUtensorMapDataType UINT16, CU_TENSOR_MAP_INTERLEAVE_NONE,
 * SWIZZLE_128B, L2_PROMOTION_L2_256B, FLOAT_OOB_FILL_NONE (zeros). */
enum { CU_TMAP_UINT16 = 1, CU_TMAP_INTERLEAVE_NONE = 0, CU_TMAP_SWIZZLE_128B = 3,
       CU_TMAP_L2_256B = 3, CU_TMAP_OOB_ZERO = 0 };

static greta_status_t cuda_tensor_map(greta_gpu_api_t *base, void *out_map, const void *address,
                                      uint32_t rank, const uint64_t *dims, const uint64_t *strides,
                                      const uint32_t *box) {
  cuda_api_t *api = cuda_api(base);
  if (!api->cu.cuTensorMapEncodeTiled)
    return greta_status_make(GRETA_UNAVAILABLE,
                             "the CUDA driver has no cuTensorMapEncodeTiled (CUDA 12 or later "
                             "needed for this code object's prefill GEMMs)");
  if (rank < 2 || rank > 5)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "a tensor map of rank %u (2 to 5)", rank);
  unsigned long long d[5], st[4];
  unsigned int b[5], steps[5];
  for (uint32_t i = 0; i < rank; i++) {
    d[i] = dims[i];
    b[i] = box[i];
    steps[i] = 1;
    if (i > 0) st[i - 1] = 2 * strides[i - 1]; /* bytes */
  }
  return CUDA_CALL(api, cuTensorMapEncodeTiled,
                   (out_map, CU_TMAP_UINT16, rank, (void *)address, d, st, b, steps,
                    CU_TMAP_INTERLEAVE_NONE, CU_TMAP_SWIZZLE_128B, CU_TMAP_L2_256B,
                    CU_TMAP_OOB_ZERO));
}

static greta_status_t cuda_capture_begin(greta_gpu_api_t *base) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuStreamBeginCapture_v2,
                   (api->stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
}

static greta_status_t cuda_capture_end(greta_gpu_api_t *base, void **out_graph) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuStreamEndCapture, (api->stream, out_graph));
}

static greta_status_t cuda_graph_instantiate(greta_gpu_api_t *base, void *graph,
                                             void **out_exec) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuGraphInstantiateWithFlags, (out_exec, graph, 0));
}

static greta_status_t cuda_graph_launch(greta_gpu_api_t *base, void *exec) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuGraphLaunch, (exec, api->stream));
}

static void cuda_graph_exec_destroy(greta_gpu_api_t *base, void *exec) {
  cuda_api_t *api = cuda_api(base);
  if (cuda_enter(api) == NULL) api->cu.cuGraphExecDestroy(exec);
}

static void cuda_graph_destroy(greta_gpu_api_t *base, void *graph) {
  cuda_api_t *api = cuda_api(base);
  if (cuda_enter(api) == NULL) api->cu.cuGraphDestroy(graph);
}

static greta_status_t cuda_synchronize(greta_gpu_api_t *base) {
  cuda_api_t *api = cuda_api(base);
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuStreamSynchronize, (api->stream));
}

/* cuda.h maps cuEventElapsedTime to _v2 from CUDA 12.8; older drivers have
 * only the plain one. */
static cu_result_t (*cuda_elapsed_fn(const cuda_api_t *api))(float *, void *, void *) {
  return api->cu.cuEventElapsedTime_v2 ? api->cu.cuEventElapsedTime_v2
                                       : api->cu.cuEventElapsedTime;
}

static greta_status_t cuda_events_begin(greta_gpu_api_t *base) {
  cuda_api_t *api = cuda_api(base);
  if (!api->cu.cuEventCreate || !api->cu.cuEventRecord || !api->cu.cuEventSynchronize ||
      !cuda_elapsed_fn(api) || !api->cu.cuEventDestroy_v2) {
    return greta_status_make(GRETA_UNAVAILABLE, "the CUDA driver library has no event functions");
  }
  return cuda_enter(api);
}

static greta_status_t cuda_event_create(greta_gpu_api_t *base, void **out_event) {
  cuda_api_t *api = cuda_api(base);
  return CUDA_CALL(api, cuEventCreate, (out_event, CU_EVENT_DEFAULT));
}

static greta_status_t cuda_event_record(greta_gpu_api_t *base, void *event) {
  cuda_api_t *api = cuda_api(base);
  return CUDA_CALL(api, cuEventRecord, (event, api->stream));
}

static greta_status_t cuda_event_elapsed(greta_gpu_api_t *base, void *start, void *end,
                                         float *out_ms) {
  cuda_api_t *api = cuda_api(base);
  return cuda_check(api, cuda_elapsed_fn(api)(out_ms, start, end), "cuEventElapsedTime");
}

static void cuda_event_destroy(greta_gpu_api_t *base, void *event) {
  cuda_api(base)->cu.cuEventDestroy_v2(event);
}

static const greta_gpu_ops_t cuda_ops = {
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .memory_info = cuda_memory_info,
    .copy_to_device = cuda_copy_to_device,
    .copy_to_host = cuda_copy_to_host,
    .copy_to_device_async = cuda_copy_to_device_async,
    .module_load = cuda_module_load,
    .module_unload = cuda_module_unload,
    .function_get = cuda_function_get,
    .function_limits = cuda_function_limits,
    .function_allow_shared = cuda_function_allow_shared,
    .launch = cuda_launch,
    .tensor_map = cuda_tensor_map,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .graph_instantiate = cuda_graph_instantiate,
    .graph_launch = cuda_graph_launch,
    .graph_exec_destroy = cuda_graph_exec_destroy,
    .graph_destroy = cuda_graph_destroy,
    .synchronize = cuda_synchronize,
    .events_begin = cuda_events_begin,
    .event_create = cuda_event_create,
    .event_record = cuda_event_record,
    .event_elapsed = cuda_event_elapsed,
    .event_destroy = cuda_event_destroy,
};

static greta_status_t cuda_attribute(cuda_api_t *api, int attribute, int *out_value) {
  return CUDA_CALL(api, cuDeviceGetAttribute, (out_value, attribute, api->device));
}

static greta_status_t cuda_open_device(cuda_api_t *api, int ordinal) {
  greta_gpu_device_info_t *info = &api->base.info;
  GRETA_RETURN_IF_ERROR(cuda_load(api, NULL));

  cu_result_t init = api->cu.cuInit(0);
  int count = 0;
  cu_result_t counted = init == 0 ? api->cu.cuDeviceGetCount(&count) : init;
  if (counted != 0 || count <= 0) {
    return greta_status_make(GRETA_UNAVAILABLE,
                             "no NVIDIA GPU found (%s returned %s (%d), %d devices)",
                             init != 0 ? "cuInit" : "cuDeviceGetCount",
                             greta_gpu_error_name(GRETA_GPU_CUDA, counted), counted, count);
  }
  if (ordinal < 0 || ordinal >= count) {
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "CUDA device %d does not exist: %d NVIDIA GPU(s) found", ordinal,
                             count);
  }
  GRETA_RETURN_IF_ERROR(CUDA_CALL(api, cuDeviceGet, (&api->device, ordinal)));
  GRETA_RETURN_IF_ERROR(
      CUDA_CALL(api, cuDeviceGetName, (info->name, (int)sizeof info->name, api->device)));
  int major = 0, minor = 0;
  GRETA_RETURN_IF_ERROR(cuda_attribute(api, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &major));
  GRETA_RETURN_IF_ERROR(cuda_attribute(api, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &minor));
  snprintf(info->target, sizeof info->target, "sm_%d%d", major, minor);
  /* On by default where the driver has it; GRETA_OVERLAP=0 turns it off
   * (gpu_api.h). */
  const char *overlap = getenv("GRETA_OVERLAP");
  api->early_launch =
      major >= 9 && api->cu.cuLaunchKernelEx && !(overlap && strcmp(overlap, "0") == 0);
  GRETA_RETURN_IF_ERROR(cuda_attribute(api, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                       &info->max_threads_per_block));
  GRETA_RETURN_IF_ERROR(cuda_attribute(api, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
                                       &info->max_shared_per_block));
  GRETA_RETURN_IF_ERROR(cuda_attribute(api, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                       &info->max_shared_per_block_optin));
  if (info->max_shared_per_block_optin < info->max_shared_per_block) {
    info->max_shared_per_block_optin = info->max_shared_per_block;
  }
  GRETA_RETURN_IF_ERROR(CUDA_CALL(api, cuDevicePrimaryCtxRetain, (&api->context, api->device)));
  GRETA_RETURN_IF_ERROR(cuda_enter(api));
  return CUDA_CALL(api, cuStreamCreate, (&api->stream, CU_STREAM_DEFAULT));
}

greta_status_t greta_gpu_cuda_open(int ordinal, greta_gpu_api_t **out_api) {
  *out_api = NULL;
  cuda_api_t *api = calloc(1, sizeof *api);
  if (!api) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  api->base.ops = &cuda_ops;
  api->base.kind = GRETA_GPU_CUDA;
  api->base.kind_name = "cuda";
  greta_status_t status = cuda_open_device(api, ordinal);
  if (status) {
    cuda_close(&api->base);
    return status;
  }
  *out_api = &api->base;
  return NULL;
}
