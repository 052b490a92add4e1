/* The CPU reference of every op in ops.def, llama2.c style: plain loops, one
 * function per op family (cpu_<family>), activations f32, weights f32/f16/bf16 converted to f32 as
 * they are read. Matmuls and reductions accumulate in float, in index order,
 * so results are deterministic whatever the thread count (OpenMP splits
 * independent rows, never a sum).
 *
 * The plan verifier has already checked that every buffer a
 * launch touches lies inside its space; the checks here are those that
 * depend on run-time values: positions against the cache size and token ids
 * against the vocabulary.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "half.h"
#include "status.h"

/* Everything one op needs: the launch, its resolved arg pointers, T, pos. */
typedef struct op_ctx_s {
  const greta_plan_launch_t *launch;
  void *arg[GRETA_PLAN_MAX_ARGS];
  int64_t tokens;
  int64_t pos;
  int64_t rows;
} op_ctx_t;

#define ATTR (c->launch->attr)
#define WDTYPE ((greta_dtype_t)ATTR.wdtype)

static float silu(float x) { return x / (1.0f + expf(-x)); }

static greta_status_t cpu_embedding(const op_ctx_t *c) {
  const int32_t *tokens = c->arg[0]; /* (T) */
  const void *table = c->arg[1];     /* (vocab, dim) */
  float *out = c->arg[2];            /* (T, dim) */
  int64_t vocab = ATTR.vocab, dim = ATTR.dim;
  for (int64_t t = 0; t < c->tokens; t++)
    if (tokens[t] < 0 || tokens[t] >= vocab)
      return greta_status_make(GRETA_OUT_OF_RANGE,
                               "embedding: token %d at row %lld is outside the vocabulary "
                               "[0, %lld)",
                               tokens[t], (long long)t, (long long)vocab);
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t i = 0; i < dim; i++)
      out[t * dim + i] = greta_load_float(table, WDTYPE, (size_t)(tokens[t] * dim + i));
  return NULL;
}

static greta_status_t cpu_rmsnorm(const op_ctx_t *c) {
  const float *x = c->arg[0];   /* (rows, n) */
  const void *weight = c->arg[1]; /* (n) */
  float *out = c->arg[2];       /* (rows, n) */
  int64_t n = ATTR.n;
  float eps = ATTR.eps;
#pragma omp parallel for
  for (int64_t r = 0; r < c->rows; r++) {
    const float *xr = x + r * n;
    float ss = 0.0f;
    for (int64_t i = 0; i < n; i++) ss += xr[i] * xr[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++)
      out[r * n + i] = xr[i] * inv * greta_load_float(weight, WDTYPE, (size_t)i);
  }
  return NULL;
}

/* sum_k x[k] * b[start + k * stride] in float, k in order. The dtype switch
 * sits outside the loop: this is the CPU backend's hot loop. */
static float dot(const float *x, const void *b, greta_dtype_t dtype, size_t start, size_t stride,
                 int64_t k_dim) {
  float acc = 0.0f;
  switch (dtype) {
    case GRETA_F16: {
      const uint16_t *h = (const uint16_t *)b + start;
      for (int64_t k = 0; k < k_dim; k++) acc += x[k] * greta_f16_to_f32(h[(size_t)k * stride]);
      break;
    }
    case GRETA_BF16: {
      const uint16_t *h = (const uint16_t *)b + start;
      for (int64_t k = 0; k < k_dim; k++) acc += x[k] * greta_bf16_to_f32(h[(size_t)k * stride]);
      break;
    }
    default: {
      const float *f = (const float *)b + start;
      for (int64_t k = 0; k < k_dim; k++) acc += x[k] * f[(size_t)k * stride];
    }
  }
  return acc;
}

static greta_status_t cpu_matmul(const op_ctx_t *c) {
  const float *x = c->arg[0];                           /* (rows, K) */
  const void *b = c->arg[1];                            /* (N, K) if a2 else (K, N) */
  float *out = c->arg[2];                               /* (rows, N) */
  const float *residual = ATTR.residual ? c->arg[3] : NULL; /* (rows, N) */
  int64_t n_cols = ATTR.n, k_dim = ATTR.k;
  bool b_is_nk = ATTR.transpose_b == 1;
  /* Each out element is a float sum over k in order; the residual (which
   * may alias out) is added after, read before the element is written. */
#pragma omp parallel for collapse(2)
  for (int64_t r = 0; r < c->rows; r++)
    for (int64_t n = 0; n < n_cols; n++) {
      float acc = b_is_nk ? dot(x + r * k_dim, b, WDTYPE, (size_t)(n * k_dim), 1, k_dim)
                          : dot(x + r * k_dim, b, WDTYPE, (size_t)n, (size_t)n_cols, k_dim);
      if (residual) acc += residual[r * n_cols + n];
      out[r * n_cols + n] = acc;
    }
  return NULL;
}

static greta_status_t cpu_rope(const op_ctx_t *c) {
  const float *x = c->arg[0]; /* (T, heads, head_dim) */
  float *out = c->arg[1];     /* (T, heads, head_dim) */
  int64_t heads = ATTR.heads, d = ATTR.head_dim, half = d / 2;
  float theta = ATTR.theta;
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < half; i++) {
        /* As Hugging Face computes it: inverse frequency and angle in f32. */
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)d);
        float angle = (float)(c->pos + t) * inv_freq;
        float cs = cosf(angle), sn = sinf(angle);
        size_t base = (size_t)((t * heads + h) * d);
        float x0 = x[base + i], x1 = x[base + i + half];
        out[base + i] = x0 * cs - x1 * sn;
        out[base + i + half] = x1 * cs + x0 * sn;
      }
  return NULL;
}

static greta_status_t cpu_kv_append(const op_ctx_t *c) {
  const float *src = c->arg[0]; /* (T, kv_heads, head_dim) */
  float *cache = c->arg[1];     /* (max_seq, kv_heads, head_dim) */
  int64_t row = ATTR.kv_heads * ATTR.head_dim, max_seq = ATTR.max_seq;
  if (c->pos < 0 || c->pos + c->tokens > max_seq)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "kv_append: pos + tokens = %lld exceeds the cache's max_seq %lld",
                             (long long)(c->pos + c->tokens), (long long)max_seq);
  memmove(cache + c->pos * row, src, (size_t)(c->tokens * row) * sizeof(float));
  return NULL;
}

/* Scores of one query row against cache rows [begin, end): m (the max), the
 * softmax numerators exp(score - m) into `p`, their sum l, and
 * acc = sum p[s] * v[s] (head_dim values). Shared by ATTENTION and
 * ATTENTION_SPLIT so the two agree by construction. */
static void attend_rows(const float *q, const float *k, const float *v, int64_t kv_stride,
                        int64_t head_dim, float scale, int64_t begin, int64_t end, float *p,
                        float *out_m, float *out_l, float *acc) {
  float m = -INFINITY;
  for (int64_t s = begin; s < end; s++) {
    const float *ks = k + s * kv_stride;
    float dot = 0.0f;
    for (int64_t i = 0; i < head_dim; i++) dot += q[i] * ks[i];
    p[s - begin] = dot * scale;
    if (p[s - begin] > m) m = p[s - begin];
  }
  float l = 0.0f;
  for (int64_t i = 0; i < head_dim; i++) acc[i] = 0.0f;
  for (int64_t s = begin; s < end; s++) {
    float e = expf(p[s - begin] - m);
    l += e;
    const float *vs = v + s * kv_stride;
    for (int64_t i = 0; i < head_dim; i++) acc[i] += e * vs[i];
  }
  *out_m = m;
  *out_l = l;
}

static greta_status_t check_attention_pos(const op_ctx_t *c, const char *name) {
  if (c->pos < 0 || c->pos + c->tokens > ATTR.max_seq)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "%s: pos + tokens = %lld exceeds the cache's max_seq %lld", name,
                             (long long)(c->pos + c->tokens), (long long)ATTR.max_seq);
  return NULL;
}

static greta_status_t cpu_attention(const op_ctx_t *c) {
  const float *q = c->arg[0]; /* (T, heads, head_dim) */
  const float *k = c->arg[1]; /* (max_seq, kv_heads, head_dim) */
  const float *v = c->arg[2]; /* (max_seq, kv_heads, head_dim) */
  float *out = c->arg[3];     /* (T, heads, head_dim) */
  int64_t heads = ATTR.heads, kv_heads = ATTR.kv_heads, d = ATTR.head_dim, group = heads / kv_heads;
  float scale = ATTR.scale;
  GRETA_RETURN_IF_ERROR(check_attention_pos(c, "attention"));
  bool failed = false;
#pragma omp parallel
  {
    /* Per thread: scores of one row (at most pos + T) and an accumulator,
     * so that out may alias q. */
    float *p = malloc((size_t)(c->pos + c->tokens) * sizeof(float));
    float *acc = malloc((size_t)d * sizeof(float));
    if (!p || !acc) {
#pragma omp atomic write
      failed = true;
    }
#pragma omp for collapse(2)
    for (int64_t t = 0; t < c->tokens; t++)
      for (int64_t h = 0; h < heads; h++) {
        if (!p || !acc) continue;
        int64_t kv_off = (h / group) * d;
        float m, l;
        attend_rows(q + (t * heads + h) * d, k + kv_off, v + kv_off, kv_heads * d, d, scale, 0,
                    c->pos + t + 1, p, &m, &l, acc);
        for (int64_t i = 0; i < d; i++) out[(t * heads + h) * d + i] = acc[i] / l;
      }
    free(p);
    free(acc);
  }
  if (failed) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "attention: out of memory");
  return NULL;
}

static greta_status_t cpu_attention_split(const op_ctx_t *c) {
  const float *q = c->arg[0]; /* (T, heads, head_dim) */
  const float *k = c->arg[1]; /* (max_seq, kv_heads, head_dim) */
  const float *v = c->arg[2]; /* (max_seq, kv_heads, head_dim) */
  float *partial = c->arg[3]; /* (T, heads, splits, head_dim + 2): m, l, acc */
  int64_t heads = ATTR.heads, kv_heads = ATTR.kv_heads, d = ATTR.head_dim, splits = ATTR.splits,
          per_split = ATTR.split_rows;
  int64_t group = heads / kv_heads;
  float scale = ATTR.scale;
  GRETA_RETURN_IF_ERROR(check_attention_pos(c, "attention_split"));
  bool failed = false;
#pragma omp parallel
  {
    float *p = malloc((size_t)per_split * sizeof(float));
    if (!p) {
#pragma omp atomic write
      failed = true;
    }
#pragma omp for collapse(3)
    for (int64_t t = 0; t < c->tokens; t++)
      for (int64_t h = 0; h < heads; h++)
        for (int64_t s = 0; s < splits; s++) {
          if (!p) continue;
          float *slot = partial + ((t * heads + h) * splits + s) * (d + 2);
          int64_t begin = s * per_split, end = begin + per_split;
          if (end > c->pos + t + 1) end = c->pos + t + 1; /* causal limit */
          if (begin >= end) {
            slot[0] = -INFINITY;
            for (int64_t i = 1; i < d + 2; i++) slot[i] = 0.0f;
            continue;
          }
          int64_t kv_off = (h / group) * d;
          attend_rows(q + (t * heads + h) * d, k + kv_off, v + kv_off, kv_heads * d, d, scale,
                      begin, end, p, &slot[0], &slot[1], slot + 2);
        }
    free(p);
  }
  if (failed) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "attention_split: out of memory");
  return NULL;
}

static greta_status_t cpu_attention_combine(const op_ctx_t *c) {
  const float *partial = c->arg[0]; /* (T, heads, splits, head_dim + 2) */
  float *out = c->arg[1];           /* (T, heads, head_dim) */
  int64_t heads = ATTR.heads, d = ATTR.head_dim, splits = ATTR.splits;
#pragma omp parallel for collapse(2)
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t h = 0; h < heads; h++) {
      const float *slots = partial + (t * heads + h) * splits * (d + 2);
      float m_max = -INFINITY;
      for (int64_t s = 0; s < splits; s++)
        if (slots[s * (d + 2)] > m_max) m_max = slots[s * (d + 2)];
      float *o = out + (t * heads + h) * d;
      float l = 0.0f;
      for (int64_t i = 0; i < d; i++) o[i] = 0.0f;
      for (int64_t s = 0; s < splits; s++) {
        const float *slot = slots + s * (d + 2);
        if (slot[0] == -INFINITY) continue; /* an empty split adds nothing */
        float w = expf(slot[0] - m_max);
        l += w * slot[1];
        for (int64_t i = 0; i < d; i++) o[i] += w * slot[2 + i];
      }
      for (int64_t i = 0; i < d; i++) o[i] = l > 0.0f ? o[i] / l : 0.0f;
    }
  return NULL;
}

static greta_status_t cpu_elementwise(const op_ctx_t *c) {
  const float *x = c->arg[0]; /* (rows, n) */
  const float *y = c->launch->n_args == 3 ? c->arg[1] : NULL;
  float *out = c->arg[c->launch->n_args - 1]; /* (rows, n) */
  int64_t count = c->rows * ATTR.n;
  float factor = ATTR.factor;
  uint32_t op = c->launch->op;
#pragma omp parallel for
  for (int64_t i = 0; i < count; i++) {
    switch (op) {
      case GRETA_OP_SILU: out[i] = silu(x[i]); break;
      case GRETA_OP_SILU_MUL: out[i] = silu(x[i]) * y[i]; break;
      case GRETA_OP_ADD: out[i] = x[i] + y[i]; break;
      case GRETA_OP_MUL: out[i] = x[i] * y[i]; break;
      case GRETA_OP_SCALE: out[i] = x[i] * factor; break;
      case GRETA_OP_COPY: out[i] = x[i]; break;
      default: break;
    }
  }
  return NULL;
}

/* Softmax of one row in place (max-subtracted, float sums in order). */
static void softmax_row(float *row, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (row[i] > m) m = row[i];
  float sum = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    row[i] = expf(row[i] - m);
    sum += row[i];
  }
  for (int64_t i = 0; i < n; i++) row[i] /= sum;
}

static greta_status_t mask_rows(const op_ctx_t *c, bool then_softmax);

/* SOFTMAX, and MASKED_SOFTMAX (the causal mask first). */
static greta_status_t cpu_softmax(const op_ctx_t *c) {
  if (c->launch->op == GRETA_OP_MASKED_SOFTMAX) return mask_rows(c, true);
  const float *x = c->arg[0]; /* (rows, n) */
  float *out = c->arg[1];     /* (rows, n) */
  int64_t n = ATTR.n;
#pragma omp parallel for
  for (int64_t r = 0; r < c->rows; r++) {
    memmove(out + r * n, x + r * n, (size_t)n * sizeof(float));
    softmax_row(out + r * n, n);
  }
  return NULL;
}

/* The causal mask, then softmax when `then_softmax`. */
static greta_status_t mask_rows(const op_ctx_t *c, bool then_softmax) {
  const float *x = c->arg[0]; /* (T, inner, n) */
  float *out = c->arg[1];     /* (T, inner, n) */
  int64_t n = ATTR.n, inner = ATTR.inner;
#pragma omp parallel for collapse(2)
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t j = 0; j < inner; j++) {
      const float *xr = x + (t * inner + j) * n;
      float *o = out + (t * inner + j) * n;
      for (int64_t s = 0; s < n; s++) o[s] = s > c->pos + t ? -INFINITY : xr[s];
      if (then_softmax) softmax_row(o, n);
    }
  return NULL;
}

static greta_status_t cpu_transpose(const op_ctx_t *c) {
  const float *x = c->arg[0]; /* (batch, r, c) */
  float *out = c->arg[1];     /* (batch, c, r) */
  int64_t r = ATTR.in_rows, cols = ATTR.in_cols, batch = c->rows / r;
#pragma omp parallel for
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < r; i++)
      for (int64_t j = 0; j < cols; j++)
        out[(b * cols + j) * r + i] = x[(b * r + i) * cols + j];
  return NULL;
}

static greta_status_t cpu_causal_mask(const op_ctx_t *c) { return mask_rows(c, false); }

static void *space_base(const greta_spaces_t *spaces, uint32_t space) {
  switch (space) {
    case GRETA_SPACE_ARENA: return spaces->arena;
    case GRETA_SPACE_WEIGHTS: return spaces->weights;
    case GRETA_SPACE_KV: return spaces->kv;
  }
  return NULL;
}

/* ops.def's family column: every op runs its family's function. */
static greta_status_t (*const cpu_ops[GRETA_OP_COUNT_])(const op_ctx_t *) = {
#define GRETA_OP(ENUM, value, name, family, operands, ints, floats) [value] = cpu_##family,
#include "ops.def"
};

greta_status_t greta_cpu_run_launch(const greta_plan_launch_t *launch,
                                    const greta_spaces_t *spaces, int64_t tokens,
                                    int64_t pos) {
  if (launch->n_args > GRETA_PLAN_MAX_ARGS)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "cpu: launch has %u args, at most %d",
                             launch->n_args, GRETA_PLAN_MAX_ARGS);
  if (tokens < 1 || pos < 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "cpu: tokens = %lld and pos = %lld, expected tokens >= 1, pos >= 0",
                             (long long)tokens, (long long)pos);
  op_ctx_t c = {.launch = launch, .tokens = tokens, .pos = pos};
  c.rows = launch->rows_coeff * (launch->rows_per_token ? tokens : 1);
  for (uint32_t i = 0; i < launch->n_args; i++) {
    char *base = space_base(spaces, launch->args[i].space);
    if (!base)
      return greta_status_make(GRETA_INVALID_ARGUMENT, "cpu: arg %u names space %u, which has no memory",
                               i, launch->args[i].space);
    c.arg[i] = base + launch->args[i].offset;
  }
  if (launch->op < GRETA_OP_COUNT_ && cpu_ops[launch->op]) return cpu_ops[launch->op](&c);
  return greta_status_make(GRETA_INVALID_ARGUMENT, "cpu: unknown op %u", launch->op);
}
