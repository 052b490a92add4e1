/* Causal prefill attention on Hopper's warpgroup MMA (sm_90a): flash
 * attention after FlashAttention 3's plan, for head_dim 128 over an f16 or
 * bf16 KV cache. Same contract and the same arithmetic as
 * greta_attention_mma (attention_mma.h: q and p rounded to DT, scores in
 * base 2, the online softmax of greta_attn_online_softmax, f32 sums), which
 * it replaces on sm_90a where head_dim is 128 (compiler/lower/kernel_select.c).
 *
 * Why: greta_attention_mma's mma.sync reaches about 210 TFLOP/s at T = 2048
 * on the H200, cuDNN's wgmma kernel about 390 (docs/benchmarks.md): warp
 * MMAs read every operand through registers and ldmatrix, a warpgroup MMA
 * reads K and V straight from shared memory and runs while the warps do
 * the softmax.
 *
 * A block is 3 warpgroups for 128 query rows of one head:
 *   warpgroup 0, the producer, gives back registers (setmaxnreg.dec) and
 *     copies key tiles (BKV = 128 cache rows) of K and of V into two rings
 *     of GRETA_ATTN_WGMMA_STAGES slots by cp.async, each slot completing on
 *     its "full" mbarrier (cp.async.mbarrier.arrive: when the copies land)
 *     after waiting on its "empty" one. K's slot of a tile goes back as soon
 *     as S has read it, a tile before V's, so the next K tiles are in
 *     flight while the consumers still hold two V tiles;
 *   warpgroups 1 and 2, the consumers (setmaxnreg.inc), take rows 0 .. 63
 *     and 64 .. 127. Each first rounds its Q rows to DT into shared memory,
 *     then for key tile j:
 *       S = Q K_j^T:  8 x wgmma m64n128k16, A = Q and B = K by descriptor
 *                     (K-major, both [rows][64 d] halves, 128-byte swizzle);
 *       O += P_{j-1} V_{j-1}: 8 x wgmma m64n128k16, A = P in registers (S's
 *                     accumulators, rounded: their layout is the A
 *                     fragment's), B = V by an MN-major descriptor: V's
 *                     cache rows are [key][d], d contiguous, so V lands in
 *                     shared memory exactly as K does and nothing is
 *                     transposed;
 *     both issued together, so the tensor cores run P V while the warps
 *     turn S_j into P_j; then O is rescaled and V's slot j - 1 released.
 * Shared memory (GRETA_ATTN_WGMMA_SMEM_BYTES): Q (2 x 16 KiB), the rings (K
 * and V, 32 KiB each a slot), the barriers; 1024-aligned (the swizzle's
 * repeat). One block an SM. The producer keeps 56 registers (its copies of
 * two rings spill at 40), the consumers take 224: 56 + 2 x 224 is the
 * block's 3 x 168 (greta_wg3_producer_regs).
 * Grid: x = H, y = ceil(T / 128), long blocks first, as greta_attention_mma.
 * A consumer skips the key tiles after its last row (at most the block's
 * last), still taking them off the ring so that the producer never waits on
 * it; a consumer with no rows (past T) only takes them off.
 */

#if defined(GRETA_HAVE_WGMMA)
/* d (m64n128, f32) += a (registers, m64k16) b (MN-major, by descriptor). */
#define GRETA_ATTN_WGMMA_PV(NAME, TYPE)                                                          \
  GRETA_INLINE void NAME(float *d, const unsigned int (&a)[4], unsigned long long b_desc) {    \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                  \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "               \
                 GRETA_WGMMA_REGS64 ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"           \
                 : GRETA_WGMMA_D64(d)                                                          \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(1)             \
                 : "memory");                                                                  \
  }
GRETA_ATTN_WGMMA_PV(greta_attn_wgmma_pv_f16, "f16")
GRETA_ATTN_WGMMA_PV(greta_attn_wgmma_pv_bf16, "bf16")
#undef GRETA_ATTN_WGMMA_PV

/* cp.async's copies of this thread so far arrive on mbarrier bar when done
 * (counting as one of its expected arrivals). */
GRETA_INLINE void greta_mbar_arrive_cp_async(unsigned int bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}
#endif

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, int DT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_attention_wgmma(const int *params, const float *q, const void *kc,
                                        const void *vc, void *out, float scale) {
#if defined(GRETA_HAVE_WGMMA)
  static_assert(DT == GRETA_W_F16 || DT == GRETA_W_BF16, "f32 caches take greta_attention");
  static_assert(D == 128, "greta_attention_wgmma: head_dim 128");
  enum { BQ = GRETA_ATTN_WGMMA_QUERIES, BKV = GRETA_ATTN_WGMMA_BKV, S = GRETA_ATTN_WGMMA_STAGES };
  enum { KD = D / 16, NS = BKV / 8, KP = BKV / 16, CPR = D / 8 };
  /* A [rows][64 d] half is rows x 128 bytes; a K or V tile two halves. */
  enum { Q_HALF = 64 * 128, Q_BYTES = 2 * Q_HALF, HALF = BKV * 128, TILE = 2 * HALF };
  static_assert(BQ == 128 && BKV * CPR % 128 == 0, "2 consumer warpgroups; whole chunks a thread");
  static_assert(1024 + 2 * Q_BYTES + 2 * S * TILE + 16 * S <= GRETA_ATTN_WGMMA_SMEM_BYTES,
                "shared memory: kernel_select.c sets the launch's dynamic shared memory");
  extern __shared__ __align__(16) unsigned char greta_attn_wgmma_smem[];
  const unsigned int base = ((unsigned int)__cvta_generic_to_shared(greta_attn_wgmma_smem) + 1023u) & ~1023u;
  /* K's slots and V's complete and free apart (a K slot goes back once S
   * has read it, a tile before its V): four barriers a slot, offsets from
   * base. */
  enum : unsigned int { KS = 2 * Q_BYTES, VS = KS + S * TILE, FULL_K = VS + S * TILE, FULL_V = FULL_K + 8 * S,
                        EMPTY_K = FULL_V + 8 * S, EMPTY_V = EMPTY_K + 8 * S };
  const unsigned int ks = base + KS, vs = base + VS;

  const greta_i64 T = params[0], pos = params[1];
  const greta_i64 nqb = (T + BQ - 1) / BQ;
  if (greta_bid_y() >= nqb) return; /* whole block */
  const greta_i64 h = greta_bid_x(), g = h / (H / KVH);
  const greta_i64 t0 = (nqb - 1 - greta_bid_y()) * BQ;
  greta_i64 block_hi = pos + (t0 + BQ < T ? t0 + BQ : T); /* cache rows the block reads */
  if (block_hi > MAXSEQ) block_hi = MAXSEQ;
  const int ntiles = (int)((block_hi + BKV - 1) / BKV);
  const int tid = greta_tid(), wg = tid >> 7, wt = tid & 127, lane = tid & 31;
  /* The producer copies two rings with 56 registers (they spill at 40); the
   * consumers hold S, P and O in 224. */
  enum { PRODUCER_REGS = 56, CONSUMER_REGS = 224 };

  if (tid == 0) {
    for (int s = 0; s < S; s++) {
      greta_mbar_init(base + FULL_K + 8 * s, 128); /* the producer's threads */
      greta_mbar_init(base + FULL_V + 8 * s, 128);
      greta_mbar_init(base + EMPTY_K + 8 * s, 8); /* the consumers' warps */
      greta_mbar_init(base + EMPTY_V + 8 * s, 8);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  greta_sync();

  if (wg == 0) {
    greta_wg3_producer_regs<PRODUCER_REGS, CONSUMER_REGS>();
    /* Chunk wt + 128 e of a tile (e < BKV * CPR / 128): row (wt + 128 e) / CPR,
     * 16-byte chunk wt % CPR; the copy's source and destination step by
     * 128 / CPR rows. */
    const int c = wt % CPR, j_first = wt / CPR;
    const unsigned int dst0 = (c / 8) * HALF + greta_wgmma_swz(j_first, 8 * (c % 8));
    /* Tile it of one cache into its ring; the slot's full barrier completes when the copies land. */
    auto copy_tile = [&](int it, unsigned int ring, const void *cache, unsigned int full, unsigned int empty) {
      const int slot = it % S;
      greta_mbar_wait(base + empty + 8 * slot, ((unsigned int)(it / S) & 1u) ^ 1u);
#pragma unroll
      for (int e = 0; e < BKV * CPR / 128; e++) {
        const int j = j_first + (128 / CPR) * e;
        const greta_i64 r = (greta_i64)it * BKV + j;
        const bool ok = r < block_hi; /* past it: zeros (P is 0 there, V must not be NaN) */
        const greta_i64 off = ok ? ((r * KVH + g) * D + 8 * c) * 2 : 0;
        /* (128 / CPR) e rows further: the same swizzle phase, e (128 / CPR) * 128 bytes on */
        const unsigned int dst = slot * TILE + dst0 + (unsigned int)e * (128 / CPR) * 128;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(ring + dst),
                     "l"((const char *)cache + off), "r"(ok ? 16 : 0));
      }
      greta_mbar_arrive_cp_async(base + full + 8 * slot);
    };
#pragma unroll 1
    for (int it = 0; it < ntiles; it++) {
      copy_tile(it, ks, kc, FULL_K, EMPTY_K);
      copy_tile(it, vs, vc, FULL_V, EMPTY_V);
    }
    asm volatile("cp.async.wait_all;" ::: "memory");
    return;
  }

  greta_wg3_consumer_regs<PRODUCER_REGS, CONSUMER_REGS>();
  const int cw = wg - 1, w = wt >> 5;
  const greta_i64 twg = t0 + 64 * cw, tw = twg + 16 * w; /* the warpgroup's, the warp's first row */
  /* The warpgroup's last key and first row's key: uniform over it, as its
   * wgmma must be. */
  greta_i64 lim[2], wg_hi, wg_lo;
  greta_attn_row_limits(pos, tw, lane, block_hi, lim);
  greta_attn_group_keys(T, pos, twg, 64, block_hi, &wg_hi, &wg_lo);
  const int wg_tiles = wg_hi < 0 ? 0 : (int)(wg_hi / BKV) + 1;

  /* Q's 64 rows, rounded to DT, as two K-major [64][64 d] halves: chunk
   * wt + 128 e is row (wt + 128 e) / CPR, d 8 (wt % CPR) .. + 7. */
  const unsigned int qs = base + cw * Q_BYTES;
#pragma unroll
  for (int e = 0; e < 64 * CPR / 128; e++) {
    const int idx = wt + 128 * e, r = idx / CPR, c = idx % CPR;
    const greta_i64 t = twg + r;
    float v[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (t < T) {
      const float *qp = &q[(t * H + h) * D + 8 * c]; /* element-aligned: scalar loads */
#pragma unroll
      for (int i = 0; i < 8; i++) v[i] = qp[i];
    }
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};" ::"r"(qs + (c / 8) * Q_HALF +
                                                                   greta_wgmma_swz(r, 8 * (c % 8))),
                 "r"(greta_pack_half2<DT>(v[0], v[1])), "r"(greta_pack_half2<DT>(v[2], v[3])),
                 "r"(greta_pack_half2<DT>(v[4], v[5])), "r"(greta_pack_half2<DT>(v[6], v[7]))
                 : "memory");
  }
  /* Q's generic-proxy writes, seen by the warpgroup's wgmma. */
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  asm volatile("bar.sync %0, 128;" ::"r"(1 + cw) : "memory");

  const unsigned long long q_desc = greta_wgmma_desc(qs);
  float o[D / 8][4], s[NS][4], m[2], l[2]; /* o as greta_attention_mma's: d n-tile, register */
  unsigned int pa[KP][4];
#pragma unroll
  for (int i = 0; i < D / 2; i++) o[i / 4][i % 4] = 0.f;
#pragma unroll
  for (int rr = 0; rr < 2; rr++) m[rr] = greta_neg_inf(), l[rr] = 0.f;
  const float scale_log2 = scale * 1.44269504088896341f;

  /* Waits for tile it's slot of one ring (the copies; the caller then
   * fences them into the async proxy), and gives a slot back. */
  auto wait_full = [&](unsigned int full, int it) {
    greta_mbar_wait(base + full + 8 * (it % S), (unsigned int)(it / S) & 1u);
  };
  auto release = [&](unsigned int empty, int it) {
    __syncwarp();
    if (lane == 0) greta_mbar_arrive(base + empty + 8 * (it % S));
  };
  auto fence_copies = [] { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); };
  /* S = Q K_it^T into s (a fresh accumulator); one wgmma group. */
  auto issue_s = [&](int it) {
    const unsigned int kt = ks + (it % S) * TILE;
#pragma unroll
    for (int kk = 0; kk < KD; kk++) {
      const unsigned long long a = greta_wgmma_desc_add(q_desc, (kk / 4) * Q_HALF + 32 * (kk % 4));
      const unsigned long long b = greta_wgmma_desc(kt + (kk / 4) * HALF + 32 * (kk % 4));
      if (DT == GRETA_W_BF16) greta_wgmma_m64n128k16_bf16(&s[0][0], a, b, kk > 0);
      else greta_wgmma_m64n128k16_f16(&s[0][0], a, b, kk > 0);
    }
    greta_wgmma_commit();
  };
  /* O += P V_it; one wgmma group. V's 16-key slices are 2048 bytes apart,
   * its two d halves HALF. */
  auto issue_pv = [&](int it) {
    const unsigned int vt = vs + (it % S) * TILE;
#pragma unroll
    for (int kk = 0; kk < KP; kk++) {
      const unsigned long long b = greta_wgmma_desc_mn(vt + 16 * 128 * kk, HALF);
      if (DT == GRETA_W_BF16) greta_attn_wgmma_pv_bf16(&o[0][0], pa[kk], b);
      else greta_attn_wgmma_pv_f16(&o[0][0], pa[kk], b);
    }
    greta_wgmma_commit();
  };
  /* s (tile it's scores) -> P in s, the running max and sum advanced; the
   * factor O must take. */
  auto softmax = [&](int it, float (&alpha)[2]) {
#pragma unroll
    for (int j = 0; j < NS; j++)
#pragma unroll
      for (int c = 0; c < 4; c++) greta_wgmma_pin(s[j][c]);
    greta_attn_scale_mask<NS>(s, scale_log2, (greta_i64)it * BKV, wg_lo, lim, lane);
    greta_attn_online_softmax<NS>(s, m, l, alpha);
  };
  /* P's A registers from s, before the wgmma fence (a register written
   * between a group's wgmma makes ptxas wait there). */
  auto pack_p = [&]() {
#pragma unroll
    for (int kk = 0; kk < KP; kk++)
#pragma unroll
      for (int r = 0; r < 4; r++)
        pa[kk][r] = greta_pack_half2<DT>(s[2 * kk + r / 2][2 * (r % 2)], s[2 * kk + r / 2][2 * (r % 2) + 1]);
  };

  if (wg_tiles > 0) {
    float alpha[2];
    wait_full(FULL_K, 0);
    fence_copies();
    greta_wgmma_fence();
    issue_s(0);
    greta_wgmma_wait<0>();
    release(EMPTY_K, 0);
    softmax(0, alpha); /* O is 0: alpha is not needed */
    pack_p();
#pragma unroll 1
    for (int it = 1; it < wg_tiles; it++) {
      wait_full(FULL_K, it);
      wait_full(FULL_V, it - 1);
      fence_copies();
#pragma unroll
      for (int i = 0; i < D / 2; i++) greta_wgmma_pin(o[i / 4][i % 4]);
      greta_wgmma_fence();
      issue_s(it);
      issue_pv(it - 1);
      greta_wgmma_wait<1>(); /* S_it; P_{it-1} V_{it-1} may still run */
      release(EMPTY_K, it);
      softmax(it, alpha);
      greta_wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < D / 2; i++) {
        greta_wgmma_pin(o[i / 4][i % 4]);
        o[i / 4][i % 4] *= alpha[(i % 4) / 2];
      }
      release(EMPTY_V, it - 1);
      pack_p();
    }
    wait_full(FULL_V, wg_tiles - 1);
    fence_copies();
    greta_wgmma_fence();
    issue_pv(wg_tiles - 1);
    greta_wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < D / 2; i++) greta_wgmma_pin(o[i / 4][i % 4]);
    release(EMPTY_V, wg_tiles - 1);
  }
  /* Tiles this warpgroup has no rows for: off the rings all the same. */
#pragma unroll 1
  for (int it = wg_tiles; it < ntiles; it++) {
    wait_full(FULL_K, it);
    release(EMPTY_K, it);
    wait_full(FULL_V, it);
    release(EMPTY_V, it);
  }

  greta_attn_store_rows<D, OUT>(o, l, tw, lane, T, H, h, out);
#else
  (void)params, (void)q, (void)kc, (void)vc, (void)out, (void)scale;
#endif /* GRETA_HAVE_WGMMA */
}
