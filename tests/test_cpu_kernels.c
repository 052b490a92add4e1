/* The CPU reference kernels (runtime/src/cpu/cpu_ops.c), op by op, against
 * naive double-accumulating references written here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "half.h"
#include "plan.h"

/* ---- memory: three spaces, addressed by byte offsets ---------------------- */

enum { ARENA_BYTES = 1 << 22, WEIGHT_BYTES = 1 << 22, KV_BYTES = 1 << 22 };
static uint8_t *arena, *weights, *kv;
static int32_t params[2];
static greta_spaces_t spaces;

static void setup(void) {
  arena = calloc(1, ARENA_BYTES);
  weights = calloc(1, WEIGHT_BYTES);
  kv = calloc(1, KV_BYTES);
  spaces = (greta_spaces_t){params, arena, weights, kv};
}

static void teardown(void) {
  free(arena);
  free(weights);
  free(kv);
}

TestSuite(cpu_kernels, .init = setup, .fini = teardown);

static float *A_(uint64_t offset) { return (float *)(arena + offset); }
static float *KV_(uint64_t offset) { return (float *)(kv + offset); }

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(void) { /* [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static void fill(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = uniform();
}

/* The test's own bf16 rounding: the nearer of the two bf16 neighbours in
 * double arithmetic, ties to the even one. */
static uint16_t ref_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if (isnan(f)) return (uint16_t)((bits >> 16) | 0x40);
  if (isinf(f)) return (uint16_t)(bits >> 16);
  uint32_t lo = bits & 0xffff0000u, hi = lo + 0x10000u;
  float flo, fhi;
  memcpy(&flo, &lo, 4);
  memcpy(&fhi, &hi, 4);
  double dlo = fabs((double)f - flo), dhi = fabs((double)fhi - f);
  if (isinf(fhi) && !isinf(f)) dhi = ldexp(1.0, 128) - fabs((double)f); /* overflow threshold */
  if (dlo < dhi || (dlo == dhi && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
  return (uint16_t)(hi >> 16);
}
static double bf16_value(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Writes `n` random weights in `dtype` at weights + offset; returns their
 * exact values (after rounding) as doubles, for the reference. */
static double *make_weights(uint64_t offset, size_t n, greta_dtype_t dtype) {
  double *values = malloc(n * sizeof *values);
  for (size_t i = 0; i < n; i++) {
    float v = uniform();
    switch (dtype) {
      case GRETA_F16: {
        _Float16 h = (_Float16)v;
        memcpy(weights + offset + 2 * i, &h, 2);
        values[i] = (double)h;
        break;
      }
      case GRETA_BF16: {
        uint16_t b = ref_bf16(v);
        memcpy(weights + offset + 2 * i, &b, 2);
        values[i] = bf16_value(b);
        break;
      }
      default:
        memcpy(weights + offset + 4 * i, &v, 4);
        values[i] = v;
    }
  }
  return values;
}

/* max |out - ref| / max |ref|. */
static double rel_error(const float *out, const double *ref, size_t n) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)out[i] - ref[i]);
    if (!(d <= diff)) diff = d; /* NaN propagates as a failure */
    if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
  }
  return diff / scale;
}

#define ASSERT_CLOSE(out, ref, n, tol)                                                  \
  do {                                                                                \
    double e_ = rel_error((out), (ref), (n));                                         \
    cr_assert(e_ <= (tol), "relative error %.3g exceeds %.3g", e_, (double)(tol));     \
  } while (0)

static greta_plan_launch_t launch_of(greta_op_t op, uint32_t n_args) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_args = n_args;
  l.rows_coeff = 1;
  l.rows_per_token = 1;
  return l;
}

static void arg(greta_plan_launch_t *l, int i, greta_space_t space, uint64_t offset) {
  l->args[i] = (greta_plan_buffer_t){space, offset};
}

static void run(const greta_plan_launch_t *l, int64_t T, int64_t pos) {
  greta_status_t s = greta_cpu_run_launch(l, &spaces, T, pos);
  cr_assert_null(s, "%s", greta_status_message(s));
}

static const greta_dtype_t wdtypes[] = {GRETA_F32, GRETA_F16, GRETA_BF16};

/* ---- conversions ----------------------------------------------------------- */

Test(cpu_kernels, f16_conversion_matches_the_compiler) {
  static const float specials[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 65519.99f, 1e-8f,
                                   2.98023224e-8f, 2.98023225e-8f, 5.96046448e-8f, 6.1035156e-5f,
                                   6.1e-5f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, INFINITY,
                                   -INFINITY, 3.14159265f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
    _Float16 h = (_Float16)specials[i];
    uint16_t expected;
    memcpy(&expected, &h, 2);
    cr_assert_eq(greta_f32_to_f16(specials[i]), expected, "%g: %04x vs %04x", specials[i],
                 greta_f32_to_f16(specials[i]), expected);
  }
  for (int i = 0; i < 200000; i++) {
    uint32_t bits = (uint32_t)(rng_state >> 11) ^ (uint32_t)(i * 2654435761u);
    uniform();
    float f;
    memcpy(&f, &bits, 4);
    if (isnan(f)) continue;
    _Float16 h = (_Float16)f;
    uint16_t expected;
    memcpy(&expected, &h, 2);
    cr_assert_eq(greta_f32_to_f16(f), expected, "%a: %04x vs %04x", f, greta_f32_to_f16(f),
                 expected);
  }
  for (uint32_t h = 0; h < 0x10000; h++) {
    uint16_t h16 = (uint16_t)h;
    _Float16 v;
    memcpy(&v, &h16, 2);
    float expected = (float)v;
    float got = greta_f16_to_f32(h16);
    if (isnan(expected)) cr_assert(isnan(got));
    else cr_assert_eq(memcmp(&got, &expected, 4), 0, "%04x", h);
  }
  cr_assert(isnan(greta_f16_to_f32(greta_f32_to_f16(NAN))));
}

Test(cpu_kernels, bf16_conversion_rounds_to_nearest_even) {
  static const float specials[] = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.01171875f, 3.4e38f,
                                   3.3961776e38f, INFINITY, 1e-40f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
    cr_assert_eq(greta_f32_to_bf16(specials[i]), ref_bf16(specials[i]), "%g", specials[i]);
  for (int i = 0; i < 200000; i++) {
    uniform();
    uint32_t bits = (uint32_t)(rng_state >> 7);
    float f;
    memcpy(&f, &bits, 4);
    if (isnan(f)) continue;
    cr_assert_eq(greta_f32_to_bf16(f), ref_bf16(f), "%a", f);
  }
  for (uint32_t b = 0; b < 0x10000; b++) {
    double expected = bf16_value((uint16_t)b);
    float got = greta_bf16_to_f32((uint16_t)b);
    if (isnan(expected)) cr_assert(isnan(got));
    else cr_assert_eq((double)got, expected);
  }
  cr_assert(isnan(greta_bf16_to_f32(greta_f32_to_bf16(NAN))));
}

/* ---- row ops ---------------------------------------------------------------- */

Test(cpu_kernels, rmsnorm) {
  const int64_t n = 37, T = 5;
  for (size_t w = 0; w < 3; w++) {
    greta_plan_launch_t l = launch_of(GRETA_OP_RMSNORM, 3);
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    arg(&l, 1, GRETA_SPACE_WEIGHTS, 64);
    arg(&l, 2, GRETA_SPACE_ARENA, 4096);
    l.attr.n = n;
    l.attr.wdtype = wdtypes[w];
    l.attr.eps = 1e-5f;
    l.rows_coeff = 2; /* rows = 2T */
    fill(A_(0), (size_t)(2 * T * n));
    double *g = make_weights(64, (size_t)n, wdtypes[w]);
    double ref[2 * 5 * 37];
    for (int64_t r = 0; r < 2 * T; r++) {
      double ss = 0;
      for (int64_t i = 0; i < n; i++) ss += (double)A_(0)[r * n + i] * A_(0)[r * n + i];
      double inv = 1.0 / sqrt(ss / n + 1e-5);
      for (int64_t i = 0; i < n; i++) ref[r * n + i] = A_(0)[r * n + i] * inv * g[i];
    }
    run(&l, T, 0);
    ASSERT_CLOSE(A_(4096), ref, (size_t)(2 * T * n), 2e-6);
    free(g);
  }
}

static void check_matmul(greta_dtype_t dtype, bool b_is_nk, bool residual, bool in_place) {
  const int64_t N = 29, K = 67, rows = 5;
  greta_plan_launch_t l = launch_of(GRETA_OP_MATMUL, residual ? 4 : 3);
  uint64_t x = 0, out = 8192, res = in_place ? out : 16384;
  arg(&l, 0, GRETA_SPACE_ARENA, x);
  arg(&l, 1, GRETA_SPACE_WEIGHTS, 128);
  arg(&l, 2, GRETA_SPACE_ARENA, out);
  if (residual) arg(&l, 3, GRETA_SPACE_ARENA, res);
  l.attr.n = N;
  l.attr.k = K;
  l.attr.transpose_b = b_is_nk;
  l.attr.residual = residual;
  l.attr.wdtype = dtype;
  l.rows_coeff = rows;
  l.rows_per_token = 0;
  fill(A_(x), (size_t)(rows * K));
  fill(A_(res), (size_t)(rows * N));
  double *b = make_weights(128, (size_t)(N * K), dtype);
  double ref[5 * 29];
  for (int64_t r = 0; r < rows; r++)
    for (int64_t n = 0; n < N; n++) {
      double acc = residual ? A_(res)[r * N + n] : 0.0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)A_(x)[r * K + k] * b[b_is_nk ? n * K + k : k * N + n];
      ref[r * N + n] = acc;
    }
  run(&l, 3, 0); /* rows do not scale with T here */
  ASSERT_CLOSE(A_(out), ref, (size_t)(rows * N), 2e-6);
  free(b);
}

Test(cpu_kernels, matmul) {
  for (size_t w = 0; w < 3; w++)
    for (int nk = 0; nk < 2; nk++) {
      check_matmul(wdtypes[w], nk, false, false);
      check_matmul(wdtypes[w], nk, true, false);
      check_matmul(wdtypes[w], nk, true, true);
    }
}

Test(cpu_kernels, embedding) {
  const int64_t vocab = 11, dim = 13, T = 4;
  for (size_t w = 0; w < 3; w++) {
    greta_plan_launch_t l = launch_of(GRETA_OP_EMBEDDING, 3);
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    arg(&l, 1, GRETA_SPACE_WEIGHTS, 0);
    arg(&l, 2, GRETA_SPACE_ARENA, 256);
    l.attr.vocab = vocab;
    l.attr.dim = dim;
    l.attr.wdtype = wdtypes[w];
    double *table = make_weights(0, (size_t)(vocab * dim), wdtypes[w]);
    int32_t tokens[4] = {3, 0, 10, 3};
    memcpy(arena, tokens, sizeof tokens);
    double ref[4 * 13];
    for (int64_t t = 0; t < T; t++)
      for (int64_t i = 0; i < dim; i++) ref[t * dim + i] = table[tokens[t] * dim + i];
    run(&l, T, 0);
    ASSERT_CLOSE(A_(256), ref, (size_t)(T * dim), 0);
    tokens[2] = 11;
    memcpy(arena, tokens, sizeof tokens);
    greta_status_t s = greta_cpu_run_launch(&l, &spaces, T, 0);
    cr_assert_eq(greta_status_code(s), GRETA_OUT_OF_RANGE);
    cr_assert(strstr(greta_status_message(s), "token 11 at row 2 is outside the vocabulary [0, 11)"),
              "%s", greta_status_message(s));
    greta_status_free(s);
    free(table);
  }
}

Test(cpu_kernels, rope_against_the_formula) {
  const int64_t T = 4, heads = 3, d = 10, pos = 7;
  const double theta = 10000.0;
  for (int in_place = 0; in_place < 2; in_place++) {
    greta_plan_launch_t l = launch_of(GRETA_OP_ROPE, 2);
    uint64_t out = in_place ? 0 : 4096;
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    arg(&l, 1, GRETA_SPACE_ARENA, out);
    l.attr.heads = heads;
    l.attr.head_dim = d;
    l.attr.theta = (float)theta;
    fill(A_(0), (size_t)(T * heads * d));
    double ref[4 * 3 * 10];
    for (int64_t t = 0; t < T; t++)
      for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < d / 2; i++) {
          double angle = (double)(pos + t) * pow(theta, -2.0 * (double)i / (double)d);
          const float *x = A_(0) + (t * heads + h) * d;
          ref[(t * heads + h) * d + i] = x[i] * cos(angle) - x[i + d / 2] * sin(angle);
          ref[(t * heads + h) * d + i + d / 2] = x[i + d / 2] * cos(angle) + x[i] * sin(angle);
        }
    run(&l, T, pos);
    /* The kernel forms the angle in f32 as Hugging Face does: ~1e-6 of it. */
    ASSERT_CLOSE(A_(out), ref, (size_t)(T * heads * d), 1e-5);
  }
}

/* Llama 3.1's frequency scaling, from Meta's reference formula in double:
 * wavelengths shorter than original / high_freq_factor keep their
 * frequency, longer than original / low_freq_factor divide it by factor, and
 * those between interpolate with smooth = (original / wavelen - low) / (high -
 * low). head_dim 16, theta 500000, original 64: all three bands occur. */
static double llama3_inv_freq(double theta, int64_t d, int64_t i, double factor, double low,
                              double high, double original) {
  double f = pow(theta, -2.0 * (double)i / (double)d), wavelen = 2 * 3.14159265358979323846 / f;
  if (wavelen < original / high) return f;
  if (wavelen > original / low) return f / factor;
  double smooth = (original / wavelen - low) / (high - low);
  return (1 - smooth) * f / factor + smooth * f;
}

Test(cpu_kernels, rope_llama3_scaling_against_the_formula) {
  const int64_t T = 3, heads = 2, d = 16, pos = 40;
  const double theta = 500000.0, factor = 8, low = 1, high = 4, original = 64;
  greta_plan_launch_t l = launch_of(GRETA_OP_ROPE, 2);
  arg(&l, 0, GRETA_SPACE_ARENA, 0);
  arg(&l, 1, GRETA_SPACE_ARENA, 4096);
  l.attr = (greta_op_attrs_t){.heads = heads, .head_dim = d, .theta = (float)theta,
                              .rope_factor = (float)factor, .rope_low_freq_factor = (float)low,
                              .rope_high_freq_factor = (float)high,
                              .rope_original_max = (float)original};
  fill(A_(0), (size_t)(T * heads * d));
  double ref[3 * 2 * 16];
  int bands[3] = {0};
  for (int64_t i = 0; i < d / 2; i++) {
    double wavelen = 2 * 3.14159265358979323846 * pow(theta, 2.0 * (double)i / (double)d);
    bands[wavelen < original / high ? 0 : wavelen > original / low ? 2 : 1]++;
  }
  cr_assert(bands[0] && bands[1] && bands[2], "the test must cover the three bands: %d %d %d",
            bands[0], bands[1], bands[2]);
  for (int64_t t = 0; t < T; t++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < d / 2; i++) {
        double angle =
            (double)(pos + t) * llama3_inv_freq(theta, d, i, factor, low, high, original);
        const float *x = A_(0) + (t * heads + h) * d;
        ref[(t * heads + h) * d + i] = x[i] * cos(angle) - x[i + d / 2] * sin(angle);
        ref[(t * heads + h) * d + i + d / 2] = x[i + d / 2] * cos(angle) + x[i] * sin(angle);
      }
  run(&l, T, pos);
  ASSERT_CLOSE(A_(4096), ref, (size_t)(T * heads * d), 1e-5);
}

/* bias_add: x [rows, n] + bias [n] (a weight, in each weight dtype). */
Test(cpu_kernels, bias_add) {
  const int64_t T = 3, rows = 2, n = 7;
  for (size_t d = 0; d < sizeof wdtypes / sizeof wdtypes[0]; d++) {
    greta_plan_launch_t l = launch_of(GRETA_OP_BIAS_ADD, 3);
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    arg(&l, 1, GRETA_SPACE_WEIGHTS, 0);
    arg(&l, 2, GRETA_SPACE_ARENA, 4096);
    l.attr.n = n;
    l.attr.wdtype = wdtypes[d];
    l.rows_coeff = rows;
    fill(A_(0), (size_t)(T * rows * n));
    double *bias = make_weights(0, (size_t)n, wdtypes[d]);
    double ref[3 * 2 * 7];
    for (int64_t r = 0; r < T * rows; r++)
      for (int64_t i = 0; i < n; i++) ref[r * n + i] = (double)A_(0)[r * n + i] + bias[i];
    run(&l, T, 0);
    ASSERT_CLOSE(A_(4096), ref, (size_t)(T * rows * n), 1e-7);
    free(bias);
  }
}

/* last_token: the last of T tokens' rows, whatever T; rows fixed. */
Test(cpu_kernels, last_token) {
  const int64_t rows = 2, n = 5;
  for (int64_t T = 1; T <= 4; T++) {
    greta_plan_launch_t l = launch_of(GRETA_OP_LAST_TOKEN, 2);
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    arg(&l, 1, GRETA_SPACE_ARENA, 4096);
    l.attr.n = n;
    l.rows_coeff = rows;
    l.rows_per_token = 0;
    fill(A_(0), (size_t)(T * rows * n));
    double ref[2 * 5];
    for (int64_t i = 0; i < rows * n; i++) ref[i] = A_(0)[(T - 1) * rows * n + i];
    run(&l, T, 0);
    ASSERT_CLOSE(A_(4096), ref, (size_t)(rows * n), 0);
  }
}

Test(cpu_kernels, kv_append) {
  const int64_t T = 3, kvh = 2, d = 5, max_seq = 9, pos = 4;
  greta_plan_launch_t l = launch_of(GRETA_OP_KV_APPEND, 2);
  arg(&l, 0, GRETA_SPACE_ARENA, 0);
  arg(&l, 1, GRETA_SPACE_KV, 64);
  l.attr.kv_heads = kvh;
  l.attr.head_dim = d;
  l.attr.max_seq = max_seq;
  fill(A_(0), (size_t)(T * kvh * d));
  fill(KV_(64), (size_t)(max_seq * kvh * d));
  float before[9 * 2 * 5];
  memcpy(before, KV_(64), sizeof before);
  run(&l, T, pos);
  for (int64_t s = 0; s < max_seq; s++)
    for (int64_t i = 0; i < kvh * d; i++) {
      float expected = s >= pos && s < pos + T ? A_(0)[(s - pos) * kvh * d + i] : before[s * kvh * d + i];
      cr_assert_eq(KV_(64)[s * kvh * d + i], expected, "row %lld", (long long)s);
    }
  greta_status_t st = greta_cpu_run_launch(&l, &spaces, T, max_seq - T + 1);
  cr_assert_eq(greta_status_code(st), GRETA_OUT_OF_RANGE);
  cr_assert(strstr(greta_status_message(st), "pos + tokens = 10 exceeds the cache's max_seq 9"),
            "%s", greta_status_message(st));
  greta_status_free(st);
}

/* ---- attention -------------------------------------------------------------- */

enum { HEADS = 6, KV_HEADS = 2, HD = 5, MAX_SEQ = 20 };
static const uint64_t Q_OFF = 0, K_OFF = 0, V_OFF = 8192, OUT_OFF = 16384, PART_OFF = 32768;

/* Fills q and both caches; rows past pos + T hold NaN, which must never be read. */
static void attention_inputs(int64_t T, int64_t pos) {
  fill(A_(Q_OFF), (size_t)(T * HEADS * HD));
  for (int64_t s = 0; s < MAX_SEQ; s++)
    for (int64_t i = 0; i < KV_HEADS * HD; i++) {
      KV_(K_OFF)[s * KV_HEADS * HD + i] = s < pos + T ? uniform() : NAN;
      KV_(V_OFF)[s * KV_HEADS * HD + i] = s < pos + T ? uniform() : NAN;
    }
}

static void attention_reference(int64_t T, int64_t pos, float scale, double *ref) {
  for (int64_t t = 0; t < T; t++)
    for (int64_t h = 0; h < HEADS; h++) {
      int64_t kvh = h / (HEADS / KV_HEADS);
      const float *q = A_(Q_OFF) + (t * HEADS + h) * HD;
      int64_t n = pos + t + 1;
      double scores[MAX_SEQ], m = -INFINITY, sum = 0;
      for (int64_t s = 0; s < n; s++) {
        const float *k = KV_(K_OFF) + (s * KV_HEADS + kvh) * HD;
        double dot = 0;
        for (int64_t i = 0; i < HD; i++) dot += (double)q[i] * k[i];
        scores[s] = dot * scale;
        if (scores[s] > m) m = scores[s];
      }
      for (int64_t s = 0; s < n; s++) sum += exp(scores[s] - m);
      for (int64_t i = 0; i < HD; i++) {
        double acc = 0;
        for (int64_t s = 0; s < n; s++)
          acc += exp(scores[s] - m) / sum * KV_(V_OFF)[(s * KV_HEADS + kvh) * HD + i];
        ref[(t * HEADS + h) * HD + i] = acc;
      }
    }
}

static greta_plan_launch_t attention_launch(greta_op_t op, uint64_t out) {
  greta_plan_launch_t l = launch_of(op, 4);
  arg(&l, 0, GRETA_SPACE_ARENA, Q_OFF);
  arg(&l, 1, GRETA_SPACE_KV, K_OFF);
  arg(&l, 2, GRETA_SPACE_KV, V_OFF);
  arg(&l, 3, GRETA_SPACE_ARENA, out);
  l.attr.heads = HEADS;
  l.attr.kv_heads = KV_HEADS;
  l.attr.head_dim = HD;
  l.attr.max_seq = MAX_SEQ;
  l.attr.scale = 1.0f / sqrtf((float)HD);
  return l;
}

Test(cpu_kernels, attention_gqa_causal) {
  const int64_t cases[][2] = {{1, 0}, {1, 13}, {4, 0}, {3, 6}, {1, MAX_SEQ - 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t T = cases[c][0], pos = cases[c][1];
    attention_inputs(T, pos);
    greta_plan_launch_t l = attention_launch(GRETA_OP_ATTENTION, OUT_OFF);
    double ref[4 * HEADS * HD];
    attention_reference(T, pos, l.attr.scale, ref);
    run(&l, T, pos);
    ASSERT_CLOSE(A_(OUT_OFF), ref, (size_t)(T * HEADS * HD), 2e-6);
  }
  greta_plan_launch_t l = attention_launch(GRETA_OP_ATTENTION, OUT_OFF);
  greta_status_t s = greta_cpu_run_launch(&l, &spaces, 2, MAX_SEQ - 1);
  cr_assert_eq(greta_status_code(s), GRETA_OUT_OF_RANGE);
  greta_status_free(s);
}

Test(cpu_kernels, attention_in_place_over_q) {
  const int64_t T = 3, pos = 5;
  attention_inputs(T, pos);
  greta_plan_launch_t l = attention_launch(GRETA_OP_ATTENTION, Q_OFF);
  double ref[3 * HEADS * HD];
  attention_reference(T, pos, l.attr.scale, ref);
  run(&l, T, pos);
  ASSERT_CLOSE(A_(Q_OFF), ref, (size_t)(T * HEADS * HD), 2e-6);
}

Test(cpu_kernels, attention_decode_equals_attention) {
  /* (splits, rows per split): exact cover, more splits than needed, and one
   * split holding everything. */
  const int64_t layouts[][2] = {{4, 5}, {7, 3}, {1, MAX_SEQ}};
  const int64_t cases[][2] = {{1, 0}, {1, 12}, {4, 2}, {2, 17}};
  for (size_t s = 0; s < 3; s++)
    for (size_t c = 0; c < 4; c++) {
      int64_t T = cases[c][0], pos = cases[c][1];
      attention_inputs(T, pos);
      greta_plan_launch_t full = attention_launch(GRETA_OP_ATTENTION, OUT_OFF);
      run(&full, T, pos);
      greta_plan_launch_t decode = attention_launch(GRETA_OP_ATTENTION_DECODE, PART_OFF);
      decode.n_args = 6;
      arg(&decode, 4, GRETA_SPACE_ARENA, OUT_OFF + 4096);
      arg(&decode, 5, GRETA_SPACE_ARENA, OUT_OFF + 8192);
      decode.attr.splits = layouts[s][0];
      decode.attr.split_rows = layouts[s][1];
      run(&decode, T, pos);
      /* Splits past the causal limit are empty: m = -inf. */
      for (int64_t t = 0; t < T; t++)
        for (int64_t sp = 0; sp < layouts[s][0]; sp++)
          if (sp * layouts[s][1] > pos + t) {
            const float *slot = A_(PART_OFF) + ((t * HEADS) * layouts[s][0] + sp) * (HD + 2);
            cr_assert(isinf(slot[0]) && slot[0] < 0);
          }
      double ref[4 * HEADS * HD];
      attention_reference(T, pos, full.attr.scale, ref);
      ASSERT_CLOSE(A_(OUT_OFF + 8192), ref, (size_t)(T * HEADS * HD), 2e-6);
      for (size_t i = 0; i < (size_t)(T * HEADS * HD); i++) ref[i] = A_(OUT_OFF)[i];
      ASSERT_CLOSE(A_(OUT_OFF + 8192), ref, (size_t)(T * HEADS * HD), 2e-6);
    }
}

/* ---- elementwise, softmax, masks, layout ------------------------------------- */

static double ref_silu(double x) { return x / (1.0 + exp(-x)); }

Test(cpu_kernels, elementwise) {
  const int64_t n = 23, T = 3;
  const greta_op_t ops[] = {GRETA_OP_SILU, GRETA_OP_SILU_MUL, GRETA_OP_ADD, GRETA_OP_MUL,
                            GRETA_OP_SCALE, GRETA_OP_COPY};
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    bool binary = ops[o] == GRETA_OP_SILU_MUL || ops[o] == GRETA_OP_ADD || ops[o] == GRETA_OP_MUL;
    greta_plan_launch_t l = launch_of(ops[o], binary ? 3 : 2);
    arg(&l, 0, GRETA_SPACE_ARENA, 0);
    if (binary) arg(&l, 1, GRETA_SPACE_ARENA, 1024);
    arg(&l, binary ? 2 : 1, GRETA_SPACE_ARENA, 2048);
    l.attr.n = n;
    l.attr.factor = -1.75f;
    fill(A_(0), (size_t)(T * n));
    fill(A_(1024), (size_t)(T * n));
    A_(0)[0] = 30.0f; /* silu far out on both sides */
    A_(0)[1] = -30.0f;
    double ref[3 * 23];
    for (int64_t i = 0; i < T * n; i++) {
      double a = A_(0)[i], b = A_(1024)[i];
      switch (ops[o]) {
        case GRETA_OP_SILU: ref[i] = ref_silu(a); break;
        case GRETA_OP_SILU_MUL: ref[i] = ref_silu(a) * b; break;
        case GRETA_OP_ADD: ref[i] = a + b; break;
        case GRETA_OP_MUL: ref[i] = a * b; break;
        case GRETA_OP_SCALE: ref[i] = a * -1.75; break;
        default: ref[i] = a;
      }
    }
    run(&l, T, 0);
    ASSERT_CLOSE(A_(2048), ref, (size_t)(T * n), 1e-6);
  }
}

Test(cpu_kernels, softmax) {
  const int64_t n = 19, T = 4;
  greta_plan_launch_t l = launch_of(GRETA_OP_SOFTMAX, 2);
  arg(&l, 0, GRETA_SPACE_ARENA, 0);
  arg(&l, 1, GRETA_SPACE_ARENA, 1024);
  l.attr.n = n;
  fill(A_(0), (size_t)(T * n));
  for (int64_t i = 0; i < T * n; i++) A_(0)[i] *= 40.0f; /* large logits */
  double ref[4 * 19];
  for (int64_t r = 0; r < T; r++) {
    double m = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, A_(0)[r * n + i]);
    for (int64_t i = 0; i < n; i++) sum += exp(A_(0)[r * n + i] - m);
    for (int64_t i = 0; i < n; i++) ref[r * n + i] = exp(A_(0)[r * n + i] - m) / sum;
  }
  run(&l, T, 0);
  ASSERT_CLOSE(A_(1024), ref, (size_t)(T * n), 2e-6);
}

Test(cpu_kernels, causal_mask_and_masked_softmax) {
  const int64_t n = 9, inner = 2, T = 3, pos = 4;
  fill(A_(0), (size_t)(T * inner * n));
  greta_plan_launch_t mask = launch_of(GRETA_OP_CAUSAL_MASK, 2);
  arg(&mask, 0, GRETA_SPACE_ARENA, 0);
  arg(&mask, 1, GRETA_SPACE_ARENA, 1024);
  mask.attr.n = n;
  mask.attr.inner = inner;
  run(&mask, T, pos);
  greta_plan_launch_t fused = mask;
  fused.op = GRETA_OP_MASKED_SOFTMAX;
  arg(&fused, 1, GRETA_SPACE_ARENA, 2048);
  run(&fused, T, pos);
  double ref[3 * 2 * 9];
  for (int64_t t = 0; t < T; t++)
    for (int64_t j = 0; j < inner; j++) {
      const float *x = A_(0) + (t * inner + j) * n;
      const float *masked = A_(1024) + (t * inner + j) * n;
      double m = -INFINITY, sum = 0;
      for (int64_t s = 0; s < n; s++) {
        if (s > pos + t) cr_assert(isinf(masked[s]) && masked[s] < 0, "t %lld s %lld", (long long)t, (long long)s);
        else cr_assert_eq(masked[s], x[s]);
        if (s <= pos + t) m = fmax(m, x[s]);
      }
      for (int64_t s = 0; s <= pos + t && s < n; s++) sum += exp(x[s] - m);
      for (int64_t s = 0; s < n; s++)
        ref[(t * inner + j) * n + s] = s > pos + t ? 0.0 : exp(x[s] - m) / sum;
    }
  ASSERT_CLOSE(A_(2048), ref, (size_t)(T * inner * n), 2e-6);
}

Test(cpu_kernels, transpose) {
  const int64_t r = 3, c = 7, T = 4; /* rows = 2T of r: batch = 2T * ... */
  greta_plan_launch_t l = launch_of(GRETA_OP_TRANSPOSE, 2);
  arg(&l, 0, GRETA_SPACE_ARENA, 0);
  arg(&l, 1, GRETA_SPACE_ARENA, 4096);
  l.rows_coeff = 2 * r; /* batch = 2T */
  l.attr.batch = 2 * T;
  l.attr.in_rows = r;
  l.attr.in_cols = c;
  int64_t batch = 2 * T;
  fill(A_(0), (size_t)(batch * r * c));
  run(&l, T, 0);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < r; i++)
      for (int64_t j = 0; j < c; j++)
        cr_assert_eq(A_(4096)[(b * c + j) * r + i], A_(0)[(b * r + i) * c + j]);
}

Test(cpu_kernels, deterministic_across_runs) {
  const int64_t N = 64, K = 300, rows = 7;
  greta_plan_launch_t l = launch_of(GRETA_OP_MATMUL, 3);
  arg(&l, 0, GRETA_SPACE_ARENA, 0);
  arg(&l, 1, GRETA_SPACE_WEIGHTS, 0);
  arg(&l, 2, GRETA_SPACE_ARENA, 65536);
  l.attr.n = N;
  l.attr.k = K;
  l.attr.transpose_b = 1;
  l.rows_coeff = rows;
  l.rows_per_token = 0;
  fill(A_(0), (size_t)(rows * K));
  free(make_weights(0, (size_t)(N * K), GRETA_F32));
  run(&l, 1, 0);
  float first[7 * 64];
  memcpy(first, A_(65536), sizeof first);
  for (int i = 0; i < 5; i++) {
    run(&l, 1, 0);
    cr_assert_eq(memcmp(first, A_(65536), sizeof first), 0);
  }
}
