/* Norm folding: an RMSNorm in front of Linear matmuls stops being a launch.
 *
 *   rmsnorm(x, g) @ w^T  ->  matmul_norm(x, w, g)
 *
 * rmsnorm(x, g)[k] = x[k] * inv * g[k] with inv = 1 / sqrt(mean(x^2) + eps),
 * a scalar per row, so
 *
 *   sum_k x[k] inv g[k] w[n][k] = inv * sum_k x[k] (w[n][k] g[k]),
 *
 * i.e. the product with W' = W diag(g), scaled per row by inv. The schedule
 * computes W' once at bind time (plan op fold_norm) and inv inside the
 * consuming kernel (decode), or as a weightless rms_scale (prefill).
 *
 * Taken when every use of the norm is such a matmul (its value exists
 * nowhere else, so it need not be computed) and each w is a weight read by
 * that matmul alone (folding rewrites it). */
#include <stdlib.h>

#include "passes.h"
#include "xalloc.h"

/* Is `use` (a user of norm node `norm`) a Linear matmul of the norm's
 * value by a weight no other node reads? */
static int foldable_use(const ir_graph_t *graph, const int *uses, int norm, int use) {
  const ir_node_t *m = &graph->nodes[use];
  if (m->op != IR_MATMUL || m->i[0] != 1 || m->inputs[0] != norm || m->inputs[1] == norm) return 0;
  const ir_node_t *w = &graph->nodes[m->inputs[1]];
  return w->op == IR_WEIGHT && uses[m->inputs[1]] == 1;
}

int pass_fold_norm(ir_graph_t *graph) {
  int *uses = xmalloc(sizeof(int) * ((size_t)graph->n_nodes + 1));
  ir_count_uses(graph, uses);
  int changed = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_node_t *norm = &graph->nodes[id];
    if (norm->op != IR_RMSNORM || graph->nodes[norm->inputs[1]].op != IR_WEIGHT) continue;
    /* Every use must fold; outputs count as uses that cannot. */
    int folds = 0;
    for (int u = id + 1; u < graph->n_nodes; u++)
      for (int i = 0; i < graph->nodes[u].n_inputs; i++)
        if (graph->nodes[u].inputs[i] == id) folds += foldable_use(graph, uses, id, u) ? 1 : -1000;
    if (folds <= 0 || folds != uses[id]) continue;
    for (int u = id + 1; u < graph->n_nodes; u++) {
      ir_node_t *m = &graph->nodes[u];
      if (m->op != IR_MATMUL || m->inputs[0] != id) continue;
      m->op = IR_MATMUL_NORM;
      m->n_inputs = 3;
      m->inputs[0] = norm->inputs[0];
      m->inputs[2] = norm->inputs[1];
      m->i[0] = 0;
      m->f[0] = norm->f[0];
    }
    norm->op = IR_DEAD;
    norm->n_inputs = 0;
    changed += folds;
  }
  free(uses);
  return changed;
}
