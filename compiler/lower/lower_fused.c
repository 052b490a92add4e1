/* Lowering the fused IR ops (compiler/passes/fold_norm.c, fuse_siblings.c)
 * to plan launches. Decode runs each as one launch with the work in its
 * epilogue (the GEMV kernels have room for it); prefill runs the GEMM over
 * the stacked weight, with rms_scale before it (the GEMM has no row-scale
 * epilogue) and, where the tensor-core GEMM cannot take the epilogue (see
 * lower_glu), glu or qkv_rope_append after it. A folded norm adds a
 * fold_norm launch to the bind entry. */
#include "lowering.h"

static greta_plan_buffer_t scratch_ref(int buffer) {
  return (greta_plan_buffer_t){GRETA_SPACE_ARENA, (uint64_t)buffer};
}

/* The x a GEMM over W [n, k] at weight node `w` reads in node `id`'s
 * launches, and its dtype: x itself, or in prefill with `norm` x / rms(x)
 * from an rms_scale launch into a scratch row block (the GEMM has no
 * row-scale epilogue), stored in the type gemm_x_dtype picks. */
static greta_plan_buffer_t gemm_x(lowering_t *lw, int id, int decode, launch_list_t *list, int x,
                                  int w, int64_t k, bool norm, float eps, rows_t rows,
                                  greta_dtype_t *x_dtype) {
  *x_dtype = decode ? GRETA_F32 : lw->prefill_dtype[x];
  if (!norm || decode) return buffer_ref(lw, x);
  *x_dtype = gemm_x_dtype(lw, w, k);
  const ir_type_t *xt = &lw->graph->nodes[x].type;
  int scaled = new_buffer(lw, (uint64_t)ir_type_elems(xt, lw->options->max_tokens) *
                                  greta_dtype_size(*x_dtype), id, id);
  greta_plan_launch_t *l = launch_add(list, GRETA_OP_RMS_SCALE);
  launch_arg(lw, l, x);
  l->args[l->n_args++] = scratch_ref(scaled);
  l->attr.n = k;
  l->attr.outdtype = *x_dtype;
  l->attr.eps = eps;
  l->rows_coeff = rows.coeff;
  l->rows_per_token = rows.per_token;
  return scratch_ref(scaled);
}

/* Whether a fused projection over W [n, k] at weight node `w` runs as one
 * launch with its epilogue: always in decode (the GEMV), in prefill where
 * the GEMM reads half x (gemm_x_dtype: a half type, 64 | k), which also
 * means the matrix-core tiles that have the epilogue (a paired one,
 * templates/gemm.h) run it. */
static bool one_launch(const lowering_t *lw, int decode, int w, int64_t k) {
  return decode || gemm_x_dtype(lw, w, k) != GRETA_F32;
}

/* x' @ W^T into `out` for W [n, k] at weight node `w` (a stacked group
 * starts there), x' = x, or x / rms(x) when `norm` (W holds the norm's
 * weight, folded at bind time). Decode: one matmul computing the inverse
 * RMS inside. Prefill: gemm_x, then the matmul. */
void lower_linear(lowering_t *lw, int id, int decode, launch_list_t *list, int x, int w,
                  int64_t n, int64_t k, bool norm, float eps, greta_plan_buffer_t out,
                  rows_t rows) {
  greta_dtype_t x_dtype;
  greta_plan_buffer_t in = gemm_x(lw, id, decode, list, x, w, k, norm, eps, rows, &x_dtype);
  greta_plan_launch_t *l = launch_add(list, GRETA_OP_MATMUL);
  l->args[l->n_args++] = in;
  launch_arg(lw, l, w);
  l->args[l->n_args++] = out;
  l->attr.n = n;
  l->attr.k = k;
  l->attr.transpose_b = 1;
  l->attr.wdtype = lw->graph->nodes[w].type.dtype;
  l->attr.xdtype = x_dtype;
  if (norm && decode) {
    l->attr.norm = 1;
    l->attr.eps = eps;
  }
  l->rows_coeff = rows.coeff;
  l->rows_per_token = rows.per_token;
  lower_split_k(lw, l, decode);
}

/* matmul_glu, where one_launch: after gemm_x, one launch over the stacked
 * [2n, k] weight with silu(gate) * up as its epilogue (decode: the GEMV,
 * normalising x inside; prefill: the GEMM, greta_glu_pairs). Otherwise the
 * GEMM into a [rows, 2n] scratch, then glu. */
void lower_glu(lowering_t *lw, int id, int decode, launch_list_t *list, rows_t rows, int64_t n) {
  const ir_node_t *node = &lw->graph->nodes[id];
  const ir_type_t *w = &lw->graph->nodes[node->inputs[1]].type;
  const int64_t k = w->dims[1].coeff;
  const bool norm = node->n_inputs == 4;
  const float eps = norm ? (float)node->f[0] : 0.0f;
  if (one_launch(lw, decode, node->inputs[1], k)) {
    greta_dtype_t x_dtype;
    greta_plan_buffer_t in =
        gemm_x(lw, id, decode, list, node->inputs[0], node->inputs[1], k, norm, eps, rows, &x_dtype);
    greta_plan_launch_t *l = launch_add(list, GRETA_OP_MATMUL_GLU);
    l->args[l->n_args++] = in;
    launch_arg(lw, l, node->inputs[1]);
    launch_arg(lw, l, id);
    l->attr = (greta_op_attrs_t){.n = n, .k = k, .wdtype = w->dtype, .xdtype = x_dtype,
                                 .outdtype = decode ? GRETA_F32 : lw->prefill_dtype[id]};
    if (decode) { /* the GEMV normalises x itself */
      l->attr.norm = norm;
      l->attr.eps = eps;
    }
    l->rows_coeff = rows.coeff;
    l->rows_per_token = rows.per_token;
    return;
  }
  int y = new_buffer(lw, (uint64_t)(rows.coeff * (rows.per_token ? lw->options->max_tokens : 1) *
                                    2 * n) * sizeof(float),
                     id, id);
  lower_linear(lw, id, decode, list, node->inputs[0], node->inputs[1], 2 * n, k, norm, eps,
               scratch_ref(y), rows);
  greta_plan_launch_t *l = launch_add(list, GRETA_OP_GLU);
  l->args[l->n_args++] = scratch_ref(y);
  launch_arg(lw, l, id);
  l->attr.n = n;
  l->attr.outdtype = lw->prefill_dtype[id];
  l->rows_coeff = rows.coeff;
  l->rows_per_token = rows.per_token;
}

/* matmul_qkv, where one_launch: after gemm_x, one launch over the stacked
 * q/k/v weight with RoPE and the cache writes as its epilogue (decode: the
 * GEMV, normalising x inside; prefill: the GEMM, greta_qkv_pairs).
 * Otherwise the GEMM into a [T, (heads + 2 kv_heads) head_dim] scratch,
 * then qkv_rope_append. */
void lower_qkv(lowering_t *lw, int id, int decode, launch_list_t *list) {
  const ir_graph_t *g = lw->graph;
  const ir_node_t *node = &g->nodes[id];
  const ir_type_t *q = &node->type, *cache = &g->nodes[node->inputs[4]].type;
  const ir_type_t *w = &g->nodes[node->inputs[1]].type;
  const bool norm = node->n_inputs == 7;
  greta_op_attrs_t attr = {
      .heads = q->dims[1].coeff, .kv_heads = cache->dims[1].coeff, .head_dim = q->dims[2].coeff,
      .max_seq = cache->dims[0].coeff, .kvdtype = cache->dtype};
  lower_rope_attrs(lw, node->f[1], &attr);
  const int64_t k = w->dims[1].coeff, y_row = (attr.heads + 2 * attr.kv_heads) * attr.head_dim;
  const rows_t tokens = {1, 1};
  const float eps = norm ? (float)node->f[0] : 0.0f;
  greta_plan_launch_t *l;
  if (one_launch(lw, decode, node->inputs[1], k)) {
    greta_dtype_t x_dtype;
    greta_plan_buffer_t in =
        gemm_x(lw, id, decode, list, node->inputs[0], node->inputs[1], k, norm, eps, tokens, &x_dtype);
    l = launch_add(list, GRETA_OP_MATMUL_QKV);
    l->args[l->n_args++] = in;
    launch_arg(lw, l, node->inputs[1]);
    launch_arg(lw, l, id);
    launch_arg(lw, l, node->inputs[4]);
    launch_arg(lw, l, node->inputs[5]);
    l->attr = attr;
    l->attr.k = k;
    l->attr.wdtype = w->dtype;
    l->attr.xdtype = x_dtype;
    if (decode) { /* the GEMV normalises x itself */
      l->attr.norm = norm;
      l->attr.eps = eps;
    }
  } else {
    int y = new_buffer(lw, (uint64_t)(lw->options->max_tokens * y_row) * sizeof(float), id, id);
    lower_linear(lw, id, decode, list, node->inputs[0], node->inputs[1], y_row, k, norm, eps,
                 scratch_ref(y), tokens);
    l = launch_add(list, GRETA_OP_QKV_ROPE_APPEND);
    l->args[l->n_args++] = scratch_ref(y);
    launch_arg(lw, l, id);
    launch_arg(lw, l, node->inputs[4]);
    launch_arg(lw, l, node->inputs[5]);
    l->attr = attr;
  }
  l->rows_coeff = 1;
  l->rows_per_token = 1;
}

/* The bind entry: each norm folded into the stacked weight that follows it
 * (fold_norm.c says why this is exact up to the weight's rounding). */
void lower_fold(lowering_t *lw, int id, launch_list_t *list) {
  const ir_node_t *node = &lw->graph->nodes[id];
  int g;
  int64_t rows = lw->graph->nodes[node->inputs[1]].type.dims[0].coeff;
  switch (node->op) {
    case IR_MATMUL_NORM: g = node->inputs[2]; break;
    case IR_MATMUL_GLU:
      if (node->n_inputs != 4) return;
      g = node->inputs[3];
      rows *= 2;
      break;
    case IR_MATMUL_QKV:
      if (node->n_inputs != 7) return;
      g = node->inputs[6];
      for (int i = 2; i <= 3; i++) rows += lw->graph->nodes[node->inputs[i]].type.dims[0].coeff;
      break;
    default: return;
  }
  const ir_type_t *gt = &lw->graph->nodes[g].type;
  greta_plan_launch_t *l = launch_add(list, GRETA_OP_FOLD_NORM);
  launch_arg(lw, l, node->inputs[1]);
  launch_arg(lw, l, g);
  l->attr.n = gt->dims[0].coeff;
  l->attr.wdtype = gt->dtype;
  l->rows_coeff = rows;
  l->rows_per_token = 0;
}

