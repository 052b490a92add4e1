/* A device: one backend, chosen by kind (AUTO tries HIP, CUDA, then CPU,
 * unless $GRETA_BACKEND names one). */
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "status.h"

struct greta_device_s {
  greta_backend_t *backend;
};

greta_status_t greta_device_wrap(greta_backend_t *backend, greta_device_t **out_device) {
  *out_device = NULL;
  greta_device_t *device = calloc(1, sizeof *device);
  if (!device) {
    backend->vtable->destroy(backend);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "device: out of memory");
  }
  device->backend = backend;
  *out_device = device;
  return NULL;
}

static greta_status_t create_backend(greta_backend_kind_t kind, int ordinal,
                                     greta_backend_t **out_backend) {
  switch (kind) {
    case GRETA_BACKEND_CPU: return greta_backend_cpu_create(out_backend);
    case GRETA_BACKEND_HIP: return greta_backend_hip_create(ordinal, out_backend);
    case GRETA_BACKEND_CUDA: return greta_backend_cuda_create(ordinal, out_backend);
    case GRETA_BACKEND_AUTO: break;
  }
  /* AUTO: the first GPU backend that opens, else the CPU. */
  greta_status_t status = greta_backend_hip_create(ordinal, out_backend);
  if (!status) return NULL;
  greta_status_free(status);
  status = greta_backend_cuda_create(ordinal, out_backend);
  if (!status) return NULL;
  greta_status_free(status);
  return greta_backend_cpu_create(out_backend);
}

greta_status_t greta_device_open(greta_backend_kind_t kind, int ordinal,
                                 greta_device_t **out_device) {
  *out_device = NULL;
  if ((unsigned)kind > GRETA_BACKEND_CUDA)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "device: backend kind %d is not one of 0..3 (auto, cpu, hip, cuda)",
                             (int)kind);
  const char *env = getenv("GRETA_BACKEND");
  if (kind == GRETA_BACKEND_AUTO && env && *env && strcmp(env, "auto") != 0) {
    if (!strcmp(env, "cpu")) kind = GRETA_BACKEND_CPU;
    else if (!strcmp(env, "hip")) kind = GRETA_BACKEND_HIP;
    else if (!strcmp(env, "cuda")) kind = GRETA_BACKEND_CUDA;
    else
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "device: GRETA_BACKEND=\"%s\", expected auto, cpu, hip or cuda", env);
  }
  greta_backend_t *backend = NULL;
  GRETA_RETURN_IF_ERROR(create_backend(kind, ordinal, &backend));
  return greta_device_wrap(backend, out_device);
}

void greta_device_destroy(greta_device_t *device) {
  if (!device) return;
  device->backend->vtable->destroy(device->backend);
  free(device);
}

greta_backend_t *greta_device_backend(greta_device_t *device) { return device->backend; }

const char *greta_device_backend_name(const greta_device_t *device) {
  return device->backend->kind_name;
}
const char *greta_device_name(const greta_device_t *device) { return device->backend->device_name; }
const char *greta_device_target(const greta_device_t *device) { return device->backend->target; }
