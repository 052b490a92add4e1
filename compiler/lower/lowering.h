/* What compiler/lower/schedule.c and lower_fused.c share: the lowering's
 * state, the helpers that build the plan (launch.c), half_x.c's rule and
 * the fused ops' lowering (lower_fused.c, which schedule.c calls). Private
 * to compiler/lower/. */
#ifndef GRETA_LOWERING_H
#define GRETA_LOWERING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "memplan.h"
#include "schedule.h"

/* Where a value lives. */
typedef struct place_s {
  uint32_t space; /* greta_space_t */
  int buffer;     /* arena: index into the memplan buffers; else -1 */
  uint64_t offset; /* weights / kv: byte offset */
} place_t;

typedef struct lowering_s {
  const ir_graph_t *graph;
  const schedule_options_t *options;
  FILE *diag;
  int errors;
  place_t *place;           /* per node */
  bool *placed;             /* per node: weights placed ahead of the walk */
  memplan_buffer_t *buffers; /* arena values */
  int n_buffers;
  greta_plan_t *plan;
  bool *own_place;          /* per node: read in its own place (an output, a reshape) */
  greta_dtype_t *prefill_dtype; /* per node: how prefill stores it (half_gemm_inputs) */
  bool decode;              /* lowering the decode entry (T = 1) */
  int split_k_ws;           /* the prefill split-K workspace: buffer id + 1, 0 before any */
} lowering_t;

typedef struct launch_list_s {
  greta_plan_launch_t *items;
  uint32_t count;
} launch_list_t;

/* The rows of a projection's input x: rows_coeff (* T when per_token). */
typedef struct rows_s {
  int64_t coeff;
  uint32_t per_token;
} rows_t;

/* launch.c. A prefill matmul launch (attributes set) whose GEMM may split its tiles' K on
 * this target (kernels_gemm_split_k) gets split_k and the step's split-K workspace (one
 * buffer for the whole entry) as its last operand. */
void lower_split_k(lowering_t *lw, greta_plan_launch_t *l, int decode);

/* The model's RoPE attributes for a rope, matmul_qkv or qkv_rope_append
 * launch: theta, and the llama3 scaling of the graph (none: all 0). */
void lower_rope_attrs(const lowering_t *lw, double theta, greta_op_attrs_t *attrs);
/* "file:line:col: error: message" for node `id` (or its id), counted. */
void lower_error(lowering_t *lw, int id, const char *message);
/* Bytes of a value at T = max_tokens. */
uint64_t value_bytes(const lowering_t *lw, const ir_type_t *type);
/* A new arena buffer live from step `first` to step `last`; its index. */
int new_buffer(lowering_t *lw, uint64_t bytes, int first, int last);
/* A reference to node `id`'s value (arena: the buffer index, patched later). */
greta_plan_buffer_t buffer_ref(const lowering_t *lw, int id);
/* Appends a launch of `op` (grid and block 1, no axis growing with T). The
 * list may move: a pointer from an earlier call is stale. */
greta_plan_launch_t *launch_add(launch_list_t *list, uint32_t op);
/* Appends node `node`'s value as the launch's next argument. */
void launch_arg(const lowering_t *lw, greta_plan_launch_t *l, int node);

/* half_x.c. Prefill stores the x of a half-weight GEMM in the weight's type when K is
 * a multiple of this (every GEMM kernel then reads it in whole 16-byte
 * chunks: gemm_wgmma's K stage is 64, gemm_mfma's 32). */
#define LOWER_HALF_X_K 64

/* The dtype prefill stores a GEMM's x in, for Linear weight node `w` of
 * K columns: w's half type when the rule above holds, else f32. */
greta_dtype_t gemm_x_dtype(const lowering_t *lw, int w, int64_t k);
/* Fills lw->prefill_dtype: a glu or attention output read only (directly or
 * through reshapes) as the x of GEMMs that take half x (gemm_x_dtype), all
 * of one weight type, is stored in that type, and so are its reshapes. */
void half_gemm_inputs(lowering_t *lw);

/* The fused IR ops (lower_fused.c), per entry: decode one launch each;
 * prefill the GEMM and a small op after it. */
void lower_linear(lowering_t *lw, int id, int decode, launch_list_t *list, int x, int w,
                  int64_t n, int64_t k, bool norm, float eps, greta_plan_buffer_t out,
                  rows_t rows);
void lower_glu(lowering_t *lw, int id, int decode, launch_list_t *list, rows_t rows, int64_t n);
void lower_qkv(lowering_t *lw, int id, int decode, launch_list_t *list);
/* The bind entry's fold_norm launch for node `id`, if it folds a norm. */
void lower_fold(lowering_t *lw, int id, launch_list_t *list);

#endif /* GRETA_LOWERING_H */
