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
#include "rope_freq.h"
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
#define KVDTYPE ((greta_dtype_t)ATTR.kvdtype)

static float silu(float x) { return x / (1.0f + expf(-x)); }

/* Stores v as element i of an f32 / f16 / bf16 array (round to nearest even). */
static void store_float(void *base, greta_dtype_t dtype, size_t i, float v) {
  switch (dtype) {
    case GRETA_F16: ((uint16_t *)base)[i] = greta_f32_to_f16(v); break;
    case GRETA_BF16: ((uint16_t *)base)[i] = greta_f32_to_bf16(v); break;
    default: ((float *)base)[i] = v; break;
  }
}

/* 1 / sqrt(mean(x^2) + eps) over n floats, summed in order. */
static float inv_rms(const float *x, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
  return 1.0f / sqrtf(ss / (float)n + eps);
}

/* Rotates the pair (x0, x1) = (x[i], x[i + d/2]) of a head at `position`,
 * as Hugging Face computes it: inverse frequency (rope_freq.c, with the
 * launch's scaling) and angle in f32. */
static void rope_pair(const op_ctx_t *c, float x0, float x1, int64_t position, int64_t i,
                      int64_t d, float *out0, float *out1) {
  float inv_freq = greta_rope_inv_freq(&ATTR, d, i);
  float angle = (float)position * inv_freq;
  float cs = cosf(angle), sn = sinf(angle);
  *out0 = x0 * cs - x1 * sn;
  *out1 = x1 * cs + x0 * sn;
}

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

/* RMSNORM, and RMS_SCALE (no weight: it was folded into the next matmul;
 * its output in outdtype). */
static greta_status_t cpu_rmsnorm(const op_ctx_t *c) {
  const bool weighted = c->launch->op == GRETA_OP_RMSNORM;
  const float *x = c->arg[0];                          /* (rows, n) */
  const void *weight = weighted ? c->arg[1] : NULL;    /* (n) */
  void *out = c->arg[weighted ? 2 : 1];                /* (rows, n) */
  const greta_dtype_t out_dtype = (greta_dtype_t)ATTR.outdtype;
  int64_t n = ATTR.n;
  float eps = ATTR.eps;
#pragma omp parallel for
  for (int64_t r = 0; r < c->rows; r++) {
    const float *xr = x + r * n;
    float inv = inv_rms(xr, n, eps);
    for (int64_t i = 0; i < n; i++)
      store_float(out, out_dtype, (size_t)(r * n + i),
                  xr[i] * inv * (weight ? greta_load_float(weight, WDTYPE, (size_t)i) : 1.0f));
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

/* The launch's x [rows, k] as f32: itself, or when stored in a half type
 * (xdtype) widened once, exactly, into *wide (the caller frees it). */
static greta_status_t x_as_f32(const op_ctx_t *c, int64_t k_dim, const float **x, float **wide) {
  *x = c->arg[0];
  *wide = NULL;
  if (ATTR.xdtype == GRETA_F32) return NULL;
  const size_t count = (size_t)(c->rows * k_dim);
  *wide = malloc((count ? count : 1) * sizeof **wide);
  if (!*wide)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "%s: out of memory", greta_op_name(c->launch->op));
  for (size_t i = 0; i < count; i++) (*wide)[i] = greta_load_float(c->arg[0], (greta_dtype_t)ATTR.xdtype, i);
  *x = *wide;
  return NULL;
}

static greta_status_t cpu_matmul(const op_ctx_t *c) {
  const void *b = c->arg[1];                            /* (N, K) if a2 else (K, N) */
  float *out = c->arg[2];                               /* (rows, N) */
  const float *residual = ATTR.residual ? c->arg[3] : NULL; /* (rows, N) */
  int64_t n_cols = ATTR.n, k_dim = ATTR.k;
  bool b_is_nk = ATTR.transpose_b == 1;
  const float *x; /* (rows, K) */
  float *wide;
  GRETA_RETURN_IF_ERROR(x_as_f32(c, k_dim, &x, &wide));
  /* With norm, each row's inverse RMS (computed once per row, before any
   * output is written) scales the sums: the norm's weight is already in B. */
  float *inv = NULL;
  if (ATTR.norm) {
    inv = malloc((size_t)(c->rows ? c->rows : 1) * sizeof *inv);
    if (!inv) {
      free(wide);
      return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "matmul: out of memory");
    }
    for (int64_t r = 0; r < c->rows; r++) inv[r] = inv_rms(x + r * k_dim, k_dim, ATTR.eps);
  }
  /* Each out element is a float sum over k in order; the residual (which
   * may alias out) is added after, read before the element is written. */
#pragma omp parallel for collapse(2)
  for (int64_t r = 0; r < c->rows; r++)
    for (int64_t n = 0; n < n_cols; n++) {
      float acc = b_is_nk ? dot(x + r * k_dim, b, WDTYPE, (size_t)(n * k_dim), 1, k_dim)
                          : dot(x + r * k_dim, b, WDTYPE, (size_t)n, (size_t)n_cols, k_dim);
      if (inv) acc *= inv[r];
      if (residual) acc += residual[r * n_cols + n];
      out[r * n_cols + n] = acc;
    }
  free(inv);
  free(wide);
  return NULL;
}

static greta_status_t cpu_rope(const op_ctx_t *c) {
  const float *x = c->arg[0]; /* (T, heads, head_dim) */
  float *out = c->arg[1];     /* (T, heads, head_dim) */
  int64_t heads = ATTR.heads, d = ATTR.head_dim, half = d / 2;
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < half; i++) {
        size_t base = (size_t)((t * heads + h) * d);
        rope_pair(c, x[base + i], x[base + i + half], c->pos + t, i, d, &out[base + i],
                  &out[base + i + half]);
      }
  return NULL;
}

static greta_status_t check_cache_rows(const op_ctx_t *c, const char *name) {
  if (c->pos < 0 || c->pos + c->tokens > ATTR.max_seq)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "%s: pos + tokens = %lld exceeds the cache's max_seq %lld", name,
                             (long long)(c->pos + c->tokens), (long long)ATTR.max_seq);
  return NULL;
}

static greta_status_t cpu_kv_append(const op_ctx_t *c) {
  const float *src = c->arg[0]; /* (T, kv_heads, head_dim) f32 */
  void *cache = c->arg[1];      /* (max_seq, kv_heads, head_dim) in kvdtype */
  int64_t row = ATTR.kv_heads * ATTR.head_dim;
  GRETA_RETURN_IF_ERROR(check_cache_rows(c, "kv_append"));
  for (int64_t i = 0; i < c->tokens * row; i++)
    store_float(cache, KVDTYPE, (size_t)(c->pos * row + i), src[i]);
  return NULL;
}

/* Scores of one query row against cache rows [begin, end): m (the max), the
 * softmax numerators exp(score - m) into `p`, their sum l, and
 * acc = sum p[s] * v[s] (head_dim values); k and v are the caches (kv_dtype),
 * row s of this head at kv_off + s * kv_stride. Shared by ATTENTION and
 * ATTENTION_DECODE so the two agree by construction. */
static void attend_rows(const float *q, const void *k, const void *v, greta_dtype_t kv_dtype,
                        size_t kv_off, int64_t kv_stride, int64_t head_dim, float scale,
                        int64_t begin, int64_t end, float *p, float *out_m, float *out_l,
                        float *acc) {
  float m = -INFINITY;
  for (int64_t s = begin; s < end; s++) {
    size_t ks = kv_off + (size_t)(s * kv_stride);
    float dot = 0.0f;
    for (int64_t i = 0; i < head_dim; i++)
      dot += q[i] * greta_load_float(k, kv_dtype, ks + (size_t)i);
    p[s - begin] = dot * scale;
    if (p[s - begin] > m) m = p[s - begin];
  }
  float l = 0.0f;
  for (int64_t i = 0; i < head_dim; i++) acc[i] = 0.0f;
  for (int64_t s = begin; s < end; s++) {
    float e = expf(p[s - begin] - m);
    l += e;
    size_t vs = kv_off + (size_t)(s * kv_stride);
    for (int64_t i = 0; i < head_dim; i++)
      acc[i] += e * greta_load_float(v, kv_dtype, vs + (size_t)i);
  }
  *out_m = m;
  *out_l = l;
}

static greta_status_t cpu_attention(const op_ctx_t *c) {
  const float *q = c->arg[0]; /* (T, heads, head_dim) */
  const void *k = c->arg[1];  /* (max_seq, kv_heads, head_dim) in kvdtype */
  const void *v = c->arg[2];  /* (max_seq, kv_heads, head_dim) in kvdtype */
  void *out = c->arg[3];      /* (T, heads, head_dim) in outdtype */
  int64_t heads = ATTR.heads, kv_heads = ATTR.kv_heads, d = ATTR.head_dim, group = heads / kv_heads;
  float scale = ATTR.scale;
  GRETA_RETURN_IF_ERROR(check_cache_rows(c, "attention"));
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
        float m, l;
        attend_rows(q + (t * heads + h) * d, k, v, KVDTYPE, (size_t)((h / group) * d),
                    kv_heads * d, d, scale, 0, c->pos + t + 1, p, &m, &l, acc);
        for (int64_t i = 0; i < d; i++)
          store_float(out, (greta_dtype_t)ATTR.outdtype, (size_t)((t * heads + h) * d + i),
                      acc[i] / l);
      }
    free(p);
    free(acc);
  }
  if (failed) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "attention: out of memory");
  return NULL;
}

/* Flash-decoding as the GPU splits it: each split's (m, l, acc) into
 * `partial`, then the merge into out; `sync` is the GPU's arrival counter
 * and stays 0 here. */
static greta_status_t cpu_attention_decode(const op_ctx_t *c) {
  const float *q = c->arg[0]; /* (T, heads, head_dim) */
  const void *k = c->arg[1];  /* (max_seq, kv_heads, head_dim) in kvdtype */
  const void *v = c->arg[2];  /* (max_seq, kv_heads, head_dim) in kvdtype */
  float *partial = c->arg[3]; /* (T, heads, splits, head_dim + 2): m, l, acc */
  float *out = c->arg[5];     /* (T, heads, head_dim) */
  int64_t heads = ATTR.heads, kv_heads = ATTR.kv_heads, d = ATTR.head_dim, splits = ATTR.splits,
          per_split = ATTR.split_rows;
  int64_t group = heads / kv_heads;
  GRETA_RETURN_IF_ERROR(check_cache_rows(c, "attention_decode"));
  float *p = malloc((size_t)per_split * sizeof(float));
  if (!p) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "attention_decode: out of memory");
  for (int64_t t = 0; t < c->tokens; t++)
    for (int64_t h = 0; h < heads; h++) {
      float *slots = partial + (t * heads + h) * splits * (d + 2);
      float m_max = -INFINITY;
      for (int64_t s = 0; s < splits; s++) {
        float *slot = slots + s * (d + 2);
        int64_t begin = s * per_split, end = begin + per_split;
        if (end > c->pos + t + 1) end = c->pos + t + 1; /* causal limit */
        slot[0] = -INFINITY; /* an empty split adds nothing */
        if (begin >= end) continue;
        attend_rows(q + (t * heads + h) * d, k, v, KVDTYPE, (size_t)((h / group) * d),
                    kv_heads * d, d, ATTR.scale, begin, end, p, &slot[0], &slot[1], slot + 2);
        if (slot[0] > m_max) m_max = slot[0];
      }
      float *o = out + (t * heads + h) * d;
      float l = 0.0f;
      for (int64_t i = 0; i < d; i++) o[i] = 0.0f;
      for (int64_t s = 0; s < splits; s++) {
        const float *slot = slots + s * (d + 2);
        if (slot[0] == -INFINITY) continue;
        float w = expf(slot[0] - m_max);
        l += w * slot[1];
        for (int64_t i = 0; i < d; i++) o[i] += w * slot[2 + i];
      }
      for (int64_t i = 0; i < d; i++) o[i] = l > 0.0f ? o[i] / l : 0.0f;
    }
  free(p);
  return NULL;
}

/* y = x' @ B^T for one row x (k floats) into y (n_rows floats); x' = x, or
 * with norm x / rms(x). */
static void project_row(const op_ctx_t *c, const float *x, const void *b, int64_t n_rows,
                        int64_t k_dim, float *y) {
  float inv = ATTR.norm ? inv_rms(x, k_dim, ATTR.eps) : 1.0f;
  /* The CPU backend's hot loop for the fused projections: threads split the
   * outputs, each a sum in order (deterministic). */
#pragma omp parallel for
  for (int64_t n = 0; n < n_rows; n++) y[n] = dot(x, b, WDTYPE, (size_t)(n * k_dim), 1, k_dim) * inv;
}

static greta_status_t cpu_matmul_glu(const op_ctx_t *c) {
  const void *b = c->arg[1]; /* (2n, k): gate rows, then up rows */
  void *out = c->arg[2];     /* (rows, n) in outdtype */
  int64_t n = ATTR.n, k_dim = ATTR.k;
  const float *x; /* (rows, k) */
  float *wide;
  GRETA_RETURN_IF_ERROR(x_as_f32(c, k_dim, &x, &wide));
  float *y = malloc((size_t)(2 * n) * sizeof(float));
  if (!y) {
    free(wide);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "matmul_glu: out of memory");
  }
  for (int64_t r = 0; r < c->rows; r++) {
    project_row(c, x + r * k_dim, b, 2 * n, k_dim, y);
    for (int64_t i = 0; i < n; i++)
      store_float(out, (greta_dtype_t)ATTR.outdtype, (size_t)(r * n + i), silu(y[i]) * y[n + i]);
  }
  free(y);
  free(wide);
  return NULL;
}

/* One token's projection y [(heads + 2 kv_heads) head_dim] -> q (rotated),
 * and the cache rows at `position` (k rotated, v as is), in kvdtype. */
static void split_qkv(const op_ctx_t *c, const float *y, int64_t position, float *q,
                      void *k_cache, void *v_cache) {
  int64_t heads = ATTR.heads, kv_heads = ATTR.kv_heads, d = ATTR.head_dim, half = d / 2;
  size_t row = (size_t)(position * kv_heads * d);
  for (int64_t h = 0; h < heads + kv_heads; h++)
    for (int64_t i = 0; i < half; i++) {
      float o0, o1;
      rope_pair(c, y[h * d + i], y[h * d + i + half], position, i, d, &o0, &o1);
      if (h < heads) {
        q[h * d + i] = o0;
        q[h * d + i + half] = o1;
      } else {
        store_float(k_cache, KVDTYPE, row + (size_t)((h - heads) * d + i), o0);
        store_float(k_cache, KVDTYPE, row + (size_t)((h - heads) * d + i + half), o1);
      }
    }
  const float *yv = y + (heads + kv_heads) * d;
  for (int64_t i = 0; i < kv_heads * d; i++) store_float(v_cache, KVDTYPE, row + (size_t)i, yv[i]);
}

static greta_status_t cpu_matmul_qkv(const op_ctx_t *c) {
  const void *b = c->arg[1]; /* ((heads + 2 kv_heads) head_dim, k) */
  float *q = c->arg[2];      /* (T, heads, head_dim) */
  int64_t d = ATTR.head_dim, n = (ATTR.heads + 2 * ATTR.kv_heads) * d, k_dim = ATTR.k;
  GRETA_RETURN_IF_ERROR(check_cache_rows(c, "matmul_qkv"));
  const float *x; /* (T, k) */
  float *wide;
  GRETA_RETURN_IF_ERROR(x_as_f32(c, k_dim, &x, &wide));
  float *y = malloc((size_t)n * sizeof(float));
  if (!y) {
    free(wide);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "matmul_qkv: out of memory");
  }
  for (int64_t t = 0; t < c->tokens; t++) {
    project_row(c, x + t * k_dim, b, n, k_dim, y);
    split_qkv(c, y, c->pos + t, q + t * ATTR.heads * d, c->arg[3], c->arg[4]);
  }
  free(y);
  free(wide);
  return NULL;
}

static greta_status_t cpu_qkv_rope_append(const op_ctx_t *c) {
  const float *y = c->arg[0]; /* (T, (heads + 2 kv_heads) head_dim) */
  float *q = c->arg[1];       /* (T, heads, head_dim) */
  int64_t d = ATTR.head_dim, n = (ATTR.heads + 2 * ATTR.kv_heads) * d;
  GRETA_RETURN_IF_ERROR(check_cache_rows(c, "qkv_rope_append"));
  for (int64_t t = 0; t < c->tokens; t++)
    split_qkv(c, y + t * n, c->pos + t, q + t * ATTR.heads * d, c->arg[2], c->arg[3]);
  return NULL;
}

static greta_status_t cpu_fold_norm(const op_ctx_t *c) {
  void *w = c->arg[0];       /* (rows, n) in wdtype */
  const void *g = c->arg[1]; /* (n) in wdtype */
  int64_t n = ATTR.n;
#pragma omp parallel for
  for (int64_t r = 0; r < c->rows; r++)
    for (int64_t i = 0; i < n; i++) {
      size_t at = (size_t)(r * n + i);
      store_float(w, WDTYPE, at,
                  greta_load_float(w, WDTYPE, at) * greta_load_float(g, WDTYPE, (size_t)i));
    }
  return NULL;
}

static greta_status_t cpu_elementwise(const op_ctx_t *c) {
  if (c->launch->op == GRETA_OP_GLU) { /* x (rows, 2n) -> out (rows, n) in outdtype */
    const float *x = c->arg[0];
    void *out = c->arg[1];
    int64_t n = ATTR.n;
#pragma omp parallel for
    for (int64_t r = 0; r < c->rows; r++)
      for (int64_t i = 0; i < n; i++)
        store_float(out, (greta_dtype_t)ATTR.outdtype, (size_t)(r * n + i),
                    silu(x[r * 2 * n + i]) * x[r * 2 * n + n + i]);
    return NULL;
  }
  const float *x = c->arg[0]; /* (rows, n); last_token: (T, rows, n) */
  const float *y = c->launch->n_args == 3 ? c->arg[1] : NULL; /* (rows, n); bias_add: (n) */
  float *out = c->arg[c->launch->n_args - 1]; /* (rows, n) */
  int64_t count = c->rows * ATTR.n;
  if (c->launch->op == GRETA_OP_BIAS_ADD) { /* bias (n), weight dtype */
    const int64_t n = ATTR.n;
#pragma omp parallel for
    for (int64_t r = 0; r < c->rows; r++)
      for (int64_t i = 0; i < n; i++)
        out[r * n + i] = x[r * n + i] + greta_load_float(c->arg[1], WDTYPE, (size_t)i);
    return NULL;
  }
  if (c->launch->op == GRETA_OP_LAST_TOKEN) {
    memcpy(out, x + (c->tokens - 1) * count, (size_t)count * sizeof *out);
    return NULL;
  }
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
