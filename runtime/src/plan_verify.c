/* The plan verifier: greta_plan_verify() checks what a plan's fields mean,
 * whoever made it. Every buffer a launch touches, at the largest T of its
 * entry, lies inside its memory space; every count, size, kernel index, arg
 * count, attribute and (for GPU targets) launch dimension is in range.
 * greta_plan_parse() runs it on every plan it reads and
 * greta_plan_serialize() on every plan it writes, so it is its own file,
 * apart from either byte-level side.
 */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "pair_layout.h"
#include "plan.h"
#include "status.h"

enum { MAX_BLOCK_THREADS = 1024 };

/* a * b into *acc; false on a negative factor or overflow. */
static bool mul_into(uint64_t *acc, int64_t factor) {
  if (factor < 0) return false;
  return !__builtin_mul_overflow(*acc, (uint64_t)factor, acc);
}

/* The product of up to four factors (pass 1 for unused ones). */
static bool product(uint64_t *out, int64_t a, int64_t b, int64_t c, int64_t d) {
  *out = 1;
  return mul_into(out, a) && mul_into(out, b) && mul_into(out, c) && mul_into(out, d);
}

static bool is_identifier(const char *s) {
  if (!s || !s[0] || strlen(s) > 255) return false;
  for (const char *p = s; *p; p++) {
    bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
              (p != s && *p >= '0' && *p <= '9');
    if (!ok) return false;
  }
  return true;
}

static const char *space_name(uint32_t space) {
  switch (space) {
    case GRETA_SPACE_ARENA: return "arena";
    case GRETA_SPACE_WEIGHTS: return "weights";
    case GRETA_SPACE_KV: return "kv";
  }
  return "?";
}

static uint64_t space_bytes(const greta_plan_t *plan, uint32_t space) {
  switch (space) {
    case GRETA_SPACE_ARENA: return plan->arena_bytes;
    case GRETA_SPACE_WEIGHTS: return plan->weight_bytes;
    case GRETA_SPACE_KV: return plan->kv_bytes;
  }
  return 0;
}

/* Checks one tensor of the interface. `symbolic_ok`: dims[0] may be T. */
static greta_status_t verify_tensor(const greta_tensor_info_t *info, bool symbolic_ok,
                                    int64_t max_tokens, uint64_t *out_bytes) {
  if (!info->name || !info->name[0])
    return greta_status_make(GRETA_DATA_LOSS, "a tensor has an empty name");
  if ((unsigned)info->dtype > GRETA_I32)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: dtype %d is not one of 0..%d",
                             info->name, (int)info->dtype, GRETA_I32);
  if (info->rank < 1 || info->rank > GRETA_MAX_RANK)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: rank %d, expected 1..%d", info->name,
                             info->rank, GRETA_MAX_RANK);
  uint64_t elems = 1;
  for (int d = 0; d < info->rank; d++) {
    const greta_dim_t *dim = &info->dims[d];
    if (dim->symbol && (d != 0 || !symbolic_ok || strcmp(dim->symbol, "T") != 0))
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensor %s: dim %d is symbolic \"%s\"; only dim 0 of an input "
                               "or output may be, and only as \"T\"",
                               info->name, d, dim->symbol);
    if (dim->coeff < 1)
      return greta_status_make(GRETA_DATA_LOSS, "tensor %s: dim %d is %lld, expected >= 1",
                               info->name, d, (long long)dim->coeff);
    if (!mul_into(&elems, dim->coeff) || (dim->symbol && !mul_into(&elems, max_tokens)))
      return greta_status_make(GRETA_DATA_LOSS, "tensor %s: its size overflows", info->name);
  }
  if (!mul_into(&elems, (int64_t)greta_dtype_size(info->dtype)))
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: its size overflows", info->name);
  *out_bytes = elems;
  return NULL;
}

static greta_status_t verify_range(const char *what, const char *name, uint64_t offset,
                                   uint64_t bytes, uint64_t space, const char *space_label) {
  if (offset > space || bytes > space - offset)
    return greta_status_make(GRETA_DATA_LOSS,
                             "%s %s: bytes [%llu, %llu + %llu) lie outside the %s of %llu bytes",
                             what, name, (unsigned long long)offset, (unsigned long long)offset,
                             (unsigned long long)bytes, space_label, (unsigned long long)space);
  return NULL;
}

/* What verify_launch knows about the launch it checks. */
typedef struct launch_ctx_s {
  const greta_plan_t *plan;
  const greta_plan_launch_t *launch;
  int64_t tokens; /* the entry's max_tokens: every extent grows with T */
  int64_t rows;   /* "rows" at that T */
} launch_ctx_t;

/* Attribute `name` (= value) must be >= min. */
static greta_status_t need_attr(const char *name, int64_t value, int64_t min) {
  if (value < min)
    return greta_status_make(GRETA_DATA_LOSS, "%s is %lld, expected >= %lld", name,
                             (long long)value, (long long)min);
  return NULL;
}
#define NEED(attr, min) need_attr(#attr, a->attr, (min))

/* A flag attribute must be 0 or 1. */
static greta_status_t need_flag(const char *name, int64_t value) {
  if (value != 0 && value != 1)
    return greta_status_make(GRETA_DATA_LOSS, "%s is %lld, expected 0 or 1", name,
                             (long long)value);
  return NULL;
}

/* heads, kv_heads, head_dim, max_seq of the attention-shaped ops. */
static greta_status_t verify_attention_shape(const launch_ctx_t *c) {
  const greta_op_attrs_t *a = &c->launch->attr;
  GRETA_RETURN_IF_ERROR(NEED(heads, 1));
  GRETA_RETURN_IF_ERROR(NEED(kv_heads, 1));
  GRETA_RETURN_IF_ERROR(NEED(head_dim, 1));
  GRETA_RETURN_IF_ERROR(NEED(max_seq, c->plan->max_seq));
  if (a->heads > (INT64_C(1) << 32) || a->kv_heads > (INT64_C(1) << 32))
    return greta_status_make(GRETA_DATA_LOSS, "heads %lld / kv_heads %lld are too many",
                             (long long)a->heads, (long long)a->kv_heads);
  if (a->heads % a->kv_heads != 0)
    return greta_status_make(GRETA_DATA_LOSS, "heads = %lld is not a multiple of kv_heads = %lld",
                             (long long)a->heads, (long long)a->kv_heads);
  return NULL;
}

/* RoPE's frequencies (rope_freq.c): a positive base, and llama3 scaling off
 * (rope_factor 0, the other three 0) or well-formed, as transformers checks
 * needs it: a positive factor, 0 < low < high, a positive original context). */
static greta_status_t verify_rope(const greta_op_attrs_t *a) {
  if (!(a->theta > 0.0f) || !isfinite(a->theta))
    return greta_status_make(GRETA_DATA_LOSS, "theta is %g, expected a positive number",
                             (double)a->theta);
  const float f = a->rope_factor, lo = a->rope_low_freq_factor, hi = a->rope_high_freq_factor,
              ctx = a->rope_original_max;
  if (f == 0.0f && lo == 0.0f && hi == 0.0f && ctx == 0.0f) return NULL;
  if (!(f > 0.0f && lo > 0.0f && hi > lo && ctx > 0.0f) || !isfinite(f) || !isfinite(hi) ||
      !isfinite(ctx))
    return greta_status_make(GRETA_DATA_LOSS,
                             "RoPE scaling factor %g, low_freq_factor %g, high_freq_factor %g, "
                             "original_max %g: expected all 0 (none) or factor > 0, "
                             "0 < low < high, original_max > 0",
                             (double)f, (double)lo, (double)hi, (double)ctx);
  return NULL;
}

/* Arg `index` touches `elems` elements of `elem_bytes`; `writes` when the op
 * stores to it. The whole extent must lie inside the arg's space. */
static greta_status_t need_arg(const launch_ctx_t *c, int index, const char *meaning,
                               uint64_t elems, size_t elem_bytes, bool writes) {
  const greta_plan_buffer_t *arg = &c->launch->args[index];
  if (arg->space > GRETA_SPACE_KV)
    return greta_status_make(GRETA_DATA_LOSS, "arg %d (%s): space %u is not one of 0..%d", index,
                             meaning, arg->space, GRETA_SPACE_KV);
  /* The backends store through typed pointers: a misaligned float is UB on
   * the CPU and a fault or a wrong value on GPUs. */
  if (elem_bytes > 1 && arg->offset % elem_bytes != 0)
    return greta_status_make(GRETA_DATA_LOSS,
                             "arg %d (%s): offset %llu is not a multiple of its element size %zu",
                             index, meaning, (unsigned long long)arg->offset, elem_bytes);
  if (strcmp(c->plan->target, "cpu") != 0 && arg->offset % 16 != 0)
    return greta_status_make(GRETA_DATA_LOSS, "arg %d (%s): offset %llu is not a multiple of 16", index,
                             meaning, (unsigned long long)arg->offset);
  if (writes && arg->space == GRETA_SPACE_WEIGHTS)
    return greta_status_make(GRETA_DATA_LOSS,
                             "arg %d (%s) is written but lies in the read-only weights space",
                             index, meaning);
  uint64_t bytes = elems;
  if (!mul_into(&bytes, (int64_t)elem_bytes))
    return greta_status_make(GRETA_DATA_LOSS, "arg %d (%s): its size overflows", index, meaning);
  uint64_t space = space_bytes(c->plan, arg->space);
  if (arg->offset > space || bytes > space - arg->offset)
    return greta_status_make(
        GRETA_DATA_LOSS,
        "arg %d (%s): bytes [%llu, %llu + %llu) at T = %lld lie outside the %s space of %llu "
        "bytes",
        index, meaning, (unsigned long long)arg->offset, (unsigned long long)arg->offset,
        (unsigned long long)bytes, (long long)c->tokens, space_name(arg->space),
        (unsigned long long)space);
  return NULL;
}

#define OVERFLOW() greta_status_make(GRETA_DATA_LOSS, "its sizes overflow")

/* The op-specific part: attrs, then every arg's extent. */
static greta_status_t verify_op(const launch_ctx_t *c) {
  const greta_plan_launch_t *l = c->launch;
  const greta_op_attrs_t *a = &l->attr;
  const int64_t T = c->tokens, R = c->rows;
  uint64_t n1, n2, n3;
  /* Checked for every op: one without the attribute reads 0 (f32). */
  const struct {
    int64_t value;
    const char *what;
  } dtypes[] = {{a->wdtype, "wdtype (weight dtype)"},
                {a->kvdtype, "kvdtype (KV-cache dtype)"},
                {a->xdtype, "xdtype (GEMM x dtype)"},
                {a->outdtype, "outdtype (output dtype)"}};
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (dtypes[i].value < GRETA_F32 || dtypes[i].value > GRETA_BF16)
      return greta_status_make(GRETA_DATA_LOSS, "%s is %lld, expected 0..2", dtypes[i].what,
                               (long long)dtypes[i].value);
  const size_t wsize = greta_dtype_size((greta_dtype_t)a->wdtype);
  const size_t kvsize = greta_dtype_size((greta_dtype_t)a->kvdtype);
  const size_t xsize = greta_dtype_size((greta_dtype_t)a->xdtype);
  const size_t outsize = greta_dtype_size((greta_dtype_t)a->outdtype);
  switch ((greta_op_t)l->op) {
    case GRETA_OP_EMBEDDING:
      GRETA_RETURN_IF_ERROR(NEED(vocab, 1));
      GRETA_RETURN_IF_ERROR(NEED(dim, 1));
      if (!product(&n1, a->vocab, a->dim, 1, 1) || !product(&n2, T, a->dim, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "tokens", (uint64_t)T, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "table", n1, wsize, false));
      return need_arg(c, 2, "out", n2, 4, true);
    case GRETA_OP_RMSNORM:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "weight", (uint64_t)a->n, wsize, false));
      return need_arg(c, 2, "out", n1, 4, true);
    case GRETA_OP_MATMUL:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      GRETA_RETURN_IF_ERROR(NEED(k, 1));
      if (a->transpose_b != 0 && a->transpose_b != 1)
        return greta_status_make(GRETA_DATA_LOSS, "transpose_b is %lld, expected 0 or 1",
                                 (long long)a->transpose_b);
      if (a->residual != 0 && a->residual != 1)
        return greta_status_make(GRETA_DATA_LOSS, "residual is %lld, expected 0 or 1",
                                 (long long)a->residual);
      GRETA_RETURN_IF_ERROR(need_flag("norm", a->norm));
      if (!product(&n1, R, a->k, 1, 1) || !product(&n2, a->n, a->k, 1, 1) ||
          !product(&n3, R, a->n, 1, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, xsize, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "B", n2, wsize, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 2, "out", n3, 4, true));
      return a->residual ? need_arg(c, 3, "residual", n3, 4, false) : NULL;
    case GRETA_OP_ROPE:
      GRETA_RETURN_IF_ERROR(verify_rope(a));
      GRETA_RETURN_IF_ERROR(NEED(heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 2));
      if (a->head_dim % 2 != 0)
        return greta_status_make(GRETA_DATA_LOSS, "head_dim is %lld, expected an even number",
                                 (long long)a->head_dim);
      if (!product(&n1, T, a->heads, a->head_dim, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_KV_APPEND:
      GRETA_RETURN_IF_ERROR(NEED(kv_heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 1));
      GRETA_RETURN_IF_ERROR(NEED(max_seq, c->plan->max_seq));
      if (!product(&n1, T, a->kv_heads, a->head_dim, 1) ||
          !product(&n2, a->max_seq, a->kv_heads, a->head_dim, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "src", n1, 4, false));
      return need_arg(c, 1, "cache", n2, kvsize, true);
    case GRETA_OP_ATTENTION:
    case GRETA_OP_ATTENTION_DECODE: {
      GRETA_RETURN_IF_ERROR(verify_attention_shape(c));
      if (!product(&n1, T, a->heads, a->head_dim, 1) ||
          !product(&n2, a->max_seq, a->kv_heads, a->head_dim, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "q", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "k cache", n2, kvsize, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 2, "v cache", n2, kvsize, false));
      if (l->op == GRETA_OP_ATTENTION) return need_arg(c, 3, "out", n1, outsize, true);
      GRETA_RETURN_IF_ERROR(NEED(splits, 1));
      GRETA_RETURN_IF_ERROR(NEED(split_rows, 1));
      if (!product(&n3, a->splits, a->split_rows, 1, 1) || n3 < (uint64_t)a->max_seq)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "splits %lld x split_rows %lld do not cover max_seq %lld",
                                 (long long)a->splits, (long long)a->split_rows,
                                 (long long)a->max_seq);
      if (a->head_dim > INT64_MAX - 2 || !product(&n3, T, a->heads, a->splits, a->head_dim + 2))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 3, "partial", n3, 4, true));
      GRETA_RETURN_IF_ERROR(need_arg(c, 4, "sync", (uint64_t)(T * a->heads), 4, true));
      return need_arg(c, 5, "out", n1, 4, true);
    }
    case GRETA_OP_MATMUL_GLU:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      GRETA_RETURN_IF_ERROR(NEED(k, 1));
      GRETA_RETURN_IF_ERROR(need_flag("norm", a->norm));
      if (a->n > INT64_MAX / 2 || !product(&n1, R, a->k, 1, 1) ||
          !product(&n2, 2 * a->n, a->k, 1, 1) || !product(&n3, R, a->n, 1, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, xsize, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "B", n2, wsize, false));
      return need_arg(c, 2, "out", n3, outsize, true);
    case GRETA_OP_MATMUL_QKV:
    case GRETA_OP_QKV_ROPE_APPEND: {
      GRETA_RETURN_IF_ERROR(verify_rope(a));
      GRETA_RETURN_IF_ERROR(verify_attention_shape(c));
      if (a->head_dim % 2 != 0)
        return greta_status_make(GRETA_DATA_LOSS, "head_dim is %lld, expected an even number",
                                 (long long)a->head_dim);
      int64_t heads_all = a->heads + 2 * a->kv_heads; /* verify_attention_shape bounds both */
      uint64_t y_row;
      if (!product(&n1, T, a->heads, a->head_dim, 1) ||
          !product(&n2, a->max_seq, a->kv_heads, a->head_dim, 1) ||
          !product(&y_row, heads_all, a->head_dim, 1, 1) || y_row > INT64_MAX)
        return OVERFLOW();
      int first = 1; /* the q operand */
      if (l->op == GRETA_OP_MATMUL_QKV) {
        GRETA_RETURN_IF_ERROR(NEED(k, 1));
        GRETA_RETURN_IF_ERROR(need_flag("norm", a->norm));
        if (!product(&n3, T, a->k, 1, 1)) return OVERFLOW();
        GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n3, xsize, false));
        if (!product(&n3, (int64_t)y_row, a->k, 1, 1)) return OVERFLOW();
        GRETA_RETURN_IF_ERROR(need_arg(c, 1, "B", n3, wsize, false));
        first = 2;
      } else {
        if (!product(&n3, T, (int64_t)y_row, 1, 1)) return OVERFLOW();
        GRETA_RETURN_IF_ERROR(need_arg(c, 0, "y", n3, 4, false));
      }
      GRETA_RETURN_IF_ERROR(need_arg(c, first, "q", n1, 4, true));
      GRETA_RETURN_IF_ERROR(need_arg(c, first + 1, "k cache", n2, kvsize, true));
      return need_arg(c, first + 2, "v cache", n2, kvsize, true);
    }
    case GRETA_OP_RMS_SCALE:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, outsize, true);
    case GRETA_OP_GLU:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 2, 1) || !product(&n2, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n2, outsize, true);
    case GRETA_OP_FOLD_NORM:
      /* Writes a weight in place: only the bind entry may hold it (checked
       * with the entries). */
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "w", n1, wsize, false));
      return need_arg(c, 1, "g", (uint64_t)a->n, wsize, false);
    case GRETA_OP_SILU:
    case GRETA_OP_SCALE:
    case GRETA_OP_SOFTMAX:
    case GRETA_OP_COPY:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_BIAS_ADD:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "bias", (uint64_t)a->n, wsize, false));
      return need_arg(c, 2, "out", n1, 4, true);
    case GRETA_OP_LAST_TOKEN:
      /* Reads the last of T tokens' rows: x is [T, rows, n], rows fixed. */
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (l->rows_per_token != 0)
        return greta_status_make(GRETA_DATA_LOSS, "rows_per_token is 1, expected 0 (one token out)");
      if (!product(&n1, R, a->n, 1, 1) || !product(&n2, T, R, a->n, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n2, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_SILU_MUL:
    case GRETA_OP_ADD:
    case GRETA_OP_MUL:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "a", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "b", n1, 4, false));
      return need_arg(c, 2, "out", n1, 4, true);
    case GRETA_OP_CAUSAL_MASK:
    case GRETA_OP_MASKED_SOFTMAX:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      GRETA_RETURN_IF_ERROR(NEED(inner, 1));
      if (!product(&n1, T, a->inner, a->n, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_TRANSPOSE:
      GRETA_RETURN_IF_ERROR(NEED(in_rows, 1));
      GRETA_RETURN_IF_ERROR(NEED(in_cols, 1));
      /* batch = rows / in_rows at run time, so in_rows must divide rows at every T. */
      if (l->rows_coeff % a->in_rows != 0)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "in_rows = %lld does not divide rows_coeff = %lld",
                                 (long long)a->in_rows, (long long)l->rows_coeff);
      if (!product(&n1, R, a->in_cols, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_COUNT_: break;
  }
  return greta_status_make(GRETA_DATA_LOSS, "unknown op %u", l->op);
}

static bool is_cpu_target(const greta_plan_t *plan) { return strcmp(plan->target, "cpu") == 0; }

/* Launch geometry, checked for GPU targets only (the CPU ignores it). */
static greta_status_t verify_geometry(const greta_plan_launch_t *l, int64_t max_tokens) {
  uint64_t threads = 1;
  for (int i = 0; i < 3; i++) {
    if (l->grid[i] < 1 || l->block[i] < 1)
      return greta_status_make(GRETA_DATA_LOSS,
                               "launch dims grid (%u, %u, %u) block (%u, %u, %u): every one "
                               "must be >= 1",
                               l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1],
                               l->block[2]);
    threads *= l->block[i];
  }
  if (threads > MAX_BLOCK_THREADS)
    return greta_status_make(GRETA_DATA_LOSS,
                             "block (%u, %u, %u) has %llu threads, at most %d allowed",
                             l->block[0], l->block[1], l->block[2], (unsigned long long)threads,
                             MAX_BLOCK_THREADS);
  if (l->grid_t_axis > 3)
    return greta_status_make(GRETA_DATA_LOSS, "grid_t_axis is %u, expected 0..2 or 3 (none)",
                             l->grid_t_axis);
  if (l->grid_t_axis < 3) {
    if (l->grid_t_per_token < 1 || l->grid_t_tile < 1)
      return greta_status_make(GRETA_DATA_LOSS,
                               "grid_t_per_token = %u and grid_t_tile = %u, expected both >= 1",
                               l->grid_t_per_token, l->grid_t_tile);
    uint64_t blocks = ((uint64_t)max_tokens * l->grid_t_per_token + l->grid_t_tile - 1) /
                      l->grid_t_tile;
    uint64_t limit = l->grid_t_axis == 0 ? INT32_MAX : 65535;
    if (blocks > limit)
      return greta_status_make(GRETA_DATA_LOSS,
                               "grid axis %u grows to %llu blocks at T = %lld, at most %llu "
                               "allowed",
                               l->grid_t_axis, (unsigned long long)blocks, (long long)max_tokens,
                               (unsigned long long)limit);
  }
  if (l->grid[1] > 65535 || l->grid[2] > 65535 || l->grid[0] > INT32_MAX)
    return greta_status_make(GRETA_DATA_LOSS, "grid (%u, %u, %u) exceeds (2^31-1, 65535, 65535)",
                             l->grid[0], l->grid[1], l->grid[2]);
  return NULL;
}

/* attr tma (ops.def): the tensor maps the runtime encodes must describe
 * memory the launch owns: x as [rows, k] halves, the weight as [tma, k],
 * rows of 16-byte multiples, on an NVIDIA target; a paired weight (its
 * 5-dimensional view, pair_layout.h) as all its rows, in whole boxes. */
static greta_status_t verify_tma(const launch_ctx_t *c) {
  const greta_plan_launch_t *l = c->launch;
  const greta_op_attrs_t *a = &l->attr;
  if (l->op != GRETA_OP_MATMUL && l->op != GRETA_OP_MATMUL_GLU && l->op != GRETA_OP_MATMUL_QKV)
    return greta_status_make(GRETA_DATA_LOSS, "tma is for the prefill GEMMs, not %s",
                             greta_op_name(l->op));
  if (strncmp(c->plan->target, "sm_", 3) != 0)
    return greta_status_make(GRETA_DATA_LOSS, "tma on target %s: tensor maps are NVIDIA's",
                             c->plan->target);
  if (a->tma < 0 || a->tma > INT32_MAX || a->k < 64 || a->k > INT32_MAX || a->k % 8 != 0)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tma %lld with k %lld: expected 0 < tma < 2^31 and k a multiple of 8 "
                             "from 64 to 2^31",
                             (long long)a->tma, (long long)a->k);
  if (a->xdtype != GRETA_F16 && a->xdtype != GRETA_BF16)
    return greta_status_make(GRETA_DATA_LOSS, "tma needs x in a half type");
  int64_t s, blocks;
  if (greta_launch_pairs(l, &s, &blocks) &&
      (s <= 0 || blocks <= 0 || s > INT32_MAX || blocks > INT32_MAX ||
       !greta_pair_tma_fits(s, blocks) || a->tma != 2 * s * blocks))
    return greta_status_make(GRETA_DATA_LOSS,
                             "tma %lld on %s with pairs %lld rows apart in %lld blocks: expected "
                             "tma = all 2 x %lld x %lld rows, in whole runs of 16 pairs (of 32 "
                             "with several blocks)",
                             (long long)a->tma, greta_op_name(l->op), (long long)s,
                             (long long)blocks, (long long)s, (long long)blocks);
  GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x (its tensor map)", (uint64_t)(c->rows * a->k), 2, false));
  return need_arg(c, 1, "the weight (its tensor map)", (uint64_t)(a->tma * a->k), 2, false);
}

static greta_status_t verify_launch(const greta_plan_t *plan, const greta_plan_entry_t *entry,
                                    const greta_plan_launch_t *l) {
  if (l->op < 1 || l->op >= GRETA_OP_COUNT_)
    return greta_status_make(GRETA_DATA_LOSS, "op %u is not one of 1..%d", l->op,
                             GRETA_OP_COUNT_ - 1);
  /* A CPU plan may have no kernel table at all; then every index is 0 and
   * names nothing (readers of plan->kernels check n_kernels). */
  if (plan->n_kernels == 0 && is_cpu_target(plan)) {
    if (l->kernel != 0)
      return greta_status_make(GRETA_DATA_LOSS,
                               "kernel index %u in a plan without a kernel table (expected 0)",
                               l->kernel);
  } else if (l->kernel >= plan->n_kernels) {
    return greta_status_make(GRETA_DATA_LOSS, "kernel index %u is out of range (%u kernels)",
                             l->kernel, plan->n_kernels);
  }
  uint32_t n_args = greta_launch_operand_count(l);
  if (l->n_args != n_args)
    return greta_status_make(GRETA_DATA_LOSS, "%u args, expected %u for %s", l->n_args, n_args,
                             greta_op_name(l->op));
  if (l->rows_per_token > 1)
    return greta_status_make(GRETA_DATA_LOSS, "rows_per_token is %u, expected 0 or 1",
                             l->rows_per_token);
  launch_ctx_t c = {plan, l, entry->max_tokens, 0};
  /* Every backend computes rows = rows_coeff * (T or 1), so it must fit for
   * every op; the ops whose extents are counted in rows need at least one. */
  bool uses_rows = l->op == GRETA_OP_RMSNORM || l->op == GRETA_OP_MATMUL ||
                   l->op == GRETA_OP_SILU || l->op == GRETA_OP_SILU_MUL || l->op == GRETA_OP_ADD ||
                   l->op == GRETA_OP_MUL || l->op == GRETA_OP_SCALE || l->op == GRETA_OP_SOFTMAX ||
                   l->op == GRETA_OP_TRANSPOSE || l->op == GRETA_OP_COPY ||
                   l->op == GRETA_OP_LAST_TOKEN || l->op == GRETA_OP_BIAS_ADD ||
                   l->op == GRETA_OP_MATMUL_GLU || l->op == GRETA_OP_RMS_SCALE ||
                   l->op == GRETA_OP_GLU || l->op == GRETA_OP_FOLD_NORM;
  if (l->rows_coeff < (uses_rows ? 1 : 0))
    return greta_status_make(GRETA_DATA_LOSS, "rows_coeff is %lld, expected >= %d",
                             (long long)l->rows_coeff, uses_rows ? 1 : 0);
  if (__builtin_mul_overflow(l->rows_coeff, l->rows_per_token ? entry->max_tokens : 1, &c.rows))
    return OVERFLOW();
  GRETA_RETURN_IF_ERROR(verify_op(&c));
  if (l->attr.tma) GRETA_RETURN_IF_ERROR(verify_tma(&c));
  if (!is_cpu_target(plan)) GRETA_RETURN_IF_ERROR(verify_geometry(l, entry->max_tokens));
  return NULL;
}

static greta_status_t verify_ios(const greta_plan_t *plan, const greta_plan_io_t *ios,
                                 uint32_t count, const char *what) {
  for (uint32_t i = 0; i < count; i++) {
    uint64_t bytes;
    GRETA_RETURN_IF_ERROR(greta_status_annotate(
        verify_tensor(&ios[i].info, true, plan->max_tokens, &bytes), "%s %u", what, i));
    GRETA_RETURN_IF_ERROR(verify_range(what, ios[i].info.name, ios[i].offset, bytes,
                                       plan->arena_bytes, "arena"));
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(ios[i].info.name, ios[j].info.name) == 0)
        return greta_status_make(GRETA_DATA_LOSS, "%s %u and %u are both named %s", what, j, i,
                                 ios[i].info.name);
  }
  return NULL;
}

/* Every step size T of 1 .. max_tokens runs exactly one entry (the bind
 * entry aside): the entries' token ranges neither overlap nor leave a gap,
 * so that a step finds its launches whatever T is. */
static greta_status_t verify_entries_cover(const greta_plan_t *plan) {
  int64_t covered = 0;
  for (uint32_t e = 0; e < plan->n_entries; e++) {
    const greta_plan_entry_t *a = &plan->entries[e];
    if (strcmp(a->name, GRETA_PLAN_BIND_ENTRY) == 0) continue;
    for (uint32_t f = 0; f < e; f++) {
      const greta_plan_entry_t *b = &plan->entries[f];
      if (strcmp(b->name, GRETA_PLAN_BIND_ENTRY) != 0 && a->min_tokens <= b->max_tokens &&
          b->min_tokens <= a->max_tokens)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "entries %s (tokens %lld..%lld) and %s (%lld..%lld) overlap",
                                 b->name, (long long)b->min_tokens, (long long)b->max_tokens,
                                 a->name, (long long)a->min_tokens, (long long)a->max_tokens);
    }
    covered += a->max_tokens - a->min_tokens + 1;
  }
  if (covered != plan->max_tokens)
    return greta_status_make(GRETA_DATA_LOSS,
                             "the entries run %lld of the step sizes 1..%lld (max_tokens): "
                             "some T has no entry",
                             (long long)covered, (long long)plan->max_tokens);
  return NULL;
}

greta_status_t greta_plan_verify(const greta_plan_t *plan) {
  if (!plan->target || !plan->target[0] || strlen(plan->target) >= 64)
    return greta_status_make(GRETA_DATA_LOSS, "the target ID must be 1..63 characters");
  if (!plan->toolchain || !plan->model_name)
    return greta_status_make(GRETA_DATA_LOSS, "toolchain and model name must be set");
  if (plan->max_seq < 1 || plan->max_tokens < 1 || plan->max_tokens > plan->max_seq)
    return greta_status_make(GRETA_DATA_LOSS,
                             "max_seq = %lld and max_tokens = %lld, expected "
                             "1 <= max_tokens <= max_seq",
                             (long long)plan->max_seq, (long long)plan->max_tokens);
  if (plan->max_seq > INT32_MAX)
    return greta_status_make(GRETA_DATA_LOSS, "max_seq = %lld exceeds 2^31-1 (positions are i32)",
                             (long long)plan->max_seq);
  for (uint32_t i = 0; i < plan->n_kernels; i++)
    if (!is_identifier(plan->kernels[i]))
      return greta_status_make(GRETA_DATA_LOSS,
                               "kernel %u: name \"%s\" is not a C identifier of 1..255 chars", i,
                               plan->kernels[i] ? plan->kernels[i] : "");
  GRETA_RETURN_IF_ERROR(verify_ios(plan, plan->inputs, plan->n_inputs, "input"));
  /* Every op reads activations as f32 (token ids as i32); a gretac of before
   * 2026-12-03 wrote plans with half inputs that its kernels read as f32. */
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    const greta_dtype_t dt = plan->inputs[i].info.dtype;
    if (dt != GRETA_F32 && dt != GRETA_I32)
      return greta_status_make(GRETA_DATA_LOSS,
                               "input %s is %s: inputs are f32 or i32 (a gretac of before "
                               "2026-12-03 let half inputs through and computed them wrongly: "
                               "compile the model again)",
                               plan->inputs[i].info.name, greta_dtype_name(dt));
  }
  GRETA_RETURN_IF_ERROR(verify_ios(plan, plan->outputs, plan->n_outputs, "output"));

  for (uint32_t i = 0; i < plan->n_weights; i++) {
    const greta_plan_weight_t *w = &plan->weights[i];
    uint64_t bytes;
    GRETA_RETURN_IF_ERROR(greta_status_annotate(verify_tensor(&w->info, false, 1, &bytes),
                                                "weight %u", i));
    if (bytes != w->bytes)
      return greta_status_make(GRETA_DATA_LOSS,
                               "weight %s: its shape and dtype make %llu bytes, the plan says %llu",
                               w->info.name, (unsigned long long)bytes,
                               (unsigned long long)w->bytes);
    GRETA_RETURN_IF_ERROR(
        verify_range("weight", w->info.name, w->offset, w->bytes, plan->weight_bytes, "weights"));
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(w->info.name, plan->weights[j].info.name) == 0)
        return greta_status_make(GRETA_DATA_LOSS, "weights %u and %u are both named %s", j, i,
                                 w->info.name);
  }

  for (uint32_t i = 0; i < plan->n_caches; i++) {
    const greta_plan_cache_t *cache = &plan->caches[i];
    uint64_t bytes;
    if (!cache->name || !cache->name[0])
      return greta_status_make(GRETA_DATA_LOSS, "cache %u has an empty name", i);
    if ((uint32_t)cache->dtype > GRETA_BF16)
      return greta_status_make(GRETA_DATA_LOSS, "cache %s: dtype %u, expected f32, f16 or bf16",
                               cache->name, (unsigned)cache->dtype);
    size_t esize = greta_dtype_size(cache->dtype);
    if (cache->row_elems < 1 ||
        !product(&bytes, plan->max_seq, cache->row_elems, (int64_t)esize, 1) ||
        bytes != cache->bytes)
      return greta_status_make(GRETA_DATA_LOSS,
                               "cache %s: %llu bytes, expected max_seq %lld * row_elems %lld * %zu",
                               cache->name, (unsigned long long)cache->bytes,
                               (long long)plan->max_seq, (long long)cache->row_elems, esize);
    GRETA_RETURN_IF_ERROR(
        verify_range("cache", cache->name, cache->offset, cache->bytes, plan->kv_bytes, "kv space"));
  }

  if (plan->n_entries < 1)
    return greta_status_make(GRETA_DATA_LOSS, "the plan has no entry (expected decode/prefill)");
  for (uint32_t e = 0; e < plan->n_entries; e++) {
    const greta_plan_entry_t *entry = &plan->entries[e];
    if (!entry->name || !entry->name[0])
      return greta_status_make(GRETA_DATA_LOSS, "entry %u has an empty name", e);
    if (entry->min_tokens < 1 || entry->min_tokens > entry->max_tokens ||
        entry->max_tokens > plan->max_tokens)
      return greta_status_make(GRETA_DATA_LOSS,
                               "entry %s: tokens %lld..%lld, expected 1 <= min <= max <= "
                               "max_tokens %lld",
                               entry->name, (long long)entry->min_tokens,
                               (long long)entry->max_tokens, (long long)plan->max_tokens);
    if (entry->n_launches > 0 && !entry->launches)
      return greta_status_make(GRETA_DATA_LOSS, "entry %s has no launch array", entry->name);
    /* fold_norm writes a weight: it may run once, at bind time, and the
     * bind entry does nothing else. */
    bool bind = strcmp(entry->name, GRETA_PLAN_BIND_ENTRY) == 0;
    if (bind && entry->max_tokens != 1)
      return greta_status_make(GRETA_DATA_LOSS, "entry bind: tokens %lld..%lld, expected 1..1",
                               (long long)entry->min_tokens, (long long)entry->max_tokens);
    for (uint32_t i = 0; i < entry->n_launches; i++)
      if ((entry->launches[i].op == GRETA_OP_FOLD_NORM) != bind)
        return greta_status_make(GRETA_DATA_LOSS, "entry %s launch %u: %s %s", entry->name, i,
                                 greta_op_name(entry->launches[i].op),
                                 bind ? "in the bind entry (it holds fold_norm only)"
                                      : "outside the bind entry");
    for (uint32_t i = 0; i < entry->n_launches; i++)
      GRETA_RETURN_IF_ERROR(
          greta_status_annotate(verify_launch(plan, entry, &entry->launches[i]),
                                "entry %s launch %u (%s)", entry->name, i,
                                greta_op_name(entry->launches[i].op)));
  }
  return verify_entries_cover(plan);
}
