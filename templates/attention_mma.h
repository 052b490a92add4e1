/* Causal prefill attention on NVIDIA tensor cores (sm_80 and later): flash
 * attention with mma.sync.aligned.m16n8k16 over an f16 or bf16 KV cache.
 * Same contract as greta_attention (attention.h): q [T, H, D] f32, caches
 * [MAXSEQ, KVH, D] in DT, head h reads kv head h / (H / KVH) (no copy of K / V
 * per query head), token t attends cache rows 0 .. pos + t, score =
 * (q . k) * scale, out [T, H, D] f32.
 *
 * Why: greta_attention gives every query row a warp and does the dot
 * products with FMAs (0.355 ms per Llama-2-7B layer at T = 512, ~60x its
 * FLOP floor). Here (FlashAttention-2's decomposition) a block is 4 warps x
 * 16 query rows = 64 rows of one head, and both products run on the tensor
 * cores, with the m16n8k16 fragments of mma_layout.h
 * (g = lane / 4, t = lane % 4):
 *   S (16 queries x BKV keys) = Q K^T: D / 16 k-steps x BKV / 8 n-tiles.
 *     A = Q: the warp's Q fragments are read from q once, rounded to DT
 *     (cvt.rn) and kept in registers (D <= 128; for larger D they are parked
 *     in shared memory, each lane reading back only its own words).
 *     B = K^T, B[k = d][n = key] = K[key][d]: K staged as [key][D + 8] is
 *     "n-major, k contiguous"; ldmatrix.x4 (no .trans) gives the B registers
 *     of two key n-tiles per k-step.
 *   Online softmax on S's result registers: lane l holds rows g and g + 8,
 *     keys 8 j + 2t, + 1 of every n-tile j, so a row's max needs 2 xor
 *     shuffles (the 4 lanes of a group); the running sum l stays a per-lane
 *     partial sum (rescaled like O) and is reduced once at the end. Scores
 *     are kept in base 2 (s * scale * log2 e, exp2): one multiply less.
 *   O (16 x D) += P V, k = key: the result layout of n-tiles 2kk, 2kk + 1 is
 *     the A layout of k-step kk (A register r = result registers 2 (r % 2),
 *     2 (r % 2) + 1 of n-tile 2kk + r / 2: tests/test_mma_attention.c checks
 *     this element by element), so P goes from registers to the tensor cores
 *     (rounded to DT, cvt.rn.{f16,bf16}x2) without touching shared memory.
 *     B = V, B[k = key][n = d] = V[key][d]: V is staged as raw rows too, and
 *     ldmatrix.x4.trans gives the B registers of two d n-tiles per k-step.
 * Tiles: BKV = 64 keys (32 for D > 128: registers), K and V raw cache bits
 * copied global -> shared by cp.async (16 bytes, zero-filled past the
 * block's last row) into two buffers, the next tile in flight while this
 * one computes. Rows are LDK = D + 8 halves apart: D / 8 + 1 16-byte units,
 * odd, so the 8 rows of an ldmatrix phase fall in 8 distinct 16-byte bank
 * groups. Shared memory: GRETA_ATTN_MMA_SMEM_BYTES(D), dynamic (69 632 bytes
 * at D = 128: room for 3 blocks per H100 / H200 SM; ptxas gives the kernel
 * 237 registers there, so 2 blocks = 8 warps an SM).
 * Grid: x = H, y = ceil(T / 64); blocks with more rows of keys run first
 * (y is reversed), so the long diagonal blocks do not form the tail. Key
 * tiles run from row 0 to the block's last row; keys past a query's own
 * (or past MAXSEQ) are masked (score -inf, p 0); a warp skips a tile that
 * lies wholly after its last row.
 *
 * Per k-step a warp issues 1 ldmatrix.x4 per two mma (S and P V alike):
 * at D = 128 a tile is 64 + 64 mma per warp against 32 exp2 per lane.
 *
 * Precision: q and p are rounded to DT for the tensor cores (the cache's own
 * precision: 2^-11 relative for f16, 2^-8 for bf16), scores, sums and O are
 * f32. O accumulates in the same registers across key tiles (T / 16 mma deep:
 * the tensor cores' truncated f32 sums drift by ~1e-6 there, far below the
 * rounding of p).
 */

#if defined(GRETA_NVIDIA)
/* d += a b, one m16n8k16 with f32 accumulators; a: 4 registers of A, b0, b1
 * the two of B (mma_layout.h). */
template <int DT>
GRETA_INLINE void greta_mma_16816(float (&d)[4], const unsigned int (&a)[4], unsigned int b0,
                                  unsigned int b1) {
  if (DT == GRETA_W_BF16)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Four 8 x 8 matrices of 16-bit elements from shared memory: lane l gives
 * the address of row l % 8 of matrix l / 8, and receives in register j the
 * elements (l / 4, 2 (l % 4) + e) of matrix j (TRANS: of its transpose). */
template <bool TRANS>
GRETA_INLINE void greta_ldmatrix_x4(unsigned int addr, unsigned int (&r)[4]) {
  if (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* 2^x to ~2 ulp: the SFU's ex2 alone. exp2f adds a scaling around it for
 * results below 2^-126, which a softmax term that small does not need
 * (flushed to 0 it changes no sum at f32), and costs 3 more instructions
 * an element in the loop the warps must finish before the next S. */
GRETA_INLINE float greta_attn_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/* The larger of two scores: one max.f32 (greta_fmax's compare and select
 * is two); no score is NaN. */
GRETA_INLINE float greta_attn_max(float a, float b) { return fmaxf(a, b); }

/* The sum of v over the 4 lanes of a row's group. */
GRETA_INLINE float greta_attn_quad_sum(float v) {
  v += greta_shfl_xor(v, 1);
  return v + greta_shfl_xor(v, 2);
}

/* Which keys a lane's query rows see (greta_attention_mma and
 * greta_attention_wgmma): the step's rows sit at cache rows pos + t, the
 * block reads cache rows below block_hi. lim[rr]: the last key of the
 * lane's rows g and g + 8 of the warp whose first row is tw (rows past T
 * compute on q = 0 and are not stored). */
GRETA_INLINE void greta_attn_row_limits(greta_i64 pos, greta_i64 tw, int lane, greta_i64 block_hi,
                                        greta_i64 (&lim)[2]) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const greta_i64 last = pos + tw + lane / 4 + 8 * rr;
    lim[rr] = last < block_hi - 1 ? last : block_hi - 1;
  }
}

/* For rows first .. first + rows - 1 of T (a warp's, a warpgroup's): *hi,
 * the last key of the last valid row (-1: no row; tiles past it are
 * skipped), and *lo, the first row's last key (tiles up to it need no
 * mask). */
GRETA_INLINE void greta_attn_group_keys(greta_i64 T, greta_i64 pos, greta_i64 first, int rows,
                                        greta_i64 block_hi, greta_i64 *hi, greta_i64 *lo) {
  *hi = *lo = -1;
  if (first < T) {
    *hi = pos + (first + rows - 1 < T - 1 ? first + rows - 1 : T - 1);
    if (*hi > block_hi - 1) *hi = block_hi - 1;
    *lo = pos + first < block_hi - 1 ? pos + first : block_hi - 1;
  }
}

/* A key tile's scores (first key j0, BKV keys) in base 2, masked past
 * each row's last key (rows g, g + 8: result registers 0, 1 and 2, 3);
 * tiles that end by lo need no mask. */
template <int NS>
GRETA_INLINE void greta_attn_scale_mask(float (&s)[NS][4], float scale_log2, greta_i64 j0, greta_i64 lo,
                                        const greta_i64 (&lim)[2], int lane) {
#pragma unroll
  for (int j = 0; j < NS; j++)
#pragma unroll
    for (int c = 0; c < 4; c++) s[j][c] *= scale_log2;
  if (j0 + 8 * NS - 1 > lo) {
    const int rel[2] = {(int)(lim[0] - j0), (int)(lim[1] - j0)}; /* >= -BKV */
#pragma unroll
    for (int j = 0; j < NS; j++)
#pragma unroll
      for (int c = 0; c < 4; c++)
        if (8 * j + mma_d_col(lane, c) > rel[c / 2]) s[j][c] = greta_neg_inf();
  }
}

/* O / l into out [T, H, D] (OUT: f32, or a half type) for the lane's rows
 * g and g + 8 of the warp whose first row is tw, those past T dropped;
 * o[n][c]: d 8 n + mma_d_col(lane, c), row c / 2; l the lane's partial
 * sums, summed over the 4 lanes of a row's group here (every lane: the
 * shuffles are the warp's; every row t < T has seen key 0). */
template <int D, int OUT>
GRETA_INLINE void greta_attn_store_rows(const float (&o)[D / 8][4], const float (&l)[2], greta_i64 tw,
                                        int lane, greta_i64 T, greta_i64 H, greta_i64 h, void *out) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const float sum = greta_attn_quad_sum(l[rr]);
    const greta_i64 t = tw + mma_d_row(lane, 2 * rr);
    if (t < T) {
      const float inv = 1.f / sum;
#pragma unroll
      for (int n = 0; n < D / 8; n++) {
        const greta_i64 at = (t * H + h) * D + 8 * n + mma_d_col(lane, 0); /* even */
        if constexpr (OUT == GRETA_W_F32) {
          float *op = (float *)out + at; /* element-aligned */
          op[0] = o[n][2 * rr] * inv;
          op[1] = o[n][2 * rr + 1] * inv;
        } else { /* a half pair: 4-byte aligned */
          *(unsigned int *)((unsigned short *)out + at) =
              greta_pack_half2<OUT>(o[n][2 * rr] * inv, o[n][2 * rr + 1] * inv);
        }
      }
    }
  }
}

/* One key tile's online softmax on a lane's rows g and g + 8: s[j][c] (n-tile
 * j of 8 keys, result register c, row c / 2; scores in base 2, masked)
 * becomes p in place, the running max m and partial sum l advance, and
 * alpha[rr] is what row rr's O must be scaled by. A row's max is over the
 * 4 lanes of its group (2 xor shuffles); l stays the lane's partial sum
 * (greta_attention_mma, and the wgmma draft in bench/attention_prefill_bench.cu). */
template <int NS>
GRETA_INLINE void greta_attn_online_softmax(float (&s)[NS][4], float (&m)[2], float (&l)[2],
                                            float (&alpha)[2]) {
  float ms[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    float mt = greta_neg_inf();
#pragma unroll
    for (int j = 0; j < NS; j++) mt = greta_attn_max(mt, greta_attn_max(s[j][2 * rr], s[j][2 * rr + 1]));
    mt = greta_attn_max(mt, greta_shfl_xor(mt, 1));
    mt = greta_attn_max(mt, greta_shfl_xor(mt, 2));
    const float mn = greta_attn_max(m[rr], mt);
    /* Nothing seen yet (mn = -inf): subtract 0, so every p and alpha is
     * exp2(-inf) = 0 rather than NaN. */
    ms[rr] = mn == greta_neg_inf() ? 0.f : mn;
    alpha[rr] = greta_attn_exp2(m[rr] - ms[rr]);
    m[rr] = mn;
    l[rr] *= alpha[rr];
  }
#pragma unroll
  for (int j = 0; j < NS; j++)
#pragma unroll
    for (int c = 0; c < 4; c++) {
      const float p = greta_attn_exp2(s[j][c] - ms[c / 2]);
      l[c / 2] += p;
      s[j][c] = p;
    }
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, int DT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_attention_mma(const int *params, const float *q, const void *kc,
                                      const void *vc, void *out, float scale) {
  static_assert(DT == GRETA_W_F16 || DT == GRETA_W_BF16, "f32 caches take greta_attention");
  static_assert(D % 16 == 0 && D <= GRETA_ATTN_MAX_HEAD_DIM, "head_dim a multiple of 16, <= 256");
  const int NT = GRETA_ATTN_MMA_NT, NW = NT / 32, BQ = GRETA_ATTN_MMA_QUERIES;
  static_assert(BQ == 16 * NW, "16 query rows a warp");
  const int BKV = GRETA_ATTN_MMA_BKV(D), LDK = GRETA_ATTN_MMA_LDK(D);
  const bool QREG = GRETA_ATTN_MMA_QREG(D);
  const int KD = D / 16;   /* k-steps of S = Q K^T */
  const int NS = BKV / 8;  /* n-tiles of S (keys) */
  const int KP = BKV / 16; /* k-steps of O += P V */
  const int NO = D / 8;    /* n-tiles of O (d) */
  const int CPR = D / 8;   /* 16-byte chunks a cache row */
  const unsigned int TILE_BYTES = BKV * LDK * 2;
  static_assert(4 * BKV * LDK * 2 + (QREG ? 0 : NW * KD * 4 * 32 * 4) == GRETA_ATTN_MMA_SMEM_BYTES(D),
                "shared memory size: compiler/lower/kernel_select.c sets the launch's dynamic shared memory");
  extern __shared__ __align__(16) unsigned char greta_attn_mma_smem[];
  /* K buffers 0, 1, then V buffers 0, 1 ([BKV][LDK] halves each), then
   * (!QREG) the warps' Q fragments [NW][KD][4][32] words. */
  const unsigned int smem0 = (unsigned int)__cvta_generic_to_shared(greta_attn_mma_smem);

  const greta_i64 T = params[0], pos = params[1];
  const greta_i64 nqb = (T + BQ - 1) / BQ;
  if (greta_bid_y() >= nqb) return; /* whole block */
  const greta_i64 h = greta_bid_x(), g = h / (H / KVH);
  const greta_i64 t0 = (nqb - 1 - greta_bid_y()) * BQ;
  const int tid = greta_tid(), lane = greta_lane(), w = tid / 32;
  const greta_i64 tw = t0 + 16 * w; /* the warp's first query row */
  greta_i64 block_hi = pos + (t0 + BQ < T ? t0 + BQ : T); /* rows the block reads */
  if (block_hi > MAXSEQ) block_hi = MAXSEQ;
  greta_i64 lim[2], warp_hi, warp_lo;
  greta_attn_row_limits(pos, tw, lane, block_hi, lim);
  greta_attn_group_keys(T, pos, tw, 16, block_hi, &warp_hi, &warp_lo);

  /* Q fragments, k = d: register r of k-step kk holds row tw +
   * mma_a_row(lane, 2r), d = 16 kk + mma_a_k(lane, 2r) and the next d. */
  unsigned int qf[QREG ? KD : 1][4];
  unsigned int *const qs = (unsigned int *)(greta_attn_mma_smem + 4 * TILE_BYTES) + w * KD * 4 * 32;
#pragma unroll
  for (int kk = 0; kk < KD; kk++)
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const greta_i64 t = tw + mma_a_row(lane, 2 * r);
      /* Two 4-byte loads: plan offsets are only element-aligned (read once). */
      float2 v = make_float2(0.f, 0.f);
      if (t < T) {
        const float *qp = &q[(t * H + h) * D + 16 * kk + mma_a_k(lane, 2 * r)];
        v = make_float2(qp[0], qp[1]);
      }
      const unsigned int u = greta_pack_half2<DT>(v.x, v.y);
      if (QREG) qf[QREG ? kk : 0][r] = u;
      else qs[(kk * 4 + r) * 32 + lane] = u;
    }

  /* Stages cache rows j0 .. j0 + BKV - 1 of kv head g into buffer buf (raw
   * bits; rows >= block_hi as zeros). */
  auto load_tile = [&](greta_i64 j0, unsigned int buf) {
#pragma unroll
    for (int e = 0; e < (BKV * CPR + NT - 1) / NT; e++) {
      const int idx = tid + NT * e;
      if (BKV * CPR % NT != 0 && idx >= BKV * CPR) break;
      const int j = idx / CPR, c = idx % CPR;
      const greta_i64 r = j0 + j;
      const bool ok = r < block_hi;
      const greta_i64 off = ok ? ((r * KVH + g) * D + 8 * c) * 2 : 0;
      const unsigned int dst = (unsigned int)(j * LDK + 8 * c) * 2;
      const unsigned int kdst = smem0 + buf * TILE_BYTES + dst, vdst = kdst + 2 * TILE_BYTES;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(kdst),
                   "l"((const char *)kc + off), "r"(ok ? 16 : 0));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(vdst),
                   "l"((const char *)vc + off), "r"(ok ? 16 : 0));
    }
  };

  /* ldmatrix rows of this lane (matrix m = lane / 8, row lane % 8), bytes
   * into a buffer. K (S's B): key 8 (m / 2) + lane % 8, d 8 (m % 2) + 16 kk,
   * two key n-tiles per load. V (P V's B, transposed): key 8 (m % 2) +
   * lane % 8 + 16 kk, d 8 (m / 2), two d n-tiles per load. */
  const int lm = lane / 8, lr = lane % 8;
  const unsigned int k_lane = (unsigned int)((8 * (lm / 2) + lr) * LDK + 8 * (lm % 2)) * 2;
  const unsigned int v_lane = (unsigned int)((8 * (lm % 2) + lr) * LDK + 8 * (lm / 2)) * 2;

  float o[NO][4], m[2], l[2];
#pragma unroll
  for (int n = 0; n < NO; n++)
#pragma unroll
    for (int c = 0; c < 4; c++) o[n][c] = 0.f;
#pragma unroll
  for (int rr = 0; rr < 2; rr++) m[rr] = greta_neg_inf(), l[rr] = 0.f;
  const float scale_log2 = scale * 1.44269504088896341f;

  const greta_i64 ntiles = (block_hi + BKV - 1) / BKV;
  load_tile(0, 0);
  asm volatile("cp.async.commit_group;" ::);
  for (greta_i64 it = 0; it < ntiles; it++) {
    const unsigned int buf = (unsigned int)(it & 1);
    if (it + 1 < ntiles) load_tile((it + 1) * BKV, buf ^ 1u);
    asm volatile("cp.async.commit_group;" ::); /* maybe empty: wait_group 1 below holds */
    asm volatile("cp.async.wait_group 1;" ::: "memory");
    greta_sync(); /* tile it is in shared memory, every thread's copies */
    const greta_i64 j0 = it * BKV;
    if (j0 <= warp_hi) {
      const unsigned int kb = smem0 + buf * TILE_BYTES + k_lane;
      const unsigned int vb = smem0 + (2 + buf) * TILE_BYTES + v_lane;
      /* S = Q K^T. */
      float s[NS][4];
#pragma unroll
      for (int j = 0; j < NS; j++)
#pragma unroll
        for (int c = 0; c < 4; c++) s[j][c] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KD; kk++) {
        unsigned int a[4];
#pragma unroll
        for (int r = 0; r < 4; r++) a[r] = QREG ? qf[QREG ? kk : 0][r] : qs[(kk * 4 + r) * 32 + lane];
#pragma unroll
        for (int jp = 0; jp < NS / 2; jp++) {
          unsigned int b[4];
          greta_ldmatrix_x4<false>(kb + (unsigned int)(16 * jp * LDK + 16 * kk) * 2, b);
          greta_mma_16816<DT>(s[2 * jp], a, b[0], b[1]);
          greta_mma_16816<DT>(s[2 * jp + 1], a, b[2], b[3]);
        }
      }
      greta_attn_scale_mask<NS>(s, scale_log2, j0, warp_lo, lim, lane);
      float alpha[2];
      greta_attn_online_softmax<NS>(s, m, l, alpha);
#pragma unroll
      for (int n = 0; n < NO; n++)
#pragma unroll
        for (int c = 0; c < 4; c++) o[n][c] *= alpha[c / 2];
      /* O += P V: P's A registers are S's result registers, rounded. */
#pragma unroll
      for (int kk = 0; kk < KP; kk++) {
        unsigned int a[4];
#pragma unroll
        for (int r = 0; r < 4; r++)
          a[r] = greta_pack_half2<DT>(s[2 * kk + r / 2][2 * (r % 2)], s[2 * kk + r / 2][2 * (r % 2) + 1]);
#pragma unroll
        for (int np = 0; np < NO / 2; np++) {
          unsigned int b[4];
          greta_ldmatrix_x4<true>(vb + (unsigned int)(16 * kk * LDK + 16 * np) * 2, b);
          greta_mma_16816<DT>(o[2 * np], a, b[0], b[1]);
          greta_mma_16816<DT>(o[2 * np + 1], a, b[2], b[3]);
        }
      }
    }
    greta_sync(); /* buffer buf is read before the next iteration refills it */
  }
  asm volatile("cp.async.wait_all;" ::: "memory");

  greta_attn_store_rows<D, OUT>(o, l, tw, lane, T, H, h, out);
}
#endif /* GRETA_NVIDIA */
