/* GEMV for decode (T = 1): out[m, N] = x'[m, K] @ B (+ residual), for each of
 * the M = rows rows of x (usually 1), B f32 / f16 / bf16; x' = x, or with
 * NORM x * inv_rms(x), inv_rms = 1 / sqrt(mean(x^2) + eps) over the K
 * elements of the row (RMSNorm's weight is folded into B at bind time).
 *
 * Memory-bound: each weight byte is read once and used for one FMA per row,
 * arithmetic intensity 2 flop per weight element (0.5 flop/byte in f32, 1 in
 * f16), so the only goal is streaming B at the copy bandwidth (H200: 4.25
 * TB/s, ~1 us of latency, so ~32 KiB in flight per SM).
 *
 * B [N, K] (a Linear weight): greta_gemv_pairs is the core of greta_gemv_nk
 * (matmul), greta_gemv_glu (matmul_glu) and greta_gemv_qkv (matmul_qkv).
 *   Block = GRETA_GEMV_NT = 256 threads = NW waves (8 on NVIDIA, 4 on AMD).
 *   Wave w of block bx owns one PAIR of output rows, p = bx * NW + w:
 *   row0 = (p / HALF) * 2 HALF + p % HALF and row1 = row0 + HALF. HALF = 1
 *   gives consecutive rows (matmul); HALF = n gives glu's (gate c, up c);
 *   HALF = head_dim / 2 gives RoPE's rotate-half pairs inside every head of
 *   the stacked q/k/v weight, so the epilogue has both halves in one lane.
 *   Lane l reads 16 bytes of each row (4 f32 or 8 halves) at k = l V + j W V
 *   (W = wave size): a wave's loads of one row are one contiguous run
 *   (coalesced). Chunks of UNROLL such loads per row are software
 *   pipelined: chunk c + 1 is issued before chunk c's FMAs, and chunk 0
 *   before x is staged (a partial last chunk skips its loads past K; the
 *   tail is no longer a serial chain of single loads), so every wave keeps
 *   2 to 4 UNROLL 16-byte loads in flight from its start to its last chunk (measured on the H200: without
 *   the pipeline the 256-block shapes, N = 4096, reached 63-86 % of the
 *   floor, the rounds draining the memory pipeline in step). Lane partial
 *   sums meet through shuffles (greta_wave_sum); lane 0 runs the epilogue.
 *   x (K floats) is staged in LDS once per block when it fits in
 *   GRETA_GEMV_STAGE_BYTES (STAGE = 1; read back as float4, 16 bytes of x per
 *   16 bytes of f32 weights, shared by the two rows) and otherwise read from
 *   global (cached). NORM sums x^2 during that same pass (a block reduction).
 *   VEC = 1 when K * element size is a multiple of 16; B's alignment is
 *   checked at run time (codegen shares a kernel among launches whose
 *   offsets differ); otherwise scalar loads.
 *   Split-K (SPLIT > 1, chosen by the host when the pairs are few for the
 *   CUs, kernel_select.c gemv_split): SPLIT adjacent waves share a pair, each
 *   reading a slice of adjacent chunks of K and x straight from global; the
 *   slices' sums meet in LDS in a fixed order (no atomics, one launch). H200,
 *   f16, N = 4096: o_proj 77 -> 81 % of the floor, down_proj 87 -> 97 %.
 *   Grid: x = ceil(pairs * SPLIT / NW), y = M.
 *
 * B [K, N] (TRANS = 0), greta_gemv_kn: thread (c = tid % 64, s = tid / 64)
 * reads column n = 64 * block + c for k = s, s + 4, ...: consecutive threads
 * read consecutive n (coalesced); the 4 partial sums meet in LDS.
 * Grid: x = ceil(N / 64), y = M.
 */

/* 16 bytes of x in LDS (the alignment lets the reads be 128-bit). */
struct alignas(16) greta_f4 {
  float x, y, z, w;
};

/* 16 bytes of weights that are read once: on NVIDIA through the read-only
 * path without allocating in L1 (the weights would only evict x). */
GRETA_INLINE greta_u4 greta_gemv_load_weights(const char *p) {
#if defined(GRETA_NVIDIA)
  greta_u4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
#else
  return *(const greta_u4 *)p;
#endif
}

/* The first row of pair p when pairs are (row0, row0 + HALF). */
GRETA_INLINE greta_i64 greta_pair_row0(greta_i64 p, greta_i64 half) {
  return p / half * 2 * half + p % half;
}

/* Reads x's row (K floats) once per block: into LDS when STAGE, and with
 * NORM returns its inverse RMS (1 otherwise). Every thread takes part and
 * gets the same value; `scratch` holds one float per wave. */
template <greta_i64 K, int STAGE, int NORM>
GRETA_INLINE float greta_gemv_read_x(const float *xr, float *xs, float *scratch, float eps) {
  const int NT = GRETA_GEMV_NT;
  float ss = 0.f;
  if (STAGE || NORM)
    for (greta_i64 i = greta_tid(); i < K; i += NT) {
      float v = xr[i];
      if (STAGE) xs[i] = v;
      ss += v * v;
    }
  if (!NORM) {
    if (STAGE) greta_sync();
    return 1.f;
  }
  /* The reduction's barriers also publish xs. */
  ss = greta_block_reduce<NT, false>(ss, scratch);
  return 1.0f / greta_sqrt(ss / (float)K + eps);
}

/* a0 += x[k .. k+V) . w0, a1 += x[k .. k+V) . w1 for one 16-byte load of
 * each row; XLDS: x is the 16-byte aligned LDS copy (128-bit reads). */
template <int DT, int XLDS>
GRETA_INLINE void greta_gemv_fma16(const float *xk, const greta_u4 &w0, const greta_u4 &w1,
                                   float &a0, float &a1) {
  const int V = greta_wvec<DT>::N;
  float xe[V];
  if (XLDS) {
#pragma unroll
    for (int j = 0; j < V / 4; j++) {
      greta_f4 q = ((const greta_f4 *)xk)[j];
      xe[4 * j] = q.x;
      xe[4 * j + 1] = q.y;
      xe[4 * j + 2] = q.z;
      xe[4 * j + 3] = q.w;
    }
  } else {
#pragma unroll
    for (int e = 0; e < V; e++) xe[e] = xk[e];
  }
#pragma unroll
  for (int e = 0; e < V; e++) {
    a0 += xe[e] * greta_u4_elem<DT>(w0, e);
    a1 += xe[e] * greta_u4_elem<DT>(w1, e);
  }
}

/* Reads x's row (greta_gemv_read_x; returns its inverse RMS with NORM) and
 * computes slice s (of SPLIT) of its dot products with rows row0 and row1
 * of B [., K], summed over the wave: every lane gets both. K is cut into
 * chunks of UNROLL wave-wide loads per row (the last may be partial: its
 * loads past K are skipped); slice s is CPW = ceil(chunks / SPLIT) adjacent
 * chunks from chunk s CPW (the last slice may have fewer). The vector path is software
 * pipelined: the first chunk's loads are issued before x is read (they fly
 * during the staging and its barrier), and each chunk's loads are issued
 * before the previous chunk's FMAs, so a wave always has loads in flight
 * instead of draining the memory pipeline between chunks. Every thread of
 * the block must call this (it holds the block's barriers, and the launch's
 * greta_grid_begin: nothing before it reads x or writes). */
template <int DT, greta_i64 K, int VEC, int STAGE, int NORM, int UNROLL, int SPLIT>
GRETA_INLINE float greta_gemv_x_dot2(const float *xr, float *xs, float *scratch, float eps,
                                     const void *b, greta_i64 row0, greta_i64 row1, int s,
                                     float *out0, float *out1) {
  const int lane = greta_lane();
  const float *xv = STAGE ? xs : xr;
  float a0 = 0.f, a1 = 0.f, inv;
  /* The same for every thread of the block: B and x are one pointer each
   * (x's rows are 16-byte multiples when VEC). */
  if (VEC && ((unsigned long long)b & 15ull) == 0 &&
      (STAGE || ((unsigned long long)xr & 15ull) == 0)) {
    const int V = greta_wvec<DT>::N, ES = DT == GRETA_W_F32 ? 4 : 2;
    const greta_i64 STEP = (greta_i64)GRETA_WAVE * V; /* elements per wave-wide load */
    const greta_i64 CHUNK = STEP * UNROLL;
    const greta_i64 NCH = (K + CHUNK - 1) / CHUNK; /* the last may be partial */
    const greta_i64 CPW = (NCH + SPLIT - 1) / SPLIT; /* chunks per slice */
    /* Whole chunks, and CPW in every slice: no load needs a bound check
     * (otherwise each load and FMA past K, or past the last chunk, is
     * skipped). */
    const bool whole = K % CHUNK == 0 && NCH % SPLIT == 0;
    const greta_i64 c0 = (greta_i64)s * CPW; /* this slice's first chunk */
    const char *p0 = (const char *)b + row0 * K * ES;
    const char *p1 = (const char *)b + row1 * K * ES;
    const greta_i64 k0 = c0 * CHUNK + (greta_i64)lane * V;
    greta_u4 w0[UNROLL], w1[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; u++)
        if (whole || k0 + u * STEP < K) {
          w0[u] = greta_gemv_load_weights(p0 + (k0 + u * STEP) * ES);
          w1[u] = greta_gemv_load_weights(p1 + (k0 + u * STEP) * ES);
        }
    /* Weights are no launch's output: their first chunk may fly while the
     * previous launch finishes (prelude.h, greta_grid_begin). */
    greta_grid_begin();
    inv = greta_gemv_read_x<K, STAGE, NORM>(xr, xs, scratch, eps);
    /* A trip count known at compile time: unrolled, the copies from n to w
     * are renamings, not moves (register pressure as without the pipeline
     * plus one chunk). */
#pragma unroll
    for (greta_i64 j = 0; j < CPW; j++) {
      const greta_i64 k = k0 + j * CHUNK;
      const bool more = j + 1 < CPW;
      greta_u4 n0[UNROLL], n1[UNROLL];
      if (more)
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
          if (whole || k + CHUNK + u * STEP < K) {
            n0[u] = greta_gemv_load_weights(p0 + (k + CHUNK + u * STEP) * ES);
            n1[u] = greta_gemv_load_weights(p1 + (k + CHUNK + u * STEP) * ES);
          }
#pragma unroll
      for (int u = 0; u < UNROLL; u++)
        if (whole || k + u * STEP < K)
          greta_gemv_fma16<DT, 1>(xv + k + u * STEP, w0[u], w1[u], a0, a1);
      if (more)
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
          w0[u] = n0[u];
          w1[u] = n1[u];
        }
    }
  } else {
    greta_grid_begin();
    inv = greta_gemv_read_x<K, STAGE, NORM>(xr, xs, scratch, eps);
    for (greta_i64 k = (greta_i64)s * GRETA_WAVE + lane; k < K; k += (greta_i64)SPLIT * GRETA_WAVE) {
      float xe = xv[k];
      a0 += xe * greta_load_w<DT>(b, row0 * K + k);
      a1 += xe * greta_load_w<DT>(b, row1 * K + k);
    }
  }
  *out0 = greta_wave_sum(a0);
  *out1 = greta_wave_sum(a1);
  return inv;
}

/* The core: x row m = blockIdx.y, pair p of B's NROWS rows (PAIRS pairs of
 * stride HALF) -> epi(m, p, row0, y0, y1) on lane 0, y = x' . B[row] (y1 is
 * that of row NROWS - 1 when row1 is past the end: the epilogue drops it).
 * SPLIT (split-K, a divisor of NW) waves share a pair: wave w of the block
 * takes pair bx * NW / SPLIT + w / SPLIT and K slice w % SPLIT; the slices'
 * sums meet in LDS (fixed order, no atomics) and the first wave of the pair
 * runs the epilogue. */
template <int DT, greta_i64 K, int VEC, int STAGE, int NORM, int UNROLL, int SPLIT,
          greta_i64 NROWS, greta_i64 HALF, greta_i64 PAIRS, greta_i64 RC, int RPT, class Epi>
GRETA_INLINE void greta_gemv_pairs(const int *params, const float *x, const void *b, float eps,
                                   const Epi &epi) {
  const int NW = GRETA_GEMV_NT / GRETA_WAVE;
  static_assert(SPLIT >= 1 && NW % SPLIT == 0, "SPLIT must divide the waves of a block");
  /* With split-K each wave reads only its slice of x, straight from global
   * (cached): staging the whole row per block (a pass and a barrier for
   * every NW / SPLIT pairs) cost more than it saved. */
  const int XS = STAGE && SPLIT == 1;
  __shared__ greta_f4 xs4[XS ? (K + 3) / 4 : 1];
  __shared__ float scratch[NW];
  __shared__ float part[SPLIT > 1 ? NW : 1][2];
  const greta_i64 m = greta_bid_y();
  if (m >= greta_rows<RC, RPT>(params)) return;
  const int w = greta_tid() / GRETA_WAVE, s = w % SPLIT;
  const greta_i64 p = (greta_i64)greta_bid_x() * (NW / SPLIT) + w / SPLIT;
  /* Waves past the last pair compute the last one again (every thread
   * holds the block's barriers) and store nothing. */
  const greta_i64 pc = p < PAIRS ? p : PAIRS - 1;
  const greta_i64 row0 = greta_pair_row0(pc, HALF);
  const greta_i64 row1 = row0 + HALF < NROWS ? row0 + HALF : NROWS - 1; /* kept in bounds */
  float y0, y1;
  const float inv = greta_gemv_x_dot2<DT, K, VEC, XS, NORM, UNROLL, SPLIT>(
      x + m * K, (float *)xs4, scratch, eps, b, row0, row1, s, &y0, &y1);
  if (SPLIT > 1) {
    if (greta_lane() == 0) {
      part[w][0] = y0;
      part[w][1] = y1;
    }
    greta_sync();
    if (s != 0) return;
    y0 = part[w][0];
    y1 = part[w][1];
    for (int i = 1; i < SPLIT; i++) {
      y0 += part[w + i][0];
      y1 += part[w + i][1];
    }
  }
  if (p < PAIRS && greta_lane() == 0) epi(m, p, row0, y0 * inv, y1 * inv);
}

/* matmul: out[m, n] = y (+ res[m, n]) for rows n = row0, row0 + 1 < N. */
template <greta_i64 N, int RES>
struct greta_gemv_out_epi {
  float *out;
  const float *res;
  GRETA_METHOD void operator()(greta_i64 m, greta_i64, greta_i64 row0, float y0, float y1) const {
    /* The residual may alias out: each element is read before it is written. */
    if (RES) y0 += res[m * N + row0];
    out[m * N + row0] = y0;
    if (row0 + 1 < N) {
      if (RES) y1 += res[m * N + row0 + 1];
      out[m * N + row0 + 1] = y1;
    }
  }
};

template <int DT, greta_i64 N, greta_i64 K, int RES, int VEC, int STAGE, greta_i64 RC, int RPT,
          int NORM, int UNROLL, int SPLIT>
GRETA_INLINE void greta_gemv_nk(const int *params, const float *x, const void *b, float *out,
                                const float *res, float eps) {
  greta_gemv_pairs<DT, K, VEC, STAGE, NORM, UNROLL, SPLIT, N, 1, (N + 1) / 2, RC, RPT>(
      params, x, b, eps, greta_gemv_out_epi<N, RES>{out, res});
}

/* matmul_glu: B [2N, K] = gate rows then up rows; pair p = (gate p, up p),
 * out[m, p] = silu(gate) * up. */
template <greta_i64 N>
struct greta_gemv_glu_epi {
  float *out;
  GRETA_METHOD void operator()(greta_i64 m, greta_i64 p, greta_i64, float gate, float up) const {
    out[m * N + p] = greta_silu(gate) * up;
  }
};

template <int DT, greta_i64 N, greta_i64 K, int VEC, int STAGE, greta_i64 RC, int RPT, int NORM,
          int UNROLL, int SPLIT>
GRETA_INLINE void greta_gemv_glu(const int *params, const float *x, const void *b, float *out,
                                 float eps) {
  greta_gemv_pairs<DT, K, VEC, STAGE, NORM, UNROLL, SPLIT, 2 * N, N, N, RC, RPT>(
      params, x, b, eps, greta_gemv_glu_epi<N>{out});
}

/* matmul_qkv: B [(H + 2 KVH) D, K]; pair p = (i, i + D/2) of head p / (D/2),
 * y rotated and stored as qkv_rope_append stores it (rope.h). Row m of x is
 * token m, at position pos + m. */
template <greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, int KT>
struct greta_gemv_qkv_epi {
  const int *params;
  float *q;
  void *k_cache;
  void *v_cache;
  const float *inv_freq;
  GRETA_METHOD void operator()(greta_i64 m, greta_i64 p, greta_i64, float y0, float y1) const {
    greta_qkv_store_pair<H, KVH, D, MAXSEQ, KT>(m, (greta_i64)params[1] + m, p / (D / 2), p % (D / 2),
                                                 y0, y1, q, k_cache, v_cache, inv_freq);
  }
};

template <int DT, greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, greta_i64 K, int VEC,
          int STAGE, int NORM, int KT, int UNROLL, int SPLIT>
GRETA_INLINE void greta_gemv_qkv(const int *params, const float *x, const void *b, float *q,
                                 void *k_cache, void *v_cache, float eps, const float *inv_freq) {
  const greta_i64 ROWS = (H + 2 * KVH) * D;
  greta_gemv_pairs<DT, K, VEC, STAGE, NORM, UNROLL, SPLIT, ROWS, D / 2, ROWS / 2, 1, 1>(
      params, x, b, eps,
      greta_gemv_qkv_epi<H, KVH, D, MAXSEQ, KT>{params, q, k_cache, v_cache, inv_freq});
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
