/* Graph passes over the IR. Each keeps the graph in topological order and
 * valid for ir_verify; each returns how many nodes it changed. */
#ifndef GRETA_PASSES_H
#define GRETA_PASSES_H

#include <stdio.h>

#include "ir.h"

/* Merges nodes with the same op, inputs, attributes and type. */
int pass_cse(ir_graph_t *graph);
/* Marks nodes that no output needs as IR_DEAD. Cache appends are kept:
 * what they write outlives the step. */
int pass_dce(ir_graph_t *graph);
/* Fuses silu(a) * b -> silu_mul, a @ b + r -> matmul_add,
 * softmax(causal_mask(x)) -> masked_softmax, where the inner node has no
 * other use. */
int pass_fuse(ir_graph_t *graph);
/* Folds rmsnorm(x, g) @ w^T into matmul_norm(x, w, g) when every use of the
 * norm is such a matmul (fold_norm.c). */
int pass_fold_norm(ir_graph_t *graph);
/* Stacks projections of one input with their pairing consumer: gate/up
 * under silu_mul -> matmul_glu; q/k/v with RoPE and the cache appends ->
 * matmul_qkv (fuse_siblings.c). */
int pass_fuse_siblings(ir_graph_t *graph);

/* The pipeline's first step: DCE, then compaction (ids renumbered). The
 * front end returns the graph as written; this is the graph
 * `gretac --emit=ir` prints. Returns the number of nodes removed. */
int passes_prune(ir_graph_t *graph);

/* passes_prune, then CSE, fusion (epilogues, norm folding, siblings), DCE,
 * compaction and verification, in that order (compiler/passes/pipeline.c). Returns the number of verifier
 * problems (printed to diag); 0 is success. */
int passes_run(ir_graph_t *graph, FILE *diag);

/* How many times each node is used as an input (and once more if it is an
 * output). `uses` has graph->n_nodes entries. */
void ir_count_uses(const ir_graph_t *graph, int *uses);

/* Replaces every use of node `from` (inputs and outputs) by node `to`. */
void ir_replace_uses(ir_graph_t *graph, int from, int to);

#endif /* GRETA_PASSES_H */
