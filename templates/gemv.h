/* GEMV for decode (T = 1): out[m, N] = x[m, K] @ B (+ residual), for each of
 * the M = rows rows of x (usually 1), B f32 / f16 / bf16.
 *
 * Memory-bound: each weight byte is read once and used for one FMA per row,
 * arithmetic intensity 2 flop per weight element (0.5 flop/byte in f32, 1 in
 * f16), so the only goal is streaming B at full bandwidth.
 *
 * B [N, K] (TRANS = 1, a Linear weight), greta_gemv_nk: block = 256 threads
 * = 256 / GRETA_WAVE waves; each wave owns R = 2 consecutive output rows n
 * and sweeps K with 16-byte vector loads (4 f32 or 8 halves per lane per
 * row; VEC = 1 when K * element size is a multiple of 16 and, at run time,
 * B is 16-byte aligned) or scalar loads otherwise;
 * lane partial sums are reduced with shuffles (greta_wave_sum). x (K floats)
 * is staged in LDS once per block when it fits in 32 KiB (STAGE = 1).
 * Grid: x = ceil(N / (R * waves per block)), y = M.
 *
 * B [K, N] (TRANS = 0), greta_gemv_kn: thread (c = tid % 64, s = tid / 64)
 * reads column n = 64 * block + c for k = s, s + 4, ...: consecutive threads
 * read consecutive n (coalesced); the 4 partial sums meet in LDS.
 * Grid: x = ceil(N / 64), y = M.
 */

template <int DT, greta_i64 N, greta_i64 K, int RES, int VEC, int STAGE, greta_i64 RC, int RPT>
GRETA_INLINE void greta_gemv_nk(const int *params, const float *x, const void *b, float *out,
                                const float *res) {
  const int NT = GRETA_GEMV_NT, NW = NT / GRETA_WAVE, R = GRETA_GEMV_R;
  const greta_i64 m = greta_bid_y();
  if (m >= greta_rows<RC, RPT>(params)) return;
  const float *xr = x + m * K;
  __shared__ float xs[STAGE ? K : 1];
  if (STAGE) {
    for (int i = greta_tid(); i < K; i += NT) xs[i] = xr[i];
    greta_sync();
  }
  const float *xv = STAGE ? xs : xr;
  const int lane = greta_lane(), w = greta_tid() / GRETA_WAVE;
  const greta_i64 n0 = ((greta_i64)greta_bid_x() * NW + w) * R;
  /* Rows past N read row N - 1 (kept in bounds, never written). */
  greta_i64 rows[R];
  for (int r = 0; r < R; r++) rows[r] = n0 + r < N ? n0 + r : N - 1;
  float acc[R];
  for (int r = 0; r < R; r++) acc[r] = 0.f;
  /* Vector loads need 16-byte aligned rows: K * element size is (VEC), the
   * base pointer is checked here, so the kernel is right for any offset. */
  if (VEC && ((unsigned long long)b & 15ull) == 0) {
    const int V = greta_wvec<DT>::N;
    const int ES = DT == GRETA_W_F32 ? 4 : 2;
    for (greta_i64 k = (greta_i64)lane * V; k < K; k += (greta_i64)GRETA_WAVE * V) {
      greta_u4 v[R];
      for (int r = 0; r < R; r++)
        v[r] = *(const greta_u4 *)((const char *)b + (rows[r] * K + k) * ES);
      for (int e = 0; e < V; e++) {
        float xe = xv[k + e];
        for (int r = 0; r < R; r++) acc[r] += xe * greta_u4_elem<DT>(v[r], e);
      }
    }
  } else {
    for (greta_i64 k = lane; k < K; k += GRETA_WAVE) {
      float xe = xv[k];
      for (int r = 0; r < R; r++) acc[r] += xe * greta_load_w<DT>(b, rows[r] * K + k);
    }
  }
  for (int r = 0; r < R; r++) {
    float s = greta_wave_sum(acc[r]);
    if (lane == 0 && n0 + r < N) {
      if (RES) s += res[m * N + n0 + r];
      out[m * N + n0 + r] = s;
    }
  }
}

template <int DT, greta_i64 N, greta_i64 K, int RES, greta_i64 RC, int RPT>
GRETA_INLINE void greta_gemv_kn(const int *params, const float *x, const void *b, float *out,
                                const float *res) {
  const int NC = GRETA_GEMV_KN_COLS, NS = GRETA_GEMV_NT / NC;
  __shared__ float part[NS][NC];
  const greta_i64 m = greta_bid_y();
  if (m >= greta_rows<RC, RPT>(params)) return;
  const int c = greta_tid() % NC, s = greta_tid() / NC;
  const greta_i64 n = (greta_i64)greta_bid_x() * NC + c;
  const greta_i64 nc = n < N ? n : N - 1;
  const float *xr = x + m * K;
  float acc = 0.f;
  for (greta_i64 k = s; k < K; k += NS) acc += xr[k] * greta_load_w<DT>(b, k * N + nc);
  part[s][c] = acc;
  greta_sync();
  if (s == 0 && n < N) {
    float v = part[0][c];
    for (int i = 1; i < NS; i++) v += part[i][c];
    if (RES) v += res[m * N + n];
    out[m * N + n] = v;
  }
}
