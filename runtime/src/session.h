/* The parts of a session the checkpoint binder and the generation loop use. */
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

/* Copies the last row of output `name` of the last step: row T - 1 of an
 * output [T, ...] (the logits of a prefill's last position), or the whole
 * of a fixed-size one ([1, vocab]). `bytes` must be one row. Reads only that
 * row from the device. */
greta_status_t greta_session_get_output_last_row(greta_session_t *session, const char *name,
                                                 void *data, size_t bytes);

#endif /* GRETA_SESSION_H */
