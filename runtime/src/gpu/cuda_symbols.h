/* The CUDA driver API functions the GPU backend calls, as one X-macro list.
 *
 * No include guard: gpu_cuda.c includes this twice, once to declare the
 * table's function pointers and once to fill the table with dlsym.
 *
 *   GRETA_CUDA_REQUIRED(return type, name, (parameters))
 *   GRETA_CUDA_OPTIONAL(return type, name, (parameters))
 *
 * Names are the exported ones, with their version suffixes (cuda.h maps
 * cuMemAlloc to cuMemAlloc_v2 and so on). Types: cu_result_t is CUresult
 * (int), handles (context, stream, module, function, graph, graph exec) are
 * void *, devices int, device addresses cu_deviceptr_t (64-bit).
 */
GRETA_CUDA_REQUIRED(cu_result_t, cuInit, (unsigned int flags))
GRETA_CUDA_REQUIRED(cu_result_t, cuDeviceGetCount, (int *count))
GRETA_CUDA_REQUIRED(cu_result_t, cuDeviceGet, (int *device, int ordinal))
GRETA_CUDA_REQUIRED(cu_result_t, cuDeviceGetName, (char *name, int length, int device))
GRETA_CUDA_REQUIRED(cu_result_t, cuDeviceGetAttribute, (int *value, int attribute, int device))
GRETA_CUDA_REQUIRED(cu_result_t, cuDevicePrimaryCtxRetain, (void **context, int device))
GRETA_CUDA_REQUIRED(cu_result_t, cuDevicePrimaryCtxRelease_v2, (int device))
GRETA_CUDA_REQUIRED(cu_result_t, cuCtxSetCurrent, (void *context))
GRETA_CUDA_REQUIRED(cu_result_t, cuGetErrorName, (cu_result_t error, const char **name))
GRETA_CUDA_REQUIRED(cu_result_t, cuGetErrorString, (cu_result_t error, const char **text))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemAlloc_v2, (cu_deviceptr_t *device, size_t bytes))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemFree_v2, (cu_deviceptr_t device))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemGetInfo_v2, (size_t *free_bytes, size_t *total_bytes))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemcpyHtoD_v2,
                    (cu_deviceptr_t device, const void *host, size_t bytes))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemcpyDtoH_v2,
                    (void *host, cu_deviceptr_t device, size_t bytes))
GRETA_CUDA_REQUIRED(cu_result_t, cuMemcpyHtoDAsync_v2,
                    (cu_deviceptr_t device, const void *host, size_t bytes, void *stream))
GRETA_CUDA_REQUIRED(cu_result_t, cuStreamCreate, (void **stream, unsigned int flags))
GRETA_CUDA_REQUIRED(cu_result_t, cuStreamDestroy_v2, (void *stream))
GRETA_CUDA_REQUIRED(cu_result_t, cuStreamSynchronize, (void *stream))
GRETA_CUDA_REQUIRED(cu_result_t, cuModuleLoadData, (void **module, const void *image))
GRETA_CUDA_REQUIRED(cu_result_t, cuModuleUnload, (void *module))
GRETA_CUDA_REQUIRED(cu_result_t, cuModuleGetFunction,
                    (void **function, void *module, const char *name))
GRETA_CUDA_REQUIRED(cu_result_t, cuFuncGetAttribute, (int *value, int attribute, void *function))
GRETA_CUDA_REQUIRED(cu_result_t, cuFuncSetAttribute, (void *function, int attribute, int value))
GRETA_CUDA_REQUIRED(cu_result_t, cuLaunchKernel,
                    (void *function, unsigned int grid_x, unsigned int grid_y,
                     unsigned int grid_z, unsigned int block_x, unsigned int block_y,
                     unsigned int block_z, unsigned int shared_bytes, void *stream,
                     void **params, void **extra))
GRETA_CUDA_REQUIRED(cu_result_t, cuStreamBeginCapture_v2, (void *stream, int mode))
GRETA_CUDA_REQUIRED(cu_result_t, cuStreamEndCapture, (void *stream, void **graph))
GRETA_CUDA_REQUIRED(cu_result_t, cuGraphInstantiateWithFlags,
                    (void **exec, void *graph, unsigned long long flags))
GRETA_CUDA_REQUIRED(cu_result_t, cuGraphLaunch, (void *exec, void *stream))
GRETA_CUDA_REQUIRED(cu_result_t, cuGraphExecDestroy, (void *exec))
GRETA_CUDA_REQUIRED(cu_result_t, cuGraphDestroy, (void *graph))
GRETA_CUDA_OPTIONAL(cu_result_t, cuDriverGetVersion, (int *version))
/* Tensor maps for the copy engine (CUDA 12, sm_90): the prefill GEMMs'
 * attr tma. The enums are ints; the map is 128 opaque bytes. */
GRETA_CUDA_OPTIONAL(cu_result_t, cuTensorMapEncodeTiled,
                    (void *map, int data_type, unsigned int rank, void *address,
                     const unsigned long long *dims, const unsigned long long *strides,
                     const unsigned int *box, const unsigned int *element_strides, int interleave,
                     int swizzle, int l2_promotion, int oob_fill))
/* Launches with attributes (CUDA 12): programmatic dependent launch. */
GRETA_CUDA_OPTIONAL(cu_result_t, cuLaunchKernelEx,
                    (const cu_launch_config_t *config, void *function, void **params, void **extra))
/* Events, for greta_session_time_step only; cuda.h maps cuEventElapsedTime
 * to _v2 from CUDA 12.8 on, older drivers export only the plain name. */
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventCreate, (void **event, unsigned int flags))
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventRecord, (void *event, void *stream))
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventSynchronize, (void *event))
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventElapsedTime_v2, (float *ms, void *start, void *end))
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventElapsedTime, (float *ms, void *start, void *end))
GRETA_CUDA_OPTIONAL(cu_result_t, cuEventDestroy_v2, (void *event))
