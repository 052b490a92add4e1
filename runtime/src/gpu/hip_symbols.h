/* The HIP runtime functions the GPU backend calls, as one X-macro list.
 *
 * No include guard: gpu_hip.c includes this twice, once to declare the
 * table's function pointers and once to fill the table with dlsym.
 *
 *   GRETA_HIP_REQUIRED(return type, name, (parameters))
 *   GRETA_HIP_OPTIONAL(return type, name, (parameters))
 *
 * A missing required symbol makes HIP unavailable; a missing optional one is
 * NULL in the table and its caller has a fallback. Types: hip_result_t is
 * hipError_t (int), handles (stream, module, function, graph, graph exec)
 * are void *, devices int, device addresses void *.
 */
GRETA_HIP_REQUIRED(hip_result_t, hipInit, (unsigned int flags))
GRETA_HIP_REQUIRED(hip_result_t, hipGetDeviceCount, (int *count))
GRETA_HIP_REQUIRED(hip_result_t, hipSetDevice, (int device))
GRETA_HIP_REQUIRED(hip_result_t, hipDeviceGetName, (char *name, int length, int device))
GRETA_HIP_REQUIRED(hip_result_t, hipDeviceGetAttribute, (int *value, int attribute, int device))
/* Fills a hipDeviceProp_t, whose layout changed in ROCm 6; only gcnArchName
 * is read, by searching the struct (see hip_arch_name). */
GRETA_HIP_REQUIRED(hip_result_t, hipGetDeviceProperties, (void *props, int device))
GRETA_HIP_OPTIONAL(hip_result_t, hipGetDevicePropertiesR0600, (void *props, int device))
GRETA_HIP_REQUIRED(const char *, hipGetErrorName, (hip_result_t error))
GRETA_HIP_REQUIRED(const char *, hipGetErrorString, (hip_result_t error))
GRETA_HIP_REQUIRED(hip_result_t, hipMalloc, (void **device, size_t bytes))
GRETA_HIP_REQUIRED(hip_result_t, hipFree, (void *device))
GRETA_HIP_REQUIRED(hip_result_t, hipMemGetInfo, (size_t *free_bytes, size_t *total_bytes))
GRETA_HIP_REQUIRED(hip_result_t, hipMemcpyHtoD, (void *device, void *host, size_t bytes))
GRETA_HIP_REQUIRED(hip_result_t, hipMemcpyDtoH, (void *host, void *device, size_t bytes))
GRETA_HIP_REQUIRED(hip_result_t, hipMemcpyHtoDAsync,
                   (void *device, void *host, size_t bytes, void *stream))
GRETA_HIP_REQUIRED(hip_result_t, hipStreamCreate, (void **stream))
GRETA_HIP_REQUIRED(hip_result_t, hipStreamDestroy, (void *stream))
GRETA_HIP_REQUIRED(hip_result_t, hipStreamSynchronize, (void *stream))
GRETA_HIP_REQUIRED(hip_result_t, hipModuleLoadData, (void **module, const void *image))
GRETA_HIP_REQUIRED(hip_result_t, hipModuleUnload, (void *module))
GRETA_HIP_REQUIRED(hip_result_t, hipModuleGetFunction,
                   (void **function, void *module, const char *name))
GRETA_HIP_REQUIRED(hip_result_t, hipFuncGetAttribute, (int *value, int attribute, void *function))
GRETA_HIP_REQUIRED(hip_result_t, hipModuleLaunchKernel,
                   (void *function, unsigned int grid_x, unsigned int grid_y,
                    unsigned int grid_z, unsigned int block_x, unsigned int block_y,
                    unsigned int block_z, unsigned int shared_bytes, void *stream,
                    void **params, void **extra))
GRETA_HIP_REQUIRED(hip_result_t, hipStreamBeginCapture, (void *stream, int mode))
GRETA_HIP_REQUIRED(hip_result_t, hipStreamEndCapture, (void *stream, void **graph))
GRETA_HIP_REQUIRED(hip_result_t, hipGraphInstantiate,
                   (void **exec, void *graph, void **error_node, char *log, size_t log_size))
GRETA_HIP_REQUIRED(hip_result_t, hipGraphLaunch, (void *exec, void *stream))
GRETA_HIP_REQUIRED(hip_result_t, hipGraphExecDestroy, (void *exec))
GRETA_HIP_REQUIRED(hip_result_t, hipGraphDestroy, (void *graph))
GRETA_HIP_OPTIONAL(hip_result_t, hipRuntimeGetVersion, (int *version))
/* Events, for greta_session_time_step only. */
GRETA_HIP_OPTIONAL(hip_result_t, hipEventCreate, (void **event))
GRETA_HIP_OPTIONAL(hip_result_t, hipEventRecord, (void *event, void *stream))
GRETA_HIP_OPTIONAL(hip_result_t, hipEventSynchronize, (void *event))
GRETA_HIP_OPTIONAL(hip_result_t, hipEventElapsedTime, (float *ms, void *start, void *end))
GRETA_HIP_OPTIONAL(hip_result_t, hipEventDestroy, (void *event))
