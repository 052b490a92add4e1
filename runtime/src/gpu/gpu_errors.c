/* The one table of GPU driver errors: (API, code) -> name -> greta status.
 *
 * Codes are the drivers' documented values (hipError_t, CUresult); the two
 * APIs share most numbers but not all names. A code not listed maps to
 * GRETA_INTERNAL with the driver's own text.
 */
#include <stddef.h>

#include "gpu_api.h"
#include "status.h"

typedef struct gpu_error_row_s {
  greta_gpu_kind_t kind;
  int code;
  const char *name;
  greta_status_code_t status;
} gpu_error_row_t;

#define HIP(code, name, status) {GRETA_GPU_HIP, code, name, status},
#define CUDA(code, name, status) {GRETA_GPU_CUDA, code, name, status},

static const gpu_error_row_t gpu_errors[] = {
    /* HIP (hipError_t) */
    HIP(1, "hipErrorInvalidValue", GRETA_INVALID_ARGUMENT)
    HIP(2, "hipErrorOutOfMemory", GRETA_RESOURCE_EXHAUSTED)
    HIP(3, "hipErrorNotInitialized", GRETA_UNAVAILABLE)
    HIP(4, "hipErrorDeinitialized", GRETA_UNAVAILABLE)
    HIP(9, "hipErrorInvalidConfiguration", GRETA_INVALID_ARGUMENT)
    HIP(17, "hipErrorInvalidDevicePointer", GRETA_INVALID_ARGUMENT)
    HIP(35, "hipErrorInsufficientDriver", GRETA_UNAVAILABLE)
    HIP(98, "hipErrorInvalidDeviceFunction", GRETA_INVALID_ARGUMENT)
    HIP(100, "hipErrorNoDevice", GRETA_UNAVAILABLE)
    HIP(101, "hipErrorInvalidDevice", GRETA_UNAVAILABLE)
    HIP(200, "hipErrorInvalidImage", GRETA_DATA_LOSS)
    HIP(201, "hipErrorInvalidContext", GRETA_INTERNAL)
    HIP(209, "hipErrorNoBinaryForGpu", GRETA_FAILED_PRECONDITION)
    HIP(218, "hipErrorInvalidKernelFile", GRETA_DATA_LOSS)
    HIP(301, "hipErrorFileNotFound", GRETA_NOT_FOUND)
    HIP(400, "hipErrorInvalidHandle", GRETA_INVALID_ARGUMENT)
    HIP(500, "hipErrorNotFound", GRETA_NOT_FOUND)
    HIP(600, "hipErrorNotReady", GRETA_INTERNAL)
    HIP(700, "hipErrorIllegalAddress", GRETA_INTERNAL)
    HIP(701, "hipErrorLaunchOutOfResources", GRETA_RESOURCE_EXHAUSTED)
    HIP(702, "hipErrorLaunchTimeOut", GRETA_INTERNAL)
    HIP(719, "hipErrorLaunchFailure", GRETA_INTERNAL)
    HIP(801, "hipErrorNotSupported", GRETA_UNIMPLEMENTED)
    HIP(900, "hipErrorStreamCaptureUnsupported", GRETA_INTERNAL)
    HIP(901, "hipErrorStreamCaptureInvalidated", GRETA_INTERNAL)
    HIP(903, "hipErrorStreamCaptureUnmatched", GRETA_INTERNAL)
    HIP(906, "hipErrorStreamCaptureImplicit", GRETA_INTERNAL)
    HIP(908, "hipErrorStreamCaptureWrongThread", GRETA_INTERNAL)
    HIP(999, "hipErrorUnknown", GRETA_INTERNAL)
    HIP(1052, "hipErrorRuntimeOther", GRETA_INTERNAL)
    /* CUDA driver API (CUresult) */
    CUDA(1, "CUDA_ERROR_INVALID_VALUE", GRETA_INVALID_ARGUMENT)
    CUDA(2, "CUDA_ERROR_OUT_OF_MEMORY", GRETA_RESOURCE_EXHAUSTED)
    CUDA(3, "CUDA_ERROR_NOT_INITIALIZED", GRETA_UNAVAILABLE)
    CUDA(4, "CUDA_ERROR_DEINITIALIZED", GRETA_UNAVAILABLE)
    CUDA(34, "CUDA_ERROR_STUB_LIBRARY", GRETA_UNAVAILABLE)
    CUDA(35, "CUDA_ERROR_INSUFFICIENT_DRIVER", GRETA_UNAVAILABLE)
    CUDA(46, "CUDA_ERROR_DEVICE_UNAVAILABLE", GRETA_UNAVAILABLE)
    CUDA(100, "CUDA_ERROR_NO_DEVICE", GRETA_UNAVAILABLE)
    CUDA(101, "CUDA_ERROR_INVALID_DEVICE", GRETA_UNAVAILABLE)
    CUDA(200, "CUDA_ERROR_INVALID_IMAGE", GRETA_DATA_LOSS)
    CUDA(201, "CUDA_ERROR_INVALID_CONTEXT", GRETA_INTERNAL)
    CUDA(209, "CUDA_ERROR_NO_BINARY_FOR_GPU", GRETA_FAILED_PRECONDITION)
    CUDA(218, "CUDA_ERROR_INVALID_PTX", GRETA_DATA_LOSS)
    CUDA(222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", GRETA_FAILED_PRECONDITION)
    CUDA(400, "CUDA_ERROR_INVALID_HANDLE", GRETA_INVALID_ARGUMENT)
    CUDA(500, "CUDA_ERROR_NOT_FOUND", GRETA_NOT_FOUND)
    CUDA(600, "CUDA_ERROR_NOT_READY", GRETA_INTERNAL)
    CUDA(700, "CUDA_ERROR_ILLEGAL_ADDRESS", GRETA_INTERNAL)
    CUDA(701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", GRETA_RESOURCE_EXHAUSTED)
    CUDA(702, "CUDA_ERROR_LAUNCH_TIMEOUT", GRETA_INTERNAL)
    CUDA(719, "CUDA_ERROR_LAUNCH_FAILED", GRETA_INTERNAL)
    CUDA(801, "CUDA_ERROR_NOT_SUPPORTED", GRETA_UNIMPLEMENTED)
    CUDA(900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", GRETA_INTERNAL)
    CUDA(901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", GRETA_INTERNAL)
    CUDA(903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", GRETA_INTERNAL)
    CUDA(906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", GRETA_INTERNAL)
    CUDA(908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", GRETA_INTERNAL)
    CUDA(999, "CUDA_ERROR_UNKNOWN", GRETA_INTERNAL)
};

#undef HIP
#undef CUDA

static const gpu_error_row_t *gpu_error_find(greta_gpu_kind_t kind, int code) {
  for (size_t i = 0; i < sizeof gpu_errors / sizeof gpu_errors[0]; ++i) {
    if (gpu_errors[i].kind == kind && gpu_errors[i].code == code) return &gpu_errors[i];
  }
  return NULL;
}

const char *greta_gpu_error_name(greta_gpu_kind_t kind, int code) {
  const gpu_error_row_t *row = gpu_error_find(kind, code);
  return row ? row->name : "unknown error";
}

greta_status_t greta_gpu_error(greta_gpu_kind_t kind, int code, const char *call,
                               const char *text) {
  if (code == 0) return NULL;
  const gpu_error_row_t *row = gpu_error_find(kind, code);
  return greta_status_make(row ? row->status : GRETA_INTERNAL, "%s failed: %s (%d)%s%s", call,
                           row ? row->name : "unknown error", code, text ? ": " : "",
                           text ? text : "");
}
