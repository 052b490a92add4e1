/* Use counts and use replacement, shared by the passes. */
#include <string.h>

#include "passes.h"

void ir_count_uses(const ir_graph_t *graph, int *uses) {
  memset(uses, 0, sizeof(int) * (size_t)graph->n_nodes);
  for (int id = 0; id < graph->n_nodes; id++) {
    const ir_node_t *node = &graph->nodes[id];
    if (node->op == IR_DEAD) continue;
    for (int i = 0; i < node->n_inputs; i++) uses[node->inputs[i]]++;
  }
  for (int o = 0; o < graph->n_outputs; o++) uses[graph->outputs[o].node]++;
}

void ir_replace_uses(ir_graph_t *graph, int from, int to) {
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_node_t *node = &graph->nodes[id];
    for (int i = 0; i < node->n_inputs; i++)
      if (node->inputs[i] == from) node->inputs[i] = to;
  }
  for (int o = 0; o < graph->n_outputs; o++)
    if (graph->outputs[o].node == from) graph->outputs[o].node = to;
}
