/* Causal attention over the KV cache, with online softmax (no T x T scores
 * in memory). q [T, H, D], k / v caches [MAXSEQ, KVH, D] f32, head h reads
 * kv head h / (H / KVH) (grouped-query attention); token t attends cache rows
 * 0 .. pos + t; score = (q . k) * scale.
 *
 * The core (greta_attn_tile) is one wave per query row. K / V rows come in
 * tiles of BKV rows (32, or 16 when D > 128) staged in LDS by the whole
 * block. Scores: lane l takes key row j = l % BKV and the part l / BKV of
 * the D dimensions (GRETA_WAVE / BKV parts), partial dots meet by shuffles.
 * Online softmax per tile: m' = max(m, max_j s_j), l' = l e^(m - m') +
 * sum_j e^(s_j - m'), acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j, where
 * lane l holds acc for dimensions d = l + GRETA_WAVE c and receives each
 * e^(s_j - m') by shuffle. Per tile a wave does 2 * BKV * D flops per
 * 2 * BKV * D floats staged (shared by the block's waves for prefill): the
 * kernel is bound by cache bandwidth at decode and by LDS at prefill.
 *
 * Prefill (GRETA_OP_ATTENTION), greta_attention: block = 256 threads = NQ
 * waves = NQ consecutive tokens of one head, sharing the K / V tiles.
 * Grid: x = H, y = ceil(T / NQ).
 * Decode (flash-decoding), greta_attention_split: block = one wave handling
 * split s (rows [s SR, (s + 1) SR)) of one (token, head); only K is staged
 * (V rows are read once, coalesced, straight from the cache, which halves
 * the LDS and doubles the waves per CU); writes the
 * partial [T, H, NS, D + 2] = (m, l, acc[D]); an empty split writes
 * (-inf, 0, 0). Grid: x = NS, y = H, z = T.
 * greta_attention_combine: block = D threads rounded up to the wave, thread
 * d merges the splits' acc[d]. Grid: x = H, y = T.
 */

/* Running state of one query row, per lane. */
template <int D>
struct greta_attn_state {
  enum { DPL = (D + GRETA_WAVE - 1) / GRETA_WAVE };
  float m, l, acc[DPL];
};

/* Stages cache rows r0 .. r0 + BKV - 1 of kv head g (rows >= hi as zeros)
 * into Ks [BKV][D + 1] and, unless Vs is NULL, Vs [BKV][D], with NT
 * threads. */
template <int D, int BKV, int NT, greta_i64 KVH>
GRETA_INLINE void greta_attn_load(const float *kc, const float *vc, greta_i64 g, greta_i64 r0,
                                  greta_i64 hi, float *Ks, float *Vs) {
  for (int idx = greta_tid(); idx < BKV * D; idx += NT) {
    int j = idx / D, d = idx % D;
    greta_i64 r = r0 + j;
    bool ok = r < hi;
    greta_i64 off = (r * KVH + g) * D + d;
    Ks[j * (D + 1) + d] = ok ? kc[off] : 0.f;
    if (Vs) Vs[j * D + d] = ok ? vc[off] : 0.f;
  }
}

/* One wave folds the staged tile (rows r0 + j, valid while < hi) into st.
 * qs: this wave's query row [D] in LDS; V row j at Vs + j * VSTRIDE (LDS,
 * or, VGLOBAL, the cache itself with VSTRIDE = KVH * D). */
template <int D, int BKV, greta_i64 VSTRIDE, bool VGLOBAL>
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
    float pj = greta_shfl(p, jj);
    /* Past hi there is no V row (maybe no memory) in the cache; staged
     * tiles hold zeros there instead. Uniform across the wave. */
    if (VGLOBAL && r0 + jj >= hi) break;
    for (int c = 0; c < st.DPL; c++) {
      int d = lane + GRETA_WAVE * c;
      if (d < D) st.acc[c] += pj * Vs[jj * VSTRIDE + d];
    }
  }
}

template <int D>
GRETA_INLINE void greta_attn_init(greta_attn_state<D> &st) {
  st.m = greta_neg_inf();
  st.l = 0.f;
  for (int c = 0; c < st.DPL; c++) st.acc[c] = 0.f;
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ>
GRETA_INLINE void greta_attention(const int *params, const float *q, const float *kc,
                                  const float *vc, float *out, float scale) {
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
    greta_attn_load<D, BKV, NT, KVH>(kc, vc, g, r0, block_hi, Ks, Vs);
    greta_sync();
    greta_attn_tile<D, BKV, D, false>(st, Qs[w], Ks, Vs, r0, hi, scale);
  }
  if (t < T) {
    for (int c = 0; c < st.DPL; c++) {
      int d = lane + GRETA_WAVE * c;
      if (d < D) out[(t * H + h) * D + d] = st.acc[c] / st.l;
    }
  }
}

template <greta_i64 H, greta_i64 KVH, int D, greta_i64 MAXSEQ, greta_i64 NS, greta_i64 SR>
GRETA_INLINE void greta_attention_split(const int *params, const float *q, const float *kc,
                                        const float *vc, float *partial, float scale) {
  const int NT = GRETA_WAVE, BKV = D > 128 ? 16 : 32;
  __shared__ float Ks[BKV * (D + 1)];
  __shared__ float Qs[D];
  const greta_i64 T = params[0], pos = params[1];
  const greta_i64 s = greta_bid_x(), h = greta_bid_y(), t = greta_bid_z();
  if (t >= T) return;
  const greta_i64 g = h / (H / KVH);
  const int lane = greta_lane();
  greta_i64 lo = s * SR, hi = (s + 1) * SR;
  if (hi > pos + t + 1) hi = pos + t + 1;
  if (hi > MAXSEQ) hi = MAXSEQ;
  for (int d = lane; d < D; d += GRETA_WAVE) Qs[d] = q[(t * H + h) * D + d];
  greta_attn_state<D> st;
  greta_attn_init(st);
  for (greta_i64 r0 = lo; r0 < hi; r0 += BKV) {
    greta_sync();
    greta_attn_load<D, BKV, NT, KVH>(kc, 0, g, r0, hi, Ks, 0);
    greta_sync();
    greta_attn_tile<D, BKV, KVH * D, true>(st, Qs, Ks, vc + (r0 * KVH + g) * D, r0, hi, scale);
  }
  float *p = partial + ((t * H + h) * NS + s) * (D + 2);
  if (lane == 0) {
    p[0] = st.m; /* -inf and 0 for an empty split */
    p[1] = st.l;
  }
  for (int c = 0; c < st.DPL; c++) {
    int d = lane + GRETA_WAVE * c;
    if (d < D) p[2 + d] = st.acc[c];
  }
}

template <greta_i64 H, int D, greta_i64 NS>
GRETA_INLINE void greta_attention_combine(const int *params, const float *partial, float *out) {
  const greta_i64 h = greta_bid_x(), t = greta_bid_y();
  const int d = greta_tid();
  if (t >= params[0] || d >= D) return;
  const float *p = partial + (t * H + h) * NS * (D + 2);
  /* The split loops stay rolled (x4): fully unrolled, the per-split values,
   * uniform across the block, pile up in scalar registers and spill
   * (seen with ROCm 5.7's hiprtc for gfx90a at NS = 32). */
  float mx = greta_neg_inf();
#pragma unroll 4
  for (greta_i64 s = 0; s < NS; s++) mx = greta_fmax(mx, p[s * (D + 2)]);
  float num = 0.f, den = 0.f;
  if (mx != greta_neg_inf()) {
#pragma unroll 4
    for (greta_i64 s = 0; s < NS; s++) {
      float ms = p[s * (D + 2)];
      if (ms == greta_neg_inf()) continue;
      float e = greta_exp(ms - mx);
      den += e * p[s * (D + 2) + 1];
      num += e * p[s * (D + 2) + 2 + d];
    }
  }
  out[(t * H + h) * D + d] = den > 0.f ? num / den : 0.f;
}
