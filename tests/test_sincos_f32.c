/* templates/sincos_f32.h (the prefill q/k/v epilogue's sin and cos in float
 * arithmetic) against libm's double sin and cos, on the CPU: every angle
 * RoPE forms for positions below 2^16 (the f32 product position x
 * inv_freq, head size 128, theta 10 000 and 500 000), random angles over
 * the whole range the function takes, and the quadrant boundaries. The
 * bound, 1.5e-7 absolute, is the header's (the reduction's three roundings
 * and the truncated series); correctly rounded values are within 3e-8. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "../templates/sincos_f32.h"

#define BOUND 1.5e-7

static double error_at(float angle) {
  float s, c;
  greta_sincos_f32(angle, &s, &c);
  const double es = fabs(s - sin((double)angle)), ec = fabs(c - cos((double)angle));
  return es > ec ? es : ec;
}

Test(sincos_f32, rope_angles_of_the_first_65536_positions) {
  const float thetas[] = {10000.0f, 500000.0f};
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 64; i++) {
      const float inv_freq = 1.0f / powf(thetas[t], (float)(2 * i) / 128.0f);
      for (int p = 0; p < 65536; p++) {
        const float angle = (float)p * inv_freq;
        if (angle > GRETA_SINCOS_F32_MAX) break;
        const double e = error_at(angle);
        if (e > BOUND) cr_assert_fail("theta %g pair %d position %d (angle %.9g): error %.3g", thetas[t], i, p, angle, e);
      }
    }
}

Test(sincos_f32, random_angles_over_its_range) {
  srand(7);
  for (int n = 0; n < 2000000; n++) {
    const float angle = ((float)rand() / (float)RAND_MAX * 2.0f - 1.0f) * GRETA_SINCOS_F32_MAX;
    const double e = error_at(angle);
    if (e > BOUND) cr_assert_fail("angle %.9g: error %.3g", angle, e);
  }
}

/* Near k pi/2 the reduced angle is small and the quadrant changes: the
 * floats around each of them, both signs, up to the range's end. */
Test(sincos_f32, quadrant_boundaries) {
  for (int k = -41720; k <= 41720; k += 13) {
    float a = (float)(k * 1.57079632679489661923);
    for (int step = 0; step < 8; step++, a = nextafterf(a, INFINITY)) {
      if (fabsf(a) > GRETA_SINCOS_F32_MAX) continue;
      const double e = error_at(a);
      if (e > BOUND) cr_assert_fail("k %d, angle %.9g: error %.3g", k, a, e);
    }
  }
  float s, c;
  greta_sincos_f32(0.0f, &s, &c);
  cr_expect(s == 0.0f && c == 1.0f, "sin 0 = %g, cos 0 = %g", s, c);
}
