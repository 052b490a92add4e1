/* The two floors of a launch: the fewest bytes it must move through memory
 * (each input read once, each output written once) and its floating-point
 * operations. Benchmarks divide them by the measured bandwidth and peak. */
#include "plan.h"

static uint64_t dtype_bytes(int64_t dtype) { return greta_dtype_size((greta_dtype_t)dtype); }

void greta_plan_launch_cost(const greta_plan_launch_t *l, int64_t tokens, int64_t pos,
                            uint64_t *out_bytes, uint64_t *out_flops) {
  const greta_op_attrs_t *a = &l->attr;
  const uint64_t rows = (uint64_t)(l->rows_coeff * (l->rows_per_token ? tokens : 1));
  const uint64_t T = (uint64_t)tokens, f32 = 4;
  const uint64_t w = dtype_bytes(a->wdtype);
  uint64_t bytes = 0, flops = 0;
  switch ((greta_op_t)l->op) {
    case GRETA_OP_EMBEDDING: /* tokens, T table rows, out */
      bytes = T * 4 + T * (uint64_t)a->dim * (w + f32);
      break;
    case GRETA_OP_RMSNORM: /* x, w, out; square, sum, scale twice */
      bytes = 2 * rows * (uint64_t)a->n * f32 + (uint64_t)a->n * w;
      flops = 4 * rows * (uint64_t)a->n;
      break;
    case GRETA_OP_MATMUL: { /* x [rows, K], B [N, K], out (+ residual) [rows, N] */
      uint64_t N = (uint64_t)a->n, K = (uint64_t)a->k;
      bytes = rows * K * f32 + N * K * w + rows * N * f32 * (a->residual ? 2 : 1);
      flops = 2 * rows * N * K + (a->residual ? rows * N : 0);
      break;
    }
    case GRETA_OP_ROPE: /* read and write every element; a rotation per pair */
      bytes = 2 * rows * (uint64_t)a->head_dim * f32;
      flops = 3 * rows * (uint64_t)a->head_dim;
      break;
    case GRETA_OP_KV_APPEND:
      bytes = 2 * T * (uint64_t)(a->kv_heads * a->head_dim) * f32;
      break;
    case GRETA_OP_ATTENTION:
    case GRETA_OP_ATTENTION_SPLIT:
    case GRETA_OP_ATTENTION_COMBINE: {
      uint64_t H = (uint64_t)a->heads, KVH = (uint64_t)a->kv_heads, D = (uint64_t)a->head_dim;
      uint64_t context = (uint64_t)(pos + tokens);
      /* Scores and weighted sums: 4 * D per (query head, visible row). */
      uint64_t visible = T * (uint64_t)pos + T * (T + 1) / 2;
      uint64_t partial = T * H * (uint64_t)a->splits * (D + 2) * f32;
      if (l->op == GRETA_OP_ATTENTION_COMBINE) {
        bytes = partial + T * H * D * f32;
        flops = 3 * T * H * (uint64_t)a->splits * D;
        break;
      }
      bytes = T * H * D * f32 + 2 * context * KVH * D * f32 +
              (l->op == GRETA_OP_ATTENTION ? T * H * D * f32 : partial);
      flops = 4 * H * D * visible;
      break;
    }
    case GRETA_OP_SILU_MUL:
    case GRETA_OP_ADD:
    case GRETA_OP_MUL:
      bytes = 3 * rows * (uint64_t)a->n * f32;
      flops = (l->op == GRETA_OP_SILU_MUL ? 5 : 1) * rows * (uint64_t)a->n;
      break;
    case GRETA_OP_SILU:
    case GRETA_OP_SCALE:
      bytes = 2 * rows * (uint64_t)a->n * f32;
      flops = (l->op == GRETA_OP_SILU ? 4 : 1) * rows * (uint64_t)a->n;
      break;
    case GRETA_OP_SOFTMAX:
    case GRETA_OP_CAUSAL_MASK:
    case GRETA_OP_MASKED_SOFTMAX:
      bytes = 2 * rows * (uint64_t)a->n * f32;
      flops = (l->op == GRETA_OP_CAUSAL_MASK ? 0 : 4) * rows * (uint64_t)a->n;
      break;
    case GRETA_OP_TRANSPOSE:
      bytes = 2 * rows * (uint64_t)a->in_cols * f32;
      break;
    case GRETA_OP_COPY:
      bytes = 2 * rows * (uint64_t)a->n * f32;
      break;
    case GRETA_OP_COUNT_:
      break;
  }
  *out_bytes = bytes;
  *out_flops = flops;
}
