/* KV append: cache[pos + t] = src[t] for t < T; src [T, KVH, D] f32, cache
 * [MAXSEQ, KVH, D] in DT (f32, or f16 / bf16 rounded to nearest even).
 * Thread per element of src (coalesced reads and writes: the destination
 * rows are contiguous), rows at or past MAXSEQ are dropped (the runtime
 * refuses pos + T > max_seq before launching).
 * Grid: x = ceil(T * KVH * D / 256).
 */
template <greta_i64 ROW, greta_i64 MAXSEQ, int DT>
GRETA_INLINE void greta_kv_append(const int *params, const float *src, void *cache) {
  const greta_i64 T = params[0], pos = params[1];
  greta_i64 j = greta_ew_index(T * ROW);
  if (j < 0 || pos + j / ROW >= MAXSEQ) return;
  greta_store_w<DT>(cache, pos * ROW + j, src[j]);
}
