/* NVIDIA matrix-core GEMMs for prefill: greta_gemm_mma (mma.sync tiles,
 * 3xTF32 for f32 weights) and greta_gemm_mma_big (large T). The tile shapes
 * and shared-memory sizes are in launch_constants.h; gemm.h holds the AMD
 * MFMA / FP32 tiles and says how the two relate. */
#if defined(GRETA_NVIDIA)
/* ---- NVIDIA matrix cores ---------------------------------------------------
 *
 * Written for f16 / bf16 weights (numbers below); f32 weights use the same
 * tiling with the 3xTF32 fragment greta_mma_frag<GRETA_W_F32> (BK = 64 f32,
 * 54 KiB of shared memory filled by cp.async, the same 8 k-steps per stage).
 *
 * Block tile 64 (rows of x, grid y = ceil(M / 64)) x 32 (columns, grid x =
 * ceil(N / 32)), 256 threads = 8 warps, K in stages of BK = 128. Each stage's
 * A (64 x 128 of x, converted to the weight's half type on its way into
 * shared memory: the "half types in their own precision" contract of the AMD
 * path) and B (32 x 128, raw weight bits, stored n-major so both operands are
 * "row, k") are read into registers while the previous stage computes, then
 * written to the other of two shared-memory buffers (dynamic, 52 KiB).
 *
 * Warp roles are chosen at run time from the rows the block really has
 * (r = min(64, M - m0)), so that small T fills the machine with K-parallel
 * work instead of multiplying padding rows:
 *   r <= 16: 1 warp row  x 8 K-slices;  r <= 32: 2 x 4;  else 4 x 2.
 * A warp owns a 16 x 32 piece of the tile (one m16 A fragment, four n8 B
 * fragments, 4 mma per k16, 16 f32 accumulators) and the k16 steps s of each
 * stage with s % slices == its slice. The slices' partial tiles are summed
 * through shared memory in slice order at the end: deterministic, and every
 * sum is still f32.
 *
 * Why 64 x 32: the block count. N = 4096 gives 128 blocks for the 132 SMs of
 * an H100 at T <= 64 (64 x 64 tiles gave 64); N = 11008 gives 344. At small T
 * the GEMM streams the weights once (K * N * 2 bytes) and x from L2; a block
 * keeps one stage (8 KiB of B, up to 32 KiB of x) in flight. At T = 512 the
 * tile does 2 * 64 * 32 flops per (64 * 4 + 32 * 2) bytes read = 12.8 flop/B
 * from L2; the matrix cores are not the limit there.
 *
 * Fragment loads are 32-bit shared-memory reads through mma_layout.h; rows
 * are LDK = 136 halves (68 words) apart, so the 8 row groups of a fragment
 * load land on 8 disjoint sets of 4 banks (no conflicts).
 */

/* A warp's fragments for a 16 x 32 piece of the tile, one interface per
 * weight type (the tiling below uses nothing else):
 *   lds_t          element type of both operands in shared memory (B keeps
 *                  the weight's raw bits: global and shared types agree);
 *   BK, LDK, KSTEP stage depth, row pitch (elements) and k per instruction;
 *   to_lds(v)      one x value on its way into shared memory;
 *   store_x4(p, v) four consecutive x values (p 8- or 16-byte aligned);
 *   ASYNC          1: VEC stages go global -> shared by cp.async (raw
 *                  copies, no staging registers), 0: through registers;
 *   zero(part), begin_stage(), load_a(As, row0, k0), load_b(Bs, k0), mma(),
 *   end_stage() (once per stage, around its k steps), finish(part): the
 *   warp's result into its partial tile part [16][PART_LD] (mma_d_row /
 *   mma_d_col), PART_OFFSET bytes into shared memory.
 * Shared memory: 2 * (64 + 32) * LDK * sizeof(lds_t) bytes of stages, 52 224
 * (halves, GRETA_MMA_SMEM_BYTES: partial tiles reuse them), 55 296 (f32) +
 * 20 480 of partial tiles (GRETA_MMA_F32_SMEM_BYTES). */
template <int DT>
struct greta_mma_frag {
  typedef unsigned short lds_t;
  enum { BK = GRETA_MMA_BK, LDK = GRETA_MMA_LDK, KSTEP = GRETA_MMA_K, ASYNC = 0 };
  enum { PART_OFFSET = 0, PART_LD = GRETA_MMA_BN }; /* partial tiles over the stages */
  unsigned int a[4], b[4][2];
  float acc[4][4];
  static GRETA_METHOD lds_t to_lds(float v) {
    unsigned short h;
    if (DT == GRETA_W_BF16) asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
    else asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
  }
  static GRETA_METHOD void store_x4(lds_t *p, float4 v) {
    unsigned int lo = to_lds(v.x) | (unsigned int)to_lds(v.y) << 16;
    unsigned int hi = to_lds(v.z) | (unsigned int)to_lds(v.w) << 16;
    *(uint2 *)p = make_uint2(lo, hi);
  }
  GRETA_METHOD void zero(float *) {
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) acc[j][i] = 0.f;
  }
  GRETA_METHOD void begin_stage() {}
  GRETA_METHOD void end_stage() {}
  /* The warp's partial tile [16][PART_LD], after the last stage's barrier. */
  GRETA_METHOD void finish(float *part) {
    int lane = greta_lane();
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++)
        part[mma_d_row(lane, i) * PART_LD + j * GRETA_MMA_N + mma_d_col(lane, i)] = acc[j][i];
  }
  /* As: rows m (row0 .. row0 + 15), LDK apart; k0: first k. */
  GRETA_METHOD void load_a(const lds_t *As, int row0, int k0) {
    int lane = greta_lane();
    for (int r = 0; r < 4; r++)
      a[r] = *(const unsigned int *)&As[(row0 + mma_a_row(lane, 2 * r)) * LDK + k0 +
                                        mma_a_k(lane, 2 * r)];
  }
  /* Bs: rows n (0 .. 31), LDK apart. */
  GRETA_METHOD void load_b(const lds_t *Bs, int k0) {
    int lane = greta_lane();
    for (int j = 0; j < 4; j++)
      for (int r = 0; r < 2; r++)
        b[j][r] = *(const unsigned int *)&Bs[(j * GRETA_MMA_N + mma_b_col(lane)) * LDK + k0 +
                                             mma_b_k(lane, 2 * r)];
  }
  GRETA_METHOD void mma() {
    for (int j = 0; j < 4; j++) {
      if (DT == GRETA_W_BF16)
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};"
            : "+f"(acc[j][0]), "+f"(acc[j][1]), "+f"(acc[j][2]), "+f"(acc[j][3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[j][0]), "r"(b[j][1]));
      else
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};"
            : "+f"(acc[j][0]), "+f"(acc[j][1]), "+f"(acc[j][2]), "+f"(acc[j][3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[j][0]), "r"(b[j][1]));
    }
  }
};

/* f32 weights: 3xTF32 on mma.sync m16n8k8 .tf32. Every f32 operand v is
 * split into big = tf32(v) (cvt.rna: 10 stored mantissa bits) and
 * small = tf32(v - big) (v - big is exact in f32), and each k8 step adds
 * small*big + big*small + big*big, small terms first (small*small is below
 * f32 rounding). v is then carried to ~22 significant bits, so a product's
 * error is ~3 * 2^-22 of |a b|: the f32 reference within ~1e-6, where a
 * single TF32 product is off by ~2^-11.
 *
 * Accumulation: the tensor cores do not round their f32 sums to nearest
 * (measured on the H100: a whole-K chain of mma into one accumulator drifted
 * to 6e-5 of the 7B block's output, K = 11008), so each stage's products go
 * into a fresh accumulator (`stage`, at most 3 * 8 mma deep) that is then
 * added to the running sum with ordinary f32 adds (end_stage).
 *
 * Data: x and B stay f32 in shared memory (BK = 64; rows LDK = 72 words
 * apart, 8 mod 32, for the 64-bit fragment loads of mma_tf32_k_perm), copied
 * there by cp.async (ASYNC: no staging registers, no conversion to do); the
 * split is done on the fragment in registers. Not inf-safe: an infinite
 * operand gives NaN (inf - inf in the split), where FP32 FMA would give inf. */
template <>
struct greta_mma_frag<GRETA_W_F32> {
  typedef float lds_t;
  enum { BK = 64, LDK = 72, KSTEP = GRETA_MMA_TF32_K, ASYNC = 1 };
  /* Partial tiles after the stages, rows 40 words apart (8 mod 32: a
   * half-warp's 64-bit accesses hit 32 distinct banks). */
  enum { PART_OFFSET = 2 * (GRETA_MMA_BM + GRETA_MMA_BN) * LDK * 4, PART_LD = 40 };
  unsigned int a_big[4], a_small[4];
  const float *bq; /* this lane's B pair of n8 block 0 */
  float *part_;    /* the warp's partial tile: the running sum */
  float stage[4][4];
  static GRETA_METHOD lds_t to_lds(float v) { return v; }
  static GRETA_METHOD void store_x4(lds_t *p, float4 v) { *(float4 *)p = v; }
  static GRETA_METHOD void split(float v, unsigned int &big, unsigned int &small) {
    greta_tf32_split(v, big, small);
  }
  /* The running sum lives in the warp's partial tile (each lane its own 16
   * elements, result pairs i, i + 1 side by side): 16 fewer registers. */
  GRETA_METHOD float2 *part_pair(int j, int h) {
    int lane = greta_lane();
    return (float2 *)&part_[mma_d_row(lane, 2 * h) * PART_LD + j * GRETA_MMA_N + mma_d_col(lane, 2 * h)];
  }
  GRETA_METHOD void zero(float *part) {
    part_ = part;
    for (int j = 0; j < 4; j++)
      for (int h = 0; h < 2; h++) *part_pair(j, h) = make_float2(0.f, 0.f);
  }
  GRETA_METHOD void begin_stage() {
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) stage[j][i] = 0.f;
  }
  GRETA_METHOD void end_stage() {
    for (int j = 0; j < 4; j++)
      for (int h = 0; h < 2; h++) {
        float2 *p = part_pair(j, h), v = *p;
        v.x += stage[j][2 * h];
        v.y += stage[j][2 * h + 1];
        *p = v;
      }
  }
  GRETA_METHOD void finish(float *) {}
  /* Elements h and h + 2 (rows g + 8h, k t and t + 4) are stored side by side. */
  GRETA_METHOD void load_a(const lds_t *As, int row0, int k0) {
    int lane = greta_lane();
    for (int h = 0; h < 2; h++) {
      float2 v = *(const float2 *)&As[(row0 + mma_tf32_a_row(lane, h)) * LDK + k0 +
                                      mma_tf32_k_perm(mma_tf32_a_k(lane, h))];
      split(v.x, a_big[h], a_small[h]);
      split(v.y, a_big[h + 2], a_small[h + 2]);
    }
  }
  /* B is read and split one n8 block at a time inside mma(): 4 live B
   * registers instead of 16. */
  GRETA_METHOD void load_b(const lds_t *Bs, int k0) {
    bq = &Bs[mma_tf32_b_col(greta_lane()) * LDK + k0 + mma_tf32_k_perm(mma_tf32_b_k(greta_lane(), 0))];
  }
  static GRETA_METHOD void mma1(float *d, const unsigned int *a, const unsigned int *b) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  GRETA_METHOD void mma() {
    for (int j = 0; j < 4; j++) {
      unsigned int b_big[2], b_small[2];
      float2 v = *(const float2 *)&bq[j * GRETA_MMA_N * LDK];
      split(v.x, b_big[0], b_small[0]);
      split(v.y, b_big[1], b_small[1]);
      mma1(stage[j], a_small, b_big);
      mma1(stage[j], a_big, b_small);
      mma1(stage[j], a_big, b_big);
    }
  }
};

/* Warp roles of a block with `rows` valid rows (see above). */
GRETA_INLINE int greta_mma_warp_rows(greta_i64 rows) { return rows <= 16 ? 1 : rows <= 32 ? 2 : 4; }

/* The main loop; VEC: 16-byte global loads (TRANS, rows of B a whole number
 * of 16 bytes, x and b 16-byte aligned: checked by the caller). XH: x holds
 * the weight's half type already (its producer rounded it), copied raw.
 * PAIRS (gemm.h's paired epilogues, G = 16): the tile's 32 columns are 16
 * pairs of the virtual weight, paired through the partial tiles. */
template <int DT, greta_i64 N, greta_i64 K, int TRANS, int RES, int VEC, int XH,
          class PAIRS = greta_no_pairs>
GRETA_INLINE void greta_gemm_mma_run(const void *x, const void *b, void *out, const float *res,
                                     greta_i64 M, greta_i64 m0, greta_i64 n0,
                                     PAIRS pairs = PAIRS()) {
  typedef greta_mma_frag<DT> F;
  typedef typename F::lds_t L;
  const int BM = GRETA_MMA_BM, BN = GRETA_MMA_BN, BK = F::BK, LDK = F::LDK, KS = F::KSTEP;
  const int NT = 256;
  static_assert((DT == GRETA_W_F32 ? F::PART_OFFSET + 8 * GRETA_MMA_M * F::PART_LD * 4
                                    : 2 * (BM + BN) * LDK * sizeof(L)) ==
                    (DT == GRETA_W_F32 ? GRETA_MMA_F32_SMEM_BYTES : GRETA_MMA_SMEM_BYTES),
                "shared memory size: compiler/lower/kernel_select.c sets the launch's dynamic shared memory");
  extern __shared__ __align__(16) unsigned char greta_mma_smem[];
  /* Buffer i: A at smem + i * (BM + BN) * LDK, its B right after (pointer
   * arithmetic, not an array of pointers: that would go to local memory). */
  L *const smem = (L *)greta_mma_smem;
#define GRETA_MMA_AS(i) (smem + (i) * (BM + BN) * LDK)
#define GRETA_MMA_BS(i) (smem + (i) * (BM + BN) * LDK + BM * LDK)

  const int tid = greta_tid(), warp = tid / 32;
  const greta_i64 rows = M - m0 < BM ? M - m0 : BM;
  const int wrows = greta_mma_warp_rows(rows), slices = 8 / wrows;
  const int wm = warp % wrows, wk = warp / wrows;
  const L *bh = (const L *)b;

  /* VEC: each stage read into registers (float4 of x; 16 bytes of B, 8
   * halves or 4 floats: VB) while the previous one computes. Otherwise (odd
   * K, B [K, N], unaligned pointers: rare) read straight into shared memory
   * when stored, with no overlap but few registers. */
  enum { VB = 16 / sizeof(L), EA = BM * BK / 4 / NT, EB = BN * BK / VB / NT };
  static_assert(!XH || DT != GRETA_W_F32, "x in a half type goes with half weights");
  constexpr bool P = PAIRS::G != 0;
  static_assert(!P || (PAIRS::G == 16 && TRANS && !RES && DT != GRETA_W_F32),
                "pairs: 16 apart, a Linear half weight");
  const float *xb = (const float *)x + m0 * K;
  const L *xh = (const L *)x + m0 * K; /* XH */
  const L *bb = bh + (TRANS ? n0 * K : n0);
  /* Element k of the tile's B row r (TRANS), and whether that row holds a weight row. */
  auto b_at = [&](int r, greta_i64 k) { return P ? &bh[PAIRS::row(n0 + r) * K + k] : &bb[r * K + k]; };
  auto b_ok = [&](int r) { return n0 + r < N && PAIRS::valid(n0 + r); };
  const bool async = VEC && F::ASYNC;
  float4 ra[VEC && !F::ASYNC && !XH ? EA : 1];
  uint2 rah[VEC && XH ? EA : 1]; /* XH: 4 halves where ra holds 4 floats */
  greta_u4 rb[VEC && !F::ASYNC ? EB : 1];
  /* 16 bytes global -> shared, zero-filled when !valid (src-size 0). */
  auto copy16 = [&](L *dst, const void *src, bool valid) {
    unsigned int d = (unsigned int)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src),
                 "r"(valid ? 16 : 0));
  };
  auto load = [&](greta_i64 k0, int buf) {
    if (!VEC) return;
    if (async) {
#pragma unroll
      for (int e = 0; e < EA; e++) {
        int idx = tid + NT * e, r = idx / (BK / 4), c = idx % (BK / 4) * 4;
        bool ok = r < rows && k0 + c < K;
        copy16(&GRETA_MMA_AS(buf)[r * LDK + c], ok ? &xb[r * K + k0 + c] : xb, ok);
      }
#pragma unroll
      for (int e = 0; e < EB; e++) {
        int idx = tid + NT * e, r = idx / (BK / VB), c = idx % (BK / VB) * VB;
        bool ok = b_ok(r) && k0 + c < K;
        copy16(&GRETA_MMA_BS(buf)[r * LDK + c], ok ? b_at(r, k0 + c) : bb, ok);
      }
      asm volatile("cp.async.commit_group;" ::);
      return;
    }
#pragma unroll
    for (int e = 0; e < EA; e++) {
      int idx = tid + NT * e, r = idx / (BK / 4), c = idx % (BK / 4) * 4;
      if (XH) {
        rah[e] = make_uint2(0u, 0u);
        if (r < rows && k0 + c < K) rah[e] = *(const uint2 *)&xh[r * K + k0 + c];
      } else {
        ra[e] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r < rows && k0 + c < K) ra[e] = *(const float4 *)&xb[r * K + k0 + c];
      }
    }
#pragma unroll
    for (int e = 0; e < EB; e++) {
      int idx = tid + NT * e, r = idx / (BK / VB), c = idx % (BK / VB) * VB;
      rb[e] = greta_u4{0u, 0u, 0u, 0u};
      if (b_ok(r) && k0 + c < K) rb[e] = *(const greta_u4 *)b_at(r, k0 + c);
    }
  };
  auto store = [&](int buf, greta_i64 k0) {
    if (async) {
      asm volatile("cp.async.wait_all;" ::: "memory");
      return;
    }
    if (VEC) {
#pragma unroll
      for (int e = 0; e < EA; e++) {
        int idx = tid + NT * e, r = idx / (BK / 4), c = idx % (BK / 4) * 4;
        if (XH) *(uint2 *)&GRETA_MMA_AS(buf)[r * LDK + c] = rah[e];
        else F::store_x4(&GRETA_MMA_AS(buf)[r * LDK + c], ra[e]);
      }
#pragma unroll
      for (int e = 0; e < EB; e++) {
        int idx = tid + NT * e, r = idx / (BK / VB), c = idx % (BK / VB) * VB;
        *(greta_u4 *)&GRETA_MMA_BS(buf)[r * LDK + c] = rb[e];
      }
      return;
    }
    /* Few loads in flight: this rare path must not spill (f32: 24 per stage). */
#pragma unroll 4
    for (int e = 0; e < BM * BK / NT; e++) {
      int idx = tid + NT * e, r = idx / BK, c = idx % BK;
      greta_i64 k = k0 + c;
      if (XH) GRETA_MMA_AS(buf)[r * LDK + c] = (r < rows && k < K) ? xh[r * K + k] : (L)0;
      else GRETA_MMA_AS(buf)[r * LDK + c] = F::to_lds((r < rows && k < K) ? xb[r * K + k] : 0.f);
    }
#pragma unroll 4
    for (int e = 0; e < BN * BK / NT; e++) {
      int idx = tid + NT * e;
      if (TRANS) {
        int r = idx / BK, c = idx % BK; /* r: n, c: k */
        greta_i64 k = k0 + c;
        GRETA_MMA_BS(buf)[r * LDK + c] = (b_ok(r) && k < K) ? *b_at(r, k) : (L)0;
      } else {
        int r = idx / BN, c = idx % BN; /* r: k, c: n */
        greta_i64 k = k0 + r;
        GRETA_MMA_BS(buf)[c * LDK + r] = (n0 + c < N && k < K) ? bb[k * N + c] : (L)0;
      }
    }
  };

  float *const part_base = (float *)(greta_mma_smem + F::PART_OFFSET);
  F frag;
  frag.zero(part_base + warp * GRETA_MMA_M * F::PART_LD);
  const greta_i64 nk = (K + BK - 1) / BK;
  load(0, 0);
  store(0, 0);
  greta_sync();
  for (greta_i64 kt = 0; kt < nk; kt++) {
    int cur = (int)(kt & 1);
    /* Global loads (cp.async: copies into the other buffer) in flight during mma. */
    if (kt + 1 < nk) load((kt + 1) * BK, cur ^ 1);
    frag.begin_stage();
    for (int s = wk; s < BK / KS; s += slices) {
      frag.load_a(GRETA_MMA_AS(cur), wm * GRETA_MMA_M, s * KS);
      frag.load_b(GRETA_MMA_BS(cur), s * KS);
      frag.mma();
    }
    frag.end_stage();
    /* The other buffer was last read before the previous barrier. */
    if (kt + 1 < nk) store(cur ^ 1, (kt + 1) * BK);
    greta_sync();
  }

  /* Partial tiles [warp][16][PLD] (F::finish: from registers over the
   * staging buffers; f32: already in their own region), then the slices
   * summed in order. */
  const int PLD = F::PART_LD;
  frag.finish(part_base + warp * GRETA_MMA_M * PLD);
  greta_sync();
  auto part_sum = [&](int r, int c) {
    float v = 0.f;
    for (int s = 0; s < slices; s++)
      v += part_base[((s * wrows + r / GRETA_MMA_M) * GRETA_MMA_M + r % GRETA_MMA_M) * PLD + c];
    return v;
  };
  for (int e = 0; e < BM * BN / NT; e++) {
    int idx = tid + NT * e, r = idx / BN, c = idx % BN;
    greta_i64 m = m0 + r, n = n0 + c;
    if (P) { /* a pair's first column c < 16, its second c + 16 */
      if (c < 16 && r < rows && n < N) pairs.store1(m, n, part_sum(r, c), part_sum(r, c + 16));
      continue;
    }
    if (r < rows && n < N) {
      float v = part_sum(r, c);
      if (RES) v += res[m * N + n];
      ((float *)out)[m * N + n] = v;
    }
  }
#undef GRETA_MMA_AS
#undef GRETA_MMA_BS
}

/* ---- Large T: 64 x 128 block tiles, multi-stage cp.async ------------------
 *
 * Taken at run time (greta_gemm_mma below) for f16 / bf16 weights on the
 * VEC path when the launch has at least GRETA_MMA_BIG_MIN_TILES such tiles
 * (T = 512 on the 7B block: 256 for N = 4096, 688 for N = 11008). The grid
 * stays the small tiles' one (ceil(N / 32) x ceil(M / 64)); block b (linear,
 * x fastest) computes tile (b % tiles_m, b / tiles_m) and the rest exit at
 * once, so consecutive blocks share one weight tile in L2.
 *
 * 8 warps as 2 (m) x 4 (n), each a 32 x 32 piece (2 m16 A fragments, 4 n8 B
 * fragments, 8 mma per k16). K in stages of 32; GRETA_MMA_BIG_S stages in a
 * ring, each {x [64][40] f32, B [128][40] raw halves}, filled by cp.async
 * (16 bytes, zero-filled past M / N / K) S - 1 stages ahead, one barrier per
 * stage. x stays f32 in shared memory: A fragments are read as f32 pairs
 * (64-bit loads, rows 40 words apart: conflict-free by half-warp) and
 * rounded to the weight's half type in registers (cvt.rn.{f16,bf16}x2.f32:
 * the same round-to-nearest of each x value as to_lds). B fragments come by
 * ldmatrix.x4 (two n8 blocks each; rows 80 bytes apart: conflict-free).
 * Per tile 2 * 64 * 128 * 32 flop per (64 * 32 * 4 + 128 * 32 * 2) bytes:
 * 32 flop/byte from L2 (the small tiles: 12.8).
 *
 * PAIRS (gemm.h's paired epilogues, G = 16): a warp's n8 blocks 0, 1 and
 * 2, 3 hold the two columns of 16 pairs of the virtual weight, paired in
 * registers.
 *
 * XH (x already in the weight's half type): x is copied like B, 64 x 32
 * halves in the stage's x region with B's row pitch (LDB halves: 32-bit
 * fragment reads, 8 rows x 4 k-pairs, fall in distinct banks), and the A
 * fragments are read as they are.
 *
 * Accumulation: each stage (2 k16 steps) into a fresh accumulator, added to
 * the running f32 sum with ordinary adds (see the f32 fragment on chained
 * mma accumulation); deterministic, no split-K. */

template <int DT, greta_i64 N, greta_i64 K, int RES, int XH, class PAIRS = greta_no_pairs>
GRETA_INLINE void greta_gemm_mma_big(const void *x, const void *b, void *out, const float *res,
                                     greta_i64 M, greta_i64 m0, greta_i64 n0,
                                     PAIRS pairs = PAIRS()) {
  constexpr bool P = PAIRS::G != 0;
  static_assert(!P || (PAIRS::G == 16 && !RES), "pairs: 16 apart, no residual");
  const int BM = GRETA_MMA_BIG_BM, BN = GRETA_MMA_BIG_BN, BK = GRETA_MMA_BIG_BK;
  const int LDX = GRETA_MMA_BIG_LDX, LDB = GRETA_MMA_BIG_LDB, S = GRETA_MMA_BIG_S, NT = 256;
  extern __shared__ __align__(16) unsigned char greta_mma_smem[];
  const int tid = greta_tid(), warp = tid / 32, lane = greta_lane();
  const int wm = warp / 4, wn = warp % 4;
  const greta_i64 rows = M - m0 < BM ? M - m0 : BM;
  const float *xb = (const float *)x + m0 * K;
  const unsigned short *bb = (const unsigned short *)b + (P ? 0 : n0 * K);
  const unsigned short *xhb = (const unsigned short *)x + m0 * K; /* XH */
  const unsigned int smem0 = (unsigned int)__cvta_generic_to_shared(greta_mma_smem);
#define GRETA_BIG_XS(i) ((const float *)(greta_mma_smem + (i) * GRETA_MMA_BIG_STAGE_BYTES))
#define GRETA_BIG_BS_ADDR(i) (smem0 + (i) * GRETA_MMA_BIG_STAGE_BYTES + BM * LDX * 4)

  auto copy16 = [&](unsigned int dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src),
                 "r"(valid ? 16 : 0));
  };
  /* Stage kt into ring slot `slot`: x 64 x 32 f32 (8 chunks a row), B 128 x
   * 32 halves (4 chunks a row); this thread copies x rows xr, xr + 32 and B
   * rows br, br + 64 (pointers and row checks kept from stage to stage). */
  const int xr = tid / 8, xc = tid % 8 * 4, br = tid / 4, bc = tid % 4 * 8;
  const float *const xp = xb + xr * K + xc;
  const unsigned short *const bp = (P ? bb + PAIRS::row(n0 + br) * K : bb + br * K) + bc;
  const unsigned short *const bp1 = P ? bb + PAIRS::row(n0 + br + 64) * K + bc : bp; /* P */
  const bool xok0 = xr < rows, xok1 = xr + 32 < rows;
  const bool bok0 = n0 + br < N && PAIRS::valid(n0 + br);
  const bool bok1 = n0 + br + 64 < N && PAIRS::valid(n0 + br + 64);
  const unsigned int xdst = (xr * LDX + xc) * 4, bdst = BM * LDX * 4 + (br * LDB + bc) * 2;
  /* XH: x row br (all 64 rows: one chunk a thread), chunk bc, like B. */
  const unsigned short *const xhp = xhb + br * K + bc;
  const bool xhok = br < rows;
  const unsigned int xhdst = (br * LDB + bc) * 2;
  auto load = [&](int kt, int slot) {
    const int k0 = kt * BK;
    const bool kok = k0 + (K % BK == 0 ? 0 : xc) < K, kbok = k0 + (K % BK == 0 ? 0 : bc) < K;
    const unsigned int base = smem0 + slot * GRETA_MMA_BIG_STAGE_BYTES;
    if (XH) {
      copy16(base + xhdst, xhok && kbok ? xhp + k0 : xhb, xhok && kbok);
    } else {
      copy16(base + xdst, xok0 && kok ? xp + k0 : xb, xok0 && kok);
      copy16(base + xdst + 32 * LDX * 4, xok1 && kok ? xp + 32 * K + k0 : xb, xok1 && kok);
    }
    copy16(base + bdst, bok0 && kbok ? bp + k0 : bb, bok0 && kbok);
    copy16(base + bdst + 64 * LDB * 2, bok1 && kbok ? (P ? bp1 + k0 : bp + 64 * K + k0) : bb,
           bok1 && kbok);
  };
  static_assert(BM * BK / 4 == 2 * NT && BN * BK / 8 == 2 * NT, "two x and two B chunks a thread");

  float acc[2][4][4], st[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

  const int nk = (int)((K + BK - 1) / BK);
#pragma unroll
  for (int s = 0; s < S - 1; s++) {
    if (s < nk) load(s, s);
    asm volatile("cp.async.commit_group;" ::);
  }
  /* This lane's ldmatrix row: n (within the warp's 32) and k offset. */
  const int ld_n = wn * 32 + (lane / 16) * 8 + lane % 8, ld_k = (lane / 8) % 2 * 8;
  for (int kt = 0; kt < nk; kt++) {
    const int slot = kt % S;
    /* Stage kt has landed (this thread's copies), then every thread's; the
     * slot refilled below was last read in stage kt - 1, before the barrier. */
    asm volatile("cp.async.wait_group %0;" ::"n"(S - 2) : "memory");
    greta_sync();
    if (kt + S - 1 < nk) load(kt + S - 1, (kt + S - 1) % S);
    asm volatile("cp.async.commit_group;" ::);

    const float *xs = GRETA_BIG_XS(slot);
    const unsigned int bs = GRETA_BIG_BS_ADDR(slot);
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) st[i][j][r] = 0.f;
#pragma unroll
    for (int kk = 0; kk < BK; kk += GRETA_MMA_K) {
      unsigned int a[2][4], bf[4][2];
#pragma unroll
      for (int i = 0; i < 2; i++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
          const int row = wm * 32 + i * 16 + mma_a_row(lane, 2 * r), k = kk + mma_a_k(lane, 2 * r);
          if (XH) {
            a[i][r] = *(const unsigned int *)((const unsigned short *)xs + row * LDB + k);
          } else {
            float2 v = *(const float2 *)&xs[row * LDX + k];
            a[i][r] = greta_pack_half2<DT>(v.x, v.y);
          }
        }
#pragma unroll
      for (int j = 0; j < 4; j += 2) {
        unsigned int addr = bs + ((ld_n + j * 8) * LDB + kk + ld_k) * 2;
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(bf[j][0]), "=r"(bf[j][1]), "=r"(bf[j + 1][0]), "=r"(bf[j + 1][1])
                     : "r"(addr));
      }
#pragma unroll
      for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
          if (DT == GRETA_W_BF16)
            asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                : "+f"(st[i][j][0]), "+f"(st[i][j][1]), "+f"(st[i][j][2]), "+f"(st[i][j][3])
                : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(bf[j][0]),
                  "r"(bf[j][1]));
          else
            asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                : "+f"(st[i][j][0]), "+f"(st[i][j][1]), "+f"(st[i][j][2]), "+f"(st[i][j][3])
                : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(bf[j][0]),
                  "r"(bf[j][1]));
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) acc[i][j][r] += st[i][j][r];
  }
  asm volatile("cp.async.wait_all;" ::: "memory");

  if (P) { /* first columns in n8 block j (0, 1), partners in j + 2; results r = 2h, 2h + 1 */
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 2; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          int rr = wm * 32 + i * 16 + mma_d_row(lane, 2 * h);
          greta_i64 v = n0 + wn * 32 + j * GRETA_MMA_N + mma_d_col(lane, 2 * h);
          if (rr < rows && v < N)
            pairs.store2(m0 + rr, v, acc[i][j][2 * h], acc[i][j + 2][2 * h], acc[i][j][2 * h + 1],
                         acc[i][j + 2][2 * h + 1]);
        }
  } else {
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
          int rr = wm * 32 + i * 16 + mma_d_row(lane, r);
          greta_i64 m = m0 + rr, n = n0 + wn * 32 + j * GRETA_MMA_N + mma_d_col(lane, r);
          if (rr < rows && n < N) {
            float v = acc[i][j][r];
            if (RES) v += res[m * N + n];
            ((float *)out)[m * N + n] = v;
          }
        }
  }
#undef GRETA_BIG_XS
#undef GRETA_BIG_BS_ADDR
}

/* Grid: x = ceil(N / 32), y = ceil(M / 64) (XH = 2: one block an SM, the
 * mma.sync paths going through that grid's blocks in turn); GRETA_MMA_SMEM_BYTES of dynamic
 * shared memory (GRETA_MMA_F32_SMEM_BYTES for f32 weights).
 * WIDTHS: a set of tile widths (GRETA_WGMMA_W*, launch_constants.h; sm_90a
 * builds only, gretac's GRETA_WGMMA=1; SMS the chip's SM count): once the
 * step has at least GRETA_WGMMA_BM / 2 rows, the blocks take the tiles of
 * greta_gemm_wgmma (128 x width, row tiles fastest; width =
 * greta_wgmma_step_width of the step's M among WIDTHS, the widths gretac
 * found its steps take: only their paths are compiled, since on the H200
 * every other path's code made the one that runs slower, docs/gemm.md)
 * instead, with the largest GRETA_WGMMA_SMEM_BYTES of WIDTHS of dynamic
 * shared memory; f32 weights (WIDTHS = GRETA_WGMMA_W128) those of
 * greta_gemm_wgmma_tf32, with
 * GRETA_WGMMA_TF32_SMEM_BYTES, once the step has GRETA_WGMMA_TF32_MIN_TILES
 * of them.
 * ws (half weights, no pairs; the plan's split_k, the step's workspace):
 * the tail of a step's tiles splits its K (greta_wgmma_split_of_block,
 * greta_gemm_wgmma's split-K), at the width chosen knowing that. With x in
 * f32 (XH = 0: a model input, rounded in the kernel) only 128-wide tiles
 * split, at the width chosen as if none did: x goes through registers, and
 * the 192- and 256-wide kernels with split-K's sum in them took 255
 * registers and ran 17-20 % slower at T >= 512 (H200, docs/gemm.md).
 * Surplus blocks return.
 * XH = 1: x is [M, K] in the weight's half type (its producer rounded it:
 * the same values the kernel would round f32 x to); every path copies it
 * like the weight. XH = 2: the same x, and the wgmma tiles are
 * greta_gemm_wgmma_ws's, persistent and warp-specialised, taking x and the
 * weight through the copy engine (map_x, map_w: their tensor maps,
 * launch_constants.h's boxes), in blocks of GRETA_WGMMA_WS_NT threads; the
 * other paths as XH = 1, on GRETA_GEMM_NT of them. An XH = 2 kernel reads
 * ahead: every path waits for the launch before itself (prelude.h), the
 * wgmma tiles after their first stages' weight boxes are issued.
 * pairs (prefill's matmul_glu and matmul_qkv): every path computes the
 * virtual weight of gemm.h's paired epilogues (G = 16), N its width, and
 * stores through pairs; out and res are unused. */
template <int DT, greta_i64 N, greta_i64 K, int TRANS, int RES, greta_i64 RC, int RPT,
          int WIDTHS = 0, int XH = 0, int SMS = 0, class PAIRS = greta_no_pairs>
GRETA_INLINE void greta_gemm_mma(const int *params, const void *x, const void *b, void *out,
                                 const float *res, PAIRS pairs = PAIRS(), void *ws = 0,
                                 const greta_tmap *map_x = 0, const greta_tmap *map_w = 0) {
  constexpr int XR = XH != 0; /* x raw in the half type, for the paths without maps */
  const greta_i64 M = greta_rows<RC, RPT>(params);
  const bool vec = TRANS && K % (DT == GRETA_W_F32 ? 4 : 8) == 0 &&
                   (((unsigned long long)x | (unsigned long long)b) & 15ull) == 0;
#if defined(GRETA_HAVE_WGMMA)
  constexpr bool tf32 = DT == GRETA_W_F32;
  static_assert((WIDTHS & ~(GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256)) == 0,
                "greta_gemm_mma: WIDTHS of 128, 192 and 256");
  if constexpr (WIDTHS != 0 && K % (tf32 ? GRETA_WGMMA_TF32_BK : GRETA_WGMMA_BK) == 0) {
    /* f32: once the step has enough 128 x 128 tiles to outrun the 64 x 32
     * mma.sync tiles, which fill the chip with smaller steps. */
    const bool enough = tf32 ? (M + 127) / 128 * ((N + 127) / 128) >= GRETA_WGMMA_TF32_MIN_TILES
                             : 2 * M >= GRETA_WGMMA_BM;
    if (vec && enough) {
      const greta_i64 blk = (greta_i64)greta_bid_y() * ((N + GRETA_MMA_BN - 1) / GRETA_MMA_BN) +
                            greta_bid_x();
      extern __shared__ __align__(16) unsigned char greta_mma_smem[];
      long long m0, n0;
      if constexpr (tf32) {
        static_assert(WIDTHS == GRETA_WGMMA_WIDTH_BIT(GRETA_WGMMA_TF32_BN) && PAIRS::G == 0 && !XR,
                      "f32: 128 x 128 tiles");
        if (!greta_wgmma_tile_of_block(blk, M, N, GRETA_WGMMA_TF32_BN, &m0, &n0)) return; /* whole block */
        greta_gemm_wgmma_tf32<N, K, RES>(M, m0, n0, (const float *)x, (const float *)b,
                                         (float *)out, res, greta_mma_smem);
      } else if constexpr (XH == 2) {
        /* The copy engine's operands: the persistent GEMM, G = min(grid,
         * SMS) blocks going from unit to unit. */
        const greta_i64 blocks = (greta_i64)gridDim.x * gridDim.y; /* the plan's grid */
        const bool split = ws && !PAIRS::G;
        const int width = greta_wgmma_step_width(M, N, K, WIDTHS, SMS, split, 1);
        /* Paired launches with both 192 and 256 wide paths, their tiles not
         * staged in the ring (gate/up): one kernel for both, whose steps
         * may cut their columns in two widths (greta_wgmma_mixed_head);
         * head 0 is all 192 wide. */
        constexpr int MIXED = GRETA_WGMMA_W192 | GRETA_WGMMA_W256;
        constexpr bool TWO = PAIRS::G != 0 && !PAIRS::STAGED && (WIDTHS & MIXED) == MIXED;
        if constexpr (TWO) {
          int head = greta_wgmma_mixed_head(M, N, K, WIDTHS, SMS);
          if (head < 0 && width != 128) head = width == 256 ? (int)((N + 255) / 256) : 0;
          if (head >= 0) {
            greta_gemm_wgmma_ws<DT, N, K, 256, RES, PAIRS, 192>(M, blk, blocks, SMS, out, res, greta_mma_smem,
                                                                pairs, ws, map_x, map_w, head);
            return;
          }
        }
#define GRETA_WS_PATH(BN)                                                                     \
  if constexpr ((WIDTHS & GRETA_WGMMA_WIDTH_BIT(BN)) != 0 &&                                 \
                (BN == 128 || !TWO)) {                                                        \
    if (width == BN) {                                                                        \
      greta_gemm_wgmma_ws<DT, N, K, BN, RES>(M, blk, blocks, SMS, out, res, greta_mma_smem,   \
                                             pairs, ws, map_x, map_w);                        \
      return;                                                                                 \
    }                                                                                         \
  }
        GRETA_WS_PATH(256)
        GRETA_WS_PATH(192)
        GRETA_WS_PATH(128)
#undef GRETA_WS_PATH
        __trap(); /* the rule's width is one of WIDTHS */
      } else {
        /* x in f32: only 128-wide tiles split (the comment above). */
        constexpr bool WIDE_SPLIT = XH != 0;
        const bool split = ws && !PAIRS::G;
        const int width = greta_wgmma_step_width(M, N, K, WIDTHS, SMS, split && WIDE_SPLIT, 0);
        long long tile = blk, slot = 0;
        int part = 0, parts = 1;
        if (split && (WIDE_SPLIT || width == 128)) {
          const long long tiles = (M + 127) / 128 * ((N + width - 1) / width);
          const long long blocks = (long long)gridDim.x * gridDim.y; /* the plan's grid */
          if (!greta_wgmma_split_of_block(blk, tiles, SMS, blocks, &tile, &part, &parts, &slot))
            return; /* whole block */
        }
        if (!greta_wgmma_tile_of_block(tile, M, N, width, &m0, &n0)) return; /* whole block */
        /* Without WIDE_SPLIT the wide tiles get parts = 1 as a constant (it
         * is 1 at run time too), so their split-K sum compiles away. */
#define GRETA_CP_PATH(BN, PARTS)                                                              \
  if constexpr ((WIDTHS & GRETA_WGMMA_WIDTH_BIT(BN)) != 0) {                                  \
    if (width == BN) {                                                                        \
      greta_gemm_wgmma<DT, N, K, BN, 2, XH, RES>(M, m0, n0, x, b, out, res, greta_mma_smem,   \
                                                 pairs, PARTS, part, (int)slot, ws);          \
      return;                                                                                 \
    }                                                                                         \
  }
        GRETA_CP_PATH(256, WIDE_SPLIT ? parts : 1)
        GRETA_CP_PATH(192, WIDE_SPLIT ? parts : 1)
        GRETA_CP_PATH(128, parts)
#undef GRETA_CP_PATH
        __trap(); /* the rule's width is one of WIDTHS */
      }
      return;
    }
  }
#endif
  /* XH = 2 kernels read ahead (kernel_select.c): greta_gemm_wgmma_ws waits
   * for the previous launch itself, after issuing its first weight boxes;
   * the other paths wait here. Their blocks have GRETA_WGMMA_WS_NT threads,
   * and the paths below take GRETA_GEMM_NT: the rest leave (whole warps; a
   * block barrier waits only for threads that have not exited). */
  if (XH == 2) {
    greta_grid_begin();
    if (greta_tid() >= GRETA_GEMM_NT) return;
  }
  /* Block (bx, by) of the mma.sync grid: ceil(N / 32) x ceil(M / 64). */
  const greta_i64 grid_x = (N + GRETA_MMA_BN - 1) / GRETA_MMA_BN;
  auto block = [&](greta_i64 bx, greta_i64 by) {
    if (DT != GRETA_W_F32 && vec) {
      /* Large T: 64 x 128 tiles over the same grid (see greta_gemm_mma_big). */
      const greta_i64 tiles_m = (M + GRETA_MMA_BIG_BM - 1) / GRETA_MMA_BIG_BM;
      const greta_i64 tiles_n = (N + GRETA_MMA_BIG_BN - 1) / GRETA_MMA_BIG_BN;
      if (tiles_m * tiles_n >= GRETA_MMA_BIG_MIN_TILES) {
        const greta_i64 blk = by * grid_x + bx;
        if (blk >= tiles_m * tiles_n) return; /* whole block */
        greta_gemm_mma_big<DT, N, K, RES, XR>(x, b, out, res, M, blk % tiles_m * GRETA_MMA_BIG_BM,
                                              blk / tiles_m * GRETA_MMA_BIG_BN, pairs);
        return;
      }
    }
    const greta_i64 m0 = by * GRETA_MMA_BM, n0 = bx * GRETA_MMA_BN;
    if (m0 >= M) return; /* whole block */
    if (vec) greta_gemm_mma_run<DT, N, K, TRANS, RES, 1, XR>(x, b, out, res, M, m0, n0, pairs);
    else greta_gemm_mma_run<DT, N, K, TRANS, RES, 0, XR>(x, b, out, res, M, m0, n0, pairs);
  };
  if constexpr (XH == 2) {
    /* An XH = 2 launch has one block an SM (kernel_select.c: the
     * persistent GEMM's grid, whatever the step's rows), so its blocks
     * go through the mma.sync grid's blocks in turn, the shared memory
     * free between two (a barrier). */
    const greta_i64 blocks = (greta_i64)gridDim.x * gridDim.y, all = grid_x * ((M + GRETA_MMA_BM - 1) / GRETA_MMA_BM);
    for (greta_i64 v = (greta_i64)greta_bid_y() * gridDim.x + greta_bid_x(); v < all; v += blocks) {
      block(v % grid_x, v / grid_x);
      greta_sync();
    }
  } else {
    block(greta_bid_x(), greta_bid_y());
  }
}
#endif /* GRETA_NVIDIA */
