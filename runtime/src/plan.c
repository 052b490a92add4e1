/* The plan's small queries and its one destructor: the entry that
 * runs a step of T tokens, a launch's grid at T, and greta_plan_destroy,
 * which frees a plan whether gretac built it (compiler/lower/schedule.c) or
 * greta_plan_parse read it: both allocate every string and array
 * separately. Reading, writing and verifying the bytes live in
 * plan_read.c, plan_write.c and plan_verify.c; plan_cost.c holds the cost
 * model.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static void tensor_info_deinit(greta_tensor_info_t *info) {
  free((char *)info->name);
  for (int d = 0; d < GRETA_MAX_RANK; d++) free((char *)info->dims[d].symbol);
}

void greta_plan_destroy(greta_plan_t *plan) {
  if (!plan) return;
  free(plan->target);
  free(plan->toolchain);
  free(plan->model_name);
  if (plan->kernels)
    for (uint32_t i = 0; i < plan->n_kernels; i++) free(plan->kernels[i]);
  free(plan->kernels);
  if (plan->inputs)
    for (uint32_t i = 0; i < plan->n_inputs; i++) tensor_info_deinit(&plan->inputs[i].info);
  free(plan->inputs);
  if (plan->outputs)
    for (uint32_t i = 0; i < plan->n_outputs; i++) tensor_info_deinit(&plan->outputs[i].info);
  free(plan->outputs);
  if (plan->weights)
    for (uint32_t i = 0; i < plan->n_weights; i++) tensor_info_deinit(&plan->weights[i].info);
  free(plan->weights);
  if (plan->caches)
    for (uint32_t i = 0; i < plan->n_caches; i++) free(plan->caches[i].name);
  free(plan->caches);
  if (plan->entries)
    for (uint32_t e = 0; e < plan->n_entries; e++) {
      free(plan->entries[e].name);
      free(plan->entries[e].launches);
    }
  free(plan->entries);
  free(plan);
}

const greta_plan_entry_t *greta_plan_entry_for(const greta_plan_t *plan, int64_t tokens) {
  for (uint32_t e = 0; e < plan->n_entries; e++)
    if (plan->entries[e].min_tokens <= tokens && tokens <= plan->entries[e].max_tokens &&
        strcmp(plan->entries[e].name, GRETA_PLAN_BIND_ENTRY) != 0)
      return &plan->entries[e];
  return NULL;
}

const greta_plan_entry_t *greta_plan_bind_entry(const greta_plan_t *plan) {
  for (uint32_t e = 0; e < plan->n_entries; e++)
    if (strcmp(plan->entries[e].name, GRETA_PLAN_BIND_ENTRY) == 0) return &plan->entries[e];
  return NULL;
}

void greta_plan_launch_grid(const greta_plan_launch_t *launch, int64_t tokens,
                            uint32_t out_grid[3]) {
  for (int i = 0; i < 3; i++) out_grid[i] = launch->grid[i];
  if (launch->grid_t_axis < 3) {
    uint64_t tile = launch->grid_t_tile ? launch->grid_t_tile : 1;
    uint64_t t = tokens > 0 ? (uint64_t)tokens : 0;
    uint64_t blocks = (t * launch->grid_t_per_token + tile - 1) / tile;
    out_grid[launch->grid_t_axis] = blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks;
  }
}
