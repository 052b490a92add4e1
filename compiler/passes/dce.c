/* Dead-code elimination: walk back from the outputs and the cache writers
 * (appends, matmul_qkv: their writes outlive the step); everything not
 * reached is dead. */
#include <stdlib.h>
#include "xalloc.h"

#include "passes.h"

int pass_dce(ir_graph_t *graph) {
  char *live = xcalloc((size_t)graph->n_nodes + 1, 1);
  for (int o = 0; o < graph->n_outputs; o++) live[graph->outputs[o].node] = 1;
  for (int id = 0; id < graph->n_nodes; id++)
    if (graph->nodes[id].op == IR_CACHE_APPEND || graph->nodes[id].op == IR_MATMUL_QKV) live[id] = 1;
  /* Inputs precede their users, so one backward sweep suffices. Declared
   * graph inputs stay too: the step's interface does not shrink. */
  for (int id = graph->n_nodes - 1; id >= 0; id--) {
    const ir_node_t *node = &graph->nodes[id];
    if (node->op == IR_INPUT) live[id] = 1;
    if (!live[id]) continue;
    for (int i = 0; i < node->n_inputs; i++) live[node->inputs[i]] = 1;
  }
  int changed = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    if (live[id] || graph->nodes[id].op == IR_DEAD) continue;
    graph->nodes[id].op = IR_DEAD;
    graph->nodes[id].n_inputs = 0;
    changed++;
  }
  free(live);
  return changed;
}
