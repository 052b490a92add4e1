/* The two floors of a launch: the fewest bytes it must move through memory
 * (each input read once, each output written once) and its floating-point
 * operations. Benchmarks divide them by the measured bandwidth and peak.
 * One function per op family of ops.def (cost_<family>). */
#include "plan.h"

typedef struct cost_s {
  const greta_plan_launch_t *l;
  const greta_op_attrs_t *a;
  uint64_t T, pos, rows;
  uint64_t w; /* bytes of a weight element */
  uint64_t bytes, flops;
} cost_t;

static const uint64_t f32 = 4;

/* Bytes of a KV-cache element. */
static uint64_t kv_size(const cost_t *c) {
  return greta_dtype_size((greta_dtype_t)c->a->kvdtype);
}

static void cost_embedding(cost_t *c) { /* tokens, T table rows, out */
  c->bytes = c->T * 4 + c->T * (uint64_t)c->a->dim * (c->w + f32);
}

/* Bytes of an element of a dtype attribute (0: f32). */
static uint64_t size_of(int64_t dtype) { return greta_dtype_size((greta_dtype_t)dtype); }

static void cost_rmsnorm(cost_t *c) { /* x, w (not for rms_scale), out; square, sum, scale twice */
  uint64_t n = (uint64_t)c->a->n;
  c->bytes = c->rows * n * (f32 + size_of(c->a->outdtype)) +
             (c->l->op == GRETA_OP_RMSNORM ? n * c->w : 0);
  c->flops = 4 * c->rows * n;
}

static void cost_matmul(cost_t *c) { /* x [rows, K], B [N, K], out (+ residual) [rows, N] */
  uint64_t N = (uint64_t)c->a->n, K = (uint64_t)c->a->k, rows = c->rows;
  c->bytes = rows * K * size_of(c->a->xdtype) + N * K * c->w +
             rows * N * f32 * (c->a->residual ? 2 : 1);
  c->flops = 2 * rows * N * K + (c->a->residual ? rows * N : 0) + (c->a->norm ? 2 * rows * K : 0);
}

static void cost_rope(cost_t *c) { /* read and write every element; a rotation per pair */
  c->bytes = 2 * c->rows * (uint64_t)c->a->head_dim * f32;
  c->flops = 3 * c->rows * (uint64_t)c->a->head_dim;
}

static void cost_kv_append(cost_t *c) {
  c->bytes = c->T * (uint64_t)(c->a->kv_heads * c->a->head_dim) * (f32 + kv_size(c));
}

/* Attention reads q and the visible cache rows of K and V and writes out;
 * scores and weighted sums cost 4 * head_dim per (query head, visible row).
 * The flash-decoding partials stay in cache (L2) and are not counted. */
static void cost_attention(cost_t *c) {
  uint64_t H = (uint64_t)c->a->heads, KVH = (uint64_t)c->a->kv_heads, D = (uint64_t)c->a->head_dim;
  uint64_t context = c->pos + c->T;
  uint64_t visible = c->T * c->pos + c->T * (c->T + 1) / 2;
  c->bytes = c->T * H * D * (f32 + size_of(c->a->outdtype)) + 2 * context * KVH * D * kv_size(c);
  c->flops = 4 * H * D * visible;
}

static void cost_attention_decode(cost_t *c) { cost_attention(c); }

/* x [rows, K] (in xdtype) and the stacked B [N, K] read, what the epilogue
 * writes; the norm adds 2 flops per x element. */
static void projection_floor(cost_t *c, uint64_t N, uint64_t K, uint64_t out_bytes) {
  c->bytes = c->rows * K * size_of(c->a->xdtype) + N * K * c->w + out_bytes;
  c->flops = 2 * c->rows * N * K + (c->a->norm ? 2 * c->rows * K : 0);
}

static void cost_matmul_glu(cost_t *c) {
  uint64_t n = (uint64_t)c->a->n;
  projection_floor(c, 2 * n, (uint64_t)c->a->k, c->rows * n * size_of(c->a->outdtype));
  c->flops += 5 * c->rows * n;
}

static void cost_matmul_qkv(cost_t *c) {
  uint64_t H = (uint64_t)c->a->heads, KVH = (uint64_t)c->a->kv_heads, D = (uint64_t)c->a->head_dim;
  projection_floor(c, (H + 2 * KVH) * D, (uint64_t)c->a->k,
                   c->T * (H * D * f32 + 2 * KVH * D * kv_size(c)));
  c->flops += 3 * c->T * (H + KVH) * D;
}

static void cost_qkv_rope_append(cost_t *c) {
  uint64_t H = (uint64_t)c->a->heads, KVH = (uint64_t)c->a->kv_heads, D = (uint64_t)c->a->head_dim;
  c->bytes = c->T * ((H + 2 * KVH) * D * f32 + H * D * f32 + 2 * KVH * D * kv_size(c));
  c->flops = 3 * c->T * (H + KVH) * D;
}

static void cost_fold_norm(cost_t *c) { /* read and write w, read g */
  uint64_t n = (uint64_t)c->a->n;
  c->bytes = 2 * c->rows * n * c->w + n * c->w;
  c->flops = c->rows * n;
}

/* Every operand is [rows, n] f32 (glu's input [rows, 2n]); flops per element by op. */
static void cost_elementwise(cost_t *c) {
  static const uint64_t flops_per_element[GRETA_OP_COUNT_] = {
      [GRETA_OP_SILU] = 4, [GRETA_OP_SILU_MUL] = 5, [GRETA_OP_ADD] = 1,
      [GRETA_OP_MUL] = 1,  [GRETA_OP_SCALE] = 1,    [GRETA_OP_COPY] = 0,
      [GRETA_OP_LAST_TOKEN] = 0, [GRETA_OP_BIAS_ADD] = 1,
      [GRETA_OP_GLU] = 5,
  };
  uint64_t elements = c->rows * (uint64_t)c->a->n;
  /* glu reads 2n per row and writes n (in outdtype) */
  c->bytes = c->l->op == GRETA_OP_GLU ? elements * (2 * f32 + size_of(c->a->outdtype))
                                      : c->l->n_args * elements * f32;
  if (c->l->op == GRETA_OP_BIAS_ADD) /* x and out per element, the bias once */
    c->bytes = 2 * elements * f32 + (uint64_t)c->a->n * greta_dtype_size((greta_dtype_t)c->a->wdtype);
  c->flops = flops_per_element[c->l->op] * elements;
}

static void cost_softmax(cost_t *c) { /* max, exp, sum, divide */
  c->bytes = 2 * c->rows * (uint64_t)c->a->n * f32;
  c->flops = 4 * c->rows * (uint64_t)c->a->n;
}

static void cost_causal_mask(cost_t *c) { c->bytes = 2 * c->rows * (uint64_t)c->a->n * f32; }

static void cost_transpose(cost_t *c) { c->bytes = 2 * c->rows * (uint64_t)c->a->in_cols * f32; }

static void (*const cost_of[GRETA_OP_COUNT_])(cost_t *) = {
#define GRETA_OP(ENUM, value, name, family, operands, ints, floats) [value] = cost_##family,
#include "ops.def"
};

void greta_plan_launch_cost(const greta_plan_launch_t *l, int64_t tokens, int64_t pos,
                            uint64_t *out_bytes, uint64_t *out_flops) {
  cost_t c = {
      .l = l,
      .a = &l->attr,
      .T = (uint64_t)tokens,
      .pos = (uint64_t)pos,
      .rows = (uint64_t)(l->rows_coeff * (l->rows_per_token ? tokens : 1)),
      .w = greta_dtype_size((greta_dtype_t)l->attr.wdtype),
  };
  if (l->op < GRETA_OP_COUNT_ && cost_of[l->op]) cost_of[l->op](&c);
  *out_bytes = c.bytes;
  *out_flops = c.flops;
}
