/* Causal prefill attention on AMD matrix cores (gfx90a, gfx942): flash
 * attention with the 32x32x8 MFMAs over an f16 or bf16 KV cache. Same
 * contract as greta_attention (attention.h): q [T, H, D] f32, caches
 * [MAXSEQ, KVH, D] in DT, head h reads kv head h / (H / KVH) (no copy of K / V
 * per query head), token t attends cache rows 0 .. pos + t, score =
 * (q . k) * scale, out [T, H, D] f32.
 *
 * Why: greta_attention gives every query row a wave and does the dot
 * products with FMAs, ~60x its FLOP floor at T = 512. Here a wave owns 32
 * query rows and both products run on the matrix cores, transposed so that
 * the softmax stays in registers:
 *   S^T (32 keys x 32 queries) = K Q^T: D / 8 MFMAs, A = K (rows key, k = d:
 *     K staged in LDS as [key][D + 4]), B = Q^T (the wave's Q fragments stay
 *     in registers, rounded once to DT);
 *   lane l holds query l % 32 and its keys mfma32_d_row(l, r) in result
 *     register r, so a query's max over the tile is 15 maxima in the lane
 *     and one exchange with lane l ^ 32; m and the running sum are one float
 *     a lane (the sum a partial of the lane's keys, added to lane l ^ 32's
 *     at the end);
 *   O^T (D x 32 queries) += V^T P^T: P^T's registers 4 kk .. 4 kk + 3 are
 *     keys 8 kk + 4 (l / 32) + e of query l % 32, which is the B operand of
 *     the kk-th 8-key step as it stands: p goes from the exponential to the
 *     MFMA rounded to DT, through no LDS. A = V^T, staged transposed as
 *     [d][32 + 4] so that a lane's four keys of one d are one 8-byte read.
 *     D / 32 x 4 MFMAs. Rescaling O^T by a query's alpha is a per-lane
 *     scalar times the accumulators.
 * Block = 4 waves = 128 query rows of one head, sharing each 32-key tile of
 * K and V in LDS; grid x = H, y = ceil(T / 128). Key tiles run from 0 to the
 * block's last row in two loops: tiles every row of the block sees whole
 * (keys <= pos + t0) without a mask, then the diagonal tiles, where keys past
 * a query's own are masked (score -inf, p 0) and a wave skips a tile past all
 * of its rows. Each tile's K and V rows are loaded into registers while the
 * tile before is computed, and written to LDS between two barriers; with
 * clang 19's buffer builtins through buffer resources sized to the rows
 * below block_hi, whose range check reads zeros past them (no per-load
 * address arithmetic or branch on the VALU).
 * LDS rows are padded by 4 halves: a fragment read (32 rows at one offset,
 * 8 bytes a lane) falls in distinct banks when the row stride is 2 mod 32
 * words (K: D + 4 halves) or 18 (V^T: 36 halves); V^T's columns are also
 * swizzled per row (attn_mfma_vt_col) so that the transposing writes spread
 * over the banks.
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

/* Two f32 lanes: gfx90a / gfx942 multiply and add them in one packed
 * instruction (v_pk_mul_f32, v_pk_fma_f32, v_pk_add_f32). */
typedef float greta_v2f __attribute__((ext_vector_type(2)));

/* Buffer loads (clang >= 19): a resource of `bytes` from p, whose loads at
 * byte offsets past `bytes` return zeros. Word 3 0x00020000: a 32-bit data
 * format, as gfx9's untyped buffer loads need (what AMD's libraries use on
 * gfx90a and gfx942). */
#if __has_builtin(__builtin_amdgcn_make_buffer_rsrc) && __has_builtin(__builtin_amdgcn_raw_buffer_load_b128)
#define GRETA_AMD_BUFFER_LOADS 1
GRETA_INLINE __amdgpu_buffer_rsrc_t greta_amd_buffer(const void *p, int bytes) {
  return __builtin_amdgcn_make_buffer_rsrc((void *)p, 0, bytes, 0x00020000);
}
GRETA_INLINE greta_u4 greta_amd_buffer_load16(__amdgpu_buffer_rsrc_t r, unsigned int off) {
  typedef unsigned int u4v __attribute__((ext_vector_type(4)));
  const u4v v = __builtin_amdgcn_raw_buffer_load_b128(r, (int)off, 0, 0);
  return (greta_u4){v.x, v.y, v.z, v.w};
}
#else
#define GRETA_AMD_BUFFER_LOADS 0
#endif

/* One key tile's K and V rows as 16-byte chunks, thread tid's share. */
template <int D, int BKV, int NT>
struct greta_attn_mfma_rows {
  enum { CPR = D / 8, CHUNKS = BKV * CPR, PER_THREAD = (CHUNKS + NT - 1) / NT };
  greta_u4 k[PER_THREAD], v[PER_THREAD];
};

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, int DT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_attention_mfma(const int *params, const float *q, const void *kc,
                                       const void *vc, void *out, float scale) {
  typedef greta_mfma32<DT> F;
  typedef typename F::lds_t L;
  typedef typename F::frag_t V4;
  static_assert(DT != GRETA_W_F32, "f32 caches take greta_attention");
  static_assert(D % 32 == 0, "head_dim a multiple of 32");
  const int NT = GRETA_ATTN_MFMA_NT, NW = NT / GRETA_WAVE, BQ = 32 * NW, BKV = GRETA_ATTN_MFMA_KEYS;
  static_assert(BKV == 32, "a key tile is one 32 x 32 S^T block");
  const int LDK = D + 4, LDV = BKV + 4;
  typedef greta_attn_mfma_rows<D, BKV, NT> Rows;
  __shared__ __attribute__((aligned(16))) L Ks[BKV * LDK];
  __shared__ __attribute__((aligned(16))) L Vt[D * LDV];

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
  /* Tiles below whole_hi hold keys <= pos + t0 only: no row masks them. */
  int whole_hi = (pos + t0 + 1) / BKV * BKV;
  if (whole_hi > block_hi) whole_hi = block_hi / BKV * BKV;
  const float scale2 = scale * 1.4426950408889634f; /* scores in log2 units */

  /* The lane's query row t and Q^T's fragments: d = 8 kk + 4 (l / 32) + e. */
  const int t = tw + mfma32_f16_b_col(lane);
  V4 qf[D / 8];
#pragma unroll
  for (int kk = 0; kk < D / 8; kk++) {
    const float *qr = q + ((greta_i64)t * H + h) * D + 8 * kk + mfma32_f16_b_k(lane, 0);
    const bool ok = t < T;
    qf[kk] = (V4){F::to_lds(ok ? qr[0] : 0.f), F::to_lds(ok ? qr[1] : 0.f),
                  F::to_lds(ok ? qr[2] : 0.f), F::to_lds(ok ? qr[3] : 0.f)};
  }
  greta_v16f o[D / 32];
#pragma unroll
  for (int jb = 0; jb < D / 32; jb++)
#pragma unroll
    for (int r = 0; r < 16; r++) o[jb][r] = 0.f;
  float m = greta_neg_inf(); /* the running max, log2 units */
  greta_v2f lsum = {0.f, 0.f};

  /* Tile j0's rows into registers (raw cache bits; zeros past block_hi). */
  Rows rows;
  auto load = [&](int j0) __attribute__((always_inline)) {
    /* The tile's first row as a wave-uniform base, each chunk a 32-bit
     * offset from it; the rows past block_hi read as zeros. */
    const greta_i64 row_bytes = KVH * D * 2;
    const char *kt = (const char *)kc + j0 * row_bytes, *vt = (const char *)vc + j0 * row_bytes;
#if GRETA_AMD_BUFFER_LOADS
    /* Through buffer resources holding the tile's rows below block_hi:
     * base and size are scalars, and a load past the size returns zeros by
     * itself, so a load costs no VALU instruction and no branch. */
    const int rows_in = block_hi - j0 < BKV ? block_hi - j0 : BKV;
    const __amdgpu_buffer_rsrc_t kb = greta_amd_buffer(kt, rows_in * (int)row_bytes);
    const __amdgpu_buffer_rsrc_t vb = greta_amd_buffer(vt, rows_in * (int)row_bytes);
#endif
#pragma unroll
    for (int i = 0; i < Rows::PER_THREAD; i++) {
      const int idx = tid + NT * i, j = idx / Rows::CPR, c = idx % Rows::CPR;
      const unsigned int off = (unsigned int)(((j * (int)KVH + (int)g) * D + 8 * c) * 2);
      if (Rows::CHUNKS % NT != 0 && idx >= Rows::CHUNKS) break;
#if GRETA_AMD_BUFFER_LOADS
      rows.k[i] = greta_amd_buffer_load16(kb, off);
      rows.v[i] = greta_amd_buffer_load16(vb, off);
#else
      rows.k[i] = rows.v[i] = (greta_u4){0u, 0u, 0u, 0u};
      if (j0 + j < block_hi) {
        rows.k[i] = *(const greta_u4 *)(kt + off);
        rows.v[i] = *(const greta_u4 *)(vt + off);
      }
#endif
    }
  };
  /* ... and from registers into LDS: K as it is, V transposed. */
  auto store = [&]() __attribute__((always_inline)) {
#pragma unroll
    for (int i = 0; i < Rows::PER_THREAD; i++) {
      const int idx = tid + NT * i, j = idx / Rows::CPR, c = idx % Rows::CPR;
      if (Rows::CHUNKS % NT != 0 && idx >= Rows::CHUNKS) break;
      const greta_u4 kv = rows.k[i], vv = rows.v[i];
      unsigned int *kd = (unsigned int *)&Ks[j * LDK + 8 * c]; /* 8-byte aligned */
      kd[0] = kv.x, kd[1] = kv.y, kd[2] = kv.z, kd[3] = kv.w;
      const unsigned int vw[4] = {vv.x, vv.y, vv.z, vv.w};
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const unsigned short bits = (unsigned short)(vw[e / 2] >> (16 * (e & 1)));
        Vt[(8 * c + e) * LDV + attn_mfma_vt_col(8 * c + e, j)] = __builtin_bit_cast(L, bits);
      }
    }
  };
  /* One key tile for the wave's 32 queries; MASKED: keys past pos + t. */
  auto tile = [&](int j0, bool masked) __attribute__((always_inline)) {
    greta_v16f s;
#pragma unroll
    for (int r = 0; r < 16; r++) s[r] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) {
      const V4 kf = *(const V4 *)&Ks[mfma32_f16_a_row(lane) * LDK + 8 * kk + mfma32_f16_a_k(lane, 0)];
      F::mma(s, kf, qf[kk]);
    }
    if (masked) { /* register r holds key j0 + d_row(r); the lane's last is pos + t */
      const int last = pos + t - j0 - mfma32_d_row(lane, 0);
#pragma unroll
      for (int r = 0; r < 16; r++)
        if (mfma32_d_row(lane, r) - mfma32_d_row(lane, 0) > last) s[r] = greta_neg_inf();
    }
    /* The query's max over the tile: the lane's 16 keys, then lane l ^ 32's. */
    float mt = s[0];
#pragma unroll
    for (int r = 1; r < 16; r++) mt = __builtin_fmaxf(mt, s[r]); /* v_max_f32 */
    mt = __builtin_fmaxf(mt, greta_shfl_xor(mt, 32));
    const float mn = __builtin_fmaxf(m, mt * scale2); /* finite from key 0 on */
    const float alpha = greta_mfma_exp2(m - mn);
    m = mn;
    /* P^T's B fragments: registers 4 kk .. 4 kk + 3, as pairs of DT. */
    unsigned int pf[BKV / 8][2];
    greta_v2f ps = {0.f, 0.f};
#pragma unroll
    for (int r = 0; r < 16; r += 2) {
      const greta_v2f x = (greta_v2f){s[r], s[r + 1]} * scale2 - mn;
      const greta_v2f p = {greta_mfma_exp2(x.x), greta_mfma_exp2(x.y)};
      ps += p;
      pf[r / 4][r % 4 / 2] = F::pair(p.x, p.y); /* p is not NaN unless a score is */
    }
    lsum = lsum * alpha + ps;
#pragma unroll
    for (int jb = 0; jb < D / 32; jb++) o[jb] *= alpha;
#pragma unroll
    for (int kk = 0; kk < BKV / 8; kk++)
#pragma unroll
      for (int jb = 0; jb < D / 32; jb++) {
        const int d = 32 * jb + mfma32_f16_a_row(lane);
        const V4 vf = *(const V4 *)&Vt[d * LDV + attn_mfma_vt_col(d, 8 * kk + mfma32_f16_a_k(lane, 0))];
        F::mma(o[jb], vf, __builtin_bit_cast(V4, pf[kk]));
      }
  };

  /* Every wave stages its share of each tile; a wave whose rows all lie
   * past T, or (diagonal tiles) before the tile's first key, computes none. */
  const bool live = tw < T;
  load(0);
  int j0 = 0;
  for (; j0 < whole_hi; j0 += BKV) {
    greta_sync(); /* the previous tile's K and V are consumed */
    store();
    greta_sync();
    if (j0 + BKV < block_hi) load(j0 + BKV);
    if (live) tile(j0, false);
  }
  for (; j0 < block_hi; j0 += BKV) {
    greta_sync();
    store();
    greta_sync();
    if (j0 + BKV < block_hi) load(j0 + BKV);
    if (live && j0 <= pos + tw + 31) tile(j0, true);
  }

  /* The query's sum: the lane's keys and lane l ^ 32's; every row t < T has
   * seen key 0. */
  float l = lsum.x + lsum.y;
  l += greta_shfl_xor(l, 32);
  if (t < T) {
#pragma unroll
    for (int jb = 0; jb < D / 32; jb++)
#pragma unroll
      for (int r = 0; r < 16; r++)
        greta_store_w<OUT>(out, ((greta_i64)t * H + h) * D + 32 * jb + mfma32_d_row(lane, r), o[jb][r] / l);
  }
}
#endif /* GRETA_AMD */
