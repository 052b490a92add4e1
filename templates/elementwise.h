/* Elementwise ops over rows x n elements: silu, silu_mul, add, mul, scale,
 * copy, last_token (the last token's rows), glu (two input elements per output); and transpose, causal mask, kv append, embedding, which are
 * elementwise in their output index too.
 *
 * Thread -> data: one output element per thread, element index
 * i = 256 * block + tid, so consecutive threads touch consecutive addresses
 * (coalesced). Grid: x = ceil(elements / 256), elements growing with T
 * through grid_t. One read per input and one write per element: ~0.1
 * flop/byte, bandwidth-bound; nothing to tile.
 */
/* The element index of this thread, or -1 past `total`. */
GRETA_INLINE greta_i64 greta_ew_index(greta_i64 total) {
  greta_i64 i = (greta_i64)greta_bid_x() * GRETA_EW_NT + greta_tid();
  return i < total ? i : -1;
}

/* a, b: inputs (b unused by unary ops), out: output, all [rows, NCOL]. */
template <int OP, greta_i64 NCOL, greta_i64 RC, int RPT>
GRETA_INLINE void greta_elementwise(const int *params, const float *a, const float *b, float *out,
                                    float f0) {
  greta_i64 i = greta_ew_index(greta_rows<RC, RPT>(params) * NCOL);
  if (i < 0) return;
  float v = OP == GRETA_EW_LAST_TOKEN ? a[((greta_i64)params[0] - 1) * RC * NCOL + i] : a[i];
  if (OP == GRETA_EW_SILU) v = greta_silu(v);
  if (OP == GRETA_EW_SILU_MUL) v = greta_silu(v) * b[i];
  if (OP == GRETA_EW_ADD) v = v + b[i];
  if (OP == GRETA_EW_MUL) v = v * b[i];
  if (OP == GRETA_EW_SCALE) v = v * f0;
  out[i] = v;
}

/* glu: out[r, c] = silu(x[r, c]) * x[r, NCOL + c] for x [rows, 2 NCOL]
 * (prefill, after the stacked gate/up GEMM), out [rows, NCOL] in OUT (f32,
 * or the half type of the down GEMM that reads it). Thread per output
 * element: both reads are coalesced runs. */
template <greta_i64 NCOL, greta_i64 RC, int RPT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_glu(const int *params, const float *x, void *out) {
  greta_i64 i = greta_ew_index(greta_rows<RC, RPT>(params) * NCOL);
  if (i < 0) return;
  const float *xr = x + i / NCOL * 2 * NCOL;
  greta_store_w<OUT>(out, i, greta_silu(xr[i % NCOL]) * xr[NCOL + i % NCOL]);
}

/* bias_add: out[r, c] = x[r, c] + bias[c], bias [NCOL] in WT (a weight's
 * dtype, converted to f32). Thread per output element; the bias row is
 * re-read by every row from cache. */
template <int WT, greta_i64 NCOL, greta_i64 RC, int RPT>
GRETA_INLINE void greta_bias_add(const int *params, const float *x, const void *bias, float *out) {
  greta_i64 i = greta_ew_index(greta_rows<RC, RPT>(params) * NCOL);
  if (i < 0) return;
  out[i] = x[i] + greta_load_w<WT>(bias, i % NCOL);
}

/* x [batch, R, C] -> out [batch, C, R], batch = rows / R. Thread per output
 * element (writes coalesced, reads strided by C). */
template <greta_i64 R, greta_i64 C, greta_i64 RC, int RPT>
GRETA_INLINE void greta_transpose(const int *params, const float *x, float *out) {
  greta_i64 j = greta_ew_index(greta_rows<RC, RPT>(params) * C);
  if (j < 0) return;
  greta_i64 bt = j / (R * C), rem = j % (R * C), c = rem / R, r = rem % R;
  out[j] = x[bt * R * C + r * C + c];
}

/* x [T, INNER, NCOL]: out[t][i][s] = s > pos + t ? -inf : x[t][i][s]. */
template <greta_i64 INNER, greta_i64 NCOL, greta_i64 RC, int RPT>
GRETA_INLINE void greta_causal_mask(const int *params, const float *x, float *out) {
  greta_i64 j = greta_ew_index(greta_rows<RC, RPT>(params) * NCOL);
  if (j < 0) return;
  greta_i64 s = j % NCOL, t = j / NCOL / INNER;
  out[j] = s > (greta_i64)params[1] + t ? greta_neg_inf() : x[j];
}
