/* GEMM conformance: one-matmul models at odd sizes, compiled for each
 * backend present (the CPU always; CUDA or HIP when a device is there), run
 * at T = 1, 2, 17 and 100, and compared with a plain double-accumulation
 * matmul written here.
 *
 * The model computes y = r + x @ w.T (a Linear weight [N, K] with a residual)
 * and z = x @ v (v [K, N]), so both B layouts and the residual epilogue are
 * covered. Sizes: K = 264 (a multiple of 8 with a tail after the 128-wide K
 * stages: the 16-byte-load path), K = 203 (odd: the scalar path), N = 100
 * and 72 (not multiples of the 32- or 64-wide column tiles). T = 17 and 100
 * leave partial row tiles (and on NVIDIA's matrix-core path pick different
 * K splits among the warps). K = 320, N = 6120: at T = 100 on sm_90a f32
 * weights take greta_gemm_wgmma_tf32 (3xTF32 on wgmma: 48 tiles of 128 x
 * 128, GRETA_WGMMA_TF32_MIN_TILES, the last one ragged in both M and N; ten
 * K stages through its two slots), halves greta_gemm_wgmma reading f32 x.
 *
 * Tolerances, per token ||got - want|| / ||want||: f32 weights 1e-5 (exact
 * FP32 arithmetic on every backend); f16 weights 2e-3 and bf16 1e-2, since
 * GPU matrix cores round x to the weight's type ("half types in their own
 * precision"; one rounding of x costs 2^-11 resp. 2^-8 relative).
 *
 * A second model feeds the GEMMs x that its producers store in the weight's
 * half type in prefill (ops.def: rms_scale and matmul_glu with outdtype,
 * the GEMMs' xdtype): y = r + glu(rmsnorm(x, g)) @ wd.T, K = 192 (a
 * multiple of 64, so the gate/up GEMM takes half x and silu(gate) up in its
 * epilogue; not a multiple of the 128-wide small-tile K stage), N = 72, and
 * the FFN width F = 320 (down takes half x too) or 40 (not a multiple of
 * the 16 or 32 columns the GLU epilogue pairs: a ragged virtual weight,
 * templates/gemm.h; glu's output stays f32). The reference rounds where the
 * plan stores (prefill steps only); at T = 100 NVIDIA's sm_90a GEMM takes
 * wgmma tiles, copying x raw. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

enum { MAX_T = 128 };

static greta_model_t *compile_case(const char *target_name, const char *dtype, int K, int N,
                                   int max_t, char **why) {
  char text[1024];
  snprintf(text, sizeof text,
           "model gemm_case\n"
           "set weight_dtype = %s\n"
           "dim T\n"
           "input x: f32[T, %d]\n"
           "input r: f32[T, %d]\n"
           "weight w: [%d, %d] = \"w\"\n"
           "weight v: [%d, %d] = \"v\"\n"
           "output y = r + x @ w.T\n"
           "output z = x @ v\n",
           dtype, K, N, N, K, K, N);
  return support_compile("gemm_case.gm", text, NULL, target_name, max_t, 0, why);
}

/* One backend, one dtype, one shape, compiled for up to max_t tokens: each
 * of the n_steps steps. */
static void check_case_steps(greta_device_t *device, const char *target, const char *dtype, int K,
                             int N, double tolerance, int max_t, const int *steps, size_t n_steps) {
  char *why = NULL;
  greta_model_t *model = compile_case(target, dtype, K, N, max_t, &why);
  if (!model) cr_skip_test("no toolchain for %s: %s", target, why);
  free(why);

  float *w = malloc(sizeof(float) * (size_t)N * K), *v = malloc(sizeof(float) * (size_t)K * N);
  float *x = malloc(sizeof(float) * max_t * K), *r = malloc(sizeof(float) * max_t * N);
  float *y = malloc(sizeof(float) * max_t * N), *z = malloc(sizeof(float) * max_t * N);
  double *wy = malloc(sizeof(double) * max_t * N), *wz = malloc(sizeof(double) * max_t * N);
  cr_assert(w && v && x && r && y && z && wy && wz);
  for (int i = 0; i < N * K; i++) w[i] = support_stored(0.1f * support_normal(), dtype);
  for (int i = 0; i < K * N; i++) v[i] = support_stored(0.1f * support_normal(), dtype);

  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  st = greta_session_bind_weight(s, "w", GRETA_F32, w, (size_t)N * K);
  cr_assert_null(st, "bind w: %s", greta_status_message(st));
  st = greta_session_bind_weight(s, "v", GRETA_F32, v, (size_t)K * N);
  cr_assert_null(st, "bind v: %s", greta_status_message(st));

  for (size_t si = 0; si < n_steps; si++) {
    int T = steps[si];
    for (int i = 0; i < T * K; i++) x[i] = support_normal();
    for (int i = 0; i < T * N; i++) r[i] = support_normal();
    for (int t = 0; t < T; t++)
      for (int n = 0; n < N; n++) {
        double sy = r[t * N + n], sz = 0;
        for (int k = 0; k < K; k++) {
          sy += (double)x[t * K + k] * w[n * K + k];
          sz += (double)x[t * K + k] * v[k * N + n];
        }
        wy[t * N + n] = sy;
        wz[t * N + n] = sz;
      }
    for (int i = 0; i < T * N; i++) y[i] = z[i] = NAN; /* every element must be written */
    st = greta_session_set_input(s, "x", x, sizeof(float) * (size_t)T * K);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_set_input(s, "r", r, sizeof(float) * (size_t)T * N);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, T, 0);
    cr_assert_null(st, "step T=%d: %s", T, greta_status_message(st));
    st = greta_session_get_output(s, "y", y, sizeof(float) * (size_t)T * N);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_get_output(s, "z", z, sizeof(float) * (size_t)T * N);
    cr_assert_null(st, "%s", greta_status_message(st));
    double ey = support_worst_row_error_ref(y, wy, T, N), ez = support_worst_row_error_ref(z, wz, T, N);
    fprintf(stderr, "gemm_conformance %s %s K=%d N=%d T=%d: x@w.T+r %.2e, x@v %.2e (tolerance %.0e)\n",
            greta_device_backend_name(device), dtype, K, N, T, ey, ez, tolerance);
    cr_expect_leq(ey, tolerance, "%s K=%d N=%d T=%d: r + x @ w.T off by %.3e", dtype, K, N, T, ey);
    cr_expect_leq(ez, tolerance, "%s K=%d N=%d T=%d: x @ v off by %.3e", dtype, K, N, T, ez);
  }
  greta_session_destroy(s);
  greta_model_destroy(model);
  free(w), free(v), free(x), free(r), free(y), free(z), free(wy), free(wz);
}

/* Every T: 1, 2, 17 and 100 of an entry of up to MAX_T. */
static void check_case(greta_device_t *device, const char *target, const char *dtype, int K, int N,
                       double tolerance) {
  static const int steps[] = {1, 2, 17, 100};
  check_case_steps(device, target, dtype, K, N, tolerance, MAX_T, steps, sizeof steps / sizeof steps[0]);
}

/* The half-x model: its reference, per token, with the stored roundings:
 * the folded norm weight W' = stored(W diag(g)), and in prefill (T > 1) the
 * normalised x and (when down reads it in half: 64 | F) the glu output
 * rounded to the weight type. What is
 * rounded is computed as the CPU backend computes it (f32 sums in index
 * order): a double sum would now and then land on the other side of a half
 * rounding boundary, one half ulp off. The last GEMM sums in double. */
enum { HX_K = 192, HX_F_MAX = 11008, HX_N = 72, HX_T_MAX = 512 };
static void half_x_ref(const float *x, const float *r, const float *wg, const float *wu,
                       const float *wd, const char *dtype, int T, int HX_F, double *want) {
  for (int t = 0; t < T; t++) {
    float h[HX_K], a[HX_F_MAX], ss = 0.0f;
    for (int k = 0; k < HX_K; k++) ss += x[t * HX_K + k] * x[t * HX_K + k];
    const float inv = 1.0f / sqrtf(ss / (float)HX_K + 1e-5f);
    for (int k = 0; k < HX_K; k++) {
      const float v = x[t * HX_K + k] * inv;
      h[k] = T > 1 ? support_stored(v, dtype) : v;
    }
    for (int f = 0; f < HX_F; f++) {
      float gs = 0.0f, us = 0.0f;
      for (int k = 0; k < HX_K; k++) {
        gs += h[k] * wg[f * HX_K + k];
        us += h[k] * wu[f * HX_K + k];
      }
      const float v = gs / (1.0f + expf(-gs)) * us;
      a[f] = T > 1 && HX_F % 64 == 0 ? support_stored(v, dtype) : v;
    }
    for (int n = 0; n < HX_N; n++) {
      double s = r[t * HX_N + n];
      for (int f = 0; f < HX_F; f++) s += (double)a[f] * wd[n * HX_F + f];
      want[t * HX_N + n] = s;
    }
  }
}

static void check_half_x_steps(greta_device_t *device, const char *target, const char *dtype, int HX_F,
                               double tolerance, int max_t, const int *steps, size_t n_steps) {
  char text[1024], *why = NULL;
  snprintf(text, sizeof text,
           "model half_x_case\n"
           "set weight_dtype = %s\n"
           "dim T\n"
           "input x: f32[T, %d]\n"
           "input r: f32[T, %d]\n"
           "weight g: [%d] = \"g\"\n"
           "weight wg: [%d, %d] = \"wg\"\n"
           "weight wu: [%d, %d] = \"wu\"\n"
           "weight wd: [%d, %d] = \"wd\"\n"
           "h = rmsnorm(x, g, 1e-5)\n"
           "output y = r + (silu(h @ wg.T) * (h @ wu.T)) @ wd.T\n",
           dtype, HX_K, HX_N, HX_K, HX_F, HX_K, HX_F, HX_K, HX_N, HX_F);
  greta_model_t *model = support_compile("half_x_case.gm", text, NULL, target, max_t, 0, &why);
  if (!model) cr_skip_test("no toolchain for %s: %s", target, why);
  free(why);
  static float g[HX_K], wg[HX_F_MAX * HX_K], wu[HX_F_MAX * HX_K], wd[HX_N * HX_F_MAX];
  static float wg_folded[HX_F_MAX * HX_K], wu_folded[HX_F_MAX * HX_K];
  static float x[HX_T_MAX * HX_K], r[HX_T_MAX * HX_N], y[HX_T_MAX * HX_N];
  static double want[HX_T_MAX * HX_N];
  for (int k = 0; k < HX_K; k++) g[k] = support_stored(1.0f + 0.1f * support_normal(), dtype);
  for (int i = 0; i < HX_F * HX_K; i++) {
    wg[i] = support_stored(0.1f * support_normal(), dtype);
    wu[i] = support_stored(0.1f * support_normal(), dtype);
    wg_folded[i] = support_stored(wg[i] * g[i % HX_K], dtype);
    wu_folded[i] = support_stored(wu[i] * g[i % HX_K], dtype);
  }
  for (int i = 0; i < HX_N * HX_F; i++) wd[i] = support_stored(0.05f * support_normal(), dtype);

  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  const struct {
    const char *name;
    const float *data;
    size_t count;
  } weights[] = {{"g", g, HX_K}, {"wg", wg, HX_F * HX_K}, {"wu", wu, HX_F * HX_K}, {"wd", wd, HX_N * HX_F}};
  for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
    st = greta_session_bind_weight(s, weights[i].name, GRETA_F32, weights[i].data, weights[i].count);
    cr_assert_null(st, "bind %s: %s", weights[i].name, greta_status_message(st));
  }
  for (size_t si = 0; si < n_steps; si++) {
    const int T = steps[si];
    for (int i = 0; i < T * HX_K; i++) x[i] = support_normal();
    for (int i = 0; i < T * HX_N; i++) r[i] = support_normal();
    half_x_ref(x, r, wg_folded, wu_folded, wd, dtype, T, HX_F, want);
    for (int i = 0; i < T * HX_N; i++) y[i] = NAN;
    st = greta_session_set_input(s, "x", x, sizeof(float) * (size_t)T * HX_K);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_set_input(s, "r", r, sizeof(float) * (size_t)T * HX_N);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, T, 0);
    cr_assert_null(st, "step T=%d: %s", T, greta_status_message(st));
    st = greta_session_get_output(s, "y", y, sizeof(float) * (size_t)T * HX_N);
    cr_assert_null(st, "%s", greta_status_message(st));
    const double e = support_worst_row_error_ref(y, want, T, HX_N);
    fprintf(stderr, "gemm_conformance %s %s half x, F=%d, T=%d: %.2e (tolerance %.0e)\n",
            greta_device_backend_name(device), dtype, HX_F, T, e, tolerance);
    cr_expect_leq(e, tolerance, "%s half x F=%d T=%d: off by %.3e", dtype, HX_F, T, e);
  }
  greta_session_destroy(s);
  greta_model_destroy(model);
}

static void check_half_x(greta_device_t *device, const char *target, const char *dtype, int HX_F,
                         double tolerance) {
  static const int steps[] = {1, 2, 17, 100};
  check_half_x_steps(device, target, dtype, HX_F, tolerance, MAX_T, steps, sizeof steps / sizeof steps[0]);
}

static void check_backend(greta_backend_kind_t kind, const char *dtype, double tolerance) {
  greta_device_t *device = support_open_or_skip(kind);
  const char *target = kind == GRETA_BACKEND_CPU ? "cpu" : greta_device_target(device);
  check_case(device, target, dtype, 264, 100, tolerance);
  check_case(device, target, dtype, 320, 6120, tolerance);
  check_case(device, target, dtype, 203, 72, tolerance);
  check_half_x(device, target, dtype, 320, tolerance);
  check_half_x(device, target, dtype, 40, tolerance);
  greta_device_destroy(device);
}

/* Split-K: on sm_90a the half GEMMs of the K = 320 cases split their
 * tiles' K over the step's workspace at T = 100, at the width
 * greta_wgmma_step_width picks knowing that: 32 tiles of 128 x 192
 * (N = 6120), 33 of 128 x 128 (N = 4200) and 32 of 128 x 256 (N = 8000, the
 * last one ragged), each in 4 parts of 1, 1, 1 and 2 K stages. N = 136,
 * K = 256 at T = 64: 2 tiles, but the
 * grid has only 5 blocks (ceil(136 / 32) x 1), so 2 parts, not 4. The same
 * cases again with GRETA_SPLIT_K=0 in the compiler's environment: one
 * block per tile. Elsewhere the compiler does not split and both runs are
 * the same. Without split-K also the half-x model (split, it runs in
 * check_backend): its down GEMM (K = 320, N = 72) at T = 100 is then one
 * unsplit ragged tile of the persistent GEMM, adding its residual in the
 * tile's own epilogue. */
static void check_split_k(const char *dtype, double tolerance) {
  greta_device_t *device = support_open_or_skip(GRETA_BACKEND_CUDA);
  static const int small_grid[] = {64, 100};
  for (int off = 0; off < 2; off++) {
    if (off) setenv("GRETA_SPLIT_K", "0", 1);
    check_case(device, greta_device_target(device), dtype, 320, 6120, tolerance);
    check_case(device, greta_device_target(device), dtype, 320, 4200, tolerance);
    check_case(device, greta_device_target(device), dtype, 320, 8000, tolerance);
    check_case_steps(device, greta_device_target(device), dtype, 256, 136, tolerance, MAX_T,
                     small_grid, 2);
    if (off) check_half_x(device, greta_device_target(device), dtype, 320, tolerance);
    unsetenv("GRETA_SPLIT_K");
  }
  greta_device_destroy(device);
}

Test(gemm_conformance, cuda_f16_split_k) { check_split_k("f16", 2e-3); }
Test(gemm_conformance, cuda_bf16_split_k) { check_split_k("bf16", 1e-2); }

/* The tile width at run time (greta_wgmma_step_width): N = 2000, K = 320,
 * compiled for 2048 tokens, holds several paths in one kernel. On 132 SMs
 * T = 100 takes 128-wide tiles (16, one wave) and T = 2048 256-wide ones
 * (16 x 8 = 128); T = 1100 the 256-wide ones (9 x 8 = 72 fill half the
 * SMs), or (the default; GRETA_WGMMA_192=0 turns them off) 192-wide ones
 * (9 x 11 = 99 in one wave, where 144 narrow tiles need two): both ways. */
static void check_step_width(const char *dtype, double tolerance) {
  greta_device_t *device = support_open_or_skip(GRETA_BACKEND_CUDA);
  static const int steps[] = {100, 1100, 2048};
  for (int with_192 = 0; with_192 < 2; with_192++) {
    if (!with_192) setenv("GRETA_WGMMA_192", "0", 1);
    check_case_steps(device, greta_device_target(device), dtype, 320, 2000, tolerance, 2048, steps,
                     3);
    unsetenv("GRETA_WGMMA_192");
  }
  greta_device_destroy(device);
}

Test(gemm_conformance, cuda_f16_step_width) { check_step_width("f16", 2e-3); }
Test(gemm_conformance, cuda_bf16_step_width) { check_step_width("bf16", 1e-2); }

/* Two widths in one step (greta_wgmma_mixed_head): the half-x model at
 * the 7B's F = 11008, T = 512, where gate/up's 22016 virtual columns go as
 * 66 column tiles of 256 and 27 of 192 (wgmma_layout's mixed_widths test);
 * T = 100 is all 192 wide in the same kernel. */
static void check_two_widths(const char *dtype, double tolerance) {
  greta_device_t *device = support_open_or_skip(GRETA_BACKEND_CUDA);
  static const int steps[] = {100, 512};
  check_half_x_steps(device, greta_device_target(device), dtype, 11008, tolerance, 512, steps, 2);
  greta_device_destroy(device);
}

Test(gemm_conformance, cuda_f16_two_widths) { check_two_widths("f16", 2e-3); }
Test(gemm_conformance, cuda_bf16_two_widths) { check_two_widths("bf16", 1e-2); }

Test(gemm_conformance, cpu_f32) { check_backend(GRETA_BACKEND_CPU, "f32", 1e-5); }
Test(gemm_conformance, cpu_f16) { check_backend(GRETA_BACKEND_CPU, "f16", 1e-5); }
Test(gemm_conformance, cpu_bf16) { check_backend(GRETA_BACKEND_CPU, "bf16", 1e-5); }
Test(gemm_conformance, cuda_f32) { check_backend(GRETA_BACKEND_CUDA, "f32", 1e-5); }
Test(gemm_conformance, cuda_f16) { check_backend(GRETA_BACKEND_CUDA, "f16", 2e-3); }
Test(gemm_conformance, cuda_bf16) { check_backend(GRETA_BACKEND_CUDA, "bf16", 1e-2); }
Test(gemm_conformance, hip_f32) { check_backend(GRETA_BACKEND_HIP, "f32", 1e-5); }
Test(gemm_conformance, hip_f16) { check_backend(GRETA_BACKEND_HIP, "f16", 2e-3); }
Test(gemm_conformance, hip_bf16) { check_backend(GRETA_BACKEND_HIP, "bf16", 1e-2); }
