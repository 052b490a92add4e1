/* greta_gemm_wgmma (templates/gemm_wgmma.h, Hopper wgmma) on an NVIDIA sm_90a
 * GPU without the front end: checked against a double reference on the host
 * on ragged shapes (f16 and bf16; tile widths BN 128 / 256; x loaded one
 * (AHEAD 1) or two (AHEAD 2) iterations ahead; x already f16 (XH)), then
 * timed on the Llama-2-7B projection shapes at T = 512 and 2048 next to
 * cuBLAS. Exit 1 on any failed check, before the timing.
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates -Xptxas -v \
 *        bench/gemm_wgmma_bench.cu -lcublas -o gemm_wgmma_bench 2>&1 | grep -E "spill|Used" | sort | uniq -c
 *   cuobjdump -sass gemm_wgmma_bench | grep -c HGMMA
 *   ./gemm_wgmma_bench
 *
 * ptxas (nvcc 13.0, 2026-12-01): 73 kernels, every one "0 bytes stack frame,
 * 0 bytes spill stores, 0 bytes spill loads"; registers on the Llama shapes
 * (K 4096 / 11008): BN 128 AHEAD 1 or 2: 166; BN 256 AHEAD 1 or 2: 232;
 * XH BN 128: 116, XH BN 256: 191 (the small check shapes use fewer).
 * No cuobjdump on the build machine: the HGMMA count is for the GPU run
 * (expect HGMMA.64x128x16.F32 / HGMMA.64x256x16.F32, 4 per loop step).
 * Build ~50 s on 2 cores.
 *
 * Checks: x uniform in [-1, 1) (f32), W uniform in [-1, 1) (f16 / bf16 bits);
 * the reference rounds x to the weight's type first (the kernel's contract)
 * and sums in double; pass when max |c - ref| <= 2e-3 max |ref|, every c
 * finite (c starts as NaN) and nothing written past c. A failure prints the
 * first wrong elements. The timed shapes are also compared with cuBLAS's
 * result (same tolerance; exit 1 after the table if one disagrees).
 *
 * Timing: 3 warm-up launches, then 20 launches each between two CUDA events;
 * the median. TFLOP/s = 2 M N K / time. cuBLAS: cublasGemmEx with x already
 * in f16 (its conversion not timed), W f16, c f32 (CUDA_R_32F output),
 * CUBLAS_COMPUTE_32F, default algorithm: the same inputs and output types as
 * greta_gemm_wgmma apart from x's f32 -> f16 conversion, which greta does
 * inside the kernel (the XH columns take the f16 x as cuBLAS does). The
 * ratio columns are greta's TFLOP/s over cuBLAS's (best of the f32-x
 * variants, best of the XH variants). Run time: ~10-20 s (mostly the host
 * reference and copying c back).
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "launch_constants.h"
/* The prelude picks its NVIDIA branch on NVRTC's macro. */
#define __CUDACC_RTC__ 1
#include "prelude.h"
#include "wgmma_layout.h"
#include "pair_layout.h"
#include "gemm.h" /* greta_no_pairs */
#include "gemm_wgmma.h"
#undef __CUDACC_RTC__

#include "cuda_check.h"

#define CUBLAS_CHECK(x)                                                      \
  do {                                                                       \
    cublasStatus_t s_ = (x);                                                 \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                       \
      fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #x, \
              (int)s_);                                                      \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

template <int DT, long long N, long long K, int BN, int AHEAD, int XH>
__global__ void __launch_bounds__(GRETA_WGMMA_NT, 1)
    wgmma_kernel(long long M, const void *x, const void *w, float *c) {
  extern __shared__ __align__(1024) unsigned char smem[];
#if defined(GRETA_HAVE_WGMMA)
  greta_gemm_wgmma<DT, N, K, BN, AHEAD, XH>(M, (long long)blockIdx.x * GRETA_WGMMA_BM,
                                           (long long)blockIdx.y * BN, x, w, c, nullptr, smem);
#elif defined(__CUDA_ARCH__)
  __trap(); /* built for a target without wgmma: see the build line above */
#endif
}

template <int DT, long long N, long long K, int BN, int AHEAD, int XH = 0>
static void launch(long long M, const void *x, const void *w, float *c, cudaStream_t stream = 0) {
  auto kern = wgmma_kernel<DT, N, K, BN, AHEAD, XH>;
  static bool configured = false;
  if (!configured) {
    CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               GRETA_WGMMA_SMEM_BYTES(BN)));
    configured = true;
  }
  dim3 grid((unsigned)((M + GRETA_WGMMA_BM - 1) / GRETA_WGMMA_BM), (unsigned)((N + BN - 1) / BN));
  kern<<<grid, GRETA_WGMMA_NT, GRETA_WGMMA_SMEM_BYTES(BN), stream>>>(M, x, w, c);
  CHECK(cudaGetLastError());
}

/* ---- host helpers ------------------------------------------------------ */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float uniform_pm1(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}
static unsigned short to_half_bits(float v, int dt) {
  unsigned short h;
  if (dt == GRETA_W_BF16) {
    __nv_bfloat16 b = __float2bfloat16_rn(v);
    memcpy(&h, &b, 2);
  } else {
    __half f = __float2half_rn(v);
    memcpy(&h, &f, 2);
  }
  return h;
}
static double half_bits_to_double(unsigned short h, int dt) {
  if (dt == GRETA_W_BF16) {
    unsigned int u = (unsigned int)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  __half f;
  memcpy(&f, &h, 2);
  return (double)__half2float(f);
}

static const char *dt_name(int dt) { return dt == GRETA_W_BF16 ? "bf16" : "f16"; }

/* Largest |a - b| over the largest |b|. */
static double rel_err(const std::vector<float> &a, const std::vector<double> &b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < a.size(); i++) {
    err = std::max(err, std::fabs((double)a[i] - b[i]));
    mag = std::max(mag, std::fabs(b[i]));
  }
  return err / (mag > 0 ? mag : 1);
}

static const double kTol = 2e-3;

template <int DT, long long N, long long K, int BN, int AHEAD, int XH>
static bool check_one(long long M) {
  std::vector<float> x((size_t)(M * K));
  std::vector<unsigned short> w((size_t)(N * K));
  for (auto &v : x) v = uniform_pm1();
  for (auto &v : w) v = to_half_bits(uniform_pm1(), DT);
  std::vector<double> xr(x.size()), wr(w.size());
  for (size_t i = 0; i < x.size(); i++) xr[i] = half_bits_to_double(to_half_bits(x[i], DT), DT);
  for (size_t i = 0; i < w.size(); i++) wr[i] = half_bits_to_double(w[i], DT);
  std::vector<double> ref((size_t)(M * N));
  for (long long m = 0; m < M; m++)
    for (long long n = 0; n < N; n++) {
      double s = 0;
      const double *xp = &xr[(size_t)(m * K)], *wp = &wr[(size_t)(n * K)];
      for (long long k = 0; k < K; k++) s += xp[k] * wp[k];
      ref[(size_t)(m * N + n)] = s;
    }

  float *dx, *dc;
  unsigned short *dw, *dxh;
  std::vector<unsigned short> xh(x.size());
  for (size_t i = 0; i < x.size(); i++) xh[i] = to_half_bits(x[i], DT);
  CHECK(cudaMalloc(&dxh, xh.size() * 2));
  CHECK(cudaMemcpy(dxh, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice));
  /* Guard values around c: a store past M or N shows up as a changed guard. */
  const size_t guard = 4096;
  CHECK(cudaMalloc(&dx, x.size() * 4));
  CHECK(cudaMalloc(&dw, w.size() * 2));
  CHECK(cudaMalloc(&dc, (ref.size() + guard) * 4));
  CHECK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemset(dc, 0xFF, (ref.size() + guard) * 4)); /* NaN everywhere: unwritten shows */
  if constexpr (XH) launch<DT, N, K, BN, AHEAD, 1>(M, dxh, dw, dc);
  else launch<DT, N, K, BN, AHEAD, 0>(M, dx, dw, dc);
  CHECK(cudaDeviceSynchronize());
  std::vector<float> c(ref.size() + guard);
  CHECK(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost));
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dxh));
  CHECK(cudaFree(dw));
  CHECK(cudaFree(dc));

  bool guard_ok = true;
  for (size_t i = ref.size(); i < c.size(); i++) {
    unsigned int u;
    memcpy(&u, &c[i], 4);
    guard_ok &= u == 0xFFFFFFFFu;
  }
  c.resize(ref.size());
  bool finite = true;
  for (float v : c) finite &= std::isfinite(v);
  double e = rel_err(c, ref);
  bool ok = finite && guard_ok && e <= kTol;
  printf("check %-4s BN %3d %s  M %4lld N %4lld K %5lld  max rel err %.3e%s%s  %s\n", dt_name(DT), BN,
         XH ? "x half " : AHEAD == 1 ? "AHEAD 1" : "AHEAD 2", M,
         N, K, e, finite ? "" : " (non-finite / unwritten)", guard_ok ? "" : " (wrote past c)",
         ok ? "ok" : "FAIL");
  if (!ok) {
    /* Where it goes wrong says which mapping is off: whole 8-column blocks
     * (descriptor / swizzle of B), 8-row groups (A or the fragment rows),
     * everything past one k16 step (the 32-byte descriptor advance). */
    double mag = 0;
    for (double r : ref) mag = std::max(mag, std::fabs(r));
    int shown = 0;
    long long bad = 0;
    for (long long m = 0; m < M; m++)
      for (long long n = 0; n < N; n++) {
        double got = c[(size_t)(m * N + n)], want = ref[(size_t)(m * N + n)];
        if (std::isfinite(got) && std::fabs(got - want) <= kTol * mag) continue;
        bad++;
        if (shown++ < 8) printf("    c[%lld][%lld] = %.6g, expected %.6g\n", m, n, got, want);
      }
    printf("    %lld of %lld elements wrong\n", bad, M * N);
  }
  return ok;
}

template <int DT, int BN, int AHEAD, int XH = 0>
static bool check_all(void) {
  bool ok = true;
  ok &= check_one<DT, 200, 128, BN, AHEAD, XH>(77);
  ok &= check_one<DT, 256, 4096, BN, AHEAD, XH>(128);
  ok &= check_one<DT, 520, 192, BN, AHEAD, XH>(300);
  ok &= check_one<DT, 136, 64, BN, AHEAD, XH>(1); /* one row, one stage */
  return ok;
}

/* ---- timing ------------------------------------------------------------ */
__global__ void fill_kernel(float *xf, __half *xh, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    float v = (float)(h & 0xFFFF) / 32768.f - 1.f;
    __half hv = __float2half_rn(v);
    if (xf) xf[i] = __half2float(hv); /* exactly representable: greta and cuBLAS see one x */
    if (xh) xh[i] = hv;
  }
}

struct Buffers {
  float *xf, *c, *c_ref;
  __half *xh, *w;
};

static bool all_ok = true;

template <long long N, long long K>
static void time_shape(const char *name, long long M, cublasHandle_t handle, const Buffers &b) {
  fill_kernel<<<1024, 256>>>(b.xf, b.xh, (size_t)(M * K), 1u);
  fill_kernel<<<1024, 256>>>(nullptr, b.w, (size_t)(N * K), 2u);
  CHECK(cudaGetLastError());
  const float alpha = 1.f, beta = 0.f;
  /* Column-major cuBLAS: c^T [N x M] = W [N x K] (W^T stored K x N, op T) times x^T [K x M]. */
  auto cublas = [&]() {
    CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, b.w,
                              CUDA_R_16F, (int)K, b.xh, CUDA_R_16F, (int)K, &beta, b.c_ref, CUDA_R_32F,
                              (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  float ms_cublas = bench_median_ms(cublas, 3, 20);
  std::vector<float> ref((size_t)(M * N)), got((size_t)(M * N));
  CHECK(cudaMemcpy(ref.data(), b.c_ref, ref.size() * 4, cudaMemcpyDeviceToHost));
  std::vector<double> refd(ref.begin(), ref.end());
  double flops = 2.0 * M * N * K;
  /* Variants: (BN, AHEAD) = (128, 1), (128, 2), (256, 1), (256, 2) on the
   * f32 x; then BN 128 and 256 on x already in f16 (XH). */
  float ms[6];
  double worst = 0;
  for (int v = 0; v < 6; v++) {
    CHECK(cudaMemset(b.c, 0xFF, ref.size() * 4));
    auto run = [&]() {
      switch (v) {
      case 0: launch<GRETA_W_F16, N, K, 128, 1>(M, b.xf, b.w, b.c); break;
      case 1: launch<GRETA_W_F16, N, K, 128, 2>(M, b.xf, b.w, b.c); break;
      case 2: launch<GRETA_W_F16, N, K, 256, 1>(M, b.xf, b.w, b.c); break;
      case 3: launch<GRETA_W_F16, N, K, 256, 2>(M, b.xf, b.w, b.c); break;
      case 4: launch<GRETA_W_F16, N, K, 128, 1, 1>(M, b.xh, b.w, b.c); break;
      default: launch<GRETA_W_F16, N, K, 256, 1, 1>(M, b.xh, b.w, b.c); break;
      }
    };
    ms[v] = bench_median_ms(run, 3, 20);
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy(got.data(), b.c, got.size() * 4, cudaMemcpyDeviceToHost));
    double e = rel_err(got, refd);
    for (float g : got)
      if (!std::isfinite(g)) e = INFINITY;
    worst = std::max(worst, e);
  }
  all_ok &= worst <= kTol;
  float best = *std::min_element(ms, ms + 4), best_h = std::min(ms[4], ms[5]);
  printf("| %-7s | %4lld | %5lld | %5lld |", name, M, N, K);
  for (int v = 0; v < 6; v++) printf(" %6.3f %4.0f |", ms[v], flops / ms[v] * 1e-9);
  printf(" %6.3f %4.0f | %4.2f | %4.2f | %.1e |\n", ms_cublas, flops / ms_cublas * 1e-9, ms_cublas / best,
         ms_cublas / best_h, worst);
}

int main(void) {
  int dev;
  cudaDeviceProp prop;
  CHECK(cudaGetDevice(&dev));
  CHECK(cudaGetDeviceProperties(&prop, dev));
  printf("%s, %d SMs, sm_%d%d, %zu KiB shared per block (opt-in)\n", prop.name, prop.multiProcessorCount,
         prop.major, prop.minor, prop.sharedMemPerBlockOptin / 1024);
  if (prop.major != 9) {
    fprintf(stderr, "greta_gemm_wgmma needs an sm_90 (Hopper) GPU; found sm_%d%d\n", prop.major, prop.minor);
    return 1;
  }

  bool ok = true;
  ok &= check_all<GRETA_W_F16, 128, 1>();
  ok &= check_all<GRETA_W_F16, 256, 1>();
  ok &= check_all<GRETA_W_F16, 128, 2>();
  ok &= check_all<GRETA_W_F16, 256, 2>();
  ok &= check_all<GRETA_W_BF16, 128, 1>();
  ok &= check_all<GRETA_W_BF16, 256, 1>();
  ok &= check_all<GRETA_W_BF16, 128, 2>();
  ok &= check_all<GRETA_W_BF16, 256, 2>();
  ok &= check_all<GRETA_W_F16, 128, 1, 1>();
  ok &= check_all<GRETA_W_F16, 256, 1, 1>();
  ok &= check_all<GRETA_W_BF16, 128, 1, 1>();
  ok &= check_all<GRETA_W_BF16, 256, 1, 1>();
  if (!ok) {
    fprintf(stderr, "greta_gemm_wgmma: a check FAILED; no timing\n");
    return 1;
  }

  const long long max_mk = 2048ll * 11008, max_nk = 22016ll * 4096, max_mn = 2048ll * 22016;
  Buffers b;
  CHECK(cudaMalloc(&b.xf, max_mk * 4));
  CHECK(cudaMalloc(&b.xh, max_mk * 2));
  CHECK(cudaMalloc(&b.w, max_nk * 2));
  CHECK(cudaMalloc(&b.c, max_mn * 4));
  CHECK(cudaMalloc(&b.c_ref, max_mn * 4));
  cublasHandle_t handle;
  CUBLAS_CHECK(cublasCreate(&handle));

  printf("\nf16 weights, x f32 (greta) / f16 (cuBLAS), c f32; ms and TFLOP/s, median of 20\n");
  printf("| shape   |    T |     N |     K | BN128 AHEAD1 | BN128 AHEAD2 | BN256 AHEAD1 | BN256 AHEAD2 "
         "| BN128 x f16  | BN256 x f16  | cuBLAS      | best f32-x greta / cuBLAS (TFLOP/s) "
         "| best f16-x greta / cuBLAS | max err vs cuBLAS |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (long long T : {512ll, 2048ll}) {
    time_shape<12288, 4096>("qkv", T, handle, b);
    time_shape<4096, 4096>("o", T, handle, b);
    time_shape<22016, 4096>("gate_up", T, handle, b);
    time_shape<4096, 11008>("down", T, handle, b);
  }
  CUBLAS_CHECK(cublasDestroy(handle));
  CHECK(cudaFree(b.xf));
  CHECK(cudaFree(b.xh));
  CHECK(cudaFree(b.w));
  CHECK(cudaFree(b.c));
  CHECK(cudaFree(b.c_ref));
  if (!all_ok) {
    fprintf(stderr, "greta_gemm_wgmma: a timed shape disagrees with cuBLAS beyond %.0e\n", kTol);
    return 1;
  }
  return 0;
}
