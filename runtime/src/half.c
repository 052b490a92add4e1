#include "half.h"

#include <string.h>

static uint32_t float_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  return x;
}

static float bits_float(uint32_t x) {
  float f;
  memcpy(&f, &x, sizeof f);
  return f;
}

float greta_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  /* Subnormal: mantissa * 2^-24. Shift the leading one up to bit 10; each
   * shift lowers the exponent by one from 2^-14. */
  uint32_t shifts = 0;
  while (!(mantissa & 0x400u)) {
    mantissa <<= 1;
    shifts++;
  }
  return bits_float(sign | ((113u - shifts) << 23) | ((mantissa & 0x3ffu) << 13));
}

/* Rounds `value >> shift` to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t value, unsigned shift) {
  uint32_t kept = value >> shift;
  uint32_t rest = value & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) kept++;
  return kept;
}

uint16_t greta_f32_to_f16(float f) {
  uint32_t x = float_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exponent = (x >> 23) & 0xffu;
  uint32_t mantissa = x & 0x7fffffu;
  if (exponent == 0xff) /* inf stays inf; NaN keeps its top payload bits, made quiet */
    return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  int32_t e = (int32_t)exponent - 127 + 15; /* the f16 biased exponent */
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    /* f16 subnormal (or zero): the value in units of 2^-24 is
     * (1.mantissa * 2^23) >> (14 - e). Below half the smallest subnormal
     * (e < -10) it rounds to zero. */
    if (e < -10) return (uint16_t)sign;
    return (uint16_t)(sign | shift_round_even(mantissa | 0x800000u, (unsigned)(14 - e)));
  }
  /* A carry out of the mantissa correctly bumps the exponent (to inf at most). */
  return (uint16_t)(sign | shift_round_even(((uint32_t)e << 23) | mantissa, 13));
}

float greta_bf16_to_f32(uint16_t b) { return bits_float((uint32_t)b << 16); }

uint16_t greta_f32_to_bf16(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float greta_load_float(const void *base, greta_dtype_t dtype, size_t i) {
  switch (dtype) {
    case GRETA_F16: return greta_f16_to_f32(((const uint16_t *)base)[i]);
    case GRETA_BF16: return greta_bf16_to_f32(((const uint16_t *)base)[i]);
    case GRETA_I32: return (float)((const int32_t *)base)[i];
    case GRETA_F32: break;
  }
  return ((const float *)base)[i];
}

static int is_float_dtype(greta_dtype_t dtype) {
  return dtype == GRETA_F32 || dtype == GRETA_F16 || dtype == GRETA_BF16;
}

int greta_convert(void *dst, greta_dtype_t dst_dtype, const void *src, greta_dtype_t src_dtype,
                  size_t count) {
  if (dst_dtype == src_dtype) {
    size_t size = greta_dtype_size(dst_dtype);
    if (size == 0) return -1;
    memcpy(dst, src, count * size);
    return 0;
  }
  if (!is_float_dtype(dst_dtype) || !is_float_dtype(src_dtype)) return -1;
  for (size_t i = 0; i < count; i++) {
    float v = greta_load_float(src, src_dtype, i);
    switch (dst_dtype) {
      case GRETA_F32: ((float *)dst)[i] = v; break;
      case GRETA_F16: ((uint16_t *)dst)[i] = greta_f32_to_f16(v); break;
      case GRETA_BF16: ((uint16_t *)dst)[i] = greta_f32_to_bf16(v); break;
      case GRETA_I32: return -1;
    }
  }
  return 0;
}
