/* The HIP adapter: greta_gpu_ops_t over a dlopen'ed libamdhip64.
 *
 * HIP's module API mirrors the CUDA driver API one to one; the differences
 * this file absorbs are names, a device (not a context) being current, and
 * hipGraphInstantiate's signature.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>

#include "gpu_api.h"
#include "status.h"

typedef int hip_result_t; /* hipError_t; 0 = hipSuccess */

/* Enum values from HIP's headers (stable since ROCm 4.2, unchanged in 6). */
enum {
  HIP_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 56,
  HIP_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 74,
  HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  HIP_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
  HIP_ERROR_NO_DEVICE = 100,
};

/* hipDeviceProp_t is 792 bytes in ROCm 5 and about 1.5 KiB in ROCm 6; this
 * leaves room for growth. */
#define HIP_PROPS_BYTES 16384

typedef struct hip_symbols_s {
#define GRETA_HIP_REQUIRED(ret, name, params) ret(*name) params;
#define GRETA_HIP_OPTIONAL(ret, name, params) ret(*name) params;
#include "hip_symbols.h"
#undef GRETA_HIP_REQUIRED
#undef GRETA_HIP_OPTIONAL
} hip_symbols_t;

static const greta_dynlib_symbol_t hip_symbol_list[] = {
#define GRETA_HIP_REQUIRED(ret, name, params) {#name, offsetof(hip_symbols_t, name), 1},
#define GRETA_HIP_OPTIONAL(ret, name, params) {#name, offsetof(hip_symbols_t, name), 0},
#include "hip_symbols.h"
#undef GRETA_HIP_REQUIRED
#undef GRETA_HIP_OPTIONAL
};

static const char *const hip_libraries[] = {"libamdhip64.so", "libamdhip64.so.7",
                                            "libamdhip64.so.6", "libamdhip64.so.5", NULL};

typedef struct hip_api_s {
  greta_gpu_api_t base; /* first: the backend sees only this */
  void *library;        /* dlopen handle */
  hip_symbols_t hip;
  int device;
  void *stream;
} hip_api_t;

static greta_status_t hip_check(const hip_api_t *api, hip_result_t result, const char *call) {
  if (result == 0) return NULL;
  return greta_gpu_error(GRETA_GPU_HIP, result, call, api->hip.hipGetErrorString(result));
}

/* Calls `fn args` and turns its result into a status naming `fn`. */
#define HIP_CALL(api, fn, args) hip_check((api), (api)->hip.fn args, #fn)

static hip_api_t *hip_api(greta_gpu_api_t *base) { return (hip_api_t *)base; }

static greta_status_t hip_load(hip_api_t *api, greta_gpu_symbols_report_t *report) {
  GRETA_RETURN_IF_ERROR(greta_dynlib_open("HIP", hip_libraries, &api->library));
  return greta_dynlib_resolve(api->library, "HIP", hip_symbol_list,
                                   sizeof hip_symbol_list / sizeof hip_symbol_list[0],
                                   &api->hip, report);
}

greta_status_t greta_gpu_hip_probe(greta_gpu_symbols_report_t *out_report) {
  hip_api_t api = {0};
  greta_status_t status = hip_load(&api, out_report);
  if (api.library) dlclose(api.library);
  return status;
}

/* HIP's current device is per thread; calls that do not take the stream
 * (allocation, module load) act on it. */
static greta_status_t hip_enter(hip_api_t *api) {
  return HIP_CALL(api, hipSetDevice, (api->device));
}

/* The full target ID lives in hipDeviceProp_t.gcnArchName, whose offset
 * differs between ROCm 5 and 6. Search the filled struct for the
 * NUL-terminated "gfx..." string instead of trusting one layout; prefer the
 * one with feature flags (":sramecc+:xnack-") over a bare name. */
static int hip_arch_name(const unsigned char *props, size_t size, char *out, size_t out_size) {
  const char *best = NULL;
  for (size_t i = 0; i + 4 < size; ++i) {
    if ((i > 0 && props[i - 1] != 0) || memcmp(props + i, "gfx", 3) != 0) continue;
    size_t len = 0;
    int valid = 1, has_features = 0;
    while (i + len < size && props[i + len] != 0) {
      unsigned char c = props[i + len];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '+' ||
            c == '-')) {
        valid = 0;
        break;
      }
      if (c == ':') has_features = 1;
      ++len;
    }
    if (!valid || i + len >= size || len >= out_size || len < 4) continue;
    if (has_features) {
      best = (const char *)props + i;
      break;
    }
    if (!best) best = (const char *)props + i;
  }
  if (!best) return 0;
  snprintf(out, out_size, "%s", best);
  return 1;
}

static void hip_close(greta_gpu_api_t *base) {
  hip_api_t *api = hip_api(base);
  if (!api) return;
  if (api->stream) api->hip.hipStreamDestroy(api->stream);
  if (api->library) dlclose(api->library); /* opened RTLD_NODELETE: stays mapped */
  free(api);
}

static greta_status_t hip_alloc(greta_gpu_api_t *base, size_t bytes, void **out_device) {
  hip_api_t *api = hip_api(base);
  GRETA_RETURN_IF_ERROR(hip_enter(api));
  return HIP_CALL(api, hipMalloc, (out_device, bytes));
}

static greta_status_t hip_free(greta_gpu_api_t *base, void *device) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipFree, (device));
}

static greta_status_t hip_memory_info(greta_gpu_api_t *base, uint64_t *out_free,
                                      uint64_t *out_total) {
  hip_api_t *api = hip_api(base);
  size_t free_bytes = 0, total_bytes = 0;
  GRETA_RETURN_IF_ERROR(hip_enter(api));
  GRETA_RETURN_IF_ERROR(HIP_CALL(api, hipMemGetInfo, (&free_bytes, &total_bytes)));
  *out_free = free_bytes;
  *out_total = total_bytes;
  return NULL;
}

static greta_status_t hip_copy_to_device(greta_gpu_api_t *base, void *device, const void *host,
                                         size_t bytes) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipMemcpyHtoD, (device, (void *)host, bytes));
}

static greta_status_t hip_copy_to_host(greta_gpu_api_t *base, void *host, const void *device,
                                       size_t bytes) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipMemcpyDtoH, (host, (void *)device, bytes));
}

static greta_status_t hip_copy_to_device_async(greta_gpu_api_t *base, void *device,
                                               const void *host, size_t bytes) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipMemcpyHtoDAsync, (device, (void *)host, bytes, api->stream));
}

static greta_status_t hip_module_load(greta_gpu_api_t *base, const void *image,
                                      void **out_module) {
  hip_api_t *api = hip_api(base);
  GRETA_RETURN_IF_ERROR(hip_enter(api));
  return HIP_CALL(api, hipModuleLoadData, (out_module, image));
}

static void hip_module_unload(greta_gpu_api_t *base, void *module) {
  hip_api_t *api = hip_api(base);
  api->hip.hipModuleUnload(module);
}

static greta_status_t hip_function_get(greta_gpu_api_t *base, void *module, const char *name,
                                       void **out_function) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipModuleGetFunction, (out_function, module, name));
}

static greta_status_t hip_function_limits(greta_gpu_api_t *base, void *function,
                                          int *out_max_threads, int *out_static_shared) {
  hip_api_t *api = hip_api(base);
  GRETA_RETURN_IF_ERROR(HIP_CALL(
      api, hipFuncGetAttribute, (out_max_threads, HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, function)));
  return HIP_CALL(api, hipFuncGetAttribute,
                  (out_static_shared, HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function));
}

/* AMD has no opt-in: a workgroup may use all of the CU's LDS. */
static greta_status_t hip_function_allow_shared(greta_gpu_api_t *base, void *function,
                                                int bytes) {
  return NULL;
}

static greta_status_t hip_launch(greta_gpu_api_t *base, void *function, const uint32_t grid[3],
                                 const uint32_t block[3], uint32_t shared_bytes, void **args,
                                 bool early) {
  (void)early; /* HIP has no programmatic dependent launch: in order */
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipModuleLaunchKernel,
                  (function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                   shared_bytes, api->stream, args, NULL));
}

static greta_status_t hip_capture_begin(greta_gpu_api_t *base) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipStreamBeginCapture, (api->stream, HIP_STREAM_CAPTURE_MODE_THREAD_LOCAL));
}

static greta_status_t hip_capture_end(greta_gpu_api_t *base, void **out_graph) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipStreamEndCapture, (api->stream, out_graph));
}

static greta_status_t hip_graph_instantiate(greta_gpu_api_t *base, void *graph,
                                            void **out_exec) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipGraphInstantiate, (out_exec, graph, NULL, NULL, 0));
}

static greta_status_t hip_graph_launch(greta_gpu_api_t *base, void *exec) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipGraphLaunch, (exec, api->stream));
}

static void hip_graph_exec_destroy(greta_gpu_api_t *base, void *exec) {
  hip_api(base)->hip.hipGraphExecDestroy(exec);
}

static void hip_graph_destroy(greta_gpu_api_t *base, void *graph) {
  hip_api(base)->hip.hipGraphDestroy(graph);
}

static greta_status_t hip_synchronize(greta_gpu_api_t *base) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipStreamSynchronize, (api->stream));
}

static greta_status_t hip_events_begin(greta_gpu_api_t *base) {
  hip_api_t *api = hip_api(base);
  if (!api->hip.hipEventCreate || !api->hip.hipEventRecord || !api->hip.hipEventSynchronize ||
      !api->hip.hipEventElapsedTime || !api->hip.hipEventDestroy) {
    return greta_status_make(GRETA_UNAVAILABLE, "the HIP library has no event functions");
  }
  return hip_enter(api);
}

static greta_status_t hip_event_create(greta_gpu_api_t *base, void **out_event) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipEventCreate, (out_event));
}

static greta_status_t hip_event_record(greta_gpu_api_t *base, void *event) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipEventRecord, (event, api->stream));
}

static greta_status_t hip_event_elapsed(greta_gpu_api_t *base, void *start, void *end,
                                        float *out_ms) {
  hip_api_t *api = hip_api(base);
  return HIP_CALL(api, hipEventElapsedTime, (out_ms, start, end));
}

static void hip_event_destroy(greta_gpu_api_t *base, void *event) {
  hip_api(base)->hip.hipEventDestroy(event);
}

static const greta_gpu_ops_t hip_ops = {
    .close = hip_close,
    .alloc = hip_alloc,
    .free = hip_free,
    .memory_info = hip_memory_info,
    .copy_to_device = hip_copy_to_device,
    .copy_to_host = hip_copy_to_host,
    .copy_to_device_async = hip_copy_to_device_async,
    .module_load = hip_module_load,
    .module_unload = hip_module_unload,
    .function_get = hip_function_get,
    .function_limits = hip_function_limits,
    .function_allow_shared = hip_function_allow_shared,
    .launch = hip_launch,
    .capture_begin = hip_capture_begin,
    .capture_end = hip_capture_end,
    .graph_instantiate = hip_graph_instantiate,
    .graph_launch = hip_graph_launch,
    .graph_exec_destroy = hip_graph_exec_destroy,
    .graph_destroy = hip_graph_destroy,
    .synchronize = hip_synchronize,
    .events_begin = hip_events_begin,
    .event_create = hip_event_create,
    .event_record = hip_event_record,
    .event_elapsed = hip_event_elapsed,
    .event_destroy = hip_event_destroy,
};

static greta_status_t hip_open_device(hip_api_t *api, int ordinal) {
  greta_gpu_device_info_t *info = &api->base.info;
  GRETA_RETURN_IF_ERROR(hip_load(api, NULL));

  /* Without a GPU, ROCm's hipInit fails (hipErrorInvalidDevice) and the
   * device count says why; report the count, the clearer of the two. */
  hip_result_t init = api->hip.hipInit(0);
  int count = 0;
  hip_result_t counted = api->hip.hipGetDeviceCount(&count);
  if (counted != 0 || count <= 0) {
    return greta_status_make(GRETA_UNAVAILABLE,
                             "no AMD GPU found (hipGetDeviceCount returned %s (%d), %d devices;"
                             " hipInit returned %s (%d))",
                             greta_gpu_error_name(GRETA_GPU_HIP, counted), counted, count,
                             greta_gpu_error_name(GRETA_GPU_HIP, init), init);
  }
  GRETA_RETURN_IF_ERROR(hip_check(api, init, "hipInit"));
  if (ordinal < 0 || ordinal >= count) {
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "HIP device %d does not exist: %d AMD GPU(s) found", ordinal, count);
  }
  api->device = ordinal;
  GRETA_RETURN_IF_ERROR(hip_enter(api));
  GRETA_RETURN_IF_ERROR(
      HIP_CALL(api, hipDeviceGetName, (info->name, (int)sizeof info->name, api->device)));
  GRETA_RETURN_IF_ERROR(HIP_CALL(api, hipDeviceGetAttribute,
                                 (&info->max_threads_per_block,
                                  HIP_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, api->device)));
  GRETA_RETURN_IF_ERROR(HIP_CALL(api, hipDeviceGetAttribute,
                                 (&info->max_shared_per_block,
                                  HIP_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, api->device)));
  info->max_shared_per_block_optin = info->max_shared_per_block;

  unsigned char *props = calloc(1, HIP_PROPS_BYTES);
  if (!props) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  greta_status_t status =
      api->hip.hipGetDevicePropertiesR0600
          ? HIP_CALL(api, hipGetDevicePropertiesR0600, (props, api->device))
          : HIP_CALL(api, hipGetDeviceProperties, (props, api->device));
  if (!status && !hip_arch_name(props, HIP_PROPS_BYTES, info->target, sizeof info->target)) {
    status = greta_status_make(GRETA_INTERNAL,
                               "hipGetDeviceProperties: no gcnArchName (\"gfx...\") in the"
                               " properties of device %d (%s)",
                               api->device, info->name);
  }
  free(props);
  GRETA_RETURN_IF_ERROR(status);
  return HIP_CALL(api, hipStreamCreate, (&api->stream));
}

greta_status_t greta_gpu_hip_open(int ordinal, greta_gpu_api_t **out_api) {
  *out_api = NULL;
  hip_api_t *api = calloc(1, sizeof *api);
  if (!api) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  api->base.ops = &hip_ops;
  api->base.kind = GRETA_GPU_HIP;
  api->base.kind_name = "hip";
  greta_status_t status = hip_open_device(api, ordinal);
  if (status) {
    hip_close(&api->base);
    return status;
  }
  *out_api = &api->base;
  return NULL;
}
