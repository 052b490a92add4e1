/* The L2 cache's rate on this GPU, for the split-K hand-off's cost (docs/gemm.md, "Tried:
 * stream-K of the last round"): every SM reads (ld.global.cg, past L1) or writes a buffer
 * that fits in L2 over and over, and the same for one far larger than L2 (DRAM).
 *
 *   nvcc -O3 -std=c++17 -arch=sm_90 -Ibench bench/l2_rate.cu -o l2_rate && ./l2_rate
 *
 * TB/s: bytes moved / the median of 9 timed launches (CUDA events), after a warm-up. */
#include <cuda_runtime.h>

#include <cstdio>

#include "cuda_check.h"

/* Each thread sums its float4 of the buffer `passes` times (grid-stride), so the loads
 * cannot be dropped; one float per thread is written so the sum is used. */
__global__ void read_kernel(const float4 *p, long long n4, int passes, float *sink) {
  float s = 0.f;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (int r = 0; r < passes; r++)
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4; i += stride) {
      const float4 v = __ldcg(p + i);
      s += v.x + v.y + v.z + v.w;
    }
  if (s == 12345.f) sink[0] = s; /* never, but the compiler cannot know */
}

__global__ void write_kernel(float4 *p, long long n4, int passes) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (int r = 0; r < passes; r++)
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4; i += stride)
      __stcg(p + i, make_float4((float)r, 0.f, 0.f, 0.f));
}

int main() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  printf("%s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  printf("| buffer | passes | read TB/s | write TB/s |\n|---|---|---|---|\n");
  const long long sizes_mib[] = {8, 16, 32, 4096};
  float *sink;
  CHECK(cudaMalloc(&sink, 4));
  for (long long mib : sizes_mib) {
    const long long bytes = mib << 20, n4 = bytes / 16;
    const int passes = mib >= 1024 ? 1 : 64;
    float4 *p;
    CHECK(cudaMalloc(&p, bytes));
    CHECK(cudaMemset(p, 0, bytes));
    const int blocks = prop.multiProcessorCount * 8, threads = 256;
    const float r = bench_median_ms([&] {
      read_kernel<<<blocks, threads>>>(p, n4, passes, sink);
      CHECK(cudaGetLastError());
    }, 1, 9);
    const float w = bench_median_ms([&] {
      write_kernel<<<blocks, threads>>>(p, n4, passes);
      CHECK(cudaGetLastError());
    }, 1, 9);
    const double moved = (double)bytes * passes;
    printf("| %lld MiB | %d | %.2f | %.2f |\n", mib, passes, moved / (r * 1e-3) / 1e12,
           moved / (w * 1e-3) / 1e12);
    CHECK(cudaFree(p));
  }
  return 0;
}
