/* greta_attention_mma (templates/attention_mma.h), the causal prefill
 * attention on mma.sync, on an NVIDIA GPU without the front end: the
 * templates compiled by nvcc as NVRTC would see them, checked against a
 * double reference on the host (GQA, several blocks, earlier cache rows,
 * partial tiles, head_dim 64 / 128 / 256, f16 and bf16 caches), then timed
 * on the Llama-2-7B shapes (32 heads of 128, T = 512, pos = 0) next to
 * greta_attention (the FMA kernel it replaces).
 *
 *   nvcc -O3 -std=c++17 -arch=sm_90 -Itemplates bench/attention_prefill_bench.cu -o attention_prefill_bench
 *   ./attention_prefill_bench [--sdpa-us F16_US BF16_US]
 *
 * With -DATTN_WGMMA and -gencode=arch=compute_90a,code=sm_90a it also checks
 * and times greta_attention_wgmma (templates/attention_wgmma.h, gretac's
 * choice on sm_90a at head_dim 128); -DGRETA_ATTN_WGMMA_STAGES=N sets its
 * ring's slots (3 by default, launch_constants.h). With ATTN_ONLY_TIME=1 in
 * the environment it only times the f16 shapes at T = 512 and 2048 (for
 * variants); with ATTN_ONLY_TIME=2048 only T = 2048, whose first
 * wgmma_kernel launch is then the first of the process (for ncu -c 1).
 *
 * With --sdpa-us (PyTorch's SDPA, flash backend, on the same shapes, timed by
 * scripts/device_flash_attention.sh) the timing rows also print the ratio
 * GRETA / SDPA throughput; the issue's goal is >= 0.5 at T = 512.
 *
 * Timing: a CUDA graph of 50 launches (no host launch cost between them),
 * replayed 11 times between two CUDA events; the median per launch. The K / V cache of the step (8 MiB at T = 512) stays in
 * L2, as it does after the step's own append. FLOPs of causal attention:
 * 4 T (T / 2) D H (S and P V, half the T x T square), as FlashAttention
 * counts them.
 *
 * Exit status: 0 when every check passes.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "launch_constants.h"
/* The prelude picks its NVIDIA branch on NVRTC's macro. */
#define __CUDACC_RTC__ 1
#include "prelude.h"
#include "mma_layout.h"
#include "pair_layout.h"
#include "gemm.h" /* greta_no_pairs, which gemm_mma.h's paired epilogues take */
#include "wgmma_layout.h"
#include "gemm_wgmma.h" /* greta_tmap, which greta_gemm_mma takes */
#include "gemm_mma.h"
#include "attention.h"
#include "attention_mma.h"
#include "attention_wgmma.h"
#undef __CUDACC_RTC__

#include "cuda_check.h"

/* -DATTN_MIN_BLOCKS=3 asks ptxas for 3 blocks per SM (<= 170 registers):
 * gretac emits __launch_bounds__(128) alone (2 blocks per SM at head_dim
 * 128, 237 registers); the script times both. */
#ifndef ATTN_MIN_BLOCKS
#define ATTN_MIN_BLOCKS 1
#endif
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
__global__ void __launch_bounds__(GRETA_ATTN_MMA_NT, ATTN_MIN_BLOCKS)
    mma_kernel(const int *params, const float *q, const void *k, const void *v, float *out, float scale) {
  greta_attention_mma<H, KVH, D, MAXSEQ, DT>(params, q, k, v, out, scale);
}
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
__global__ void __launch_bounds__(GRETA_ATTN_NT)
    fma_kernel(const int *params, const float *q, const void *k, const void *v, float *out, float scale) {
  greta_attention<H, KVH, D, MAXSEQ, DT>(params, q, k, v, out, scale);
}

static cudaStream_t g_stream; /* every launch: capturable into a graph */

/* Launches greta_attention_mma as kernel_select.c does: grid (H,
 * ceil(T / 64)), GRETA_ATTN_MMA_SMEM_BYTES(D) of dynamic shared memory. */
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
static void launch_mma(const int *params, int T, const float *q, const void *k, const void *v,
                       float *out, float scale) {
  static bool attr = false;
  const int smem = GRETA_ATTN_MMA_SMEM_BYTES(D);
  if (!attr) {
    CHECK(cudaFuncSetAttribute(mma_kernel<H, KVH, D, MAXSEQ, DT>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    attr = true;
  }
  const int BQ = GRETA_ATTN_MMA_QUERIES;
  mma_kernel<H, KVH, D, MAXSEQ, DT><<<dim3(H, (T + BQ - 1) / BQ), GRETA_ATTN_MMA_NT, smem, g_stream>>>(
      params, q, k, v, out, scale);
}
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
static void launch_fma(const int *params, int T, const float *q, const void *k, const void *v,
                       float *out, float scale) {
  const int NQ = GRETA_ATTN_NT / GRETA_WAVE;
  const dim3 grid(H, (T + NQ - 1) / NQ);
  fma_kernel<H, KVH, D, MAXSEQ, DT><<<grid, GRETA_ATTN_NT, 0, g_stream>>>(params, q, k, v, out, scale);
}

#if defined(ATTN_WGMMA)
/* greta_attention_wgmma (attention_wgmma.h), as gretac emits it: 384
 * threads, no minimum of blocks an SM (its consumers raise their own
 * register count). */
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
__global__ void __launch_bounds__(GRETA_ATTN_WGMMA_NT)
    wgmma_kernel(const int *params, const float *q, const void *k, const void *v, float *out, float scale) {
  greta_attention_wgmma<H, KVH, D, MAXSEQ, DT>(params, q, k, v, out, scale);
}

/* Its launch: grid (H, ceil(T / 128)), GRETA_ATTN_WGMMA_SMEM_BYTES of dynamic shared memory. */
template <long long H, long long KVH, int D, long long MAXSEQ, int DT>
static void launch_wgmma(const int *params, int T, const float *q, const void *k, const void *v,
                         float *out, float scale) {
  static bool attr = false;
  if (!attr) {
    CHECK(cudaFuncSetAttribute(wgmma_kernel<H, KVH, D, MAXSEQ, DT>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, GRETA_ATTN_WGMMA_SMEM_BYTES));
    attr = true;
  }
  const int BQ = GRETA_ATTN_WGMMA_QUERIES;
  wgmma_kernel<H, KVH, D, MAXSEQ, DT><<<dim3(H, (T + BQ - 1) / BQ), GRETA_ATTN_WGMMA_NT,
                                        GRETA_ATTN_WGMMA_SMEM_BYTES, g_stream>>>(params, q, k, v, out, scale);
}
#endif /* ATTN_WGMMA */

static unsigned long long rng = 88172645463325252ull;
static float frand() { /* [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / (1ull << 23)) - 1.0);
}
/* Rounds to the cache dtype on the host (CUDA's own conversions). */
static unsigned short host_bits(int dt, float v) {
  unsigned short b;
  if (dt == GRETA_W_F16) {
    __half x = __float2half_rn(v);
    memcpy(&b, &x, 2);
  } else {
    __nv_bfloat16 x = __float2bfloat16_rn(v);
    memcpy(&b, &x, 2);
  }
  return b;
}
static double host_value(int dt, unsigned short b) {
  if (dt == GRETA_W_F16) {
    __half x;
    memcpy(&x, &b, 2);
    return __half2float(x);
  }
  __nv_bfloat16 x;
  memcpy(&x, &b, 2);
  return __bfloat162float(x);
}

/* out[t][h] over cache rows 0 .. pos + t, in double, q as given (f32). */
static void reference(const std::vector<float> &q, const std::vector<unsigned short> &k,
                      const std::vector<unsigned short> &v, int dt, int T, int pos, int H, int KVH,
                      int D, double scale, std::vector<double> &out) {
  out.assign((size_t)T * H * D, 0.0);
  std::vector<double> s, kd(k.size()), vd(v.size());
  for (size_t i = 0; i < k.size(); i++) kd[i] = host_value(dt, k[i]), vd[i] = host_value(dt, v[i]);
  for (int t = 0; t < T; t++)
    for (int h = 0; h < H; h++) {
      const int g = h / (H / KVH), rows = pos + t + 1;
      s.assign(rows, 0.0);
      double m = -INFINITY, l = 0;
      const float *qr = &q[((size_t)t * H + h) * D];
      for (int r = 0; r < rows; r++) {
        const double *kr = &kd[((size_t)r * KVH + g) * D];
        double dot = 0;
        for (int d = 0; d < D; d++) dot += qr[d] * kr[d];
        s[r] = dot * scale;
        m = std::max(m, s[r]);
      }
      double *o = &out[((size_t)t * H + h) * D];
      for (int r = 0; r < rows; r++) {
        const double e = exp(s[r] - m);
        const double *vr = &vd[((size_t)r * KVH + g) * D];
        l += e;
        for (int d = 0; d < D; d++) o[d] += e * vr[d];
      }
      for (int d = 0; d < D; d++) o[d] /= l;
    }
}

static int failures = 0;

/* One launch on random data (cache rows past pos + T hold NaN: never read),
 * compared with the reference: relative RMS error within the dtype's
 * rounding of q and p (f16 2e-3, bf16 1.6e-2: the conformance bounds), and
 * every output written (out starts as NaN). */
template <long long H, long long KVH, int D, long long MAXSEQ, int DT, bool WGMMA = false>
static void check(int T, int pos) {
  const size_t cache = (size_t)MAXSEQ * KVH * D;
  std::vector<unsigned short> hk(cache), hv(cache);
  const unsigned short nan_bits = DT == GRETA_W_F16 ? 0x7e00 : 0x7fc0;
  for (size_t i = 0; i < cache; i++) {
    const bool used = i < (size_t)(pos + T) * KVH * D;
    hk[i] = used ? host_bits(DT, frand()) : nan_bits;
    hv[i] = used ? host_bits(DT, frand()) : nan_bits;
  }
  std::vector<float> hq((size_t)T * H * D);
  for (auto &x : hq) x = 2 * frand();
  void *dk, *dv;
  float *dq, *dout;
  int *dparams;
  CHECK(cudaMalloc(&dk, cache * 2));
  CHECK(cudaMalloc(&dv, cache * 2));
  CHECK(cudaMalloc(&dq, hq.size() * 4));
  CHECK(cudaMalloc(&dout, hq.size() * 4));
  CHECK(cudaMalloc(&dparams, 8));
  CHECK(cudaMemcpy(dk, hk.data(), cache * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dv, hv.data(), cache * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dq, hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
  const int params[2] = {T, pos};
  CHECK(cudaMemcpy(dparams, params, 8, cudaMemcpyHostToDevice));
  CHECK(cudaMemset(dout, 0xff, hq.size() * 4));
  const float scale = 1.0f / sqrtf((float)D);
  CHECK(cudaDeviceSynchronize()); /* the copies above, on the legacy stream */
#if defined(ATTN_WGMMA)
  if constexpr (WGMMA) launch_wgmma<H, KVH, D, MAXSEQ, DT>(dparams, T, dq, dk, dv, dout, scale);
  else
#endif
    launch_mma<H, KVH, D, MAXSEQ, DT>(dparams, T, dq, dk, dv, dout, scale);
  CHECK(cudaGetLastError());
  CHECK(cudaStreamSynchronize(g_stream));
  std::vector<float> got(hq.size());
  CHECK(cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost));
  std::vector<double> ref;
  reference(hq, hk, hv, DT, T, pos, (int)H, (int)KVH, D, scale, ref);
  double num = 0, den = 0, worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(got[i])) {
      bad++;
      continue;
    }
    const double e = got[i] - ref[i];
    num += e * e, den += ref[i] * ref[i];
    worst = std::max(worst, fabs(e));
  }
  const double rel = sqrt(num / den), tol = DT == GRETA_W_F16 ? 2e-3 : 1.6e-2;
  const bool ok = bad == 0 && rel <= tol;
  char what[160];
  snprintf(what, sizeof what, "%s%s H=%lld KVH=%lld D=%d T=%d pos=%d", WGMMA ? "wgmma " : "",
           DT == GRETA_W_F16 ? "f16" : "bf16", H, KVH, D, T, pos);
  printf("check %-44s rel %.2e (tol %.0e)  max abs %.2e  non-finite %zu  %s\n", what, rel, tol, worst,
         bad, ok ? "ok" : "FAIL");
  if (!ok) failures++;
  cudaFree(dk), cudaFree(dv), cudaFree(dq), cudaFree(dout), cudaFree(dparams);
}

/* Random values in [-1, 1) from a hash of the index, rounded to DT. */
template <int DT>
__global__ void fill_kernel(unsigned short *buf, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * 256 + threadIdx.x; i < n; i += (size_t)gridDim.x * 256) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 15, x *= 2246822519u, x ^= x >> 13;
    const float f = (float)(x >> 8) * (1.0f / (1 << 23)) - 1.0f;
    buf[i] = DT == GRETA_W_F16 ? greta_float_to_half(f) : greta_float_to_bf16(f);
  }
}
__global__ void fill_f32(float *buf, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * 256 + threadIdx.x; i < n; i += (size_t)gridDim.x * 256) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 15, x *= 2246822519u, x ^= x >> 13;
    buf[i] = 2.f * ((float)(x >> 8) * (1.0f / (1 << 23)) - 1.0f);
  }
}

/* Median microseconds per launch of `launch`: a graph of 50 launches,
 * replayed 11 times (after 2 warm-up replays). */
template <typename F>
static double time_us(F launch) {
  const int PER_GRAPH = 50;
  launch(); /* sets the kernel's attributes outside the capture */
  CHECK(cudaStreamSynchronize(g_stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < PER_GRAPH; i++) launch();
  CHECK(cudaStreamEndCapture(g_stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  const double us = bench_graph_median_ms(exec, g_stream, 2, 11) * 1e3 / PER_GRAPH;
  cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);
  return us;
}

/* Llama-2-7B prefill attention: 32 heads of 128, MAXSEQ 4096, T tokens at
 * pos 0. */
template <int DT>
static void time_7b(int T, double sdpa_us) {
  const long long H = 32, KVH = 32, MAXSEQ = 4096;
  const int D = 128;
  const size_t cache = (size_t)MAXSEQ * KVH * D;
  unsigned short *k, *v;
  float *q, *out;
  int *params;
  CHECK(cudaMalloc(&k, cache * 2));
  CHECK(cudaMalloc(&v, cache * 2));
  CHECK(cudaMalloc(&q, (size_t)T * H * D * 4));
  CHECK(cudaMalloc(&out, (size_t)T * H * D * 4));
  CHECK(cudaMalloc(&params, 8));
  fill_kernel<DT><<<1024, 256>>>(k, cache, 1);
  fill_kernel<DT><<<1024, 256>>>(v, cache, 2);
  fill_f32<<<1024, 256>>>(q, (size_t)T * H * D, 3);
  const int hp[2] = {T, 0};
  CHECK(cudaMemcpy(params, hp, 8, cudaMemcpyHostToDevice));
  CHECK(cudaDeviceSynchronize()); /* the fills, on the legacy stream */
  const float scale = 1.0f / sqrtf((float)D);
  const double flops = 4.0 * T * (T / 2.0) * D * H;
  const double us_mma = time_us([&] { launch_mma<H, KVH, D, MAXSEQ, DT>(params, T, q, k, v, out, scale); });
  const double us_fma = time_us([&] { launch_fma<H, KVH, D, MAXSEQ, DT>(params, T, q, k, v, out, scale); });
#if defined(ATTN_WGMMA)
  const double us_wg = time_us([&] { launch_wgmma<H, KVH, D, MAXSEQ, DT>(params, T, q, k, v, out, scale); });
  printf("time %-5s T=%-5d wgmma               %8.2f us %7.1f TFLOP/s   (against mma %.2fx)\n",
         DT == GRETA_W_F16 ? "f16" : "bf16", T, us_wg, flops / us_wg * 1e-6, us_mma / us_wg);
#endif
  const char *name = DT == GRETA_W_F16 ? "f16" : "bf16";
  printf("time %-5s T=%-5d greta_attention_mma %8.2f us %7.1f TFLOP/s", name, T, us_mma,
         flops / us_mma * 1e-6);
  if (sdpa_us > 0)
    printf("   sdpa %8.2f us %7.1f TFLOP/s   greta/sdpa %.2f", sdpa_us, flops / sdpa_us * 1e-6,
           sdpa_us / us_mma);
  printf("\n");
  printf("time %-5s T=%-5d greta_attention     %8.2f us %7.1f TFLOP/s   (mma speedup %.1fx)\n", name, T,
         us_fma, flops / us_fma * 1e-6, us_fma / us_mma);
  cudaFree(k), cudaFree(v), cudaFree(q), cudaFree(out), cudaFree(params);
}

int main(int argc, char **argv) {
  double sdpa_f16 = 0, sdpa_bf16 = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--sdpa-us") && i + 2 < argc) {
      sdpa_f16 = atof(argv[++i]);
      sdpa_bf16 = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--sdpa-us F16_US BF16_US]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
#if defined(ATTN_WGMMA)
  if (const char *only = getenv("ATTN_ONLY_TIME")) { /* variants: timing only; =2048: T = 2048 alone */
    if (strcmp(only, "2048")) time_7b<GRETA_W_F16>(512, 0);
    time_7b<GRETA_W_F16>(2048, 0);
    return 0;
  }
#endif
  printf("device %s, %d SMs; greta_attention_mma with __launch_bounds__(%d, %d)\n", prop.name,
         prop.multiProcessorCount, GRETA_ATTN_MMA_NT, ATTN_MIN_BLOCKS);

  /* GQA (4 heads on 2 kv heads), one and several query blocks, earlier
   * cache rows, partial last key tile, head_dim 64 / 128 / 256. */
  check<4, 2, 64, 256, GRETA_W_F16>(100, 0);
  check<4, 2, 64, 256, GRETA_W_F16>(5, 70);
  check<4, 2, 128, 256, GRETA_W_F16>(200, 37);
  check<4, 2, 128, 256, GRETA_W_BF16>(131, 0);
  check<4, 2, 256, 256, GRETA_W_BF16>(77, 13);
  check<4, 2, 256, 256, GRETA_W_F16>(64, 64);
  check<4, 1, 32, 256, GRETA_W_F16>(33, 1);
#if defined(ATTN_WGMMA)
  /* greta_attention_wgmma (head_dim 128): GQA, earlier cache rows, partial
   * tiles and blocks, a consumer with no rows while the ring turns over
   * (T 50 at pos 1000: 9 key tiles, rows for one warpgroup), then the timed
   * shape. */
  check<4, 2, 128, 256, GRETA_W_F16, true>(200, 37);
  check<4, 2, 128, 256, GRETA_W_F16, true>(5, 70);
  check<4, 1, 128, 256, GRETA_W_BF16, true>(131, 0);
  check<4, 2, 128, 2048, GRETA_W_F16, true>(50, 1000);
  check<4, 2, 128, 2048, GRETA_W_BF16, true>(300, 700);
  check<32, 32, 128, 1024, GRETA_W_F16, true>(512, 0);
  check<32, 32, 128, 1024, GRETA_W_BF16, true>(512, 0);
  /* More items (a head's 128 query rows) than the H200 has SMs: 64 heads x
   * 3 query blocks, so that a persistent grid's blocks take two in turn. */
  check<64, 16, 128, 1024, GRETA_W_F16, true>(300, 200);
  check<64, 16, 128, 1024, GRETA_W_BF16, true>(300, 200);
#endif
  /* The timed shapes themselves. */
  check<32, 32, 128, 1024, GRETA_W_F16>(512, 0);
  check<32, 32, 128, 1024, GRETA_W_BF16>(512, 0);

  time_7b<GRETA_W_F16>(512, sdpa_f16);
  time_7b<GRETA_W_BF16>(512, sdpa_bf16);
  time_7b<GRETA_W_F16>(2048, 0);
  printf("%s\n", failures ? "FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
