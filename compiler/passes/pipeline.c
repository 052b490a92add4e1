/* The order the passes run in. The front end hands over the graph as
 * written; dead-code elimination is the pipeline's first step, and the
 * graph after it is what `gretac --emit=ir` prints. */
#include "passes.h"

int passes_prune(ir_graph_t *graph) {
  /* What no output needs goes, but cache appends stay: their writes
   * outlive the step even when nothing in it reads them. */
  int changed = pass_dce(graph);
  ir_compact(graph);
  return changed;
}

int passes_run(ir_graph_t *graph, FILE *diag) {
  passes_prune(graph);
  pass_cse(graph);
  pass_fuse(graph);      /* epilogues: residual, silu * mul, masked softmax */
  pass_fold_norm(graph); /* then norms into the matmuls they feed */
  pass_fuse_siblings(graph); /* then those matmuls stacked, with their pairing epilogues */
  pass_dce(graph);
  ir_compact(graph);
  return ir_verify(graph, diag);
}
