/* Scheduling: lower the fused IR into the plan's launch sequences (one per
 * step entry), place every value in memory (weights blob, KV cache, or the
 * activation arena by liveness) and describe the step's interface.
 * Kernel names and launch geometry are left to codegen. */
#ifndef GRETA_SCHEDULE_H
#define GRETA_SCHEDULE_H

#include <stdio.h>

#include "ir.h"
#include "plan.h"
#include "target.h"

/* The plan's max_seq for a model with no KV cache: the largest pos + T. */
#define SCHEDULE_MAX_POSITIONS_NO_CACHE (1 << 20)

typedef struct schedule_options_s {
  const target_t *target;
  int64_t max_tokens;    /* largest T of a prefill step */
  int64_t attention_split_rows; /* decode attention: cache rows per split (GPU) */
  const char *toolchain; /* recorded in the plan, e.g. "clang 19.1.7" */
} schedule_options_t;

/* Builds the plan, or returns NULL after printing "error: ..." lines to
 * diag (an op the scheduler cannot place, e.g. a symbolic last dimension).
 * The caller owns the plan and frees it with greta_plan_destroy (plan.h),
 * the same destructor as for a parsed plan. */
greta_plan_t *schedule_build(const ir_graph_t *graph, const schedule_options_t *options,
                             FILE *diag);

#endif /* GRETA_SCHEDULE_H */
