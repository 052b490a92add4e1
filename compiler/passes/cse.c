/* Common-subexpression elimination: two nodes with the same op, inputs,
 * attributes, type and name compute the same value. Quadratic in the worst
 * case, but nodes are only compared within one op kind and a 7B model has a
 * few thousand nodes. Cache appends are never merged: each is a write. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static int same_type(const ir_type_t *a, const ir_type_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d].coeff != b->dims[d].coeff || a->dims[d].sym != b->dims[d].sym) return 0;
  return 1;
}

static int same_node(const ir_node_t *a, const ir_node_t *b) {
  if (a->op != b->op || a->n_inputs != b->n_inputs) return 0;
  for (int i = 0; i < a->n_inputs; i++)
    if (a->inputs[i] != b->inputs[i]) return 0;
  if (a->i[0] != b->i[0] || a->i[1] != b->i[1]) return 0;
  if (a->f[0] != b->f[0] || a->f[1] != b->f[1]) return 0;
  if ((a->name == NULL) != (b->name == NULL)) return 0;
  if (a->name && strcmp(a->name, b->name) != 0) return 0;
  return same_type(&a->type, &b->type);
}

int pass_cse(ir_graph_t *graph) {
  int changed = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_node_t *node = &graph->nodes[id];
    /* Inputs are distinct by definition; caches and appends have effects. */
    if (node->op == IR_DEAD || node->op == IR_INPUT || node->op == IR_CACHE ||
        node->op == IR_CACHE_APPEND || node->op == IR_MATMUL_QKV)
      continue;
    for (int prev = 0; prev < id; prev++) {
      if (!same_node(&graph->nodes[prev], node)) continue;
      ir_replace_uses(graph, id, prev);
      node->op = IR_DEAD;
      node->n_inputs = 0;
      changed++;
      break;
    }
  }
  return changed;
}
