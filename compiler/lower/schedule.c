/* Lowering the fused IR to plan launches, with static memory placement.
 *
 * Every IR node is one "step" of the schedule (node ids are already a
 * topological order). A computed value lives in the arena from the step
 * that writes it to the last step that reads it, through any reshape views
 * of it; memplan packs those lifetimes. Inputs and outputs are pinned for
 * the whole step so the runtime can copy them in before and out after.
 * The arena is sized for T = max_tokens; decode (T = 1) uses the same
 * layout, so both entries share one arena.
 */
#define _POSIX_C_SOURCE 200809L
#include "schedule.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_select.h"
#include "lowering.h"
#include "memplan.h"
#include "xalloc.h"

#define WEIGHT_ALIGN 256

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* The last dimension (the row length) must be a constant. Rows are the
 * product of the other dimensions: coeff * (T if one of them is T). */
static int row_shape(lowering_t *lw, int id, const ir_type_t *type, int64_t *n,
                     int64_t *rows_coeff, uint32_t *per_token) {
  *n = 1;
  *rows_coeff = 1;
  *per_token = 0;
  if (type->rank == 0) return 1;
  const ir_dim_t *last = &type->dims[type->rank - 1];
  if (last->sym >= 0) {
    lower_error(lw, id, "the last dimension must be a constant (rows are laid out along it)");
    return 0;
  }
  *n = last->coeff;
  for (int d = 0; d < type->rank - 1; d++) {
    *rows_coeff *= type->dims[d].coeff;
    if (type->dims[d].sym >= 0) {
      if (*per_token) {
        lower_error(lw, id, "more than one symbolic dimension in one value");
        return 0;
      }
      *per_token = 1;
    }
  }
  return 1;
}

/* attr tma on the prefill GEMMs that take their operands through the copy
 * engine: set on the whole list before kernels are chosen, so that every
 * layer's launch of a GEMM is the same kernel. */
static void lower_tma(lowering_t *lw, launch_list_t *list) {
  for (uint32_t i = 0; i < list->count; i++)
    list->items[i].attr.tma = kernels_gemm_tma_rows(lw->options->target, &list->items[i]);
}

/* ---- placement ------------------------------------------------------------ */

/* Places weight node `id` at the end of the weights space, then pads to
 * WEIGHT_ALIGN unless `packed` (the next weight must follow it directly). */
static void place_weight(lowering_t *lw, int id, bool packed) {
  const ir_node_t *node = &lw->graph->nodes[id];
  greta_plan_t *plan = lw->plan;
  uint64_t bytes = value_bytes(lw, &node->type);
  plan->weights = xgrow(plan->weights, sizeof *plan->weights, plan->n_weights);
  greta_plan_weight_t *w = &plan->weights[plan->n_weights++];
  memset(w, 0, sizeof *w);
  w->info.name = xstrdup(node->name);
  w->info.dtype = node->type.dtype;
  w->info.rank = node->type.rank;
  for (int d = 0; d < node->type.rank; d++) w->info.dims[d].coeff = node->type.dims[d].coeff;
  w->offset = plan->weight_bytes;
  w->bytes = bytes;
  plan->weight_bytes = packed ? plan->weight_bytes + bytes
                              : align_up(plan->weight_bytes + bytes, WEIGHT_ALIGN);
  lw->place[id] = (place_t){GRETA_SPACE_WEIGHTS, -1, w->offset};
  lw->placed[id] = true;
}

/* Weights a fused node reads as one stacked matrix: inputs 1 .. count. */
static int stacked_weights(const ir_node_t *node) {
  return node->op == IR_MATMUL_GLU ? 2 : node->op == IR_MATMUL_QKV ? 3 : 0;
}

static void place_values(lowering_t *lw) {
  const ir_graph_t *g = lw->graph;
  greta_plan_t *plan = lw->plan;
  const int end = g->n_nodes + 1; /* a step after every node */
  /* Stacked weights first, each group contiguous in input order (the
   * fusion passes made sure no other node reads them). */
  for (int id = 0; id < g->n_nodes; id++) {
    const ir_node_t *node = &g->nodes[id];
    int count = stacked_weights(node);
    for (int i = 1; i <= count; i++) place_weight(lw, node->inputs[i], i < count);
  }
  for (int id = 0; id < g->n_nodes; id++) {
    const ir_node_t *node = &g->nodes[id];
    place_t *p = &lw->place[id];
    if (lw->placed[id]) continue;
    p->buffer = -1;
    switch (node->op) {
      case IR_WEIGHT:
        place_weight(lw, id, false);
        break;
      case IR_CACHE: {
        greta_plan_cache_t *c;
        plan->caches = xgrow(plan->caches, sizeof *plan->caches, plan->n_caches);
        c = &plan->caches[plan->n_caches++];
        c->name = xstrdup(node->name);
        c->offset = plan->kv_bytes;
        c->dtype = node->type.dtype;
        c->bytes = (uint64_t)ir_type_elems(&node->type, 1) * greta_dtype_size(node->type.dtype);
        c->row_elems = ir_type_elems(&node->type, 1) / node->type.dims[0].coeff;
        plan->kv_bytes = align_up(plan->kv_bytes + c->bytes, WEIGHT_ALIGN);
        *p = (place_t){GRETA_SPACE_KV, -1, c->offset};
        break;
      }
      case IR_CACHE_APPEND: /* the result is the cache itself */
      case IR_RESHAPE:      /* a view of its input */
        *p = lw->place[node->inputs[0]];
        break;
      case IR_INPUT:
        *p = (place_t){GRETA_SPACE_ARENA, new_buffer(lw, value_bytes(lw, &node->type), 0, end), 0};
        break;
      default:
        *p = (place_t){GRETA_SPACE_ARENA, new_buffer(lw, value_bytes(lw, &node->type), id, id), 0};
        break;
    }
    /* Every read extends the lifetime of the buffer behind the value; a
     * read of last(x) reads x itself in decode (see buffer_ref). */
    for (int i = 0; i < node->n_inputs; i++) {
      int in = node->inputs[i];
      int b = lw->place[in].buffer;
      if (b >= 0 && lw->buffers[b].last < id) lw->buffers[b].last = id;
      if (g->nodes[in].op == IR_LAST) {
        b = lw->place[g->nodes[in].inputs[0]].buffer;
        if (b >= 0 && lw->buffers[b].last < id) lw->buffers[b].last = id;
      }
    }
  }
  for (int o = 0; o < g->n_outputs; o++) {
    int b = lw->place[g->outputs[o].node].buffer;
    if (b < 0) {
      lower_error(lw, g->outputs[o].node, "an output must be computed, not a weight or a cache");
      continue;
    }
    lw->buffers[b].last = end;
  }
}

/* IR ops that lower to one plan op over [rows, n] with no other attribute. */
static const uint32_t simple_ops[IR_OP_COUNT_] = {
    [IR_SILU] = GRETA_OP_SILU,   [IR_SILU_MUL] = GRETA_OP_SILU_MUL, [IR_ADD] = GRETA_OP_ADD,
    [IR_MUL] = GRETA_OP_MUL,     [IR_SCALE] = GRETA_OP_SCALE,       [IR_SOFTMAX] = GRETA_OP_SOFTMAX,
};

/* Lowers node `id` into `list`. `decode`: the entry runs T = 1 only. */
static void lower_node(lowering_t *lw, int id, int decode, launch_list_t *list) {
  const ir_graph_t *g = lw->graph;
  const ir_node_t *node = &g->nodes[id];
  const ir_type_t *t = &node->type;
  int64_t n, rows;
  uint32_t per_token;
  greta_plan_launch_t *l;

  switch (node->op) {
    case IR_INPUT: case IR_WEIGHT: case IR_CACHE: case IR_RESHAPE: case IR_DEAD:
      return; /* no work: placed, or a view */
    default:
      break;
  }
  const ir_type_t *row_type = node->op == IR_CACHE_APPEND ? &g->nodes[node->inputs[1]].type : t;
  if (!row_shape(lw, id, row_type, &n, &rows, &per_token)) return;

  switch (node->op) {
    case IR_MATMUL_NORM: {
      const ir_type_t *w = &g->nodes[node->inputs[1]].type;
      lower_linear(lw, id, decode, list, node->inputs[0], node->inputs[1], n, w->dims[1].coeff,
                   true, (float)node->f[0], buffer_ref(lw, id), (rows_t){rows, per_token});
      return;
    }
    case IR_MATMUL_GLU:
      lower_glu(lw, id, decode, list, (rows_t){rows, per_token}, n);
      return;
    case IR_MATMUL_QKV:
      if (t->dims[0].sym < 0 || t->dims[0].coeff != 1) {
        lower_error(lw, id, "matmul_qkv needs a [T, K] input");
        return;
      }
      lower_qkv(lw, id, decode, list);
      return;
    case IR_MATMUL:
    case IR_MATMUL_ADD: {
      const ir_type_t *b = &g->nodes[node->inputs[1]].type;
      int transposed = node->i[0] != 0;
      l = launch_add(list, GRETA_OP_MATMUL);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      l->attr.k = b->dims[transposed ? 1 : 0].coeff;
      l->attr.transpose_b = transposed;
      if (node->op == IR_MATMUL_ADD) {
        launch_arg(lw, l, node->inputs[2]);
        l->attr.residual = 1;
      }
      l->attr.wdtype = b->dtype;
      if (!decode) l->attr.xdtype = lw->prefill_dtype[node->inputs[0]];
      l->rows_coeff = rows;
      l->rows_per_token = per_token;
      lower_split_k(lw, l, decode);
      return;
    }
    case IR_EMBEDDING: {
      const ir_type_t *table = &g->nodes[node->inputs[1]].type;
      l = launch_add(list, GRETA_OP_EMBEDDING);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, id);
      l->attr.vocab = table->dims[0].coeff;
      l->attr.dim = table->dims[1].coeff;
      l->attr.wdtype = table->dtype;
      break;
    }
    case IR_RMSNORM:
      l = launch_add(list, GRETA_OP_RMSNORM);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      l->attr.wdtype = g->nodes[node->inputs[1]].type.dtype;
      l->attr.eps = (float)node->f[0];
      break;
    case IR_ROPE:
      if (t->rank != 3 || t->dims[0].sym < 0 || t->dims[0].coeff != 1) {
        lower_error(lw, id, "rope needs a [T, heads, head_dim] value");
        return;
      }
      l = launch_add(list, GRETA_OP_ROPE);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, id);
      l->attr.heads = t->dims[1].coeff;
      l->attr.head_dim = t->dims[2].coeff;
      lower_rope_attrs(lw, node->f[0], &l->attr);
      break;
    case IR_CACHE_APPEND: {
      const ir_type_t *cache = &g->nodes[node->inputs[0]].type;
      l = launch_add(list, GRETA_OP_KV_APPEND);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, node->inputs[0]);
      l->attr.kv_heads = cache->dims[1].coeff;
      l->attr.head_dim = cache->dims[2].coeff;
      l->attr.max_seq = cache->dims[0].coeff;
      l->attr.kvdtype = cache->dtype;
      break;
    }
    case IR_ATTENTION: {
      const ir_type_t *cache = &g->nodes[node->inputs[1]].type;
      int64_t heads = t->dims[1].coeff, kv_heads = cache->dims[1].coeff;
      int64_t head_dim = t->dims[2].coeff, max_seq = cache->dims[0].coeff;
      int64_t kvdtype = cache->dtype;
      if (decode && lw->options->target->arch != TARGET_CPU) {
        /* Flash-decoding in one launch: partial [T=1, heads, splits,
         * head_dim + 2] lives for this node only; the arrival counters
         * (i32[heads]) must read 0 before every launch, which the kernel
         * keeps true by resetting them: they sit in a buffer of their own
         * for the whole step (the session zeroes the arena once). */
        int64_t split_rows = lw->options->attention_split_rows;
        int64_t splits = (max_seq + split_rows - 1) / split_rows;
        int partial = new_buffer(lw, (uint64_t)(heads * splits * (head_dim + 2)) * sizeof(float),
                                 id, id);
        int sync = new_buffer(lw, (uint64_t)heads * sizeof(int32_t), 0, g->n_nodes + 1);
        l = launch_add(list, GRETA_OP_ATTENTION_DECODE);
        launch_arg(lw, l, node->inputs[0]);
        launch_arg(lw, l, node->inputs[1]);
        launch_arg(lw, l, node->inputs[2]);
        l->args[l->n_args++] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, (uint64_t)partial};
        l->args[l->n_args++] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, (uint64_t)sync};
        launch_arg(lw, l, id);
        l->attr = (greta_op_attrs_t){.heads = heads, .kv_heads = kv_heads, .head_dim = head_dim,
                                     .max_seq = max_seq, .splits = splits,
                                     .split_rows = split_rows, .kvdtype = kvdtype,
                                     .scale = (float)node->f[0]};
        l->rows_coeff = heads;
        l->rows_per_token = 1;
        return;
      }
      l = launch_add(list, GRETA_OP_ATTENTION);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, node->inputs[2]);
      launch_arg(lw, l, id);
      l->attr = (greta_op_attrs_t){.heads = heads, .kv_heads = kv_heads, .head_dim = head_dim,
                                   .max_seq = max_seq, .kvdtype = kvdtype,
                                   .outdtype = decode ? GRETA_F32 : lw->prefill_dtype[id],
                                   .scale = (float)node->f[0]};
      break;
    }
    case IR_CAUSAL_MASK:
    case IR_MASKED_SOFTMAX:
      if (t->rank < 2 || t->dims[0].sym < 0 || t->dims[0].coeff != 1) {
        lower_error(lw, id, "a causal mask needs a [T, ..., S] value");
        return;
      }
      l = launch_add(list, node->op == IR_CAUSAL_MASK ? GRETA_OP_CAUSAL_MASK
                                                      : GRETA_OP_MASKED_SOFTMAX);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      l->attr.inner = rows; /* rows = T * inner, so inner = rows_coeff */
      break;
    case IR_BIAS_ADD:
      l = launch_add(list, GRETA_OP_BIAS_ADD);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, node->inputs[1]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      l->attr.wdtype = g->nodes[node->inputs[1]].type.dtype;
      break;
    case IR_LAST:
      if (decode && !lw->own_place[id]) return; /* a view of x (buffer_ref) */
      l = launch_add(list, GRETA_OP_LAST_TOKEN);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      break; /* rows: x's per token, never scaled by T */
    case IR_TRANSPOSE: {
      const ir_type_t *x = &g->nodes[node->inputs[0]].type;
      int64_t r = x->dims[x->rank - 2].coeff, c = x->dims[x->rank - 1].coeff;
      if (x->dims[x->rank - 2].sym >= 0) {
        lower_error(lw, id, "transpose of a symbolic dimension is not supported");
        return;
      }
      l = launch_add(list, GRETA_OP_TRANSPOSE);
      launch_arg(lw, l, node->inputs[0]);
      launch_arg(lw, l, id);
      l->attr.in_rows = r;
      l->attr.in_cols = c;
      l->attr.batch = rows / c; /* per token (or in all) */
      /* rows of the input: batch * r */
      l->rows_coeff = (rows / c) * r;
      l->rows_per_token = per_token;
      return;
    }
    default:
      if (node->op >= IR_OP_COUNT_ || !simple_ops[node->op]) {
        lower_error(lw, id, "no kernel implements this op");
        return;
      }
      l = launch_add(list, simple_ops[node->op]);
      for (int i = 0; i < node->n_inputs; i++) launch_arg(lw, l, node->inputs[i]);
      launch_arg(lw, l, id);
      l->attr.n = n;
      if (node->op == IR_SCALE) l->attr.factor = (float)node->f[0];
      break;
  }
  l->rows_coeff = rows;
  l->rows_per_token = per_token;
}

static void patch_arena_args(const lowering_t *lw, launch_list_t *list) {
  for (uint32_t i = 0; i < list->count; i++)
    for (uint32_t a = 0; a < list->items[i].n_args; a++) {
      greta_plan_buffer_t *ref = &list->items[i].args[a];
      if (ref->space == GRETA_SPACE_ARENA) ref->offset = lw->buffers[ref->offset].offset;
    }
}

static void add_io(lowering_t *lw, greta_plan_io_t **array, uint32_t *count, const char *name,
                   int node) {
  const ir_graph_t *g = lw->graph;
  const ir_type_t *t = &g->nodes[node].type;
  *array = xgrow(*array, sizeof **array, *count);
  greta_plan_io_t *io = &(*array)[(*count)++];
  memset(io, 0, sizeof *io);
  io->info.name = xstrdup(name);
  io->info.dtype = t->dtype;
  io->info.rank = t->rank;
  for (int d = 0; d < t->rank; d++) {
    io->info.dims[d].coeff = t->dims[d].coeff;
    io->info.dims[d].symbol = t->dims[d].sym >= 0 ? xstrdup(g->symbols[t->dims[d].sym]) : NULL;
  }
  io->offset = lw->buffers[lw->place[node].buffer].offset;
}

static void add_entry(greta_plan_t *plan, const char *name, int64_t min_tokens,
                      int64_t max_tokens, launch_list_t *list) {
  plan->entries = xgrow(plan->entries, sizeof *plan->entries, plan->n_entries);
  greta_plan_entry_t *e = &plan->entries[plan->n_entries++];
  e->name = xstrdup(name);
  e->min_tokens = min_tokens;
  e->max_tokens = max_tokens;
  e->n_launches = list->count;
  e->launches = list->items;
}

greta_plan_t *schedule_build(const ir_graph_t *graph, const schedule_options_t *options,
                             FILE *diag) {
  lowering_t lw = {.graph = graph, .options = options, .diag = diag};
  lw.place = xcalloc((size_t)graph->n_nodes + 1, sizeof *lw.place);
  lw.placed = xcalloc((size_t)graph->n_nodes + 1, sizeof *lw.placed);
  /* last(x) is a view of x in decode, unless an output or a reshape (a view
   * of last's own place) reads it. */
  lw.own_place = xcalloc((size_t)graph->n_nodes + 1, sizeof *lw.own_place);
  lw.prefill_dtype = xcalloc((size_t)graph->n_nodes + 1, sizeof *lw.prefill_dtype);
  for (int o = 0; o < graph->n_outputs; o++)
    if (graph->outputs[o].node >= 0) lw.own_place[graph->outputs[o].node] = true;
  for (int id = 0; id < graph->n_nodes; id++)
    if (graph->nodes[id].op == IR_RESHAPE) lw.own_place[graph->nodes[id].inputs[0]] = true;
  lw.plan = xcalloc(1, sizeof *lw.plan);
  greta_plan_t *plan = lw.plan;
  plan->target = xstrdup(options->target->id);
  plan->toolchain = xstrdup(options->toolchain);
  plan->model_name = xstrdup(graph->model_name);
  /* Without a KV cache positions still matter (RoPE, causal masks): allow
   * any position a 32-bit parameter block can carry comfortably. */
  plan->max_seq = graph->max_seq > 0 ? graph->max_seq : SCHEDULE_MAX_POSITIONS_NO_CACHE;
  plan->max_tokens = options->max_tokens;

  place_values(&lw);
  /* Lower both entries before packing: decode adds scratch buffers. */
  launch_list_t decode = {0}, prefill = {0}, bind = {0};
  lw.decode = true;
  for (int id = 0; id < graph->n_nodes; id++) lower_node(&lw, id, 1, &decode);
  lw.decode = false;
  half_gemm_inputs(&lw);
  for (int id = 0; id < graph->n_nodes; id++) lower_fold(&lw, id, &bind);
  if (options->max_tokens > 1)
    for (int id = 0; id < graph->n_nodes && !lw.errors; id++) lower_node(&lw, id, 0, &prefill);
  lower_tma(&lw, &prefill);
  plan->arena_bytes = memplan_assign(lw.buffers, lw.n_buffers);
  patch_arena_args(&lw, &decode);
  patch_arena_args(&lw, &prefill);

  for (int id = 0; id < graph->n_nodes; id++)
    if (graph->nodes[id].op == IR_INPUT)
      add_io(&lw, &plan->inputs, &plan->n_inputs, graph->nodes[id].name, id);
  for (int o = 0; o < graph->n_outputs && !lw.errors; o++)
    add_io(&lw, &plan->outputs, &plan->n_outputs, graph->outputs[o].name, graph->outputs[o].node);

  add_entry(plan, "decode", 1, 1, &decode);
  if (options->max_tokens > 1)
    add_entry(plan, "prefill", 2, options->max_tokens, &prefill);
  else
    free(prefill.items);
  if (bind.count)
    add_entry(plan, GRETA_PLAN_BIND_ENTRY, 1, 1, &bind);

  free(lw.place);
  free(lw.placed);
  free(lw.own_place);
  free(lw.prefill_dtype);
  free(lw.buffers);
  if (lw.errors) {
    greta_plan_destroy(plan);
    return NULL;
  }
  return plan;
}
