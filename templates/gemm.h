/* GEMM for prefill (T > 1): out[M, N] = x[M, K] @ B (+ residual), B either
 * [N, K] (TRANS = 1, a Linear weight: out = x @ B^T) or [K, N] (TRANS = 0),
 * B in f32 / f16 / bf16 (DT), x and out f32, accumulation f32.
 *
 * Tiling (shared by every architecture): a block of 256 threads computes a
 * 64 x 64 tile of out; K advances in steps of BK (16 for f32 weights, 32 for
 * 16-bit weights on AMD). Each step's A (64 x BK of x) and B (64 x BK, stored
 * n-major so both operands are "row, k" in LDS) are loaded from global
 * memory into registers while the previous step computes from LDS, then
 * written to the other of two LDS buffers: double buffering, one barrier per
 * step. Thread -> data for the loads: consecutive threads read consecutive
 * k (or n, for B [K, N]), so global reads are coalesced.
 * Arithmetic intensity: a 64 x 64 tile does 2 * 64 * 64 * BK flops per
 * 2 * 64 * BK elements loaded from global memory = 64 flop per element
 * (16 flop/byte in f32, 32 with 16-bit weights): above MI300X's and H100's
 * ridge points for L2-resident operands at the Llama shapes (K, N >= 4096,
 * T >= 64), while the tile stays small (17-18 KiB of LDS, 76-128 VGPRs) so
 * 3 blocks fit per CU (T = 512, N = 4096: 512 blocks for 304 CUs; small T
 * under-fills the GPU, a split-K variant would help there).
 *
 * The inner fragment is architecture-specific, behind greta_frag<DT>:
 *   lds_t / to_lds()  the element type kept in LDS and the conversion to it;
 *   zero(), mma(As, Bs) over one BK step, store(out, res, ...).
 * AMD (wave64, 4 waves, each a 32 x 32 quarter as 2 x 2 16x16 blocks):
 *   f32 weights  -> v_mfma_f32_16x16x4f32 (4 per 16 k);
 *   f16 weights  -> v_mfma_f32_16x16x16f16, x converted to f16 on its way
 *                   into LDS (the "half types in their own precision" path);
 *   bf16 weights -> v_mfma_f32_16x16x16bf16_1k, x rounded to bf16 likewise.
 *   Lane <-> element mappings come from mfma_layout.h (tested on the CPU).
 * NVIDIA, f32 weights, fallback (compiler/lower/kernel_select.c picks greta_gemm_mma's
 *   3xTF32 fragment instead): FP32 FMA register tiling (no TF32, so results
 *   match the f32 reference): thread (ty = tid / 16, tx = tid % 16) owns rows
 *   ty + 16 i, cols tx + 16 j, i, j < 4.
 * NVIDIA, every weight type: greta_gemm_mma in gemm_mma.h (mma.sync m16n8k16 for
 *   f16 / bf16, 3xTF32 on m16n8k8 for f32, with a run-time split of K among
 *   the warps for small T).
 */

/* ---- Paired epilogues: prefill's matmul_glu and matmul_qkv ---------------
 * Two fused launches apply a function to pairs of output columns that lie
 * far apart: matmul_glu silu(gate) up to gate column c and up column c of
 * the stacked [gate; up] weight, F rows apart; matmul_qkv RoPE to columns i
 * and i + D/2 of each head. The GEMM computes the columns of a virtual
 * weight instead, in which the two columns of a pair sit G apart inside one
 * tile, and its epilogue finds both values where they already are.
 *
 * The weight's rows come in BLOCKS blocks of 2S (one stacked [gate; up]: S =
 * F; a head: S = D/2), pairing rows a and a + S of a block. The virtual
 * weight lists each block as G first rows, their G partners, the next G
 * first rows, ...: virtual row v is in block b = v / 2SV (SV: S rounded up
 * to G), pair p = (v % 2SV) / 2G G + v % G, physical row 2S b + p, plus S
 * when v % 2G >= G; rows with p >= S (a ragged S) are zeros
 * (pair_layout.h's functions, checked on the CPU). A loader whose
 * rows advance by multiples of 2G keeps v % 2G. G = 16 on NVIDIA (wgmma's D
 * fragment and the large mma.sync tiles hold 8-column groups g and g + 2 in
 * one thread; the small tiles pair through shared memory), 32 on AMD (two
 * 32 x 32 MFMA blocks of one wave). A GEMM with pairs takes N = the virtual
 * width, WIDTH, and leaves its out and res alone.
 *
 * A pair type (greta_glu_pairs here, greta_qkv_pairs in rope.h) is a
 * greta_pair_map with what its stores write through: store1(m, v, a, b) for
 * row m, v a pair's first virtual column and a, b its two values; store2
 * for the pairs of columns v and v + 1 (v even); STAGED = 1 when a store is
 * long enough that greta_gemm_wgmma should stage its tile in shared memory
 * and loop (see there) rather than unroll the stores over its fragment. */
template <int G_, greta_i64 S, greta_i64 BLOCKS, int STAGED_ = 0>
struct greta_pair_map { /* pair_layout.h's functions for one weight */
  enum { G = G_, STAGED = STAGED_, BULK = 0 };
  static GRETA_METHOD greta_i64 block(greta_i64 v) { return greta_pair_block(v, G_, S, BLOCKS); }
  static GRETA_METHOD greta_i64 pair(greta_i64 v) { return greta_pair_index(v, G_, S, BLOCKS); }
  static GRETA_METHOD bool valid(greta_i64 v) { return pair(v) < S; }
  static GRETA_METHOD greta_i64 row(greta_i64 v) { return greta_pair_row(v, G_, S, BLOCKS); }
  /* row(v + 32 j) - row(v) from the start of a tile `align` wide, when
   * fixed_rows(align): compile-time distances for a loader's rows
   * (computing row() each stage costs the wgmma loop issue slots it
   * needs). G = 16 only. */
  static GRETA_METHOD bool fixed_rows(greta_i64 align) { return greta_pair_fixed(align, S, BLOCKS); }
  static GRETA_METHOD greta_i64 jump(int j) { return greta_pair_jump(j, S, BLOCKS); }
  /* The copy engine's box of virtual rows v .. v + 63 is (tma_run(v),
   * block(v)) when greta_pair_tma_fits(S, BLOCKS) (G = 16). */
  static GRETA_METHOD greta_i64 tma_run(greta_i64 v) { return greta_pair_tma_run(v, S, BLOCKS); }
};

/* The plain GEMM: no pairs (G = 0), out and res as given. */
struct greta_no_pairs {
  enum { G = 0, STAGED = 0, BULK = 0 };
  static GRETA_METHOD greta_i64 row(greta_i64 v) { return v; }
  static GRETA_METHOD bool fixed_rows(greta_i64) { return true; }
  static GRETA_METHOD greta_i64 jump(int j) { return 32 * j; }
  static GRETA_METHOD bool valid(greta_i64) { return true; }
  GRETA_METHOD void store1(greta_i64, greta_i64, float, float) const {}
  GRETA_METHOD void store2(greta_i64, greta_i64, float, float, float, float) const {}
};

/* matmul_glu: out [M, F] in OUT = silu(gate) up. */
template <int G, greta_i64 F, int OUT>
struct greta_glu_pairs : greta_pair_map<G, F, 1> {
  typedef greta_pair_map<G, F, 1> map;
  void *out;
  GRETA_METHOD explicit greta_glu_pairs(void *o) : out(o) {}
  GRETA_METHOD void store1(greta_i64 m, greta_i64 v, float gate, float up) const {
    const greta_i64 p = map::pair(v);
    if (p < F) greta_store_w<OUT>(out, m * F + p, greta_silu(gate) * up);
  }
  GRETA_METHOD void store2(greta_i64 m, greta_i64 v, float g0, float u0, float g1, float u1) const {
    const greta_i64 p = map::pair(v), at = m * F + p;
    if (p >= F) return;
    const float r0 = greta_silu(g0) * u0, r1 = greta_silu(g1) * u1;
#if !defined(GRETA_AMD)
    if (OUT != GRETA_W_F32 && p + 1 < F && at % 2 == 0) { /* one 32-bit store, the same rounding */
      ((unsigned int *)out)[at / 2] = greta_pack_half2<OUT>(r0, r1);
      return;
    }
#endif
    greta_store_w<OUT>(out, at, r0);
    if (p + 1 < F) greta_store_w<OUT>(out, at + 1, r1);
  }
#if !defined(GRETA_AMD)
  /* BULK: greta_gemm_wgmma_ws stores the tile through shared memory and the
   * copy engine (greta_wgmma_epilogue_bulk), rows of 16-byte runs
   * (GRETA_GLU_BULK: kernel_select.c gives such a launch the output
   * stage). pack2: store2's two values, packed as it stores them;
   * run: where row m's outputs from pair p (p % 8 == 0) go, and the bytes
   * of at most n of them (0 past F). */
  enum { BULK = GRETA_GLU_BULK(OUT != GRETA_W_F32, F) };
  GRETA_METHOD unsigned int pack2(float g0, float u0, float g1, float u1) const {
    return greta_pack_half2<OUT>(greta_silu_to_half(g0) * u0, greta_silu_to_half(g1) * u1);
  }
  GRETA_METHOD unsigned int run(greta_i64 m, greta_i64 p, int n, void **dst) const {
    *dst = (char *)out + 2 * (m * F + p);
    return p >= F ? 0u : 2u * (unsigned int)(F - p < n ? F - p : n);
  }
#endif
};

template <int DT>
struct greta_frag;

#if defined(GRETA_AMD)
typedef float greta_v4f __attribute__((ext_vector_type(4)));
typedef _Float16 greta_v4h __attribute__((ext_vector_type(4)));
typedef short greta_v4s __attribute__((ext_vector_type(4)));

/* Which quarter of the 64 x 64 tile a wave owns. */
GRETA_INLINE int greta_frag_wave_m(void) { return (greta_tid() / 64) / 2 * 32; }
GRETA_INLINE int greta_frag_wave_n(void) { return (greta_tid() / 64) % 2 * 32; }

/* Common result handling of the 16x16 f32 MFMA blocks. */
struct greta_frag_acc {
  greta_v4f acc[2][2];
  GRETA_METHOD void zero() {
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) acc[i][j] = (greta_v4f){0.f, 0.f, 0.f, 0.f};
  }
  template <greta_i64 N, int RES>
  GRETA_METHOD void store(float *out, const float *res, greta_i64 m0, greta_i64 n0, greta_i64 M) {
    int lane = greta_lane();
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        for (int r = 0; r < 4; r++) {
          greta_i64 m = m0 + greta_frag_wave_m() + i * 16 + mfma_d_row(lane, r);
          greta_i64 n = n0 + greta_frag_wave_n() + j * 16 + mfma_d_col(lane);
          if (m < M && n < N) {
            float v = acc[i][j][r];
            if (RES) v += res[m * N + n];
            out[m * N + n] = v;
          }
        }
  }
};

template <>
struct greta_frag<GRETA_W_F32> : greta_frag_acc {
  enum { BK = 16, LDK = 17 };
  typedef float lds_t;
  static GRETA_METHOD lds_t to_lds(float v) { return v; }
  /* As: [64][LDK] rows m, Bs: [64][LDK] rows n. */
  GRETA_METHOD void mma(const lds_t *As, const lds_t *Bs) {
    int lane = greta_lane(), wm = greta_frag_wave_m(), wn = greta_frag_wave_n();
#pragma unroll
    for (int kk = 0; kk < BK; kk += GRETA_MFMA_F32_K) {
      float a[2], b[2];
      for (int i = 0; i < 2; i++)
        a[i] = As[(wm + i * 16 + mfma_f32_a_row(lane)) * LDK + kk + mfma_f32_a_k(lane)];
      for (int j = 0; j < 2; j++)
        b[j] = Bs[(wn + j * 16 + mfma_f32_b_col(lane)) * LDK + kk + mfma_f32_b_k(lane)];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
          acc[i][j] = __builtin_amdgcn_mfma_f32_16x16x4f32(a[i], b[j], acc[i][j], 0, 0, 0);
    }
  }
};

template <>
struct greta_frag<GRETA_W_F16> : greta_frag_acc {
  enum { BK = 32, LDK = 36 };
  typedef _Float16 lds_t;
  static GRETA_METHOD lds_t to_lds(float v) { return (_Float16)v; }
  GRETA_METHOD void mma(const lds_t *As, const lds_t *Bs) {
    int lane = greta_lane(), wm = greta_frag_wave_m(), wn = greta_frag_wave_n();
#pragma unroll
    for (int kk = 0; kk < BK; kk += GRETA_MFMA_F16_K) {
      greta_v4h a[2], b[2];
      for (int i = 0; i < 2; i++)
        for (int e = 0; e < 4; e++)
          a[i][e] = As[(wm + i * 16 + mfma_f16_a_row(lane)) * LDK + kk + mfma_f16_a_k(lane, e)];
      for (int j = 0; j < 2; j++)
        for (int e = 0; e < 4; e++)
          b[j][e] = Bs[(wn + j * 16 + mfma_f16_b_col(lane)) * LDK + kk + mfma_f16_b_k(lane, e)];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
          acc[i][j] = __builtin_amdgcn_mfma_f32_16x16x16f16(a[i], b[j], acc[i][j], 0, 0, 0);
    }
  }
};

template <>
struct greta_frag<GRETA_W_BF16> : greta_frag_acc {
  enum { BK = 32, LDK = 36 };
  typedef unsigned short lds_t;
  static GRETA_METHOD lds_t to_lds(float v) { return greta_float_to_bf16(v); }
  GRETA_METHOD void mma(const lds_t *As, const lds_t *Bs) {
    int lane = greta_lane(), wm = greta_frag_wave_m(), wn = greta_frag_wave_n();
#pragma unroll
    for (int kk = 0; kk < BK; kk += GRETA_MFMA_F16_K) {
      greta_v4s a[2], b[2];
      for (int i = 0; i < 2; i++)
        for (int e = 0; e < 4; e++)
          a[i][e] = (short)As[(wm + i * 16 + mfma_f16_a_row(lane)) * LDK + kk + mfma_f16_a_k(lane, e)];
      for (int j = 0; j < 2; j++)
        for (int e = 0; e < 4; e++)
          b[j][e] = (short)Bs[(wn + j * 16 + mfma_f16_b_col(lane)) * LDK + kk + mfma_f16_b_k(lane, e)];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
          acc[i][j] = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a[i], b[j], acc[i][j], 0, 0, 0);
    }
  }
};

#else /* NVIDIA: FP32 FMA register tile, 4 x 4 per thread */

template <int DT>
struct greta_frag {
  enum { BK = 16, LDK = 17 };
  typedef float lds_t;
  float acc[4][4];
  static GRETA_METHOD lds_t to_lds(float v) { return v; }
  GRETA_METHOD void zero() {
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  }
  GRETA_METHOD void mma(const lds_t *As, const lds_t *Bs) {
    int ty = greta_tid() / 16, tx = greta_tid() % 16;
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float a[4], b[4];
      for (int i = 0; i < 4; i++) a[i] = As[(ty + 16 * i) * LDK + k];
      for (int j = 0; j < 4; j++) b[j] = Bs[(tx + 16 * j) * LDK + k];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
  template <greta_i64 N, int RES>
  GRETA_METHOD void store(float *out, const float *res, greta_i64 m0, greta_i64 n0, greta_i64 M) {
    int ty = greta_tid() / 16, tx = greta_tid() % 16;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        greta_i64 m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
        if (m < M && n < N) {
          float v = acc[i][j];
          if (RES) v += res[m * N + n];
          out[m * N + n] = v;
        }
      }
  }
};
#endif

/* The shared tiling. Grid: x = ceil(N / 64), y = ceil(M / 64) (M = rows,
 * grows with T through grid_t). */
template <int DT, greta_i64 N, greta_i64 K, int TRANS, int RES, greta_i64 RC, int RPT>
GRETA_INLINE void greta_gemm(const int *params, const float *x, const void *b, float *out,
                             const float *res) {
  typedef greta_frag<DT> F;
  typedef typename F::lds_t L;
  const int BM = GRETA_GEMM_BM, BN = GRETA_GEMM_BN, NT = GRETA_GEMM_NT;
  const int BK = F::BK, LDK = F::LDK;
  const int EA = BM * BK / NT, EB = BN * BK / NT;
  __shared__ L As[2][BM * LDK];
  __shared__ L Bs[2][BN * LDK];

  const greta_i64 M = greta_rows<RC, RPT>(params);
  const greta_i64 m0 = (greta_i64)greta_bid_y() * BM, n0 = (greta_i64)greta_bid_x() * BN;
  if (m0 >= M) return; /* whole block: no barrier is skipped by part of it */
  const int tid = greta_tid();

  float ra[EA], rb[EB];
  auto load = [&](greta_i64 k0) {
    for (int e = 0; e < EA; e++) {
      int idx = tid + NT * e, r = idx / BK, c = idx % BK;
      greta_i64 m = m0 + r, k = k0 + c;
      ra[e] = (m < M && k < K) ? x[m * K + k] : 0.f;
    }
    for (int e = 0; e < EB; e++) {
      int idx = tid + NT * e;
      if (TRANS) {
        int r = idx / BK, c = idx % BK; /* r: n, c: k */
        greta_i64 n = n0 + r, k = k0 + c;
        rb[e] = (n < N && k < K) ? greta_load_w<DT>(b, n * K + k) : 0.f;
      } else {
        int r = idx / BN, c = idx % BN; /* r: k, c: n */
        greta_i64 n = n0 + c, k = k0 + r;
        rb[e] = (n < N && k < K) ? greta_load_w<DT>(b, k * N + n) : 0.f;
      }
    }
  };
  auto store = [&](int buf) {
    for (int e = 0; e < EA; e++) {
      int idx = tid + NT * e;
      As[buf][(idx / BK) * LDK + idx % BK] = F::to_lds(ra[e]);
    }
    for (int e = 0; e < EB; e++) {
      int idx = tid + NT * e;
      if (TRANS)
        Bs[buf][(idx / BK) * LDK + idx % BK] = F::to_lds(rb[e]);
      else
        Bs[buf][(idx % BN) * LDK + idx / BN] = F::to_lds(rb[e]);
    }
  };

  F frag;
  frag.zero();
  const greta_i64 nk = (K + BK - 1) / BK;
  load(0);
  store(0);
  greta_sync();
  for (greta_i64 kt = 0; kt < nk; kt++) {
    int cur = (int)(kt & 1);
    if (kt + 1 < nk) load((kt + 1) * BK); /* global loads in flight during mma */
    frag.mma(As[cur], Bs[cur]);
    /* The other buffer was last read before the previous barrier. */
    if (kt + 1 < nk) store(cur ^ 1);
    greta_sync();
  }
  frag.template store<N, RES>(out, res, m0, n0, M);
}
