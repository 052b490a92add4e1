/* The plan under construction, as schedule.c and lower_fused.c both build
 * it: errors, arena buffers, references to values, launches and their
 * arguments (lowering.h declares them). */
#include <string.h>

#include "kernel_select.h"
#include "lowering.h"
#include "xalloc.h"

void lower_error(lowering_t *lw, int id, const char *message) {
  const ir_node_t *node = &lw->graph->nodes[id];
  if (node->loc.file && node->loc.line)
    fprintf(lw->diag, "%s:%d:%d: error: %s\n", node->loc.file, node->loc.line, node->loc.col,
            message);
  else
    fprintf(lw->diag, "gretac: error: %%%d (%s): %s\n", id, ir_op_name(node->op), message);
  lw->errors++;
}

void lower_rope_attrs(const lowering_t *lw, double theta, greta_op_attrs_t *attrs) {
  const ir_rope_scaling_t *rs = &lw->graph->rope_scaling;
  attrs->theta = (float)theta;
  attrs->rope_factor = (float)rs->factor;
  attrs->rope_low_freq_factor = (float)rs->low_freq_factor;
  attrs->rope_high_freq_factor = (float)rs->high_freq_factor;
  attrs->rope_original_max = (float)rs->original_max;
}

/* Bytes of a value at T = max_tokens. */
uint64_t value_bytes(const lowering_t *lw, const ir_type_t *type) {
  return (uint64_t)ir_type_elems(type, lw->options->max_tokens) * greta_dtype_size(type->dtype);
}

void lower_split_k(lowering_t *lw, greta_plan_launch_t *l, int decode) {
  const target_t *target = lw->options->target;
  const int parts = decode ? 0 : kernels_gemm_split_k(target, l);
  if (!parts) return;
  if (!lw->split_k_ws)
    lw->split_k_ws = 1 + new_buffer(lw, kernels_split_k_workspace_bytes(target), 0,
                                    lw->graph->n_nodes + 1);
  l->attr.split_k = parts;
  l->args[l->n_args++] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, (uint64_t)(lw->split_k_ws - 1)};
}

int new_buffer(lowering_t *lw, uint64_t bytes, int first, int last) {
  lw->buffers = xgrow(lw->buffers, sizeof *lw->buffers, (uint32_t)lw->n_buffers);
  lw->buffers[lw->n_buffers] = (memplan_buffer_t){.bytes = bytes, .first = first, .last = last};
  return lw->n_buffers++;
}

/* A reference to node `id`'s value. Arena references carry the memplan
 * buffer index in `offset` until patch_arena_args turns it into bytes. */
greta_plan_buffer_t buffer_ref(const lowering_t *lw, int id) {
  /* With T = 1 the last token is the only one: last(x) is x, no copy
   * (unless it needs its own place: see own_place). */
  const ir_node_t *node = &lw->graph->nodes[id];
  if (lw->decode && node->op == IR_LAST && !lw->own_place[id]) id = node->inputs[0];
  const place_t *p = &lw->place[id];
  greta_plan_buffer_t ref = {.space = p->space, .offset = p->offset};
  if (p->space == GRETA_SPACE_ARENA) ref.offset = (uint64_t)p->buffer;
  return ref;
}

greta_plan_launch_t *launch_add(launch_list_t *list, uint32_t op) {
  list->items = xgrow(list->items, sizeof *list->items, list->count);
  greta_plan_launch_t *l = &list->items[list->count++];
  memset(l, 0, sizeof *l);
  l->op = op;
  l->grid_t_axis = 3;
  l->grid[0] = l->grid[1] = l->grid[2] = 1;
  l->block[0] = l->block[1] = l->block[2] = 1;
  return l;
}

void launch_arg(const lowering_t *lw, greta_plan_launch_t *l, int node) {
  l->args[l->n_args++] = buffer_ref(lw, node);
}
