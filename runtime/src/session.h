/* The part of a session the checkpoint binder uses. */
#ifndef GRETA_SESSION_H
#define GRETA_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"
#include "plan.h"

/* The model's plan. Owned by the model. */
const greta_plan_t *greta_session_plan(const greta_session_t *session);

/* NULL when plan weight `index` may be bound now; FAILED_PRECONDITION when
 * the first step folded an RMSNorm weight into it (or it into a matmul), as
 * greta_session_bind_index would refuse: a binder checks every weight
 * with it before binding any. */
greta_status_t greta_session_check_rebind(const greta_session_t *session, uint32_t index);

/* Binds plan weight `index` from `count` elements of `dtype` at `data`
 * (any alignment is fine for f32/f16/bf16 only when `data` is aligned to its
 * element size), converting to the storage dtype. */
greta_status_t greta_session_bind_index(greta_session_t *session, uint32_t index,
                                        greta_dtype_t dtype, const void *data, size_t count);

#endif /* GRETA_SESSION_H */
