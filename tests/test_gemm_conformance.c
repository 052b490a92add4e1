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
 * K splits among the warps).
 *
 * Tolerances, per token ||got - want|| / ||want||: f32 weights 1e-5 (exact
 * FP32 arithmetic on every backend); f16 weights 2e-3 and bf16 1e-2, since
 * GPU matrix cores round x to the weight's type ("half types in their own
 * precision"; one rounding of x costs 2^-11 resp. 2^-8 relative). */
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
                                   char **why) {
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
  return support_compile("gemm_case.gm", text, NULL, target_name, MAX_T, 0, why);
}

/* One backend, one dtype, one shape: every T. */
static void check_case(greta_device_t *device, const char *target, const char *dtype, int K, int N,
                       double tolerance) {
  char *why = NULL;
  greta_model_t *model = compile_case(target, dtype, K, N, &why);
  if (!model) cr_skip_test("no toolchain for %s: %s", target, why);
  free(why);

  float *w = malloc(sizeof(float) * (size_t)N * K), *v = malloc(sizeof(float) * (size_t)K * N);
  float *x = malloc(sizeof(float) * MAX_T * K), *r = malloc(sizeof(float) * MAX_T * N);
  float *y = malloc(sizeof(float) * MAX_T * N), *z = malloc(sizeof(float) * MAX_T * N);
  double *wy = malloc(sizeof(double) * MAX_T * N), *wz = malloc(sizeof(double) * MAX_T * N);
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

  static const int steps[] = {1, 2, 17, 100};
  for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++) {
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

static void check_backend(greta_backend_kind_t kind, const char *dtype, double tolerance) {
  greta_device_t *device = NULL;
  greta_status_t st = greta_device_open(kind, 0, &device);
  if (st) {
    char msg[512];
    snprintf(msg, sizeof msg, "no device: %s", greta_status_message(st));
    greta_status_free(st);
    cr_skip_test("%s", msg);
  }
  const char *target = kind == GRETA_BACKEND_CPU ? "cpu" : greta_device_target(device);
  check_case(device, target, dtype, 264, 100, tolerance);
  check_case(device, target, dtype, 203, 72, tolerance);
  greta_device_destroy(device);
}

Test(gemm_conformance, cpu_f32) { check_backend(GRETA_BACKEND_CPU, "f32", 1e-5); }
Test(gemm_conformance, cpu_f16) { check_backend(GRETA_BACKEND_CPU, "f16", 1e-5); }
Test(gemm_conformance, cpu_bf16) { check_backend(GRETA_BACKEND_CPU, "bf16", 1e-5); }
Test(gemm_conformance, cuda_f32) { check_backend(GRETA_BACKEND_CUDA, "f32", 1e-5); }
Test(gemm_conformance, cuda_f16) { check_backend(GRETA_BACKEND_CUDA, "f16", 2e-3); }
Test(gemm_conformance, cuda_bf16) { check_backend(GRETA_BACKEND_CUDA, "bf16", 1e-2); }
Test(gemm_conformance, hip_f32) { check_backend(GRETA_BACKEND_HIP, "f32", 1e-5); }
Test(gemm_conformance, hip_f16) { check_backend(GRETA_BACKEND_HIP, "f16", 2e-3); }
Test(gemm_conformance, hip_bf16) { check_backend(GRETA_BACKEND_HIP, "bf16", 1e-2); }
