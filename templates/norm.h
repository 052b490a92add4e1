/* RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, i]^2) + eps) * w[i].
 *
 * One block of NT = 256 threads per row: thread i reads x[r, i + 256 j]
 * (coalesced), squares are summed in f32 per thread, then across the block
 * (wave shuffles, then one LDS slot per wave); a second coalesced pass
 * writes the output. Two reads of the row (the second from cache) and one
 * write: arithmetic intensity ~0.3 flop/byte, purely bandwidth-bound.
 * Grid: x = rows.
 */

template <int DT, greta_i64 NCOL, greta_i64 RC, int RPT>
GRETA_INLINE void greta_rmsnorm(const int *params, const float *x, const void *w, float *out,
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
    out[row * NCOL + i] = xr[i] * inv * greta_load_w<DT>(w, i);
}
