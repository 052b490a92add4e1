/* The copy engine's GEMM (greta_gemm_wgmma_ws: x and W through the
 * tensor-memory accelerator, persistent, a producer warpgroup and two
 * consumer warpgroups) against the cp.async one (greta_gemm_wgmma, XH = 1:
 * every thread's cp.async and a block barrier a stage, one block a tile)
 * and cuBLAS, at the Llama-2-7B projection shapes, T = 128, 512 and 2048,
 * on 128-, 192- and 256-wide tiles (templates/gemm_wgmma.h; docs/gemm.md,
 * "Persistent and warp-specialised").
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates -Ibench \
 *        bench/gemm_wgmma_tma.cu -lcublas -o gemm_wgmma_tma
 *   ./gemm_wgmma_tma              (on an sm_90 GPU; scripts/device_wgmma.sh builds and runs it)
 *   ./gemm_wgmma_tma quick [GEMM] (T = 512 only; only GEMM: qkv, o, gate_up or down)
 *   ./gemm_wgmma_tma glu          (gate/up with silu·up through the pair view, as
 *                                  the model runs it: each width alone and in a
 *                                  kernel with every width's path)
 *   ./gemm_wgmma_tma sustained [GEMM]  (T = 512 and 2048: the persistent kernel at
 *                                  the width the rule picks, gate/up also as the
 *                                  model runs it, and cuBLAS, each replayed back
 *                                  to back for 2 s, twice: time, SM clock and
 *                                  energy under the power limit, sustained.h)
 *
 * x and W f16, c f32, no epilogue, no split; the persistent kernel on
 * min(tiles, SMs) blocks. µs per launch: median of 12 replays of a CUDA
 * graph of 10 launches. The tensor maps are encoded as the runtime encodes
 * them (the boxes of launch_constants.h) and passed by value. The copy
 * engine's result must equal the cp.async one bit for bit (the same wgmma
 * on the same shared-memory bytes in the same order): exit 1 otherwise. */
#include <cublas_v2.h>
#include <cuda.h>
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
#include "sustained.h"

/* The cp.async GEMM (greta_gemm_wgmma, XH = 1): one block a tile. */
template <long long N, long long K, int BN>
__global__ void __launch_bounds__(GRETA_WGMMA_NT, 1)
    cp_kernel(long long M, const void *x, const void *w, float *c) {
#if defined(GRETA_HAVE_WGMMA)
  extern __shared__ __align__(1024) unsigned char smem[];
  long long m0, n0;
  if (!greta_wgmma_tile_of_block(blockIdx.x, M, N, BN, &m0, &n0)) return;
  greta_gemm_wgmma<GRETA_W_F16, N, K, BN, 1, 1>(M, m0, n0, x, w, c, nullptr, smem);
#endif
}

/* The copy engine's GEMM (greta_gemm_wgmma_ws): persistent, warp-specialised, one block an SM. */
template <long long N, long long K, int BN>
__global__ void __launch_bounds__(GRETA_WGMMA_WS_NT, 1)
    ws_kernel(long long M, float *c, int sms, const __grid_constant__ greta_tmap map_x,
              const __grid_constant__ greta_tmap map_w) {
#if defined(GRETA_HAVE_WGMMA)
  extern __shared__ __align__(1024) unsigned char smem[];
  greta_gemm_wgmma_ws<GRETA_W_F16, N, K, BN>(M, blockIdx.x, gridDim.x, sms, c, nullptr, smem,
                                             greta_no_pairs(), nullptr, &map_x, &map_w);
#endif
}

/* gate/up as the model runs it (matmul_glu): W through the pair view's
 * 5-dimensional map, silu(gate) up stored in f16 by the epilogue. */
typedef greta_glu_pairs<16, 11008, GRETA_W_F16> glu_t;
enum { GLU_N = 22016, GLU_K = 4096 };

template <int BN>
__device__ void glu_gemm(long long M, int sms, const greta_tmap *map_x, const greta_tmap *map_w, void *out) {
#if defined(GRETA_HAVE_WGMMA)
  extern __shared__ __align__(1024) unsigned char smem[];
  greta_gemm_wgmma_ws<GRETA_W_F16, GLU_N, GLU_K, BN, 0, glu_t>(M, blockIdx.x, gridDim.x, sms, nullptr, nullptr,
                                                                smem, glu_t(out), nullptr, map_x, map_w);
#endif
}

template <int BN>
__global__ void __launch_bounds__(GRETA_WGMMA_WS_NT, 1)
    glu_kernel(long long M, int sms, const __grid_constant__ greta_tmap map_x,
               const __grid_constant__ greta_tmap map_w, void *out) {
  glu_gemm<BN>(M, sms, &map_x, &map_w, out);
}

/* Two widths in one kernel, as gretac compiles a paired launch with 192-
 * and 256-wide paths: the first `head` column tiles 256 wide, the rest
 * 192 wide (head 0: all 192; 86: all 256). */
__global__ void __launch_bounds__(GRETA_WGMMA_WS_NT, 1)
    glu_mixed_kernel(long long M, int head, int sms, const __grid_constant__ greta_tmap map_x,
                     const __grid_constant__ greta_tmap map_w, void *out) {
#if defined(GRETA_HAVE_WGMMA)
  extern __shared__ __align__(1024) unsigned char smem[];
  greta_gemm_wgmma_ws<GRETA_W_F16, GLU_N, GLU_K, 256, 0, glu_t, 192>(
      M, blockIdx.x, gridDim.x, sms, nullptr, nullptr, smem, glu_t(out), nullptr, &map_x, &map_w, head);
#endif
}

/* greta_wgmma_mixed_head for gate/up at M rows (device code here). */
__global__ void mixed_head_kernel(long long M, int sms, int *head) {
  *head = greta_wgmma_mixed_head(M, GLU_N, GLU_K, GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256, sms);
}

/* Every width's path in one kernel, as gretac compiled a launch (the
 * width an argument here): what the other paths' code costs the one
 * that runs. */
__global__ void __launch_bounds__(GRETA_WGMMA_WS_NT, 1)
    glu_all_kernel(long long M, int width, int sms, const __grid_constant__ greta_tmap map_x,
                   const __grid_constant__ greta_tmap map_w, void *out) {
  if (width == 256) glu_gemm<256>(M, sms, &map_x, &map_w, out);
  else if (width == 192) glu_gemm<192>(M, sms, &map_x, &map_w, out);
  else glu_gemm<128>(M, sms, &map_x, &map_w, out);
}

typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                              const cuuint64_t *, const cuuint32_t *, const cuuint32_t *,
                              CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                              CUtensorMapFloatOOBfill);
static encode_fn g_encode;

/* The tensor map of a [rows, K] half matrix, box {64, box_rows}, the
 * 128-byte swizzle, zeros past its bounds. */
static greta_tmap encode_map(const void *p, long long rows, long long K, int box_rows) {
  greta_tmap m;
  const cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)K * 2};
  const cuuint32_t box[2] = {64, (cuuint32_t)box_rows}, step[2] = {1, 1};
  CUresult r = g_encode((CUtensorMap *)&m, CU_TENSOR_MAP_DATA_TYPE_UINT16, 2, (void *)p, dims, strides, box,
                        step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "cuTensorMapEncodeTiled: error %d (rows %lld, K %lld, box %d)\n", (int)r, rows, K,
            box_rows);
    exit(1);
  }
  return m;
}

/* The pair view of gate/up's stacked weight (pair_layout.h), as the
 * runtime encodes it. */
static greta_tmap encode_pair_map(const void *p) {
  /* greta_pair_tma_shape's (device code in this file) for s = 11008, one
   * block: k; r < 16; h < 2, s rows on; j < s / 16, 16 rows on. */
  greta_tmap m;
  const long long s = GLU_N / 2, k = GLU_K;
  const cuuint64_t d[5] = {(cuuint64_t)k, 16, 2, (cuuint64_t)(s / 16), 1};
  const cuuint64_t st[4] = {(cuuint64_t)(2 * k), (cuuint64_t)(2 * s * k), (cuuint64_t)(32 * k),
                            (cuuint64_t)(4 * s * k)};
  const cuuint32_t b[5] = {64, 16, 2, 2, 1}, step[5] = {1, 1, 1, 1, 1};
  CUresult r = g_encode((CUtensorMap *)&m, CU_TENSOR_MAP_DATA_TYPE_UINT16, 5, (void *)p, d, st, b, step,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "cuTensorMapEncodeTiled: error %d (the pair view)\n", (int)r);
    exit(1);
  }
  return m;
}

static int g_sms;

/* cuBLAS's c[M, N] = x[M, K] W[N, K]^T, x and W f16, c f32, f32 compute, on
 * stream s: the peer of every row. */
static void cublas_gemm(cublasHandle_t h, cudaStream_t s, long long M, long long N, long long K,
                        const void *x, const void *w, void *c) {
  const float alpha = 1.f, beta = 0.f;
  cublasSetStream(h, s);
  cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, w, CUDA_R_16F, (int)K, x,
               CUDA_R_16F, (int)K, &beta, c, CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

/* VARIANT 0: cp.async, one block a tile; 1: the copy engine, persistent. */
template <long long N, long long K, int BN, int VARIANT>
static float time_variant(long long M, const void *x, const void *w, float *c) {
  const long long tiles = (M + 127) / 128 * ((N + BN - 1) / BN);
  if constexpr (VARIANT == 1) {
    const int smem = GRETA_WGMMA_SMEM_BYTES(BN) + GRETA_WGMMA_TMA_BARRIER_BYTES;
    const greta_tmap map_x = encode_map(x, M, K, GRETA_WGMMA_TMA_X_BOX);
    const greta_tmap map_w = encode_map(w, N, K, GRETA_WGMMA_TMA_W_BOX);
    auto k = ws_kernel<N, K, BN>;
    CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const unsigned blocks = (unsigned)std::min<long long>(tiles, g_sms);
    return bench_graph_us([&](cudaStream_t s) {
      k<<<blocks, GRETA_WGMMA_WS_NT, smem, s>>>(M, c, g_sms, map_x, map_w);
      CHECK(cudaGetLastError());
    });
  } else {
    const int smem = GRETA_WGMMA_SMEM_BYTES(BN);
    auto k = cp_kernel<N, K, BN>;
    CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return bench_graph_us([&](cudaStream_t s) {
      k<<<(unsigned)tiles, GRETA_WGMMA_NT, smem, s>>>(M, x, w, c);
      CHECK(cudaGetLastError());
    });
  }
}

static bool all_ok = true;

/* Whether n bytes at a and b (device memory) are equal. */
static bool same_bytes(const void *a, const void *b, size_t n) {
  std::vector<unsigned char> ha(n), hb(n);
  CHECK(cudaMemcpy(ha.data(), a, n, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(hb.data(), b, n, cudaMemcpyDeviceToHost));
  return memcmp(ha.data(), hb.data(), n) == 0;
}

static bool same(const float *a, const float *b, size_t n) { return same_bytes(a, b, n * 4); }

template <long long N, long long K, int BN>
static void width(const char *name, long long M, const void *x, const void *w, float *ref, float *c,
                  float cublas_us) {
  const double tflop = 2.0 * M * N * K * 1e-6; /* per µs -> TFLOP/s */
  const float cp = time_variant<N, K, BN, 0>(M, x, w, ref);
  CHECK(cudaMemset(c, 0xFF, (size_t)(M * N) * 4));
  const float tma = time_variant<N, K, BN, 1>(M, x, w, c);
  const bool ok = same(c, ref, (size_t)(M * N));
  printf("| %-7s | %4lld | %3d | %4lld | %6.1f (%3.0f) | %6.1f (%3.0f) | %6.1f (%3.0f) | %.2f | %s |\n", name, M,
         BN, (M + 127) / 128 * ((N + BN - 1) / BN), cp, tflop / cp, tma, tflop / tma, cublas_us,
         tflop / cublas_us, cublas_us / tma, ok ? "same" : "DIFFERENT");
  all_ok &= ok;
}

template <long long N, long long K>
static void shape(const char *name, long long M, cublasHandle_t h, const void *x, const void *w,
                  float *ref, float *c) {
  const float cublas_us = bench_graph_us([&](cudaStream_t s) { cublas_gemm(h, s, M, N, K, x, w, c); });
  width<N, K, 128>(name, M, x, w, ref, c, cublas_us);
  width<N, K, 192>(name, M, x, w, ref, c, cublas_us);
  width<N, K, 256>(name, M, x, w, ref, c, cublas_us);
}

/* greta_wgmma_step_width for an unsplit persistent launch of M rows
 * (device code here). */
__global__ void step_width_kernel(long long M, long long N, long long K, int sms, int *bn) {
  *bn = greta_wgmma_step_width(M, N, K, greta_wgmma_allowed(1), sms, 0, 1);
}

/* The int that launch(where) has a one-thread kernel write (the layout
 * rules are device code here). */
template <class F>
static int device_int(F launch) {
  int *d, v;
  CHECK(cudaMalloc(&d, sizeof(int)));
  launch(d);
  CHECK(cudaMemcpy(&v, d, sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaFree(d));
  return v;
}
static int step_width(long long M, long long N, long long K) {
  return device_int([&](int *d) { step_width_kernel<<<1, 1>>>(M, N, K, g_sms, d); });
}
static int mixed_head(long long M) {
  return device_int([&](int *d) { mixed_head_kernel<<<1, 1>>>(M, g_sms, d); });
}

/* A row of the sustained table: greta's and cuBLAS's µs per launch
 * (TFLOP/s), SM clock, power and energy per launch, and their ratio. */
static void sustained_print(const char *name, long long M, const char *width, double tflop,
                            const bench_sustained &g, const bench_sustained &c) {
  printf("| %s | %4lld | %s | %6.1f (%3.0f) | %4.0f | %3.0f | %6.2f | %6.1f (%3.0f) | %4.0f | %3.0f | %6.2f | %.2f |\n",
         name, M, width, g.us, tflop / g.us, g.mhz, g.watts, g.mj, c.us, tflop / c.us, c.mhz, c.watts, c.mj,
         c.us / g.us);
}

/* One row: the persistent kernel BN wide, then cuBLAS, each replayed back
 * to back (sustained.h). */
template <long long N, long long K, int BN>
static void sustained_row(const char *name, long long M, cublasHandle_t h, const bench_nvml &nvml,
                          const void *x, const void *w, float *c) {
  const int smem = GRETA_WGMMA_SMEM_BYTES(BN) + GRETA_WGMMA_TMA_BARRIER_BYTES;
  const greta_tmap map_x = encode_map(x, M, K, GRETA_WGMMA_TMA_X_BOX);
  const greta_tmap map_w = encode_map(w, N, K, GRETA_WGMMA_TMA_W_BOX);
  auto k = ws_kernel<N, K, BN>;
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const long long tiles = (M + 127) / 128 * ((N + BN - 1) / BN);
  const unsigned blocks = (unsigned)std::min<long long>(tiles, g_sms);
  auto greta = [&](cudaStream_t s) {
    k<<<blocks, GRETA_WGMMA_WS_NT, smem, s>>>(M, c, g_sms, map_x, map_w);
    CHECK(cudaGetLastError());
  };
  auto cublas = [&](cudaStream_t s) { cublas_gemm(h, s, M, N, K, x, w, c); };
  char what[32];
  snprintf(what, sizeof what, "%d", BN);
  const bench_sustained g = bench_sustained_us(nvml, greta, 2.0);
  sustained_print(name, M, what, 2.0 * M * N * K * 1e-6, g, bench_sustained_us(nvml, cublas, 2.0));
}

/* gate/up as the model runs it (silu·up in f16 through the output stage,
 * 256 and 192 wide at the rule's head: greta_wgmma_mixed_head) against
 * cuBLAS's plain GEMM of the same shape (f32 out, no epilogue). */
static void sustained_glu(long long M, cublasHandle_t h, const bench_nvml &nvml, const void *x,
                          const void *w, void *out) {
  int head = mixed_head(M);
  if (head < 0) head = (GLU_N + 255) / 256; /* no mix beats one width: all 256 */
  const int smem = GRETA_WGMMA_SMEM_BYTES(256) + GRETA_WGMMA_TMA_BARRIER_BYTES +
                   (glu_t::BULK ? GRETA_WGMMA_OUT_STAGE_BYTES : 0);
  const greta_tmap map_x = encode_map(x, M, GLU_K, GRETA_WGMMA_TMA_X_BOX), map_w = encode_pair_map(w);
  CHECK(cudaFuncSetAttribute(glu_mixed_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  auto greta = [&](cudaStream_t s) {
    glu_mixed_kernel<<<g_sms, GRETA_WGMMA_WS_NT, smem, s>>>(M, head, g_sms, map_x, map_w, out);
    CHECK(cudaGetLastError());
  };
  auto cublas = [&](cudaStream_t s) { cublas_gemm(h, s, M, GLU_N, GLU_K, x, w, out); };
  char what[32];
  snprintf(what, sizeof what, "head %d", head);
  for (int rep = 0; rep < 2; rep++) {
    const bench_sustained g = bench_sustained_us(nvml, greta, 2.0);
    sustained_print("gate_up + silu·up", M, what, 2.0 * M * GLU_N * GLU_K * 1e-6, g,
                    bench_sustained_us(nvml, cublas, 2.0));
  }
}

/* Two rows for GEMM `name` at M rows, at the width the rule picks. */
template <long long N, long long K>
static void sustained_shape(const char *name, long long M, cublasHandle_t h, const bench_nvml &nvml,
                            const void *x, const void *w, float *c) {
  const int bn = step_width(M, N, K);
  for (int rep = 0; rep < 2; rep++) {
    if (bn == 128) sustained_row<N, K, 128>(name, M, h, nvml, x, w, c);
    else if (bn == 192) sustained_row<N, K, 192>(name, M, h, nvml, x, w, c);
    else sustained_row<N, K, 256>(name, M, h, nvml, x, w, c);
  }
}

/* gate/up with its epilogue at T: each width alone in its kernel and in
 * the kernel of every width; the outputs of all equal bit for bit. */
template <int BN>
static void glu_width(long long M, const void *x, const void *w, void *out, const void *ref) {
  const int smem = GRETA_WGMMA_SMEM_BYTES(256) + GRETA_WGMMA_TMA_BARRIER_BYTES +
                   (glu_t::BULK ? GRETA_WGMMA_OUT_STAGE_BYTES : 0);
  const greta_tmap map_x = encode_map(x, M, GLU_K, GRETA_WGMMA_TMA_X_BOX), map_w = encode_pair_map(w);
  const long long tiles = (M + 127) / 128 * ((GLU_N + BN - 1) / BN);
  const unsigned blocks = (unsigned)std::min<long long>(tiles, g_sms);
  auto alone = glu_kernel<BN>;
  CHECK(cudaFuncSetAttribute(alone, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  CHECK(cudaFuncSetAttribute(glu_all_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const size_t bytes = (size_t)M * (GLU_N / 2) * 2;
  CHECK(cudaMemset(out, 0xFF, bytes));
  const float us_alone = bench_graph_us([&](cudaStream_t s) {
    alone<<<blocks, GRETA_WGMMA_WS_NT, smem, s>>>(M, g_sms, map_x, map_w, out);
    CHECK(cudaGetLastError());
  });
  bool ok = !ref || same_bytes(out, ref, bytes);
  CHECK(cudaMemset(out, 0xFF, bytes));
  const float us_all = bench_graph_us([&](cudaStream_t s) {
    glu_all_kernel<<<blocks, GRETA_WGMMA_WS_NT, smem, s>>>(M, BN, g_sms, map_x, map_w, out);
    CHECK(cudaGetLastError());
  });
  ok &= !ref || same_bytes(out, ref, bytes);
  const double tflop = 2.0 * M * GLU_N * GLU_K * 1e-6;
  printf("| gate_up + silu·up | %4lld | %3d | %4lld | %6.1f (%3.0f) | %6.1f (%3.0f) | %s |\n", M, BN, tiles,
         us_alone, tflop / us_alone, us_all, tflop / us_all, ref ? (ok ? "same" : "DIFFERENT") : "-");
  all_ok &= ok;
}

/* The two widths' kernel at `head` (greta_wgmma_mixed_head's, or one
 * width), against the 256-wide output. */
static void glu_mixed(long long M, int head, const char *what, const void *x, const void *w, void *out,
                      const void *ref) {
  const int smem = GRETA_WGMMA_SMEM_BYTES(256) + GRETA_WGMMA_TMA_BARRIER_BYTES +
                   (glu_t::BULK ? GRETA_WGMMA_OUT_STAGE_BYTES : 0);
  const greta_tmap map_x = encode_map(x, M, GLU_K, GRETA_WGMMA_TMA_X_BOX), map_w = encode_pair_map(w);
  CHECK(cudaFuncSetAttribute(glu_mixed_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const size_t bytes = (size_t)M * (GLU_N / 2) * 2;
  CHECK(cudaMemset(out, 0xFF, bytes));
  const float us = bench_graph_us([&](cudaStream_t s) {
    glu_mixed_kernel<<<g_sms, GRETA_WGMMA_WS_NT, smem, s>>>(M, head, g_sms, map_x, map_w, out);
    CHECK(cudaGetLastError());
  });
  const bool ok = same_bytes(out, ref, bytes);
  const double tflop = 2.0 * M * GLU_N * GLU_K * 1e-6;
  printf("| gate_up + silu·up, two widths' kernel | %4lld | head %d (%s) | - | %6.1f (%3.0f) | - | %s |\n", M, head,
         what, us, tflop / us, ok ? "same" : "DIFFERENT");
  all_ok &= ok;
}

static void glu_bench(cublasHandle_t h, const void *x, const void *w, void *out, void *ref) {
  printf("| GEMM | T | width | tiles | its own kernel | every width's kernel | = 256 wide |\n"
         "|---|---|---|---|---|---|---|\n");
  for (long long T : {512ll, 2048ll}) {
    glu_width<256>(T, x, w, ref, nullptr);
    glu_width<192>(T, x, w, out, ref);
    glu_width<128>(T, x, w, out, ref);
    const int head = mixed_head(T);
    if (head >= 0) glu_mixed(T, head, "the rule's", x, w, out, ref);
    glu_mixed(T, (GLU_N + 255) / 256, "all 256", x, w, out, ref);
    glu_mixed(T, 0, "all 192", x, w, out, ref);
    const float cublas_us = bench_graph_us([&](cudaStream_t s) { cublas_gemm(h, s, T, GLU_N, GLU_K, x, w, out); });
    printf("| gate_up, cuBLAS (the GEMM alone, f32 out) | %4lld | - | - | %6.1f (%3.0f) | - | - |\n", T, cublas_us,
           2.0 * T * GLU_N * GLU_K * 1e-6 / cublas_us);
  }
}

__global__ void fill(unsigned short *p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    unsigned hsh = (unsigned)i * 2654435761u ^ seed;
    hsh ^= hsh >> 15;
    hsh *= 2246822519u;
    hsh ^= hsh >> 13;
    p[i] = __half_as_ushort(__float2half_rn((float)(hsh & 0xFFFF) / 32768.f - 1.f));
  }
}

int main(int argc, char **argv) {
  const char *only = argc > 2 ? argv[2] : nullptr; /* one GEMM, e.g. for ncu */
  if (only && strcmp(only, "qkv") && strcmp(only, "o") && strcmp(only, "gate_up") && strcmp(only, "down")) {
    fprintf(stderr, "gemm_wgmma_tma: no GEMM '%s' (qkv, o, gate_up or down)\n", only);
    return 2;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  if (prop.major != 9) {
    fprintf(stderr, "needs an sm_90 GPU; found sm_%d%d\n", prop.major, prop.minor);
    return 1;
  }
  cudaDriverEntryPointQueryResult q;
  CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void **)&g_encode, 12000, cudaEnableDefault, &q));
  if (!g_encode) {
    fprintf(stderr, "cuTensorMapEncodeTiled not found in the driver\n");
    return 1;
  }
  const long long max_mk = 2048ll * 11008, max_nk = 22016ll * 4096, max_mn = 2048ll * 22016;
  void *x, *w;
  float *ref, *c;
  CHECK(cudaMalloc(&x, max_mk * 2));
  CHECK(cudaMalloc(&w, max_nk * 2));
  CHECK(cudaMalloc(&ref, max_mn * 4));
  CHECK(cudaMalloc(&c, max_mn * 4));
  fill<<<1024, 256>>>((unsigned short *)x, max_mk, 1u);
  fill<<<1024, 256>>>((unsigned short *)w, max_nk, 2u);
  CHECK(cudaGetLastError());
  cublasHandle_t h;
  cublasCreate(&h);
  printf("%s, %d SMs; µs per launch (TFLOP/s); x, W f16, c f32; one block per tile\n", prop.name,
         prop.multiProcessorCount);
  g_sms = prop.multiProcessorCount;
  printf("| GEMM | T | width | tiles | cp.async | TMA, persistent | cuBLAS | cuBLAS / TMA | TMA = cp.async |\n"
         "|---|---|---|---|---|---|---|---|---|\n");
  if (argc > 1 && strcmp(argv[1], "glu") == 0) {
    glu_bench(h, x, w, c, ref);
    cublasDestroy(h);
    return all_ok ? 0 : 1;
  }
  const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  auto pick = [&](const char *name) { return !only || strcmp(only, name) == 0; };
  if (argc > 1 && strcmp(argv[1], "sustained") == 0) {
    bench_nvml nvml;
    nvml.open();
    printf("\nsustained: each replayed back to back for 2 s: µs per launch (TFLOP/s), the SM clock\n"
           "(MHz), the power (W) and the energy per launch (mJ) over those 2 s\n\n"
           "| GEMM | T | width | greta | MHz | W | mJ | cuBLAS | MHz | W | mJ | cuBLAS / greta |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (long long T : {512ll, 2048ll}) {
      if (pick("qkv")) sustained_shape<12288, 4096>("qkv", T, h, nvml, x, w, c);
      if (pick("o")) sustained_shape<4096, 4096>("o", T, h, nvml, x, w, c);
      if (pick("gate_up")) sustained_shape<22016, 4096>("gate_up", T, h, nvml, x, w, c);
      if (pick("gate_up")) sustained_glu(T, h, nvml, x, w, c);
      if (pick("down")) sustained_shape<4096, 11008>("down", T, h, nvml, x, w, c);
    }
    cublasDestroy(h);
    return 0;
  }
  for (long long T : {128ll, 512ll, 2048ll}) {
    if (quick && T != 512) continue;
    if (pick("qkv")) shape<12288, 4096>("qkv", T, h, x, w, ref, c);
    if (pick("o")) shape<4096, 4096>("o", T, h, x, w, ref, c);
    if (pick("gate_up")) shape<22016, 4096>("gate_up", T, h, x, w, ref, c);
    if (pick("down")) shape<4096, 11008>("down", T, h, x, w, ref, c);
  }
  cublasDestroy(h);
  if (!all_ok) {
    fprintf(stderr, "gemm_wgmma_tma: the TMA result differs from the cp.async kernel's\n");
    return 1;
  }
  return 0;
}
