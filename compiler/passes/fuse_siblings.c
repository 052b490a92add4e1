/* Horizontal fusion: Linear projections of one input become one matmul over
 * their weights stacked (the plan lays them out contiguously), with the
 * consumer that pairs their outputs as its epilogue. Without the epilogue
 * the stacked output would need slicing; with it, nothing of the
 * projections reaches memory but the result.
 *
 *   silu_mul(x' @ wg^T, x' @ wu^T)                  -> matmul_glu(x, wg, wu [, g])
 *   attention(rope(reshape(x' @ wq^T)),
 *             append(kc, rope(reshape(x' @ wk^T))),
 *             append(vc, reshape(x' @ wv^T)))       -> attention(matmul_qkv(x, wq, wk, wv,
 *                                                                  kc, vc [, g]), kc, vc)
 *
 * x' is x, or x normalised inside the kernel (matmul_norm, fold_norm.c):
 * the projections must agree on it. Each projection's value must have no
 * other use, and each weight no other reader (it moves). */
#include <stdlib.h>

#include "passes.h"
#include "xalloc.h"

/* A Linear projection x' @ w^T: x, w, and the norm (g = -1: none). */
typedef struct projection_s {
  int x, w, g;
  double eps;
} projection_t;

static int projection_of(const ir_graph_t *graph, const int *uses, int id, projection_t *out) {
  const ir_node_t *n = &graph->nodes[id];
  if (uses[id] != 1) return 0;
  if (n->op == IR_MATMUL && n->i[0] == 1) *out = (projection_t){n->inputs[0], n->inputs[1], -1, 0.0};
  else if (n->op == IR_MATMUL_NORM)
    *out = (projection_t){n->inputs[0], n->inputs[1], n->inputs[2], n->f[0]};
  else return 0;
  return graph->nodes[out->w].op == IR_WEIGHT && uses[out->w] == 1;
}

static int same_source(const projection_t *a, const projection_t *b) {
  return a->x == b->x && a->g == b->g && a->eps == b->eps && a->w != b->w;
}

/* If `id` is `op` used once, its first input; else -1. */
static int single_use_input(const ir_graph_t *graph, const int *uses, int id, ir_op_t op) {
  const ir_node_t *n = &graph->nodes[id];
  return n->op == op && uses[id] == 1 ? n->inputs[0] : -1;
}

/* reshape(p) that only splits the last dimension of p into heads (the
 * leading dimension, T, stays): p's id, else -1. */
static int split_heads_of(const ir_graph_t *graph, const int *uses, int id) {
  int p = single_use_input(graph, uses, id, IR_RESHAPE);
  if (p < 0) return -1;
  const ir_type_t *in = &graph->nodes[p].type, *out = &graph->nodes[id].type;
  if (in->rank != 2 || out->rank != 3 || in->dims[0].coeff != out->dims[0].coeff ||
      in->dims[0].sym != out->dims[0].sym)
    return -1;
  return p;
}

static int same_type(const ir_type_t *a, const ir_type_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d].coeff != b->dims[d].coeff || a->dims[d].sym != b->dims[d].sym) return 0;
  return 1;
}

static void kill(ir_graph_t *graph, int id) {
  graph->nodes[id].op = IR_DEAD;
  graph->nodes[id].n_inputs = 0;
}

/* Writes the fused node into slot `at` (an id after every input), infers
 * its type and checks it is `want`; on failure restores the slot. */
static int place_fused(ir_graph_t *graph, int at, const ir_node_t *fused, const ir_type_t *want) {
  for (int i = 0; i < fused->n_inputs; i++)
    if (fused->inputs[i] >= at) return 0;
  ir_node_t saved = graph->nodes[at];
  ir_node_t *n = &graph->nodes[at];
  *n = *fused;
  n->name = NULL;
  n->loc = saved.loc;
  greta_status_t s = ir_infer_type(graph, at);
  if (s || !same_type(&n->type, want)) {
    greta_status_free(s);
    *n = saved;
    return 0;
  }
  free(saved.name);
  return 1;
}

static int fuse_glu(ir_graph_t *graph, const int *uses, int id) {
  const ir_node_t *s = &graph->nodes[id];
  projection_t gate, up;
  if (!projection_of(graph, uses, s->inputs[0], &gate) ||
      !projection_of(graph, uses, s->inputs[1], &up) || !same_source(&gate, &up))
    return 0;
  int gate_id = s->inputs[0], up_id = s->inputs[1];
  ir_node_t fused = {.op = IR_MATMUL_GLU, .n_inputs = gate.g >= 0 ? 4 : 3,
                     .inputs = {gate.x, gate.w, up.w, gate.g}, .f = {gate.eps, 0.0}};
  ir_type_t want = s->type;
  if (!place_fused(graph, id, &fused, &want)) return 0;
  kill(graph, gate_id);
  kill(graph, up_id);
  return 1;
}

static int fuse_qkv(ir_graph_t *graph, const int *uses, int id) {
  ir_node_t *attn = &graph->nodes[id];
  const int q_rope = attn->inputs[0], k_append = attn->inputs[1], v_append = attn->inputs[2];
  const ir_node_t *ka = &graph->nodes[k_append], *va = &graph->nodes[v_append];
  if (ka->op != IR_CACHE_APPEND || va->op != IR_CACHE_APPEND || uses[k_append] != 1 ||
      uses[v_append] != 1)
    return 0;
  const int k_rope = ka->inputs[1], v_heads = va->inputs[1];
  int q_heads = single_use_input(graph, uses, q_rope, IR_ROPE);
  int k_heads = single_use_input(graph, uses, k_rope, IR_ROPE);
  if (q_heads < 0 || k_heads < 0 || graph->nodes[q_rope].f[0] != graph->nodes[k_rope].f[0])
    return 0;
  int pq = split_heads_of(graph, uses, q_heads), pk = split_heads_of(graph, uses, k_heads);
  int pv = split_heads_of(graph, uses, v_heads);
  projection_t q, k, v;
  if (pq < 0 || pk < 0 || pv < 0 || !projection_of(graph, uses, pq, &q) ||
      !projection_of(graph, uses, pk, &k) || !projection_of(graph, uses, pv, &v) ||
      !same_source(&q, &k) || !same_source(&q, &v) || !same_source(&k, &v))
    return 0;
  const int k_cache = ka->inputs[0], v_cache = va->inputs[0];
  /* The fused node takes the latest of the three value chains' ends. */
  int at = q_rope > k_append ? q_rope : k_append;
  if (v_append > at) at = v_append;
  ir_node_t fused = {.op = IR_MATMUL_QKV, .n_inputs = q.g >= 0 ? 7 : 6,
                     .inputs = {q.x, q.w, k.w, v.w, k_cache, v_cache, q.g},
                     .f = {q.eps, graph->nodes[q_rope].f[0]}};
  ir_type_t want = graph->nodes[q_rope].type;
  if (!place_fused(graph, at, &fused, &want)) return 0;
  const int gone[] = {q_rope, q_heads, pq, k_append, k_rope, k_heads, pk, v_append, v_heads, pv};
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
    if (gone[i] != at) kill(graph, gone[i]);
  attn = &graph->nodes[id];
  attn->inputs[0] = at;
  attn->inputs[1] = k_cache;
  attn->inputs[2] = v_cache;
  return 1;
}

int pass_fuse_siblings(ir_graph_t *graph) {
  int *uses = xmalloc(sizeof(int) * ((size_t)graph->n_nodes + 1));
  int changed = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_op_t op = graph->nodes[id].op;
    if (op != IR_SILU_MUL && op != IR_ATTENTION) continue;
    /* Counts change with every rewrite. */
    ir_count_uses(graph, uses);
    changed += op == IR_SILU_MUL ? fuse_glu(graph, uses, id) : fuse_qkv(graph, uses, id);
  }
  free(uses);
  return changed;
}
