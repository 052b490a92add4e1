/* Causal attention over the KV cache, with online softmax (no T x T scores
 * in memory). q [T, H, D] f32, k / v caches [MAXSEQ, KVH, D] in DT (f32, f16
 * or bf16; f32 arithmetic throughout), head h reads kv head h / (H / KVH)
 * (grouped-query attention); token t attends cache rows 0 .. pos + t;
 * score = (q . k) * scale.
 *
 * Prefill (GRETA_OP_ATTENTION), greta_attention: block = 256 threads = NQ
 * waves = NQ consecutive tokens of one head, sharing K / V tiles of BKV rows
 * (32, or 16 when D > 128) staged in LDS as f32 by the whole block.
 * Grid: x = H, y = ceil(T / NQ). The core (greta_attn_tile) is one wave per
 * query row. Scores: lane l takes key row j = l % BKV and the part l / BKV of
 * the D dimensions (GRETA_WAVE / BKV parts), partial dots meet by shuffles.
 * Online softmax per tile: m' = max(m, max_j s_j), l' = l e^(m - m') +
 * sum_j e^(s_j - m'), acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j, where
 * lane l holds acc for dimensions d = l + GRETA_WAVE c and receives each
 * e^(s_j - m') by shuffle. Per tile a wave does 4 * BKV * D flops on
 * 2 * BKV * D staged values shared by the block's NQ waves: bound by LDS.
 *
 * Decode (GRETA_OP_ATTENTION_DECODE), greta_attention_decode: see there.
 */

/* Running state of one query row, per lane. */
template <int D>
struct greta_attn_state {
  enum { DPL = (D + GRETA_WAVE - 1) / GRETA_WAVE };
  float m, l, acc[DPL];
};

/* Stages cache rows r0 .. r0 + BKV - 1 of kv head g (rows >= hi as zeros)
 * into Ks [BKV][D + 1] and Vs [BKV][D] as f32, with NT threads. */
template <int D, int BKV, int NT, greta_i64 KVH, int DT>
GRETA_INLINE void greta_attn_load(const void *kc, const void *vc, greta_i64 g, greta_i64 r0,
                                  greta_i64 hi, float *Ks, float *Vs) {
  for (int idx = greta_tid(); idx < BKV * D; idx += NT) {
    int j = idx / D, d = idx % D;
    greta_i64 r = r0 + j;
    bool ok = r < hi;
    greta_i64 off = (r * KVH + g) * D + d;
    Ks[j * (D + 1) + d] = ok ? greta_load_w<DT>(kc, off) : 0.f;
    Vs[j * D + d] = ok ? greta_load_w<DT>(vc, off) : 0.f;
  }
}

/* One wave folds the staged tile (rows r0 + j, valid while < hi) into st.
 * qs: this wave's query row [D] in LDS; Ks [BKV][D + 1], Vs [BKV][D]. */
template <int D, int BKV>
GRETA_INLINE void greta_attn_tile(greta_attn_state<D> &st, const float *qs, const float *Ks,
                                  const float *Vs, greta_i64 r0, greta_i64 hi, float scale) {
  const int LPK = GRETA_WAVE / BKV; /* lanes per key row */
  const int DPK = (D + LPK - 1) / LPK; /* dimensions per lane of a key row */
  const int lane = greta_lane(), j = lane % BKV, part = lane / BKV;
  const int dend = (part + 1) * DPK < D ? (part + 1) * DPK : D;
  float s = 0.f;
  for (int d = part * DPK; d < dend; d++) s += qs[d] * Ks[j * (D + 1) + d];
  for (int o = BKV; o < GRETA_WAVE; o <<= 1) s += greta_shfl_xor(s, o);
  const bool valid = r0 + j < hi;
  s = valid ? s * scale : greta_neg_inf();
  const float mt = greta_wave_max(s);
  const float mn = greta_fmax(st.m, mt);
  if (mn == greta_neg_inf()) return; /* nothing valid yet (uniform across the wave) */
  const float alpha = st.m == greta_neg_inf() ? 0.f : greta_exp(st.m - mn);
  const float p = valid ? greta_exp(s - mn) : 0.f;
  st.l = st.l * alpha + greta_wave_sum(part == 0 ? p : 0.f);
  st.m = mn;
  for (int c = 0; c < st.DPL; c++) st.acc[c] *= alpha;
  for (int jj = 0; jj < BKV; jj++) {
    float pj = greta_shfl(p, jj); /* 0 past hi, where the staged V rows are zeros */
    for (int c = 0; c < st.DPL; c++) {
      int d = lane + GRETA_WAVE * c;
      if (d < D) st.acc[c] += pj * Vs[jj * D + d];
    }
  }
}

template <int D>
GRETA_INLINE void greta_attn_init(greta_attn_state<D> &st) {
  st.m = greta_neg_inf();
  st.l = 0.f;
  for (int c = 0; c < st.DPL; c++) st.acc[c] = 0.f;
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, int DT, int OUT = GRETA_W_F32>
GRETA_INLINE void greta_attention(const int *params, const float *q, const void *kc,
                                  const void *vc, void *out, float scale) {
  const int NT = GRETA_ATTN_NT, NQ = NT / GRETA_WAVE, BKV = D > 128 ? 16 : 32;
  __shared__ float Ks[BKV * (D + 1)];
  __shared__ float Vs[BKV * D];
  __shared__ float Qs[NQ][D];
  const greta_i64 T = params[0], pos = params[1];
  const greta_i64 h = greta_bid_x(), g = h / (H / KVH);
  const greta_i64 t0 = (greta_i64)greta_bid_y() * NQ;
  if (t0 >= T) return;
  const int w = greta_tid() / GRETA_WAVE, lane = greta_lane();
  const greta_i64 t = t0 + w;
  for (int d = lane; d < D; d += GRETA_WAVE) Qs[w][d] = t < T ? q[(t * H + h) * D + d] : 0.f;
  /* Rows this wave's token sees (none for a token past T), and the block's. */
  greta_i64 hi = t < T ? pos + t + 1 : 0;
  if (hi > MAXSEQ) hi = MAXSEQ;
  greta_i64 block_hi = pos + (t0 + NQ < T ? t0 + NQ : T);
  if (block_hi > MAXSEQ) block_hi = MAXSEQ;
  greta_attn_state<D> st;
  greta_attn_init(st);
  for (greta_i64 r0 = 0; r0 < block_hi; r0 += BKV) {
    greta_sync(); /* the previous tile is consumed (and Qs written) */
    greta_attn_load<D, BKV, NT, KVH, DT>(kc, vc, g, r0, block_hi, Ks, Vs);
    greta_sync();
    greta_attn_tile<D, BKV>(st, Qs[w], Ks, Vs, r0, hi, scale);
  }
  if (t < T) {
    for (int c = 0; c < st.DPL; c++) {
      int d = lane + GRETA_WAVE * c;
      if (d < D) greta_store_w<OUT>(out, (t * H + h) * D + d, st.acc[c] / st.l);
    }
  }
}


/* ---- decode: flash-decoding in one launch ---------------------------------
 *
 * greta_attention_decode: block (split s, head h, token t) = NT threads
 * (GRETA_ATTN_NT = 256 from the selector); grid x = NS splits, y = H, z = T. Split s covers cache rows
 * [s SR, min((s + 1) SR, pos + t + 1)); splits at or past the token's
 * active count A = ceil((pos + t + 1) / SR) return at once.
 *
 * Thread <-> data: a cache row of one kv head is D elements = CPR chunks of
 * 16 bytes (8 halves or 4 floats; 1 element when D * size is not a multiple
 * of 16). LPR consecutive lanes (a row group: 16 for D = 128 f16) share a row,
 * lane `part` taking chunks part + LPR i (i < CPL); the block's NT / LPR row
 * groups take consecutive rows, so a warp reads whole 16-byte-aligned row
 * segments. Each thread keeps U rows' K and V chunks of a tile
 * (TILE = U NT / LPR rows) in registers: K and V both come straight from
 * the cache with 16-byte loads, no LDS. LOADS bounds the K chunks a thread
 * holds (as many V chunks again): when the whole split fits (U CPL <= LOADS)
 * it is one tile, every load issued at once; otherwise tiles of U CPL <=
 * LOADS / 2 chunks are double-buffered, the next tile's loads issued before
 * the current tile is folded. For D = 128 f16, SR = 256, NT = 256 and
 * LOADS = 16 a block moves 128 KiB, every thread 32 loads of 16 bytes, all
 * in flight at once; the arithmetic (4 D flops per row) is ~1 flop per
 * byte, so the kernel is bound by cache bandwidth.
 *
 * Per row group: scores by LPR-lane shuffles, then online softmax over its
 * rows (m, l, acc[CPL][CE] per lane: each lane keeps its chunks' dims).
 * Row groups merge by shuffles within the wave, then waves through LDS
 * (NW x (D + 2) floats), into partial[t][h][s] = (m, l, acc[D]).
 *
 * Overlap: the first tile's rows below pos are loaded before
 * greta_grid_begin (prelude.h), this step's rows and q after it.
 *
 * Hand-off: the block's threads store its partial, meet at a barrier, and
 * thread 0 counts the split in sync[t][h] with one acquire-release atomic
 * (prelude.h, the block-wide hand-off); the block that brings the count to A
 * merges the A splits into out (the NT threads split into
 * NT / D groups of splits, met in LDS) and sets the counter back to 0 for
 * the next launch. With A = 1 the block writes out directly, never counting.
 */
template <int D, int DT>
struct greta_attn_decode_shape {
  enum {
    ESIZE = DT == GRETA_W_F32 ? 4 : 2,
    VEC = (D * ESIZE) % 16 == 0,
    CE = VEC ? 16 / ESIZE : 1,                                  /* elements per chunk */
    CPR = D / CE,                                               /* chunks per row */
    LPR = CPR > 8 ? 16 : CPR > 4 ? 8 : CPR > 2 ? 4 : CPR > 1 ? 2 : 1, /* lanes per row */
    CPL = (CPR + LPR - 1) / LPR,                                /* chunks per lane */
  };
};

/* Chunk c of cache row `row` (element offset of the row's kv head) as raw
 * bits: 16 bytes, or one element converted to f32 in .x. */
template <int DT, bool VEC>
GRETA_INLINE greta_u4 greta_kv_chunk_load(const void *cache, greta_i64 elem) {
  greta_u4 r;
  if (VEC) {
    r = *(const greta_u4 *)((const char *)cache + elem * (DT == GRETA_W_F32 ? 4 : 2));
  } else {
    r.x = greta_float_to_bits(greta_load_w<DT>(cache, elem));
    r.y = r.z = r.w = 0u;
  }
  return r;
}
template <int DT, bool VEC>
GRETA_INLINE float greta_kv_chunk_elem(const greta_u4 &raw, int e) {
  return VEC ? greta_u4_elem<DT>(raw, e) : greta_bits_to_float(raw.x);
}

/* Issues the loads of one tile: row r0 + u RPP + group, chunks part + LPR i
 * (zeros past hi and past the row's chunks). */
template <int DT, bool VEC, int U, int CPL, int CE, int CPR, int LPR, int RPP>
GRETA_INLINE void greta_attn_decode_tile(const void *kc, const void *vc, greta_i64 r0, greta_i64 hi,
                                         int group, int part, greta_i64 row_stride,
                                         greta_i64 head_off, greta_u4 (&kr)[U][CPL],
                                         greta_u4 (&vr)[U][CPL]) {
#pragma unroll
  for (int u = 0; u < U; u++) {
    const greta_i64 r = r0 + u * RPP + group;
#pragma unroll
    for (int i = 0; i < CPL; i++) {
      const int c = part + LPR * i;
      const greta_i64 elem = r * row_stride + head_off + c * CE;
      if (r < hi && c < CPR) {
        kr[u][i] = greta_kv_chunk_load<DT, VEC>(kc, elem);
        vr[u][i] = greta_kv_chunk_load<DT, VEC>(vc, elem);
      } else {
        kr[u][i] = vr[u][i] = greta_u4{0u, 0u, 0u, 0u};
      }
    }
  }
}

/* Merging softmax states (m, l, acc) and (m2, l2, acc2): m' = max(m, m2),
 * l' = a l + b l2, acc' = a acc + b acc2 with a = e^(m - m'), b = e^(m2 - m');
 * an empty state (m = -inf, l = 0, acc = 0) gets weight 0, also when both
 * are empty (no NaN from -inf - -inf). */
GRETA_INLINE void greta_attn_merge_weights(float m, float m2, float *out_m, float *out_a,
                                           float *out_b) {
  const float mn = greta_fmax(m, m2);
  const bool empty = mn == greta_neg_inf();
  *out_m = mn;
  *out_a = empty ? 0.f : greta_exp(m - mn);
  *out_b = empty ? 0.f : greta_exp(m2 - mn);
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, greta_i64 NS, greta_i64 SR, int DT,
          int NT, int LOADS>
GRETA_INLINE void greta_attention_decode(const int *params, const float *q, const void *kc,
                                         const void *vc, float *partial, int *sync, float *out,
                                         float scale) {
  typedef greta_attn_decode_shape<D, DT> S;
  static_assert(D <= NT, "the final merge gives each dimension a thread");
  const int NW = NT / GRETA_WAVE;
  const int LPR = S::LPR, CPL = S::CPL, CE = S::CE, CPR = S::CPR;
  const int RPP = NT / LPR; /* rows per pass of the block */
  const int U_SPLIT = (int)((SR + RPP - 1) / RPP); /* rows per thread of a split */
  const bool ONE_TILE = U_SPLIT * CPL <= LOADS;
  const int U_HALF = LOADS / 2 / CPL > 0 ? LOADS / 2 / CPL : 1;
  const int U = ONE_TILE ? U_SPLIT : U_HALF; /* rows per thread per tile */
  const int TILE = U * RPP;
  const bool PREFETCH = TILE < SR; /* else a split is one tile */
  const int GROUPS = NT / D > 0 ? NT / D : 1; /* split groups of the final merge */
  __shared__ float wave_state[NW][D + 2];
  __shared__ float merge_state[GROUPS][D + 2];
  __shared__ int last_block;

  const greta_i64 T = params[0], pos = params[1];
  const greta_i64 s = greta_bid_x(), h = greta_bid_y(), t = greta_bid_z();
  if (t >= T) return;
  greta_i64 rows = pos + t + 1;
  if (rows > MAXSEQ) rows = MAXSEQ;
  const greta_i64 active = (rows + SR - 1) / SR;
  if (s >= active) return;
  const greta_i64 lo = s * SR, hi = lo + SR < rows ? lo + SR : rows;
  const greta_i64 g = h / (H / KVH);
  const int tid = greta_tid(), lane = greta_lane(), w = tid / GRETA_WAVE;
  const int part = tid % LPR, group = tid / LPR;
  const greta_i64 row_stride = KVH * D, head_off = g * D;

  /* Raw K / V chunks of the tile being folded and of the next one. Rows
   * below pos are earlier steps': the first tile's are read before
   * greta_grid_begin, while the previous launch (which appends rows pos ..)
   * may still run; this step's rows of that tile are read after it. */
  greta_u4 k_cur[U][CPL], v_cur[U][CPL], k_next[PREFETCH ? U : 1][CPL] = {},
      v_next[PREFETCH ? U : 1][CPL] = {};
  const greta_i64 earlier = hi < pos ? hi : pos;
  greta_attn_decode_tile<DT, S::VEC, U, CPL, CE, CPR, LPR, RPP>(kc, vc, lo, earlier, group, part,
                                                                 row_stride, head_off, k_cur, v_cur);
  greta_grid_begin();
  if (earlier < hi && earlier < lo + TILE) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      const greta_i64 r = lo + u * RPP + group;
#pragma unroll
      for (int i = 0; i < CPL; i++) {
        const int c = part + LPR * i;
        if (r >= earlier && r < hi && c < CPR) {
          const greta_i64 elem = r * row_stride + head_off + c * CE;
          k_cur[u][i] = greta_kv_chunk_load<DT, S::VEC>(kc, elem);
          v_cur[u][i] = greta_kv_chunk_load<DT, S::VEC>(vc, elem);
        }
      }
    }
  }

  float qv[CPL][CE];
#pragma unroll
  for (int i = 0; i < CPL; i++) {
    const int c = part + LPR * i;
#pragma unroll
    for (int e = 0; e < CE; e++) qv[i][e] = c < CPR ? q[(t * H + h) * D + c * CE + e] : 0.f;
  }
  float m = greta_neg_inf(), l = 0.f, acc[CPL][CE];
#pragma unroll
  for (int i = 0; i < CPL; i++)
#pragma unroll
    for (int e = 0; e < CE; e++) acc[i][e] = 0.f;
  for (greta_i64 r0 = lo; r0 < hi; r0 += TILE) {
    if (PREFETCH && r0 + TILE < hi)
      greta_attn_decode_tile<DT, S::VEC, PREFETCH ? U : 1, CPL, CE, CPR, LPR, RPP>(
          kc, vc, r0 + TILE, hi, group, part, row_stride, head_off, k_next, v_next);
    float sc[U];
    float mt = greta_neg_inf();
#pragma unroll
    for (int u = 0; u < U; u++) {
      float dot = 0.f;
#pragma unroll
      for (int i = 0; i < CPL; i++)
#pragma unroll
        for (int e = 0; e < CE; e++) dot += qv[i][e] * greta_kv_chunk_elem<DT, S::VEC>(k_cur[u][i], e);
#pragma unroll
      for (int o = 1; o < LPR; o <<= 1) dot += greta_shfl_xor(dot, o);
      sc[u] = r0 + u * RPP + group < hi ? dot * scale : greta_neg_inf();
      mt = greta_fmax(mt, sc[u]);
    }
    const float mn = greta_fmax(m, mt);
    if (mn != greta_neg_inf()) { /* the row group has seen a row */
      const float alpha = greta_exp(m - mn);
      l *= alpha;
#pragma unroll
      for (int i = 0; i < CPL; i++)
#pragma unroll
        for (int e = 0; e < CE; e++) acc[i][e] *= alpha;
#pragma unroll
      for (int u = 0; u < U; u++) {
        const float p = greta_exp(sc[u] - mn); /* 0 for a row past hi */
        l += p;
#pragma unroll
        for (int i = 0; i < CPL; i++)
#pragma unroll
          for (int e = 0; e < CE; e++) acc[i][e] += p * greta_kv_chunk_elem<DT, S::VEC>(v_cur[u][i], e);
      }
      m = mn;
    }
    if (PREFETCH) {
#pragma unroll
      for (int u = 0; u < U; u++)
#pragma unroll
        for (int i = 0; i < CPL; i++) {
          k_cur[u][i] = k_next[u < (PREFETCH ? U : 1) ? u : 0][i];
          v_cur[u][i] = v_next[u < (PREFETCH ? U : 1) ? u : 0][i];
        }
    }
  }

  /* Row groups of a wave: lanes part, part + LPR, ... hold the same dims. */
#pragma unroll
  for (int o = LPR; o < GRETA_WAVE; o <<= 1) {
    const float m2 = greta_shfl_xor(m, o), l2 = greta_shfl_xor(l, o);
    float mn, a, b;
    greta_attn_merge_weights(m, m2, &mn, &a, &b);
    l = l * a + l2 * b;
#pragma unroll
    for (int i = 0; i < CPL; i++)
#pragma unroll
      for (int e = 0; e < CE; e++) acc[i][e] = acc[i][e] * a + greta_shfl_xor(acc[i][e], o) * b;
    m = mn;
  }
  if (lane < LPR) {
    if (lane == 0) {
      wave_state[w][0] = m;
      wave_state[w][1] = l;
    }
#pragma unroll
    for (int i = 0; i < CPL; i++) {
      const int c = part + LPR * i;
#pragma unroll
      for (int e = 0; e < CE; e++)
        if (c < CPR) wave_state[w][2 + c * CE + e] = acc[i][e];
    }
  }
  greta_sync();

  /* Waves -> this split's (m, l, acc[d]); every row of the split was seen,
   * so m is finite. */
  float *slots = partial + (t * H + h) * NS * (D + 2);
  float *slot = slots + s * (D + 2);
  float *o_row = out + (t * H + h) * D;
  float ms = greta_neg_inf();
  for (int x = 0; x < NW; x++) ms = greta_fmax(ms, wave_state[x][0]);
  float ls = 0.f;
  for (int x = 0; x < NW; x++) ls += wave_state[x][1] * greta_exp(wave_state[x][0] - ms);
  for (int d = tid; d < D; d += NT) {
    float a = 0.f;
    for (int x = 0; x < NW; x++) a += wave_state[x][2 + d] * greta_exp(wave_state[x][0] - ms);
    if (active == 1) o_row[d] = a / ls;
    else slot[2 + d] = a;
  }
  if (active == 1) return;
  if (tid == 0) {
    slot[0] = ms;
    slot[1] = ls;
  }

  /* The slot, then one count for the block (prelude: the block-wide form). */
  greta_publish_device();
  greta_sync();
  if (tid == 0) last_block = greta_atomic_add_acq_rel_device(&sync[t * H + h], 1) + 1 == active;
  greta_sync();
  if (!last_block) return;
  greta_acquire_device();
  if (tid == 0) sync[t * H + h] = 0;

  /* Thread (group x, d) merges splits x, x + GROUPS, ... for dim d; the
   * loads of several splits are in flight at once (unrolled). */
  const int mg = tid / D, d = tid % D;
  float mm = greta_neg_inf(), lm = 0.f, am = 0.f;
  if (mg < GROUPS) {
#pragma unroll 8
    for (greta_i64 x = mg; x < active; x += GROUPS) {
      const float *sx = slots + x * (D + 2);
      const float m2 = greta_load_device(sx), l2 = greta_load_device(sx + 1);
      const float a2 = greta_load_device(sx + 2 + d);
      float mn, a, b;
      greta_attn_merge_weights(mm, m2, &mn, &a, &b);
      lm = lm * a + l2 * b;
      am = am * a + a2 * b;
      mm = mn;
    }
    if (d == 0) {
      merge_state[mg][0] = mm;
      merge_state[mg][1] = lm;
    }
    merge_state[mg][2 + d] = am;
  }
  greta_sync();
  if (tid < D) {
    float mf = greta_neg_inf();
    for (int x = 0; x < GROUPS; x++) mf = greta_fmax(mf, merge_state[x][0]);
    float lf = 0.f, af = 0.f;
    for (int x = 0; x < GROUPS; x++) {
      const float e = merge_state[x][0] == greta_neg_inf() ? 0.f : greta_exp(merge_state[x][0] - mf);
      lf += merge_state[x][1] * e;
      af += merge_state[x][2 + tid] * e;
    }
    o_row[tid] = af / lf;
  }
}
