/* Rotate-half RoPE (Hugging Face Llama): x, out [T, H, D]; for token t at
 * position pos + t and i < D/2: angle = (pos + t) * inv_freq[i],
 * out[i] = x[i] cos - x[i + D/2] sin, out[i + D/2] = x[i + D/2] cos + x[i] sin.
 *
 * inv_freq[i] = theta^(-2i/D) is computed on the host in double, rounded to
 * f32 and baked into the kernel as a table (the caller passes it); the angle
 * is the f32 product (as HF computes it) and sin / cos are greta_sincos
 * (accurate for any angle, unlike the hardware v_sin_f32).
 * Thread per rotated pair (t, h, i): it reads x[i] and x[i + D/2] and writes
 * both, so out may alias x. Grid: x = ceil(T * H * D/2 / 256).
 */
/* Rotates the pair (x0, x1) = (x[i], x[i + D/2]) at `position`. F32: sin
 * and cos from greta_sincos_f32 (sincos_f32.h) inside its range, for the
 * prefill q/k/v GEMM's epilogue, whose rotated values are stored as halves
 * or rounded to one by the attention. */
template <bool F32 = false>
GRETA_INLINE void greta_rope_rotate(greta_i64 position, float inv_freq_i, float *x0, float *x1) {
  const float angle = (float)position * inv_freq_i;
  float s, c;
  if (F32 && angle <= GRETA_SINCOS_F32_MAX) greta_sincos_f32(angle, &s, &c);
  else greta_sincos(angle, &s, &c);
  const float r0 = *x0 * c - *x1 * s, r1 = *x1 * c + *x0 * s;
  *x0 = r0;
  *x1 = r1;
}

template <greta_i64 H, greta_i64 D>
GRETA_INLINE void greta_rope(const int *params, const float *x, float *out,
                             const float *inv_freq) {
  const greta_i64 HALF = D / 2;
  greta_i64 j = greta_ew_index((greta_i64)params[0] * H * HALF);
  if (j < 0) return;
  greta_i64 t = j / (H * HALF), rem = j % (H * HALF), h = rem / HALF, i = rem % HALF;
  greta_i64 base = (t * H + h) * D;
  float x0 = x[base + i], x1 = x[base + i + HALF];
  greta_rope_rotate((greta_i64)params[1] + t, inv_freq[i], &x0, &x1);
  out[base + i] = x0;
  out[base + i + HALF] = x1;
}

/* The q/k/v split of one projected token (matmul_qkv's epilogue, and
 * qkv_rope_append): pair i (< D/2) of head `head` of y = [q heads | k heads |
 * v heads], (y0, y1) = (y[i], y[i + D/2]) of that head, freq = inv_freq[i].
 * q heads are rotated into q [T, H, D] (f32), k heads rotated and v heads as
 * they are into row `position` of k_cache / v_cache [MAXSEQ, KVH, D] in KT
 * (rounded to nearest even). Rows at or past MAXSEQ are dropped (the
 * runtime refuses them first). F32: the rotation's sin and cos in float
 * arithmetic (greta_rope_rotate). */
template <greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, int KT, bool F32 = false>
GRETA_INLINE void greta_qkv_store_rotated(greta_i64 t, greta_i64 position, greta_i64 head,
                                          greta_i64 i, float y0, float y1, float freq, float *q,
                                          void *k_cache, void *v_cache) {
  const greta_i64 HALF = D / 2;
  if (head < H + KVH) greta_rope_rotate<F32>(position, freq, &y0, &y1);
  if (head < H) {
    q[(t * H + head) * D + i] = y0;
    q[(t * H + head) * D + i + HALF] = y1;
    return;
  }
  if (position >= MAXSEQ) return;
  const bool is_k = head < H + KVH;
  void *cache = is_k ? k_cache : v_cache;
  const greta_i64 at = (position * KVH + (head - (is_k ? H : H + KVH))) * D + i;
  greta_store_w<KT>(cache, at, y0);
  greta_store_w<KT>(cache, at + HALF, y1);
}
template <greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, int KT>
GRETA_INLINE void greta_qkv_store_pair(greta_i64 t, greta_i64 position, greta_i64 head, greta_i64 i,
                                       float y0, float y1, float *q, void *k_cache, void *v_cache,
                                       const float *inv_freq) {
  greta_qkv_store_rotated<H, KVH, D, MAXSEQ, KT>(t, position, head, i, y0, y1, inv_freq[i], q,
                                                 k_cache, v_cache);
}

/* qkv_rope_append (prefill, after the stacked q/k/v GEMM): y [T, (H + 2 KVH) D]
 * -> q, k_cache, v_cache as greta_qkv_store_pair. Thread per pair (t, head,
 * i): reads y[i] and y[i + D/2] of its head (two coalesced runs per wave),
 * writes two elements. ~0.3 flop/byte plus one sincos per q/k pair:
 * bandwidth-bound. Grid: x = ceil(T (H + 2 KVH) D/2 / 256). */
template <greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, int KT>
GRETA_INLINE void greta_qkv_rope_append(const int *params, const float *y, float *q, void *k_cache,
                                        void *v_cache, const float *inv_freq) {
  const greta_i64 HALF = D / 2, HEADS = H + 2 * KVH;
  greta_i64 j = greta_ew_index((greta_i64)params[0] * HEADS * HALF);
  if (j < 0) return;
  greta_i64 t = j / (HEADS * HALF), rem = j % (HEADS * HALF), head = rem / HALF, i = rem % HALF;
  const float *yh = y + (t * HEADS + head) * D;
  greta_qkv_store_pair<H, KVH, D, MAXSEQ, KT>(t, (greta_i64)params[1] + t, head, i, yh[i],
                                               yh[i + HALF], q, k_cache, v_cache, inv_freq);
}

/* Pair i's two values (a0 at element e, b0 at e + HALF) and, when `two`,
 * pair i + 1's (a1, b1 one element on), each as greta_store_w stores it;
 * two adjacent elements in one store where both runs allow it (e even, as
 * the staged epilogue's columns are, and HALF even). */
template <int DT, greta_i64 HALF>
GRETA_INLINE void greta_store_two_pairs(void *w, greta_i64 e, bool two, float a0, float b0,
                                        float a1, float b1) {
  if (HALF % 2 == 0 && two) {
    greta_store_w2<DT>(w, e, a0, a1);
    greta_store_w2<DT>(w, e + HALF, b0, b1);
    return;
  }
  greta_store_w<DT>(w, e, a0);
  greta_store_w<DT>(w, e + HALF, b0);
  if (two) {
    greta_store_w<DT>(w, e + 1, a1);
    greta_store_w<DT>(w, e + HALF + 1, b1);
  }
}

/* Prefill's matmul_qkv: the stacked q/k/v GEMM's paired epilogue
 * (templates/gemm.h): each head is a block of pairs (i, i + D/2), stored as
 * qkv_rope_append stores them. Row m of the launch is token m, at position
 * pos + m. pos is read once, and the frequency table through the read-only
 * path: a tile's stores then order no load, and its pairs' sines and
 * cosines overlap. Those are greta_sincos_f32's (the weights are halves:
 * see greta_rope_rotate); greta_sincos's double arithmetic took about
 * 6 of the 7B q/k/v launch's 114 µs at T = 512 on the H200. */
template <int G, greta_i64 H, greta_i64 KVH, greta_i64 D, greta_i64 MAXSEQ, int KT>
struct greta_qkv_pairs : greta_pair_map<G, D / 2, H + 2 * KVH, 1> {
  typedef greta_pair_map<G, D / 2, H + 2 * KVH, 1> map;
  greta_i64 pos;
  float *q;
  void *k_cache, *v_cache;
  const float *inv_freq;
  GRETA_METHOD greta_qkv_pairs(const int *params, float *q_, void *k, void *v, const float *f)
      : pos(params[1]), q(q_), k_cache(k), v_cache(v), inv_freq(f) {}
  GRETA_METHOD void store1(greta_i64 m, greta_i64 v, float y0, float y1) const {
    if (!map::valid(v)) return;
    const greta_i64 i = map::pair(v);
    greta_qkv_store_rotated<H, KVH, D, MAXSEQ, KT, true>(m, pos + m, map::block(v), i, y0, y1,
                                                         greta_load_const(inv_freq + i), q,
                                                         k_cache, v_cache);
  }
  GRETA_METHOD void store2(greta_i64 m, greta_i64 v, float a0, float b0, float a1, float b1) const {
    store1(m, v, a0, b0);
    store1(m, v + 1, a1, b1);
  }
  /* The staged epilogue's view (greta_gemm_wgmma, PAIRS::STAGED): the pairs
   * of virtual columns v and v + 1 (v even, so pairs i and i + 1 of one
   * head) in every row, with what store1 works out per pair (head, kind,
   * frequencies, where row 0 goes) worked out once; each row then stores
   * the two pairs as store1 does (greta_store_two_pairs). */
  struct column {
    int kind; /* 0: q, 1: k, 2: v, 3: no pair (past S) */
    bool two; /* pair i + 1 is one too */
    greta_i64 at; /* element i of q's token 0, or of the cache's row 0 */
    float f0, f1; /* inv_freq[i], inv_freq[i + 1] */
  };
  GRETA_METHOD column at_column(greta_i64 v) const {
    column c;
    const greta_i64 i = map::pair(v), head = map::block(v);
    c.kind = i >= D / 2 ? 3 : head < H ? 0 : head < H + KVH ? 1 : 2;
    c.two = i + 1 < D / 2;
    c.at = c.kind == 0 ? head * D + i : (head - (c.kind == 1 ? H : H + KVH)) * D + i;
    c.f0 = c.kind < 2 ? greta_load_const(inv_freq + i) : 0.f;
    c.f1 = c.kind < 2 && c.two ? greta_load_const(inv_freq + i + 1) : 0.f;
    return c;
  }
  GRETA_METHOD void store_column(const column &c, greta_i64 m, float a0, float b0, float a1,
                                 float b1) const {
    const greta_i64 position = pos + m;
    if (c.kind == 3) return;
    if (c.kind < 2) {
      greta_rope_rotate<true>(position, c.f0, &a0, &b0);
      greta_rope_rotate<true>(position, c.f1, &a1, &b1);
    }
    if (c.kind == 0) {
      greta_store_two_pairs<GRETA_W_F32, D / 2>(q, m * H * D + c.at, c.two, a0, b0, a1, b1);
      return;
    }
    if (position >= MAXSEQ) return;
    greta_store_two_pairs<KT, D / 2>(c.kind == 1 ? k_cache : v_cache, position * KVH * D + c.at,
                                     c.two, a0, b0, a1, b1);
  }
};
