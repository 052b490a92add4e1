/* Which prefill values are stored in a half type (ops.def: xdtype,
 * outdtype). A half-weight GEMM rounds its x to the weight's type on the way
 * into shared memory; when x's producer stores it rounded already, the
 * GEMM reads half the bytes and copies x like the weight, and every backend
 * (the CPU reference included) computes the same numbers. Prefill only: the
 * decode GEMVs read x once and keep it f32. */
#include "lowering.h"

greta_dtype_t gemm_x_dtype(const lowering_t *lw, int w, int64_t k) {
  const greta_dtype_t dt = lw->graph->nodes[w].type.dtype;
  return dt != GRETA_F32 && k % LOWER_HALF_X_K == 0 ? dt : GRETA_F32;
}

/* The half type in which node `reader` takes `id` as a GEMM's x (a Linear
 * weight that gemm_x_dtype lets read half x); -1 when it is no such GEMM or
 * reads `id` any other way (a residual, a norm's input). */
static int half_x_of(const lowering_t *lw, int reader, int id) {
  const ir_node_t *r = &lw->graph->nodes[reader];
  if ((r->op != IR_MATMUL && r->op != IR_MATMUL_ADD) || r->i[0] != 1 || r->inputs[0] != id)
    return -1;
  for (int i = 1; i < r->n_inputs; i++)
    if (r->inputs[i] == id) return -1;
  const int w = r->inputs[1];
  const greta_dtype_t dt = gemm_x_dtype(lw, w, lw->graph->nodes[w].type.dims[1].coeff);
  return dt == GRETA_F32 ? -1 : (int)dt;
}

static bool is_output(const ir_graph_t *g, int id) {
  for (int o = 0; o < g->n_outputs; o++)
    if (g->outputs[o].node == id) return true;
  return false;
}

/* The half type that every reader of `id` takes it in as GEMM x, looking
 * through reshapes (views); `dt` the type found so far (0: none yet).
 * -1 when a reader reads it any other way, or `id` is an output. */
static int gemm_readers_dtype(const lowering_t *lw, int id, int dt) {
  const ir_graph_t *g = lw->graph;
  if (is_output(g, id)) return -1;
  for (int r = id + 1; r < g->n_nodes && dt >= 0; r++) {
    bool reads = false;
    for (int i = 0; i < g->nodes[r].n_inputs; i++) reads |= g->nodes[r].inputs[i] == id;
    if (!reads) continue;
    if (g->nodes[r].op == IR_RESHAPE) {
      dt = gemm_readers_dtype(lw, r, dt);
      continue;
    }
    const int x = half_x_of(lw, r, id);
    dt = x < 0 || (dt && x != dt) ? -1 : x;
  }
  return dt;
}

/* `id` and the reshapes of it are stored in dt. */
static void set_prefill_dtype(lowering_t *lw, int id, greta_dtype_t dt) {
  lw->prefill_dtype[id] = dt;
  for (int r = id + 1; r < lw->graph->n_nodes; r++)
    if (lw->graph->nodes[r].op == IR_RESHAPE && lw->graph->nodes[r].inputs[0] == id)
      set_prefill_dtype(lw, r, dt);
}

void half_gemm_inputs(lowering_t *lw) {
  const ir_graph_t *g = lw->graph;
  for (int id = 0; id < g->n_nodes; id++) lw->prefill_dtype[id] = GRETA_F32;
  for (int id = 0; id < g->n_nodes; id++) {
    const ir_op_t op = g->nodes[id].op;
    if (op != IR_MATMUL_GLU && op != IR_ATTENTION) continue; /* the producers that can */
    const int dt = gemm_readers_dtype(lw, id, 0);
    if (dt > 0) set_prefill_dtype(lw, id, (greta_dtype_t)dt);
  }
}
