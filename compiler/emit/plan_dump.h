/* Human-readable views of a plan. */
#ifndef GRETA_PLAN_DUMP_H
#define GRETA_PLAN_DUMP_H

#include <stdio.h>

#include "plan.h"

/* Everything in the plan, one launch a line (gretac --emit=plan). */
void plan_print(const greta_plan_t *plan, FILE *out);
/* One line: weights, KV cache (and per token), arena, total. */
void plan_print_memory(const greta_plan_t *plan, FILE *out);

#endif /* GRETA_PLAN_DUMP_H */
