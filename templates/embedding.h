/* Embedding: out[t, i] = table[tokens[t], i], table [VOCAB, DIM] in
 * f32 / f16 / bf16, out f32. Thread per output element (coalesced over i).
 * A token outside [0, VOCAB) gives a zero row rather than a stray read.
 * Grid: x = ceil(T * DIM / 256).
 */
template <int DT, greta_i64 VOCAB, greta_i64 DIM>
GRETA_INLINE void greta_embedding(const int *params, const int *tokens, const void *table,
                                  float *out) {
  greta_i64 j = greta_ew_index((greta_i64)params[0] * DIM);
  if (j < 0) return;
  greta_i64 t = j / DIM, i = j % DIM;
  greta_i64 tok = tokens[t];
  out[j] = (tok >= 0 && tok < VOCAB) ? greta_load_w<DT>(table, tok * DIM + i) : 0.f;
}
