/* Softmax over the last dimension of x [rows, NCOL]; MASKED fuses the causal
 * mask first (x viewed as [T, INNER, NCOL]: entries s > pos + t are -inf,
 * i.e. 0 after softmax).
 *
 * One block of NT = 256 threads per row; thread i handles columns
 * i + 256 j (coalesced): block max, then block sum of exp(x - max), then a
 * write pass. Three reads of the row (two from cache), one write:
 * bandwidth-bound. Grid: x = rows.
 */

template <int MASKED, greta_i64 INNER, greta_i64 NCOL, greta_i64 RC, int RPT>
GRETA_INLINE void greta_softmax(const int *params, const float *x, float *out) {
  const int NT = GRETA_SOFTMAX_NT;
  __shared__ float scratch[NT / GRETA_WAVE];
  const greta_i64 row = greta_bid_x();
  if (row >= greta_rows<RC, RPT>(params)) return;
  /* Last column kept: all of them, or pos + t under the causal mask. */
  greta_i64 last = NCOL - 1;
  if (MASKED) {
    greta_i64 lim = (greta_i64)params[1] + row / INNER;
    if (lim < last) last = lim;
  }
  const float *xr = x + row * NCOL;
  float m = greta_neg_inf();
  for (greta_i64 i = greta_tid(); i <= last; i += NT) m = greta_fmax(m, xr[i]);
  m = greta_block_reduce<NT, true>(m, scratch);
  float s = 0.f;
  for (greta_i64 i = greta_tid(); i <= last; i += NT) s += greta_exp(xr[i] - m);
  s = greta_block_reduce<NT, false>(s, scratch);
  for (greta_i64 i = greta_tid(); i < NCOL; i += NT)
    out[row * NCOL + i] = i <= last ? greta_exp(xr[i] - m) / s : 0.f;
}
