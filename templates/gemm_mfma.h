/* Prefill GEMM on AMD matrix cores with the 32x32 MFMAs (gfx90a, gfx942):
 * out[M, N] = x[M, K] @ B^T (+ residual), B [N, K] a Linear weight in f32,
 * f16 or bf16 (DT), x and out f32, accumulation f32; with XH, x is already in
 * the weight's half type (its producer rounded it) and is staged raw.
 *
 * Why 32x32: on CDNA3 v_mfma_f32_32x32x8_f16 does 16384 flops in 32 cycles
 * from 2 + 2 operand registers, the 16x16x16 form 8192 in 16 from the same
 * 2 + 2: per operand byte read from LDS the 32x32 form does twice the work,
 * and LDS bandwidth (128 B per clock per CU) is what limits a 4-wave tile.
 *
 * Tile: 256 threads = 4 waves in 2 x 2 (mfma_layout.h gemm_mfma_wave_m/_n);
 * a wave owns MB x NB blocks of 32 x 32 (MB NB accumulators of 16 registers),
 * the block (64 MB) x (64 NB) of out. The host picks MB, NB
 * (launch_constants.h: 128 x 256 when a step fills the GPU, else 64 x 128).
 * K advances in steps of BK (32 with 16-bit weights: 4 instructions of k 8;
 * 16 with f32: 8 of k 2). Per step every thread loads 16-byte chunks of x
 * and of B (gemm_mfma_stage_row/_chunk: consecutive threads take consecutive
 * chunks of a row, so a wave reads whole 64-byte-or-longer runs), converts x
 * to the MFMA's input type, and writes both into LDS rows of LDK elements
 * (BK + 4 halves, BK + 1 floats: a wave's fragment reads, 32 rows at one k,
 * then fall in distinct banks). Double buffered: step s + 1's global loads
 * are issued before step s's MFMAs and written to the other buffer after
 * them, one barrier per step.
 *
 * PAIRS (prefill's matmul_glu and matmul_qkv, gemm.h's paired epilogues,
 * G = 32): the tile's columns are the virtual weight's (N its width), B row
 * v is PAIRS::row(v), and a wave's 32 x 32 blocks j and j + 1 (j even) hold
 * the two columns of 32 pairs in one lane and register; out and res are
 * unused.
 *
 * Requirements (the host checks them at compile time): K % BK == 0. At run
 * time, x and B must be 16-byte aligned for the vector loads (plan offsets
 * are only element-aligned): otherwise the same kernel loads element by
 * element (uniform branch).
 */

#if defined(GRETA_AMD)
typedef float greta_v16f __attribute__((ext_vector_type(16)));

/* Per weight dtype: the LDS element type, the fragment type, one MFMA, and
 * the staging of a 16-byte chunk of x (4 floats, converted) and of B (raw)
 * into LDS. */
template <int DT>
struct greta_mfma32;

/* Four halves (8 bytes): one staged chunk of 16-bit data. */
struct alignas(8) greta_mfma_pair {
  unsigned int lo, hi;
};

template <>
struct greta_mfma32<GRETA_W_F32> {
  enum { BK = GRETA_MFMA_BK_F32, LDK = GRETA_MFMA_LDK_F32, KI = GRETA_MFMA32_F32_K };
  typedef float lds_t;
  typedef float frag_t;
  /* Rows of 17 words: 4-byte stores. */
  static GRETA_METHOD void stage_x(lds_t *dst, const greta_v4f &v) {
    for (int j = 0; j < 4; j++) dst[j] = v[j];
  }
  static GRETA_METHOD void stage_xh(lds_t *, const greta_mfma_pair &) {} /* XH: half weights only */
  static GRETA_METHOD void stage_w(lds_t *dst, const greta_u4 &v) {
    dst[0] = greta_bits_to_float(v.x);
    dst[1] = greta_bits_to_float(v.y);
    dst[2] = greta_bits_to_float(v.z);
    dst[3] = greta_bits_to_float(v.w);
  }
  static GRETA_METHOD frag_t a_frag(const lds_t *As, int row0, int kk, int lane) {
    return As[(row0 + mfma32_f32_a_row(lane)) * LDK + kk + mfma32_f32_a_k(lane)];
  }
  static GRETA_METHOD frag_t b_frag(const lds_t *Bs, int col0, int kk, int lane) {
    return Bs[(col0 + mfma32_f32_b_col(lane)) * LDK + kk + mfma32_f32_b_k(lane)];
  }
  static GRETA_METHOD void mma(greta_v16f &acc, frag_t a, frag_t b) {
    acc = __builtin_amdgcn_mfma_f32_32x32x2f32(a, b, acc, 0, 0, 0);
  }
};

/* f16 and bf16: four consecutive k of one row per lane, read as one 8-byte
 * LDS load; chunks are staged with 8-byte stores (every index here is a
 * multiple of 4 elements, rows are 72 bytes). B's halves are copied as they
 * are (its dtype is the MFMA's); x is converted by C::to_lds. */
template <class L, class V, class C>
struct greta_mfma32_half {
  enum { BK = GRETA_MFMA_BK_F16, LDK = GRETA_MFMA_LDK_F16, KI = GRETA_MFMA32_F16_K };
  typedef L lds_t;
  typedef V frag_t;
  typedef greta_mfma_pair pair_t;
  static GRETA_METHOD void stage_x(lds_t *dst, const greta_v4f &v) {
    *(frag_t *)dst = (frag_t){C::to_lds(v[0]), C::to_lds(v[1]), C::to_lds(v[2]), C::to_lds(v[3])};
  }
  static GRETA_METHOD void stage_w(lds_t *dst, const greta_u4 &v) {
    *(pair_t *)dst = pair_t{v.x, v.y};
    *(pair_t *)(dst + 4) = pair_t{v.z, v.w};
  }
  /* XH: four halves of x as they are. */
  static GRETA_METHOD void stage_xh(lds_t *dst, const pair_t &v) { *(pair_t *)dst = v; }
  static GRETA_METHOD frag_t a_frag(const lds_t *As, int row0, int kk, int lane) {
    return *(const frag_t *)&As[(row0 + mfma32_f16_a_row(lane)) * LDK + kk + mfma32_f16_a_k(lane, 0)];
  }
  static GRETA_METHOD frag_t b_frag(const lds_t *Bs, int col0, int kk, int lane) {
    return *(const frag_t *)&Bs[(col0 + mfma32_f16_b_col(lane)) * LDK + kk + mfma32_f16_b_k(lane, 0)];
  }
};

template <>
struct greta_mfma32<GRETA_W_F16> : greta_mfma32_half<_Float16, greta_v4h, greta_mfma32<GRETA_W_F16>> {
  static GRETA_METHOD lds_t to_lds(float v) { return (_Float16)v; }
  /* Two values as one 32-bit word of halves, a in the low half. */
  static GRETA_METHOD unsigned int pair(float a, float b) {
    return (unsigned int)__builtin_bit_cast(unsigned short, (_Float16)a) |
           (unsigned int)__builtin_bit_cast(unsigned short, (_Float16)b) << 16;
  }
  static GRETA_METHOD void mma(greta_v16f &acc, frag_t a, frag_t b) {
    acc = __builtin_amdgcn_mfma_f32_32x32x8f16(a, b, acc, 0, 0, 0);
  }
};

template <>
struct greta_mfma32<GRETA_W_BF16> : greta_mfma32_half<short, greta_v4s, greta_mfma32<GRETA_W_BF16>> {
  static GRETA_METHOD lds_t to_lds(float v) { return (short)mfma_bf16_bits(greta_float_to_bits(v)); }
  /* Two values that are not NaN (mfma_bf16_pair_bits), a in the low half. */
  static GRETA_METHOD unsigned int pair(float a, float b) {
    return mfma_bf16_pair_bits(greta_float_to_bits(a), greta_float_to_bits(b));
  }
  static GRETA_METHOD void mma(greta_v16f &acc, frag_t a, frag_t b) {
    acc = __builtin_amdgcn_mfma_f32_32x32x8bf16_1k(a, b, acc, 0, 0, 0);
  }
};

/* One workgroup's tile; VEC: 16-byte loads (x and B 16-byte aligned), else
 * element by element. Its own function per VEC so that the K loop holds one
 * kind of load and no branch on it. As / Bs: the two LDS buffers of each
 * operand, [2][64 MB * LDK] and [2][64 NB * LDK] (declared once, by the
 * caller, for both instances). */
template <int DT, greta_i64 N, greta_i64 K, int RES, int MB, int NB, bool VEC, int XH, class PAIRS>
GRETA_INLINE void greta_gemm_mfma_tile(const void *xv, const void *b, void *out, const float *res,
                                       greta_i64 M, greta_i64 m0, greta_i64 n0,
                                       typename greta_mfma32<DT>::lds_t *as,
                                       typename greta_mfma32<DT>::lds_t *bs, PAIRS pairs) {
  typedef greta_mfma32<DT> F;
  typedef typename F::lds_t L;
  const int NT = GRETA_MFMA_NT, BM = 64 * MB, BN = 64 * NB, BK = F::BK, LDK = F::LDK;
  const int VB = DT == GRETA_W_F32 ? 4 : 8;       /* weights per 16-byte chunk */
  const int CA = BK / 4, CB = BK / VB;            /* chunks per row and step */
  const int EA = BM * CA / NT, EB = BN * CB / NT; /* chunks per thread and step */
  const int ES = DT == GRETA_W_F32 ? 4 : 2;
  static_assert(K % BK == 0, "the host picks this kernel only when BK divides K");
  static_assert(BM * CA % NT == 0 && BN * CB % NT == 0, "whole chunks per thread");
  static_assert(!XH || DT != GRETA_W_F32, "x in a half type goes with half weights");
  constexpr bool P = PAIRS::G != 0;
  static_assert(!P || (PAIRS::G == 32 && !RES && NB % 2 == 0), "pairs: 32 apart, in one wave");
  const float *x = (const float *)xv;
  const unsigned short *xh = (const unsigned short *)xv; /* XH */
  /* Buffer `buf` of each operand, by offset: clang keeps the LDS address
   * space through the arithmetic (an array of the two pointers turned every
   * LDS access into a flat one). */
  auto A = [&](int buf) { return as + buf * (BM * LDK); };
  auto B = [&](int buf) { return bs + buf * (BN * LDK); };
  const int tid = greta_tid(), lane = greta_lane(), wave = tid / GRETA_WAVE;
  const int wm = gemm_mfma_wave_m(wave, MB), wn = gemm_mfma_wave_n(wave, NB);

  /* x: 4 floats, or (XH) 4 halves, per chunk of the mapping. */
  typedef greta_mfma_pair pair_t;
  greta_v4f ra[XH ? 1 : EA];
  pair_t rah[XH ? EA : 1];
  greta_u4 rb[EB];
  auto load = [&](greta_i64 k0) {
#pragma unroll
    for (int e = 0; e < EA; e++) {
      const int idx = tid + NT * e;
      const greta_i64 m = m0 + gemm_mfma_stage_row(idx, CA);
      const greta_i64 at = m * K + k0 + 4 * gemm_mfma_stage_chunk(idx, CA);
      if (XH) {
        const unsigned short *p = xh + at;
        if (m >= M) rah[e] = pair_t{0u, 0u};
        else if (VEC) rah[e] = *(const pair_t *)p;
        else rah[e] = pair_t{p[0] | (unsigned int)p[1] << 16, p[2] | (unsigned int)p[3] << 16};
      } else {
        const float *p = x + at;
        if (m >= M) ra[e] = (greta_v4f){0.f, 0.f, 0.f, 0.f};
        else if (VEC) ra[e] = *(const greta_v4f *)p;
        else ra[e] = (greta_v4f){p[0], p[1], p[2], p[3]};
      }
    }
#pragma unroll
    for (int e = 0; e < EB; e++) {
      const int idx = tid + NT * e;
      const greta_i64 n = n0 + gemm_mfma_stage_row(idx, CB);
      const char *p =
          (const char *)b + (PAIRS::row(n) * K + k0 + VB * gemm_mfma_stage_chunk(idx, CB)) * ES;
      if (n >= N || !PAIRS::valid(n)) {
        rb[e] = greta_u4{0u, 0u, 0u, 0u};
      } else if (VEC) {
        rb[e] = *(const greta_u4 *)p;
      } else { /* four 32-bit words: 1 float or 2 halves each */
        unsigned int w[4];
        for (int j = 0; j < 4; j++) {
          if (DT == GRETA_W_F32) {
            w[j] = greta_float_to_bits(((const float *)p)[j]);
          } else {
            const unsigned short *h = (const unsigned short *)p + 2 * j;
            w[j] = (unsigned int)h[0] | (unsigned int)h[1] << 16;
          }
        }
        rb[e] = greta_u4{w[0], w[1], w[2], w[3]};
      }
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int e = 0; e < EA; e++) {
      const int idx = tid + NT * e;
      L *dst = &A(buf)[gemm_mfma_stage_row(idx, CA) * LDK + 4 * gemm_mfma_stage_chunk(idx, CA)];
      if (XH) F::stage_xh(dst, rah[e]);
      else F::stage_x(dst, ra[e]);
    }
#pragma unroll
    for (int e = 0; e < EB; e++) {
      const int idx = tid + NT * e;
      F::stage_w(&B(buf)[gemm_mfma_stage_row(idx, CB) * LDK + VB * gemm_mfma_stage_chunk(idx, CB)],
                 rb[e]);
    }
  };
  greta_v16f acc[MB][NB];
  auto compute = [&](int buf) {
#pragma unroll
    for (int kk = 0; kk < BK; kk += F::KI) {
      typename F::frag_t fa[MB], fb[NB];
#pragma unroll
      for (int i = 0; i < MB; i++) fa[i] = F::a_frag(A(buf), wm + 32 * i, kk, lane);
#pragma unroll
      for (int j = 0; j < NB; j++) fb[j] = F::b_frag(B(buf), wn + 32 * j, kk, lane);
#pragma unroll
      for (int i = 0; i < MB; i++)
#pragma unroll
        for (int j = 0; j < NB; j++) F::mma(acc[i][j], fa[i], fb[j]);
    }
  };

#pragma unroll
  for (int i = 0; i < MB; i++)
#pragma unroll
    for (int j = 0; j < NB; j++)
#pragma unroll
      for (int r = 0; r < 16; r++) acc[i][j][r] = 0.f;
  load(0);
  store(0);
  greta_sync();
  /* Every step but the last: the next step's loads fly during the MFMAs and
   * land in the other buffer (last read before the previous barrier). The
   * last step is peeled, so the loop body has no branch and the
   * accumulators stay in place across it. */
  const greta_i64 nk = K / BK;
  for (greta_i64 kt = 0; kt + 1 < nk; kt++) {
    const int cur = (int)(kt & 1);
    load((kt + 1) * BK);
    compute(cur);
    store(cur ^ 1);
    greta_sync();
  }
  compute((int)((nk - 1) & 1));

  /* Lane l's column of each block is one of 32 consecutive n: a wave's
   * stores of one register are two 128-byte runs. */
  if (P) { /* first columns in block j (even), partners in j + 1 */
#pragma unroll
    for (int i = 0; i < MB; i++)
#pragma unroll
      for (int j = 0; j < NB; j += 2)
#pragma unroll
        for (int r = 0; r < 16; r++) {
          const greta_i64 m = m0 + wm + 32 * i + mfma32_d_row(lane, r);
          const greta_i64 v = n0 + wn + 32 * j + mfma32_d_col(lane);
          if (m < M && v < N) pairs.store1(m, v, acc[i][j][r], acc[i][j + 1][r]);
        }
  } else {
#pragma unroll
    for (int i = 0; i < MB; i++)
#pragma unroll
      for (int j = 0; j < NB; j++)
#pragma unroll
        for (int r = 0; r < 16; r++) {
          const greta_i64 m = m0 + wm + 32 * i + mfma32_d_row(lane, r);
          const greta_i64 n = n0 + wn + 32 * j + mfma32_d_col(lane);
          if (m < M && n < N) {
            float v = acc[i][j][r];
            if (RES) v += res[m * N + n];
            ((float *)out)[m * N + n] = v;
          }
        }
  }
}

/* Grid: x = ceil(N / (64 NB)), y = ceil(M / (64 MB)) (M = rows, grows
 * with T through grid_t). */
template <int DT, greta_i64 N, greta_i64 K, int RES, greta_i64 RC, int RPT, int MB, int NB,
          int XH = 0, class PAIRS = greta_no_pairs>
GRETA_INLINE void greta_gemm_mfma(const int *params, const void *x, const void *b, void *out,
                                  const float *res, PAIRS pairs = PAIRS()) {
  typedef typename greta_mfma32<DT>::lds_t L;
  const int LDK = greta_mfma32<DT>::LDK;
  __shared__ __attribute__((aligned(16))) L As[2 * 64 * MB * LDK];
  __shared__ __attribute__((aligned(16))) L Bs[2 * 64 * NB * LDK];
  const greta_i64 M = greta_rows<RC, RPT>(params);
  const greta_i64 m0 = (greta_i64)greta_bid_y() * 64 * MB, n0 = (greta_i64)greta_bid_x() * 64 * NB;
  if (m0 >= M) return; /* whole block: no barrier is skipped by part of it */
  /* The same for every thread of the launch. */
  if ((((unsigned long long)x | (unsigned long long)b) & 15ull) == 0)
    greta_gemm_mfma_tile<DT, N, K, RES, MB, NB, true, XH>(x, b, out, res, M, m0, n0, As, Bs, pairs);
  else
    greta_gemm_mfma_tile<DT, N, K, RES, MB, NB, false, XH>(x, b, out, res, M, m0, n0, As, Bs, pairs);
}
#endif /* GRETA_AMD */
