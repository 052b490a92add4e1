/* GRETA IR: a typed SSA graph with symbolic dimensions.
 *
 * Sema (compiler/frontend/sema*.c) builds it from the AST with every block call
 * inlined and every `repeat` unrolled, so the graph is flat: nodes are stored
 * in a topological order (each input id is smaller than the node's own id).
 * Passes (compiler/passes/) rewrite it in place and keep that order; the
 * verifier (ir_verify) checks it and every type after each pass.
 *
 * Node ids are indices into graph->nodes. A removed node stays in the array
 * with op IR_DEAD so ids stay stable; ir_compact() renumbers.
 */
#ifndef GRETA_IR_H
#define GRETA_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "greta/greta.h"

#define IR_MAX_INPUTS 8

/* A dimension: coeff * symbols[sym] when sym >= 0, else the constant coeff. */
typedef struct ir_dim_s {
  int64_t coeff;
  int sym; /* -1: constant */
} ir_dim_t;

typedef struct ir_type_s {
  greta_dtype_t dtype;
  int rank; /* 0 .. GRETA_MAX_RANK */
  ir_dim_t dims[GRETA_MAX_RANK];
} ir_type_t;

/* Op kinds. Inputs are listed in order; T is the step's token count and pos
 * the KV position of its first token (both implicit, known at run time). */
typedef enum ir_op_e {
  IR_DEAD = 0,
  /* Leaves. */
  IR_INPUT,  /* name: the input's name */
  IR_WEIGHT, /* name: checkpoint tensor name ("model.layers.3.mlp.up_proj.weight"),
                dtype = the model's weight dtype */
  IR_CACHE,  /* name: unique cache name from the block instance path ("decoder.3.k_cache"); type [max_seq, kv_heads,
                head_dim] in the model's kv_dtype. Its contents persist across steps. */
  /* Compute. */
  IR_EMBEDDING,  /* (tokens i32[T], table [vocab, dim]) -> f32[T, dim] */
  IR_RMSNORM,    /* (x [.., n], w [n]) -> like x; f[0] = eps */
  IR_MATMUL,     /* (a [.., K], b) -> [.., N]; b is [K, N], or [N, K] when
                    i[0] = 1 (b used transposed, as a Linear weight) */
  IR_MATMUL_ADD, /* fused: (a, b, r) -> a @ b + r; i[0] as IR_MATMUL */
  IR_MATMUL_NORM, /* fused: (x [.., K], w [N, K], g [K]) -> rmsnorm(x, g) @ w^T;
                     f[0] = eps. g is folded into w at bind time (fold_norm.c) */
  IR_MATMUL_GLU, /* fused: (x [.., K], w_gate [N, K], w_up [N, K] [, g [K]]) ->
                    silu(x' @ w_gate^T) * (x' @ w_up^T), x' = rmsnorm(x, g, f[0])
                    when g is given, else x. w_gate and w_up are stored
                    contiguously: one [2N, K] weight */
  IR_MATMUL_QKV, /* fused: (x [T, K], wq, wk, wv, k_cache, v_cache [, g]) ->
                    q = rope(x' @ wq^T as [T, heads, head_dim]); and, as a side
                    effect, rope(x' @ wk^T) and x' @ wv^T appended to the caches
                    at rows pos .. pos+T-1. x' as IR_MATMUL_GLU; f[0] = eps,
                    f[1] = theta. wq, wk, wv contiguous: one stacked weight */
  IR_ROPE,       /* (x [T, heads, head_dim]) -> like x; f[0] = theta */
  IR_CACHE_APPEND, /* (cache, x [T, kv_heads, head_dim]) -> the cache with x
                      written at rows pos .. pos+T-1 (a side effect) */
  IR_ATTENTION,  /* (q [T, heads, head_dim], k, v) -> [T, heads, head_dim];
                    k and v are IR_CACHE_APPEND results (or, after qkv fusion,
                    the caches q's IR_MATMUL_QKV writes); causal; f[0] = scale;
                    heads % kv_heads == 0 (grouped-query) */
  IR_SILU,       /* (x) -> x * sigmoid(x) */
  IR_SILU_MUL,   /* fused: (a, b) -> silu(a) * b */
  IR_ADD,        /* (a, b) -> a + b, same shape */
  IR_MUL,        /* (a, b) -> a * b, same shape */
  IR_SCALE,      /* (x) -> x * f[0] */
  IR_SOFTMAX,    /* (x) -> softmax over the last dimension */
  IR_CAUSAL_MASK, /* (x [T, .., S]) -> x with [t][..][s] = -inf for s > pos + t */
  IR_MASKED_SOFTMAX, /* fused: softmax(causal_mask(x)) */
  IR_TRANSPOSE,  /* (x [.., r, c]) -> [.., c, r] (the last two dims) */
  IR_RESHAPE,    /* (x) -> same elements, node's own type (a view) */
  IR_BIAS_ADD,   /* (x [.., N], b [N]) -> x + b, b added to every row (a
                    Linear layer's bias: `x @ w.T + b`) */
  IR_LAST,       /* (x [T, ...]) -> [1, ...]: the last token's slice, x[T - 1]
                    (logits of the last position only) */
  IR_OP_COUNT_
} ir_op_t;

typedef struct ir_loc_s {
  const char *file; /* owned by the graph's string pool */
  int line, col;    /* 1-based; 0 when synthesised by a pass */
} ir_loc_t;

typedef struct ir_node_s {
  ir_op_t op;
  ir_type_t type;
  int n_inputs;
  int inputs[IR_MAX_INPUTS]; /* node ids */
  int64_t i[2];              /* integer attributes (see the op) */
  double f[2];               /* float attributes (see the op) */
  char *name;                /* leaves: see the op; owned by the node */
  ir_loc_t loc;              /* where the source wrote it */
} ir_node_t;

/* Llama 3's RoPE frequency scaling (`set rope_scaling = llama3(...)`), applied
 * to every rope of the model as transformers' _compute_llama3_parameters does;
 * factor 0: none. */
typedef struct ir_rope_scaling_s {
  double factor, low_freq_factor, high_freq_factor;
  double original_max; /* original_max_position_embeddings */
} ir_rope_scaling_t;

typedef struct ir_output_s {
  char *name; /* owned */
  int node;
} ir_output_t;

typedef struct ir_graph_s {
  char *model_name;            /* owned */
  greta_dtype_t weight_dtype;  /* the storage dtype of every weight */
  greta_dtype_t kv_dtype;      /* the storage dtype of every KV cache */
  int64_t max_seq;             /* KV-cache capacity; 0 when the model has no cache */
  ir_rope_scaling_t rope_scaling; /* of every rope and matmul_qkv */
  int n_symbols;
  char *symbols[8];            /* symbolic dimension names ("T"); owned */
  int n_nodes, cap_nodes;
  ir_node_t *nodes;
  int n_outputs;
  ir_output_t *outputs;
  char *file;                  /* source file name (owned); nodes' loc.file point here */
} ir_graph_t;

ir_graph_t *ir_graph_create(const char *model_name);
void ir_graph_destroy(ir_graph_t *graph);

/* Index of symbol `name`, added if new; -1 when the table is full. */
int ir_symbol(ir_graph_t *graph, const char *name);

/* Appends a node (inputs must already exist) and returns its id. `name` is
 * copied (may be NULL). The node's type is left for the caller to set, or
 * use ir_infer_type. */
int ir_add(ir_graph_t *graph, ir_op_t op, int n_inputs, const int *inputs,
           const char *name, ir_loc_t loc);
/* Marks node `node` as output `name` (copied). */
void ir_add_output(ir_graph_t *graph, const char *name, int node);

/* Infers node `id`'s type from its inputs and attributes. On a mismatch
 * INVALID_ARGUMENT, whose message names both shapes. Leaves (and
 * IR_RESHAPE, whose type is given) are left as they are. */
greta_status_t ir_infer_type(ir_graph_t *graph, int id);

/* Checks the whole graph: topological order, input counts, every type as
 * ir_infer_type computes it, outputs valid. Returns the number of problems,
 * each printed to `diag` (may be NULL) as "ir: node %N: ...". */
int ir_verify(const ir_graph_t *graph, FILE *diag);

/* Removes IR_DEAD nodes and renumbers. */
void ir_compact(ir_graph_t *graph);

/* Number of elements of a type with every symbol set to `sym_value`. */
int64_t ir_type_elems(const ir_type_t *type, int64_t sym_value);
/* "f32[T, 4096]" into buf; returns buf. */
char *ir_type_str(const ir_graph_t *graph, const ir_type_t *type, char *buf, size_t size);
const char *ir_op_name(ir_op_t op);

/* The stable, readable text form (gretac --emit=ir). */
void ir_print(const ir_graph_t *graph, FILE *out);
/* Graphviz (gretac --emit=dot). */
void ir_print_dot(const ir_graph_t *graph, FILE *out);

#endif /* GRETA_IR_H */
