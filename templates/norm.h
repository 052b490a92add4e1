/* RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, i]^2) + eps) * w[i], and
 * RMS_SCALE (WEIGHTED = 0): the same without w, whose weight was folded into
 * the next matmul (greta_fold_norm below), stored in OUT (f32, or the half
 * type of the GEMM that reads it: the GEMM would round x to it anyway).
 *
 * One block of NT = 256 threads per row, squares summed in f32 per thread,
 * then across the block (wave shuffles, then one LDS slot per wave). When
 * the row is whole 16-byte groups of 4, at most 8 a thread (NCOL a multiple
 * of 4 NT up to 8192), thread i keeps groups i + NT j in registers: one
 * 16-byte read per 4 elements and one 16- or 8-byte store, the row read
 * once. Otherwise thread i reads x[r, i + NT j] (coalesced) and a second
 * pass (from cache) writes the output. ~0.3 flop/byte: bandwidth-bound.
 * Grid: x = rows.
 */

/* 8 bytes: 4 halves. */
struct alignas(8) greta_u2 {
  unsigned int x, y;
};

/* out[i .. i + 3] = v in OUT with one store (i a multiple of 4, out 16-byte
 * aligned), each value rounded as greta_store_w rounds it. */
template <int OUT>
GRETA_INLINE void greta_store4_w(void *out, greta_i64 i, const float (&v)[4]) {
  if (OUT == GRETA_W_F32) {
    ((greta_u4 *)out)[i / 4] = greta_u4{greta_float_to_bits(v[0]), greta_float_to_bits(v[1]),
                                        greta_float_to_bits(v[2]), greta_float_to_bits(v[3])};
  } else {
    unsigned int h[4];
    for (int e = 0; e < 4; e++)
      h[e] = OUT == GRETA_W_F16 ? greta_float_to_half(v[e]) : greta_float_to_bf16(v[e]);
    ((greta_u2 *)out)[i / 4] = greta_u2{h[0] | h[1] << 16, h[2] | h[3] << 16};
  }
}

template <int DT, greta_i64 NCOL, greta_i64 RC, int RPT, int WEIGHTED, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_rmsnorm(const int *params, const float *x, const void *w, void *out,
                                float eps) {
  const int NT = GRETA_NORM_NT;
  const int G = NCOL % (4 * NT) == 0 && NCOL / (4 * NT) <= 8 ? (int)(NCOL / (4 * NT)) : 0;
  __shared__ float scratch[NT / GRETA_WAVE];
  const greta_i64 row = greta_bid_x();
  if (row >= greta_rows<RC, RPT>(params)) return;
  const float *xr = x + row * NCOL;
  const int tid = greta_tid();
  /* The same for every thread: both pointers 16-byte aligned. */
  if (G > 0 && (((unsigned long long)x | (unsigned long long)out) & 15ull) == 0) {
    float v[G > 0 ? G : 1][4], ss = 0.f;
#pragma unroll
    for (int j = 0; j < G; j++) {
      const greta_u4 u = ((const greta_u4 *)xr)[tid + NT * j];
      v[j][0] = greta_bits_to_float(u.x), v[j][1] = greta_bits_to_float(u.y);
      v[j][2] = greta_bits_to_float(u.z), v[j][3] = greta_bits_to_float(u.w);
#pragma unroll
      for (int e = 0; e < 4; e++) ss += v[j][e] * v[j][e];
    }
    ss = greta_block_reduce<NT, false>(ss, scratch);
    const float inv = 1.0f / greta_sqrt(ss / (float)NCOL + eps);
#pragma unroll
    for (int j = 0; j < G; j++) {
      const greta_i64 c = 4 * (greta_i64)(tid + NT * j);
#pragma unroll
      for (int e = 0; e < 4; e++) v[j][e] = v[j][e] * inv * (WEIGHTED ? greta_load_w<DT>(w, c + e) : 1.0f);
      greta_store4_w<OUT>(out, row * NCOL + c, v[j]);
    }
    return;
  }
  float ss = 0.f;
  for (greta_i64 i = tid; i < NCOL; i += NT) ss += xr[i] * xr[i];
  ss = greta_block_reduce<NT, false>(ss, scratch);
  const float inv = 1.0f / greta_sqrt(ss / (float)NCOL + eps);
  for (greta_i64 i = tid; i < NCOL; i += NT)
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
