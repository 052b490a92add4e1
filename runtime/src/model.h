/* What the session needs of a model beyond the public API. */
#ifndef GRETA_MODEL_H
#define GRETA_MODEL_H

#include "greta/greta.h"
#include "plan.h"

/* The verified plan. Owned by the model. */
const greta_plan_t *greta_model_plan(const greta_model_t *model);
/* The whole file the model was opened from (the code object a GPU backend
 * loads). Owned by the model. */
const uint8_t *greta_model_file(const greta_model_t *model, size_t *out_size);

#endif /* GRETA_MODEL_H */
