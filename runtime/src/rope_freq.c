/* RoPE inverse frequencies in f32, operation for operation as transformers
 * computes them (rope_freq.h). Each step is one f32 rounding, as torch's
 * f32 tensor ops are; a Python scalar meets an f32 tensor as an f32 value;
 * `scalar / tensor` is torch's Tensor.__rtruediv__, reciprocal() * scalar;
 * `1 - tensor` is f32 too. rounded() keeps the compiler from fusing a
 * multiply and an add into one FMA (one rounding fewer than torch). */
#include "rope_freq.h"

#include <math.h>
#include <stdbool.h>

static float rounded(float x) {
  volatile float v = x;
  return v;
}

float greta_rope_inv_freq(const greta_op_attrs_t *a, int64_t head_dim, int64_t i) {
  /* _compute_default_rope_parameters: 1.0 / (base ** (arange(0, dim, 2).float() / dim)) */
  const float exponent = (float)(2 * i) / (float)head_dim;
  const float inv_freq = 1.0f / powf(a->theta, exponent);
  if (a->rope_factor == 0.0f) return inv_freq;

  /* _compute_llama3_parameters */
  const float factor = a->rope_factor, low = a->rope_low_freq_factor;
  const float high = a->rope_high_freq_factor, old_context = a->rope_original_max;
  /* Python floats (double), met by an f32 tensor: rounded to f32. */
  const float low_freq_wavelen = (float)((double)old_context / (double)low);
  const float high_freq_wavelen = (float)((double)old_context / (double)high);
  const float band = (float)((double)high - (double)low);
  const float two_pi = (float)(2.0 * 3.14159265358979323846);

  const float wavelen = rounded(1.0f / inv_freq) * two_pi; /* 2 * math.pi / inv_freq */
  float scaled = wavelen > low_freq_wavelen ? inv_freq / factor : inv_freq;
  const float smooth = (rounded(rounded(1.0f / wavelen) * old_context) - low) / band;
  const float smoothed =
      rounded(rounded((1.0f - smooth) * scaled) / factor) + rounded(smooth * scaled);
  const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
  return medium ? smoothed : scaled;
}
