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
template <greta_i64 H, greta_i64 D>
GRETA_INLINE void greta_rope(const int *params, const float *x, float *out,
                             const float *inv_freq) {
  const greta_i64 HALF = D / 2;
  greta_i64 j = greta_ew_index((greta_i64)params[0] * H * HALF);
  if (j < 0) return;
  greta_i64 t = j / (H * HALF), rem = j % (H * HALF), h = rem / HALF, i = rem % HALF;
  float angle = (float)((greta_i64)params[1] + t) * inv_freq[i];
  float s, c;
  greta_sincos(angle, &s, &c);
  greta_i64 base = (t * H + h) * D;
  float x0 = x[base + i], x1 = x[base + i + HALF];
  out[base + i] = x0 * c - x1 * s;
  out[base + i + HALF] = x1 * c + x0 * s;
}
