/* Code generation: one translation unit for the whole model. */
#ifndef GRETA_CODEGEN_H
#define GRETA_CODEGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plan.h"
#include "strbuf.h"
#include "target.h"

/* Gives every launch of `plan` a kernel: identical launches (same op,
 * constants and token range) share one instantiation. Fills plan->kernels,
 * each launch's kernel index and geometry, and, unless target is the CPU,
 * appends the prelude and the instantiations to `source`. Returns the number
 * of errors (printed to diag). */
int codegen_kernels(greta_plan_t *plan, const target_t *target, strbuf_t *source, FILE *diag);

/* Appends the serialised plan as the code object's data symbol
 * GRETA_PLAN_SYMBOL. */
void codegen_embed_plan(const uint8_t *bytes, size_t size, strbuf_t *source);

#endif /* GRETA_CODEGEN_H */
