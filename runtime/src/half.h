/* 16-bit floating-point conversions: IEEE binary16 (f16) and bfloat16.
 *
 * f32 -> 16-bit rounds to nearest, ties to even; overflow gives infinity and
 * a NaN stays a (quiet) NaN. 16-bit -> f32 is exact. Used by the CPU kernels
 * (weights are converted on read), the session (weights bound from host
 * memory) and the safetensors loader.
 */
#ifndef GRETA_HALF_H
#define GRETA_HALF_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

float greta_f16_to_f32(uint16_t h);
uint16_t greta_f32_to_f16(float f);
float greta_bf16_to_f32(uint16_t b);
uint16_t greta_f32_to_bf16(float f);

/* Element i of an f32 / f16 / bf16 array at `base`, as f32. */
float greta_load_float(const void *base, greta_dtype_t dtype, size_t i);

/* Converts `count` elements from `src` (f32, f16 or bf16) to `dst` (f32, f16
 * or bf16); i32 -> i32 is a copy. Returns 0, or -1 when the pair is not
 * convertible (a float to or from i32). The arrays must not overlap. */
int greta_convert(void *dst, greta_dtype_t dst_dtype, const void *src, greta_dtype_t src_dtype,
                  size_t count);

#endif /* GRETA_HALF_H */
