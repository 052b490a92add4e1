/* The standalone nvcc benches' error check: a failing CUDA runtime call
 * prints where and why, and exits 1. */
#ifndef GRETA_BENCH_CUDA_CHECK_H
#define GRETA_BENCH_CUDA_CHECK_H

#include <cstdio>
#include <cstdlib>

#define CHECK(x)                                                                           \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

#endif
