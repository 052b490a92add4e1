/* greta_gemm_wgmma's tile widths and split-K at the Llama-2-7B projection
 * shapes, T = 128 .. 2048, against cuBLAS: the measurements behind
 * greta_wgmma_step_width and greta_wgmma_split_of_block
 * (templates/wgmma_layout.h; docs/gemm.md, "Tile width at run time").
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates -Ibench \
 *        [-DGRETA_BENCH_NO_192] bench/gemm_wgmma_tiles.cu -lcublas -o gemm_wgmma_tiles
 *   ./gemm_wgmma_tiles            (on an sm_90 GPU; scripts/device_wgmma.sh builds and runs it)
 *
 * x and W f16 (x as a producer stores it in prefill, XH), c f32, no
 * epilogue. Columns, µs per launch (median of 12 replays of a CUDA graph of
 * 10 launches, so launch overhead is out, as in libgreta's replay):
 *   128 / 192 / 256  one block per 128 x 128 / 192 / 256 tile, an exact grid;
 *   128 split     the 128-wide tiles with the tail's tiles split over the
 *                 step's workspace (greta_wgmma_split_of_block), on the
 *                 tiles + SMs blocks (the few surplus ones return);
 *   greta grid    the width greta_wgmma_step_width picks for a launch
 *                 that splits (o and down; q/k/v and gate/up have paired
 *                 epilogues in the block, which do not split), split as
 *                 greta splits, on greta_gemm_mma's grid (ceil(N / 32) x
 *                 ceil(T / 64) blocks, the surplus returning): what a
 *                 greta launch runs;
 *   cuBLAS        cublasGemmEx, f16 x and W, f32 c, f32 compute.
 * Each variant's c is compared with the 128-wide unsplit one (relative to
 * its largest element): the widths sum K in the same order (0), split-K
 * reorders the f32 sums (2e-5 seen at K = 11008 in 4 parts): exit 1 beyond
 * 1e-4.
 */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

/* The widths the rule weighs, gretac's allowed set: 128, 192 and 256
 * (-DGRETA_BENCH_NO_192: 128 and 256). */
#ifdef GRETA_BENCH_NO_192
#define GRETA_BENCH_WITH_192 0
#else
#define GRETA_BENCH_WITH_192 1
#endif

#include "cuda_check.h"

static int g_sms;

/* MODE 0: one block per tile of width BN, exact grid; 1: the 128-wide tiles
 * split as greta splits, grid = its blocks; 2: greta's grid and choice. */
/* The width MODE 2 took (what a greta launch takes), read back after timing. */
__device__ int g_width;

template <long long N, long long K, int BN, int MODE>
__global__ void __launch_bounds__(GRETA_WGMMA_NT, 1)
    tiles_kernel(long long M, const void *x, const void *w, float *c, void *ws, int sms) {
#if defined(GRETA_HAVE_WGMMA)
  extern __shared__ __align__(1024) unsigned char smem[];
  long long blk = (long long)blockIdx.y * gridDim.x + blockIdx.x, m0, n0, tile = blk, slot = 0;
  int part = 0, parts = 1;
  if (MODE == 0) {
    if (!greta_wgmma_tile_of_block(blk, M, N, BN, &m0, &n0)) return;
    greta_gemm_wgmma<GRETA_W_F16, N, K, BN, 1, 1>(M, m0, n0, x, w, c, nullptr, smem);
    return;
  }
  const int width = MODE == 2 ? greta_wgmma_step_width(M, N, K, greta_wgmma_allowed(GRETA_BENCH_WITH_192), sms, 1, 0) : 128;
  if (MODE == 2 && blk == 0 && threadIdx.x == 0) g_width = width;
  const long long tiles = (M + 127) / 128 * ((N + width - 1) / width);
  if (!greta_wgmma_split_of_block(blk, tiles, sms, (long long)gridDim.x * gridDim.y, &tile, &part,
                                  &parts, &slot))
    return;
  if (!greta_wgmma_tile_of_block(tile, M, N, width, &m0, &n0)) return;
  if (width == 256)
    greta_gemm_wgmma<GRETA_W_F16, N, K, 256, 1, 1>(M, m0, n0, x, w, c, nullptr, smem, greta_no_pairs(),
                                                   parts, part, (int)slot, ws);
  else if (width == 192)
    greta_gemm_wgmma<GRETA_W_F16, N, K, 192, 1, 1>(M, m0, n0, x, w, c, nullptr, smem, greta_no_pairs(),
                                                   parts, part, (int)slot, ws);
  else
    greta_gemm_wgmma<GRETA_W_F16, N, K, 128, 1, 1>(M, m0, n0, x, w, c, nullptr, smem, greta_no_pairs(),
                                                   parts, part, (int)slot, ws);
#endif
}

template <long long N, long long K, int BN, int MODE>
static float time_variant(long long M, const void *x, const void *w, float *c, void *ws) {
  auto k = tiles_kernel<N, K, BN, MODE>;
  /* MODE 2 holds every width's path: the largest ring */
  const int widest = std::max(GRETA_WGMMA_SMEM_BYTES(128),
                              std::max(GRETA_WGMMA_SMEM_BYTES(192), GRETA_WGMMA_SMEM_BYTES(256)));
  const int smem = MODE == 2 ? widest : GRETA_WGMMA_SMEM_BYTES(BN);
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  dim3 grid;
  if (MODE == 0) {
    grid = dim3((unsigned)((M + 127) / 128 * ((N + BN - 1) / BN)));
  } else if (MODE == 1) {
    /* the tiles and at most one extra block per SM (tail x p <= SMs); the
     * few surplus blocks return */
    grid = dim3((unsigned)((M + 127) / 128 * ((N + 127) / 128) + g_sms));
  } else {
    grid = dim3((unsigned)((N + 31) / 32), (unsigned)((M + 63) / 64));
  }
  const int sms = g_sms;
  return bench_graph_us([&](cudaStream_t s) {
    k<<<grid, GRETA_WGMMA_NT, smem, s>>>(M, x, w, c, ws, sms);
    CHECK(cudaGetLastError());
  });
}

static double rel_diff(const float *a, const float *b, size_t n) {
  std::vector<float> ha(n), hb(n);
  CHECK(cudaMemcpy(ha.data(), a, n * 4, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(hb.data(), b, n * 4, cudaMemcpyDeviceToHost));
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    if (!std::isfinite(ha[i])) return INFINITY;
    d = std::max(d, (double)std::fabs(ha[i] - hb[i]));
    m = std::max(m, (double)std::fabs(hb[i]));
  }
  return d / (m > 0 ? m : 1);
}

static bool all_ok = true;

template <long long N, long long K>
static void shape(const char *name, long long M, cublasHandle_t h, const void *x, const void *w,
                  float *ref, float *c, void *ws) {
  const double tflop = 2.0 * M * N * K * 1e-6; /* per µs -> TFLOP/s */
  float us[6];
  double worst = 0;
  us[0] = time_variant<N, K, 128, 0>(M, x, w, ref, ws);
  us[1] = time_variant<N, K, 192, 0>(M, x, w, c, ws);
  worst = std::max(worst, rel_diff(c, ref, (size_t)(M * N)));
  CHECK(cudaMemset(c, 0xFF, (size_t)(M * N) * 4));
  us[2] = time_variant<N, K, 256, 0>(M, x, w, c, ws);
  worst = std::max(worst, rel_diff(c, ref, (size_t)(M * N)));
  CHECK(cudaMemset(c, 0xFF, (size_t)(M * N) * 4));
  us[3] = time_variant<N, K, 128, 1>(M, x, w, c, ws);
  worst = std::max(worst, rel_diff(c, ref, (size_t)(M * N)));
  CHECK(cudaMemset(c, 0xFF, (size_t)(M * N) * 4));
  us[4] = time_variant<N, K, 256, 2>(M, x, w, c, ws);
  worst = std::max(worst, rel_diff(c, ref, (size_t)(M * N)));
  const float alpha = 1.f, beta = 0.f;
  us[5] = bench_graph_us([&](cudaStream_t s) {
    cublasSetStream(h, s);
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, w, CUDA_R_16F, (int)K,
                 x, CUDA_R_16F, (int)K, &beta, c, CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F,
                 CUBLAS_GEMM_DEFAULT);
  });
  const long long tiles = (M + 127) / 128 * ((N + 127) / 128);
  printf("| %-7s | %4lld | %3lld | %3lld | %3lld |", name, M, tiles, (M + 127) / 128 * ((N + 191) / 192),
         (M + 127) / 128 * ((N + 255) / 256));
  for (int v = 0; v < 6; v++) printf(" %6.1f (%3.0f) |", us[v], tflop / us[v]);
  int width = 0;
  CHECK(cudaMemcpyFromSymbol(&width, g_width, sizeof width));
  printf(" %d | %.2f | %.1e |\n", width, us[5] / us[4], worst);
  all_ok &= worst <= 1e-4;
}

__global__ void fill(unsigned short *p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    __half v = __float2half_rn((float)(h & 0xFFFF) / 32768.f - 1.f);
    p[i] = __half_as_ushort(v);
  }
}

int main(void) {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  g_sms = prop.multiProcessorCount;
  if (prop.major != 9) {
    fprintf(stderr, "needs an sm_90 GPU; found sm_%d%d\n", prop.major, prop.minor);
    return 1;
  }
  const long long max_mk = 2048ll * 11008, max_nk = 22016ll * 4096, max_mn = 2048ll * 22016;
  void *x, *w, *ws;
  float *ref, *c;
  CHECK(cudaMalloc(&x, max_mk * 2));
  CHECK(cudaMalloc(&w, max_nk * 2));
  CHECK(cudaMalloc(&ref, max_mn * 4));
  CHECK(cudaMalloc(&c, max_mn * 4));
  CHECK(cudaMalloc(&ws, GRETA_GEMM_SPLIT_K_WORKSPACE_BYTES(g_sms)));
  CHECK(cudaMemset(ws, 0, GRETA_GEMM_SPLIT_K_WORKSPACE_BYTES(g_sms))); /* counters start at 0 */
  fill<<<1024, 256>>>((unsigned short *)x, max_mk, 1u);
  fill<<<1024, 256>>>((unsigned short *)w, max_nk, 2u);
  CHECK(cudaGetLastError());
  cublasHandle_t h;
  cublasCreate(&h);
  printf("%s, %d SMs; µs per launch (TFLOP/s); x, W f16, c f32\n", prop.name, g_sms);
  printf("| GEMM | T | tiles 128 | tiles 192 | tiles 256 | 128 | 192 | 256 | 128 split | greta grid "
         "| cuBLAS | greta width | cuBLAS / greta | max diff |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (long long T : {128ll, 256ll, 384ll, 512ll, 1024ll, 2048ll}) {
    shape<12288, 4096>("qkv", T, h, x, w, ref, c, ws);
    shape<4096, 4096>("o", T, h, x, w, ref, c, ws);
    shape<22016, 4096>("gate_up", T, h, x, w, ref, c, ws);
    shape<4096, 11008>("down", T, h, x, w, ref, c, ws);
  }
  cublasDestroy(h);
  if (!all_ok) {
    fprintf(stderr, "gemm_wgmma_tiles: a variant disagrees with the 128-wide tiles beyond 1e-4\n");
    return 1;
  }
  return 0;
}
