/* The execution plan: what gretac writes and libgreta runs.
 *
 * The compiler fills a greta_plan_t and serialises it with
 * greta_plan_serialize() (plan_write.c); the runtime reads it back with
 * greta_plan_parse() (plan_read.c), which bounds-checks everything and runs
 * greta_plan_verify() (plan_verify.c) before anything uses it. plan.c holds
 * the queries and the one destructor, plan_cost.c the cost model. The byte
 * format is described in docs/plan-format.md; this header is its in-memory
 * form.
 *
 * The plan is device-neutral: every launch names an op kind whose meaning
 * (below) the CPU backend implements directly, and a kernel symbol that a GPU
 * backend looks up in the code object. Any plan runs on the CPU backend.
 *
 * Memory spaces. Kernels see four base pointers: the parameter block, the
 * activation arena, the weights blob and the KV cache. A buffer reference is
 * a space plus a byte offset. Inputs and outputs live in the arena; the
 * runtime copies them in before and out after a step, so a captured graph
 * always sees the same pointers.
 *
 * Kernel ABI (every backend, every op): arguments are pointers only, in
 * order: the parameter block (`const int32_t *`, [0] = T tokens in this step,
 * [1] = pos, the KV position of the first token), then launch.args[i].
 * Shapes and constants are compiled into the kernel.
 */
#ifndef GRETA_PLAN_H
#define GRETA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

#define GRETA_PLAN_MAGIC "GRETAPLN"
#define GRETA_PLAN_VERSION 1
/* The symbol under which a code object carries the plan bytes. */
#define GRETA_PLAN_SYMBOL "greta_plan"

/* The byte format's framing, shared by plan_write.c and plan_read.c: the
 * header's size and the section tags, in the order the sections appear. */
enum {
  GRETA_PLAN_HEADER_BYTES = 32,
  GRETA_PLAN_SECTION_META = 1,
  GRETA_PLAN_SECTION_KERNELS = 2,
  GRETA_PLAN_SECTION_INPUTS = 3,
  GRETA_PLAN_SECTION_OUTPUTS = 4,
  GRETA_PLAN_SECTION_WEIGHTS = 5,
  GRETA_PLAN_SECTION_CACHES = 6,
  GRETA_PLAN_SECTION_ENTRIES = 7,
  GRETA_PLAN_SECTION_COUNT_ = 8,
};

#define GRETA_PLAN_MAX_ARGS 8
#define GRETA_PLAN_MAX_ATTRS 8

/* Op kinds. Shapes below use T = tokens in the step, pos = KV position of the
 * first token; a[i] are the launch's integer attrs, f[i] its float attrs.
 * "rows" = launch.rows_coeff * (launch.rows_per_token ? T : 1).
 * Activations are f32 unless stated. "w" args may be f32/f16/bf16 as
 * a[7] (GRETA_PLAN_WDTYPE) says; accumulation is always f32. */
typedef enum greta_op_e {
  /* args: tokens (i32[T]), table (w[a0=vocab, a1=dim]), out [T, dim] */
  GRETA_OP_EMBEDDING = 1,
  /* args: x [rows, a0=n], weight (w[n]), out [rows, n]; f0 = eps.
   * out = x / sqrt(mean(x^2) + eps) * weight */
  GRETA_OP_RMSNORM = 2,
  /* args: x [rows, a1=K], b, out [rows, a0=N] (, residual [rows, N] when
   * a3 = 1: out = x @ B + residual). B is [N, K] (a2 = 1, a Linear weight,
   * out = x @ B^T) or [K, N] (a2 = 0). B's dtype is a7. */
  GRETA_OP_MATMUL = 3,
  /* args: x [T, a0=heads, a1=head_dim], out (same); f0 = theta.
   * Rotate-half RoPE as Hugging Face Llama: for token t at position pos+t,
   * i < d/2: angle = (pos+t) * theta^(-2i/d); out[i] = x[i]cos - x[i+d/2]sin,
   * out[i+d/2] = x[i+d/2]cos + x[i]sin. */
  GRETA_OP_ROPE = 4,
  /* args: src [T, a0=kv_heads, a1=head_dim], cache [a2=max_seq, kv_heads,
   * head_dim]. cache[pos + t] = src[t]. */
  GRETA_OP_KV_APPEND = 5,
  /* args: q [T, a0=heads, a2=head_dim], k cache, v cache [a3=max_seq,
   * a1=kv_heads, head_dim], out [T, heads, head_dim]; f0 = scale.
   * Causal: token t attends to cache rows 0..pos+t. Head h reads kv head
   * h / (heads / kv_heads) (grouped-query attention). */
  GRETA_OP_ATTENTION = 6,
  /* Flash-decoding, first half: as ATTENTION, but the cache rows are cut
   * into a4 splits of a5 rows; args: q, k cache, v cache, partial
   * [T, heads, a4, head_dim + 2] (per split: m = max score, l = sum of
   * exp(score - m), then head_dim values of sum exp(score - m) * v).
   * A split with no row in range writes m = -inf, l = 0, acc = 0. */
  GRETA_OP_ATTENTION_SPLIT = 7,
  /* Second half: args: partial (as above), out [T, heads, head_dim];
   * a0 = heads, a2 = head_dim, a4 = splits. out = sum_s e^(m_s-M) acc_s /
   * sum_s e^(m_s-M) l_s with M = max_s m_s. */
  GRETA_OP_ATTENTION_COMBINE = 8,
  /* args: x [rows, a0=n], out: out = x * sigmoid(x) */
  GRETA_OP_SILU = 9,
  /* args: a, b [rows, a0=n], out: out = silu(a) * b */
  GRETA_OP_SILU_MUL = 10,
  /* args: a, b [rows, a0=n], out: out = a + b */
  GRETA_OP_ADD = 11,
  /* args: a, b [rows, a0=n], out: out = a * b */
  GRETA_OP_MUL = 12,
  /* args: x [rows, a0=n], out: out = x * f0 */
  GRETA_OP_SCALE = 13,
  /* args: x [rows, a0=n], out: softmax over the last dimension */
  GRETA_OP_SOFTMAX = 14,
  /* args: x [T, a1=inner, a0=n], out: out[t][i][s] = s > pos + t ? -inf : x.
   * (rows = T * inner.) */
  GRETA_OP_CAUSAL_MASK = 15,
  /* causal mask then softmax, fused: same args and attrs as CAUSAL_MASK */
  GRETA_OP_MASKED_SOFTMAX = 16,
  /* args: x [a0=batch, a1=r, a2=c], out [batch, c, r] (batch * r = rows) */
  GRETA_OP_TRANSPOSE = 17,
  /* args: x, out [rows, a0=n]: a plain copy (reshape into a new buffer) */
  GRETA_OP_COPY = 18,
  GRETA_OP_COUNT_
} greta_op_t;

#define GRETA_PLAN_WDTYPE 7 /* index of the attr holding a weight's dtype */

/* Name of an op kind ("matmul"); "?" when out of range (plan.c). */
const char *greta_op_name(uint32_t op);

typedef enum greta_space_e {
  GRETA_SPACE_ARENA = 0,
  GRETA_SPACE_WEIGHTS = 1,
  GRETA_SPACE_KV = 2,
} greta_space_t;

typedef struct greta_plan_buffer_s {
  uint32_t space;  /* greta_space_t */
  uint64_t offset; /* bytes from the space's base */
} greta_plan_buffer_t;

typedef struct greta_plan_launch_s {
  uint32_t op;          /* greta_op_t */
  uint32_t kernel;      /* index into plan.kernels */
  uint32_t n_args;
  greta_plan_buffer_t args[GRETA_PLAN_MAX_ARGS];
  int64_t a[GRETA_PLAN_MAX_ATTRS];
  float f[4];
  int64_t rows_coeff;    /* see "rows" above */
  uint32_t rows_per_token; /* 1: rows scale with T */
  /* Launch geometry. grid[grid_t_axis] = ceil(T * grid_t_per_token /
   * grid_t_tile) when grid_t_axis < 3; the other axes are fixed. */
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t grid_t_axis;
  uint32_t grid_t_per_token;
  uint32_t grid_t_tile;
  uint32_t shared_bytes;
} greta_plan_launch_t;

/* A step entry: the launch sequence for one range of T. */
typedef struct greta_plan_entry_s {
  char *name;        /* "decode" (T = 1) or "prefill" (2 <= T <= max_tokens) */
  int64_t min_tokens;
  int64_t max_tokens;
  uint32_t n_launches;
  greta_plan_launch_t *launches;
} greta_plan_entry_t;

/* An input or output: a tensor in the arena. dims[0] may be symbolic T. */
typedef struct greta_plan_io_s {
  greta_tensor_info_t info; /* info.name and dims' symbols point into the plan */
  uint64_t offset;          /* arena offset */
} greta_plan_io_t;

typedef struct greta_plan_weight_s {
  greta_tensor_info_t info; /* info.name: the checkpoint tensor name */
  uint64_t offset;          /* weights-blob offset */
  uint64_t bytes;
} greta_plan_weight_t;

/* One KV cache (a layer's K or V): [max_seq, kv_heads, head_dim] f32. */
typedef struct greta_plan_cache_s {
  char *name;
  uint64_t offset; /* KV-space offset */
  uint64_t bytes;
  int64_t row_elems; /* kv_heads * head_dim */
} greta_plan_cache_t;

typedef struct greta_plan_s {
  char *target;         /* full target ID, e.g. "gfx942:sramecc+:xnack-" */
  char *toolchain;      /* e.g. "clang 19.1.7" */
  char *model_name;
  int64_t max_seq;
  int64_t max_tokens;
  uint64_t arena_bytes;
  uint64_t weight_bytes;
  uint64_t kv_bytes;
  uint32_t n_kernels;
  char **kernels;       /* kernel symbol names */
  uint32_t n_inputs, n_outputs, n_weights, n_caches, n_entries;
  greta_plan_io_t *inputs;
  greta_plan_io_t *outputs;
  greta_plan_weight_t *weights;
  greta_plan_cache_t *caches;
  greta_plan_entry_t *entries;
} greta_plan_t;

/* Serialises `plan` (with its checksum) into a malloc'd buffer the caller
 * frees. Runs greta_plan_verify() first and writes nothing if it fails
 * (plan_write.c). `plan` stays the caller's. */
greta_status_t greta_plan_serialize(const greta_plan_t *plan, uint8_t **out_bytes,
                                    size_t *out_size);
/* Parses and verifies plan bytes: magic, version, checksum, every count and
 * string (plan_read.c), then greta_plan_verify(). On success *out_plan is a
 * heap object the caller releases with greta_plan_destroy. `bytes` stay the
 * caller's; the plan copies what it keeps. */
greta_status_t greta_plan_parse(const uint8_t *bytes, size_t size, greta_plan_t **out_plan);
/* Checks a decoded or compiler-built plan's meaning: every count, string,
 * offset and size (each buffer reference lies inside its space at the
 * largest T of its entry, each kernel index inside the kernel table), each
 * op's attributes and, for GPU targets, launch geometry. NULL when the plan
 * is sound; else a GRETA_DATA_LOSS status saying what is wrong
 * (plan_verify.c). */
greta_status_t greta_plan_verify(const greta_plan_t *plan);
/* Frees a plan and everything it points to, whether greta_plan_parse read
 * it or gretac built it (compiler/schedule.c): both make every string and
 * array its own malloc'd block and leave the dims past a tensor's rank
 * zeroed (symbol NULL). NULL is a no-op (plan.c). */
void greta_plan_destroy(greta_plan_t *plan);

/* Finds the plan inside a file's bytes: an ELF code object (AMD or NVIDIA)
 * whose symbol GRETA_PLAN_SYMBOL holds it (read with elf.c), or bare plan
 * bytes (target cpu). *out_plan points into `file` (plan_read.c). */
greta_status_t greta_plan_locate(const uint8_t *file, size_t size,
                                 const uint8_t **out_plan, size_t *out_plan_size);

/* The entry that runs a step of `tokens` tokens, or NULL (plan.c). */
const greta_plan_entry_t *greta_plan_entry_for(const greta_plan_t *plan, int64_t tokens);
/* The fewest bytes `launch` must move (each input read once, each output
 * written once) and its floating-point operations, for `tokens` tokens at
 * `pos` (plan_cost.c). */
void greta_plan_launch_cost(const greta_plan_launch_t *launch, int64_t tokens, int64_t pos,
                            uint64_t *out_bytes, uint64_t *out_flops);

/* grid[] of a launch for `tokens` tokens (plan.c). */
void greta_plan_launch_grid(const greta_plan_launch_t *launch, int64_t tokens, uint32_t out_grid[3]);

#endif /* GRETA_PLAN_H */
