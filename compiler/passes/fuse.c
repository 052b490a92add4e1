/* Fusion: rewrite a producer/consumer pair into one node (one kernel, one
 * pass over memory) when the producer's value is used nowhere else.
 *
 *   mul(silu(a), b)            -> silu_mul(a, b)
 *   add(matmul(x, w), r)       -> matmul_add(x, w, r)   (residual epilogue)
 *   softmax(causal_mask(x))    -> masked_softmax(x)
 *
 * The consumer takes the fused op in place; the producer becomes dead. */
#include <stdlib.h>
#include "xalloc.h"

#include "passes.h"

/* If `operand` of `node` is an `op` node used once, returns its id, else -1. */
static int single_use_producer(const ir_graph_t *graph, const int *uses, int operand,
                               ir_op_t op) {
  const ir_node_t *p = &graph->nodes[operand];
  return (p->op == op && uses[operand] == 1) ? operand : -1;
}

static void kill(ir_graph_t *graph, int id) {
  graph->nodes[id].op = IR_DEAD;
  graph->nodes[id].n_inputs = 0;
}

int pass_fuse(ir_graph_t *graph) {
  int *uses = xmalloc(sizeof(int) * ((size_t)graph->n_nodes + 1));
  ir_count_uses(graph, uses);
  int changed = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_node_t *node = &graph->nodes[id];
    if (node->op == IR_MUL) {
      for (int side = 0; side < 2; side++) {
        int s = single_use_producer(graph, uses, node->inputs[side], IR_SILU);
        if (s < 0) continue;
        int other = node->inputs[1 - side];
        node->op = IR_SILU_MUL;
        node->inputs[0] = graph->nodes[s].inputs[0];
        node->inputs[1] = other;
        kill(graph, s);
        changed++;
        break;
      }
    } else if (node->op == IR_ADD) {
      for (int side = 0; side < 2; side++) {
        int m = single_use_producer(graph, uses, node->inputs[side], IR_MATMUL);
        if (m < 0) continue;
        int residual = node->inputs[1 - side];
        const ir_node_t *mm = &graph->nodes[m];
        node->op = IR_MATMUL_ADD;
        node->n_inputs = 3;
        node->inputs[0] = mm->inputs[0];
        node->inputs[1] = mm->inputs[1];
        node->inputs[2] = residual;
        node->i[0] = mm->i[0];
        kill(graph, m);
        changed++;
        break;
      }
    } else if (node->op == IR_SOFTMAX) {
      int c = single_use_producer(graph, uses, node->inputs[0], IR_CAUSAL_MASK);
      if (c >= 0) {
        node->op = IR_MASKED_SOFTMAX;
        node->inputs[0] = graph->nodes[c].inputs[0];
        kill(graph, c);
        changed++;
      }
    }
  }
  free(uses);
  return changed;
}
