/* RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, i]^2) + eps) * w[i], and
 * RMS_SCALE (WEIGHTED = 0): the same without w, whose weight was folded into
 * the next matmul (greta_fold_norm below), stored in OUT (f32, or the half
 * type of the GEMM that reads it: the GEMM would round x to it anyway).
 *
 * One block of NT = 256 threads per row: thread i reads x[r, i + 256 j]
 * (coalesced), squares are summed in f32 per thread, then across the block
 * (wave shuffles, then one LDS slot per wave); a second coalesced pass
 * writes the output. Two reads of the row (the second from cache) and one
 * write: arithmetic intensity ~0.3 flop/byte, purely bandwidth-bound.
 * Grid: x = rows.
 */

template <int DT, greta_i64 NCOL, greta_i64 RC, int RPT, int WEIGHTED, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_rmsnorm(const int *params, const float *x, const void *w, void *out,
                                float eps) {
  const int NT = GRETA_NORM_NT;
  __shared__ float scratch[NT / GRETA_WAVE];
  const greta_i64 row = greta_bid_x();
  if (row >= greta_rows<RC, RPT>(params)) return;
  const float *xr = x + row * NCOL;
  float ss = 0.f;
  for (greta_i64 i = greta_tid(); i < NCOL; i += NT) ss += xr[i] * xr[i];
  ss = greta_block_reduce<NT, false>(ss, scratch);
  const float inv = 1.0f / greta_sqrt(ss / (float)NCOL + eps);
  for (greta_i64 i = greta_tid(); i < NCOL; i += NT)
    greta_store_w<OUT>(out, row * NCOL + i, xr[i] * inv * (WEIGHTED ? greta_load_w<DT>(w, i) : 1.0f));
}

/* fold_norm, once at bind time: w[r, c] = round_DT(w[r, c] * g[c]) over
 * w [ROWS, NCOL] and g [NCOL], both DT (f32, or f16 / bf16 rounded to
 * nearest even, as the CPU does). Thread per element (coalesced; in place).
 * Grid: x = ceil(ROWS NCOL / 256). */
template <int DT, greta_i64 NCOL, greta_i64 ROWS>
GRETA_INLINE void greta_fold_norm(const int *params, void *w, const void *g) {
  (void)params;
  greta_i64 j = greta_ew_index(ROWS * NCOL);
  if (j < 0) return;
  greta_store_w<DT>(w, j, greta_load_w<DT>(w, j) * greta_load_w<DT>(g, j % NCOL));
}
