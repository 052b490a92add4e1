/* sin and cos of a float angle in float arithmetic, for the prefill q/k/v
 * GEMM's RoPE epilogue (rope.h, greta_qkv_pairs): prelude.h's greta_sincos
 * does its reduction and polynomials in double, and on the H200 those took
 * about 6 of the 114 µs of the Llama-2-7B q/k/v launch at T = 512. Valid C
 * (tests/test_sincos_f32.c checks it against libm's double sin and cos on
 * the CPU) and device code (the prelude defines GRETA_LAYOUT_FN).
 *
 * Reduction (Cody-Waite): k = rint(angle 2/pi), r = angle - k pi/2 with
 * pi/2 = P1 + P2 + P3 (each the float nearest to what the parts before it
 * leave of pi/2), one fused multiply-add per part. For |angle| at most
 * GRETA_SINCOS_F32_MAX, |k| < 2^16 and each step rounds once, so r is
 * within about 1e-7 of the true reduced angle; past it the caller takes
 * greta_sincos. Then the Taylor series of sin to r^9 and of cos to r^10 on
 * |r| <= pi/4 (the first term left out is below 2e-9) and the quadrant
 * k mod 4. Error against the exact values: at most 1.5e-7 (the test's
 * bound; 8.5e-8 the largest seen), where greta_sincos rounds correctly
 * (3e-8). The rotated values are rounded to f16 or bf16 (the cache) or
 * stay f32 (q, which the tensor-core attentions round to the cache type):
 * 1.5e-7 is far below either half type's step. */
#ifndef GRETA_SINCOS_F32_H
#define GRETA_SINCOS_F32_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

#if defined(__CUDACC_RTC__)
#define GRETA_FMAF(a, b, c) fmaf(a, b, c)
#define GRETA_RINTF(x) rintf(x)
#else
#define GRETA_FMAF(a, b, c) __builtin_fmaf(a, b, c)
#define GRETA_RINTF(x) __builtin_rintf(x)
#endif

#define GRETA_SINCOS_F32_MAX 65536.0f

GRETA_LAYOUT_FN void greta_sincos_f32(float angle, float *out_sin, float *out_cos) {
  const float k = GRETA_RINTF(angle * 0x1.45f306p-1f);   /* 2/pi */
  float r = GRETA_FMAF(k, -0x1.921fb6p+0f, angle);       /* P1 */
  r = GRETA_FMAF(k, 0x1.777a5cp-25f, r);                 /* -P2 */
  r = GRETA_FMAF(k, 0x1.ee59dap-50f, r);                 /* -P3 */
  const float r2 = r * r;
  const float s = r + r * r2 * (-1.0f / 6 + r2 * (1.0f / 120 + r2 * (-1.0f / 5040 +
                  r2 * (1.0f / 362880))));
  const float c = 1.0f + r2 * (-0.5f + r2 * (1.0f / 24 + r2 * (-1.0f / 720 +
                  r2 * (1.0f / 40320 + r2 * (-1.0f / 3628800)))));
  const int q = (int)k & 3; /* two's complement: k mod 4 for negative k too */
  *out_sin = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
  *out_cos = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
}

#endif
