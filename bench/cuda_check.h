/* The standalone nvcc benches' error check (a failing CUDA runtime call
 * prints where and why, and exits 1) and their graph timing. */
#ifndef GRETA_BENCH_CUDA_CHECK_H
#define GRETA_BENCH_CUDA_CHECK_H

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                           \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

/* Median milliseconds of launch_once(), timed between two events on
 * `stream`: `warmups` untimed calls, then `runs` timed ones. */
template <class F>
static inline float bench_median_ms(F launch_once, int warmups, int runs, cudaStream_t stream = 0) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmups; i++) launch_once();
  std::vector<float> ms;
  for (int i = 0; i < runs; i++) {
    CHECK(cudaEventRecord(a, stream));
    launch_once();
    CHECK(cudaEventRecord(b, stream));
    CHECK(cudaEventSynchronize(b));
    float x;
    CHECK(cudaEventElapsedTime(&x, a, b));
    ms.push_back(x);
  }
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/* Median milliseconds of one replay of graph `exec` on `stream`: `warmups`
 * untimed replays, then `replays` timed ones, each between two events. */
static inline float bench_graph_median_ms(cudaGraphExec_t exec, cudaStream_t stream, int warmups,
                                          int replays) {
  return bench_median_ms([&] { CHECK(cudaGraphLaunch(exec, stream)); }, warmups, replays, stream);
}

/* Median µs of one launch: `launch(stream)` captured 10 times into a
 * graph, 12 timed replays after one untimed (launch overhead is out, as in
 * libgreta's replay). */
template <class F>
static inline float bench_graph_us(F launch) {
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < 10; i++) launch(s);
  CHECK(cudaStreamEndCapture(s, &g));
  CHECK(cudaGraphInstantiate(&ge, g, 0));
  const float us = bench_graph_median_ms(ge, s, 1, 12) * 100.f; /* ms for 10 launches -> µs for one */
  CHECK(cudaGraphExecDestroy(ge));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaStreamDestroy(s));
  return us;
}

#endif
