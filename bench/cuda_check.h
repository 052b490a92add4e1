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

/* `launch(stream)` captured 10 times into a graph on a stream of its own
 * (launch overhead is out, as in libgreta's replay); bench_graph10_free
 * releases it. */
struct bench_graph10 {
  cudaStream_t stream;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
};
template <class F>
static inline bench_graph10 bench_graph10_capture(F launch) {
  bench_graph10 b;
  CHECK(cudaStreamCreate(&b.stream));
  CHECK(cudaStreamBeginCapture(b.stream, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < 10; i++) launch(b.stream);
  CHECK(cudaStreamEndCapture(b.stream, &b.graph));
  CHECK(cudaGraphInstantiate(&b.exec, b.graph, 0));
  return b;
}
static inline void bench_graph10_free(const bench_graph10 &b) {
  CHECK(cudaGraphExecDestroy(b.exec));
  CHECK(cudaGraphDestroy(b.graph));
  CHECK(cudaStreamDestroy(b.stream));
}

/* Median µs of one launch: the graph of 10, 12 timed replays after one
 * untimed. */
template <class F>
static inline float bench_graph_us(F launch) {
  const bench_graph10 b = bench_graph10_capture(launch);
  const float us = bench_graph_median_ms(b.exec, b.stream, 1, 12) * 100.f; /* ms for 10 launches -> µs for one */
  bench_graph10_free(b);
  return us;
}

#endif
