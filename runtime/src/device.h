/* What the session and the tests need of a device beyond the public API. */
#ifndef GRETA_DEVICE_H
#define GRETA_DEVICE_H

#include "backend.h"
#include "greta/greta.h"

/* The backend a device wraps. Owned by the device. */
greta_backend_t *greta_device_backend(greta_device_t *device);
/* Wraps an existing backend into a device, which takes ownership of it (on
 * failure too). Lets tests and embedders supply their own backend. */
greta_status_t greta_device_wrap(greta_backend_t *backend, greta_device_t **out_device);

#endif /* GRETA_DEVICE_H */
