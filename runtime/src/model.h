/* What the session needs of a model and a device beyond the public API. */
#ifndef GRETA_MODEL_H
#define GRETA_MODEL_H

#include "backend.h"
#include "greta/greta.h"
#include "plan.h"

/* The verified plan. Owned by the model. */
const greta_plan_t *greta_model_plan(const greta_model_t *model);
/* The whole file the model was opened from (the code object a GPU backend
 * loads). Owned by the model. */
const uint8_t *greta_model_file(const greta_model_t *model, size_t *out_size);

/* The backend a device wraps. Owned by the device. */
greta_backend_t *greta_device_backend(greta_device_t *device);
/* Wraps an existing backend into a device, which takes ownership of it (on
 * failure too). Lets tests and embedders supply their own backend. */
greta_status_t greta_device_wrap(greta_backend_t *backend, greta_device_t **out_device);

#endif /* GRETA_MODEL_H */
