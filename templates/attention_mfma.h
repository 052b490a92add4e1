/* Causal prefill attention on AMD matrix cores (gfx90a, gfx942): flash
 * attention with the 32x32x8 MFMAs over an f16 or bf16 KV cache. Same
 * contract as greta_attention (attention.h): q [T, H, D] f32, caches
 * [MAXSEQ, KVH, D] in DT, head h reads kv head h / (H / KVH) (no copy of K / V
 * per query head), token t attends cache rows 0 .. pos + t, score =
 * (q . k) * scale, out [T, H, D] f32.
 *
 * Why: greta_attention gives every query row a wave and does the dot
 * products with FMAs, ~60x its FLOP floor at T = 512. Here a wave owns 32
 * query rows and both products run on the matrix cores:
 *   S (32 queries x 32 keys) = Q K^T: D / 8 MFMAs, A = Q (rows t, k = d; the
 *     wave's Q fragments stay in registers, rounded once to DT), B = K^T
 *     (B[d][key] = K[key][d]: K staged in LDS as [key][D + 4]);
 *   online softmax on S's accumulator registers: lane l holds the key
 *     column l % 32 of rows mfma32_d_row(l, r), so a row's max is a
 *     reduction over the 32 lanes of a half-wave (5 shuffles); the running
 *     sum l stays a per-lane partial sum (rescaled like O) and is reduced
 *     once at the end;
 *   O (32 x D) += P V: P leaves the accumulator layout through LDS (each
 *     wave its own [32][36] rows, rounded to DT) to become the A operand;
 *     V is staged transposed, [d][32 + 4], so that a lane's four keys of one
 *     d are one 8-byte read. D / 32 x 4 MFMAs.
 * Block = 4 waves = 128 query rows of one head, sharing each 32-key tile of
 * K and V in LDS; grid x = H, y = ceil(T / 128). Key tiles run from 0 to the
 * block's last row; rows past a query's own are masked (score -inf, p 0).
 * LDS rows are padded by 4 halves: a fragment read (32 rows at one offset,
 * 8 bytes a lane) falls in distinct banks when the row stride is 2 mod 32
 * words (K: D + 4 halves) or 18 (V^T, P: 36 halves).
 *
 * Precision: q and p are rounded to DT for the MFMAs (the cache's own
 * precision), scores and sums are f32. The exponentials are the hardware's
 * v_exp_f32 (2^x, about 1 ulp) on scores pre-multiplied by log2(e): p is
 * rounded to 16 bits right after, and the accurate expf's range reduction
 * was a third of the loop's VALU instructions.
 */

#if defined(GRETA_AMD)
/* 2^x: v_exp_f32 where the compiler has the builtin (LLVM >= 17: clang-19,
 * ROCm >= 6), else the device library's exp2f (hiprtc of ROCm 5). */
GRETA_INLINE float greta_mfma_exp2(float x) {
#if __has_builtin(__builtin_amdgcn_exp2f)
  return __builtin_amdgcn_exp2f(x);
#else
  return exp2f(x);
#endif
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, int DT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_attention_mfma(const int *params, const float *q, const void *kc,
                                       const void *vc, void *out, float scale) {
  typedef greta_mfma32<DT> F;
  typedef typename F::lds_t L;
  typedef typename F::frag_t V4;
  static_assert(DT != GRETA_W_F32, "f32 caches take greta_attention");
  static_assert(D % 32 == 0, "head_dim a multiple of 32");
  const int NW = GRETA_ATTN_MFMA_NT / GRETA_WAVE, BQ = 32 * NW, BKV = 32;
  const int LDK = D + 4, LDV = BKV + 4, LDP = BKV + 4, CPR = D / 8; /* 16-byte chunks a row */
  __shared__ __attribute__((aligned(16))) L Ks[BKV * LDK];
  __shared__ __attribute__((aligned(16))) L Vt[D * LDV];
  __shared__ __attribute__((aligned(16))) L Ps[NW][32 * LDP];

  /* Positions fit in 32 bits (MAXSEQ does); 32-bit compares in the masks. */
  static_assert(MAXSEQ < (1LL << 30), "positions in int");
  const int T = params[0], pos = params[1];
  const greta_i64 h = greta_bid_x(), g = h / (H / KVH);
  const int t0 = greta_bid_y() * BQ;
  if (t0 >= T) return; /* whole block */
  const int tid = greta_tid(), lane = greta_lane(), w = tid / GRETA_WAVE;
  const int tw = t0 + 32 * w; /* the wave's first query row */
  int block_hi = pos + (t0 + BQ < T ? t0 + BQ : T); /* rows the block reads */
  if (block_hi > MAXSEQ) block_hi = (int)MAXSEQ;
  const float scale2 = scale * 1.4426950408889634f; /* scores in log2 units */

  /* Q fragments, k = d: lane l's row tw + l % 32, d = 8 kk + 4 (l / 32) + e. */
  V4 qf[D / 8];
  {
    const greta_i64 t = tw + mfma32_f16_a_row(lane); /* 64-bit: the q offset */
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) {
      const float *qr = q + (t * H + h) * D + 8 * kk + mfma32_f16_a_k(lane, 0);
      const bool ok = t < T;
      qf[kk] = (V4){F::to_lds(ok ? qr[0] : 0.f), F::to_lds(ok ? qr[1] : 0.f),
                    F::to_lds(ok ? qr[2] : 0.f), F::to_lds(ok ? qr[3] : 0.f)};
    }
  }
  greta_v16f o[D / 32];
  float m[16], l[16];
#pragma unroll
  for (int r = 0; r < 16; r++) {
    m[r] = greta_neg_inf();
    l[r] = 0.f;
#pragma unroll
    for (int jb = 0; jb < D / 32; jb++) o[jb][r] = 0.f;
  }

  for (int j0 = 0; j0 < block_hi; j0 += BKV) {
    greta_sync(); /* the previous tile's K, V and P are consumed */
    /* Stage the tile: 16-byte chunks of K and V rows (raw cache bits). */
    for (int idx = tid; idx < BKV * CPR; idx += GRETA_ATTN_MFMA_NT) {
      const int j = idx / CPR, c = idx % CPR;
      const greta_i64 r = j0 + j; /* 64-bit: the cache offset */
      greta_u4 kv = {0u, 0u, 0u, 0u}, vv = {0u, 0u, 0u, 0u};
      if (r < block_hi) {
        const greta_i64 off = ((r * KVH + g) * D + 8 * c) * 2;
        kv = *(const greta_u4 *)((const char *)kc + off);
        vv = *(const greta_u4 *)((const char *)vc + off);
      }
      unsigned int *kd = (unsigned int *)&Ks[j * LDK + 8 * c]; /* 8-byte aligned */
      kd[0] = kv.x, kd[1] = kv.y, kd[2] = kv.z, kd[3] = kv.w;
      const unsigned int vw[4] = {vv.x, vv.y, vv.z, vv.w};
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const unsigned short bits = (unsigned short)(vw[e / 2] >> (16 * (e & 1)));
        Vt[(8 * c + e) * LDV + j] = __builtin_bit_cast(L, bits);
      }
    }
    greta_sync();

    /* S = Q K^T for the wave's 32 rows and the tile's 32 keys. */
    greta_v16f s;
#pragma unroll
    for (int r = 0; r < 16; r++) s[r] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) {
      const V4 kf = *(const V4 *)&Ks[mfma32_f16_b_col(lane) * LDK + 8 * kk + mfma32_f16_b_k(lane, 0)];
      F::mma(s, qf[kk], kf);
    }

    /* Online softmax per row (in log2 units: m is the running max of
     * score x log2 e); P into this wave's LDS rows. */
    const int key = j0 + mfma32_d_col(lane);
#pragma unroll
    for (int r = 0; r < 16; r++) {
      const int i = mfma32_d_row(lane, r);
      const int t = tw + i;
      const bool valid = t < T && key <= pos + t;
      const float sv = valid ? s[r] * scale2 : greta_neg_inf();
      float mt = sv;
#pragma unroll
      for (int x = 1; x < 32; x <<= 1) mt = greta_fmax(mt, greta_shfl_xor(mt, x));
      const float mn = greta_fmax(m[r], mt);
      const float alpha = m[r] == greta_neg_inf() ? 0.f : greta_mfma_exp2(m[r] - mn);
      const float p = valid ? greta_mfma_exp2(sv - mn) : 0.f;
      l[r] = l[r] * alpha + p;
      m[r] = mn;
#pragma unroll
      for (int jb = 0; jb < D / 32; jb++) o[jb][r] *= alpha;
      Ps[w][i * LDP + mfma32_d_col(lane)] = F::to_lds(p);
    }
    greta_sync(); /* P rows written by the wave's other lanes */

    /* O += P V. */
#pragma unroll
    for (int kk = 0; kk < BKV / 8; kk++) {
      const V4 pf = *(const V4 *)&Ps[w][mfma32_f16_a_row(lane) * LDP + 8 * kk + mfma32_f16_a_k(lane, 0)];
#pragma unroll
      for (int jb = 0; jb < D / 32; jb++) {
        const V4 vf =
            *(const V4 *)&Vt[(32 * jb + mfma32_f16_b_col(lane)) * LDV + 8 * kk + mfma32_f16_b_k(lane, 0)];
        F::mma(o[jb], pf, vf);
      }
    }
  }

  /* Each row's sum over its 32 lanes; every row t < T has seen key 0. */
#pragma unroll
  for (int r = 0; r < 16; r++) {
    float lr = l[r];
#pragma unroll
    for (int x = 1; x < 32; x <<= 1) lr += greta_shfl_xor(lr, x);
    const greta_i64 t = tw + mfma32_d_row(lane, r); /* 64-bit: the out offset */
    if (t < T) {
#pragma unroll
      for (int jb = 0; jb < D / 32; jb++)
        greta_store_w<OUT>(out, (t * H + h) * D + 32 * jb + mfma32_d_col(lane), o[jb][r] / lr);
    }
  }
}
#endif /* GRETA_AMD */
