/* Timing under sustained load, for the standalone nvcc benches: a graph of
 * launches replayed back to back for seconds, so the GPU reaches the clock
 * its power limit lets it hold, with the energy the launches took.
 *
 * Why: a burst of 12 replays (bench_graph_us) runs at the boost clock, but a
 * whole model's prefill is one long run of tensor-core work, and on the H200
 * it holds the 700 W limit at about 1500 MHz instead of 1980 (docs/gemm.md,
 * "Under the power limit"). Which of two kernels is faster there depends on
 * the energy each spends, not only on its time at the boost clock.
 *
 * NVML (libnvidia-ml.so.1, which the driver installs) is opened at run time
 * for the GPU's energy counter and SM clock, so building needs neither its
 * header nor its library; without it the times are still measured and the
 * energy and clock read 0. The few prototypes below are NVML's documented
 * C API. */
#ifndef GRETA_BENCH_SUSTAINED_H
#define GRETA_BENCH_SUSTAINED_H

#include <dlfcn.h>

#include <chrono>
#include <cstdio>

#include "cuda_check.h"

struct bench_nvml {
  typedef int (*init_fn)();
  typedef int (*by_bus_fn)(const char *, void **);
  typedef int (*energy_fn)(void *, unsigned long long *); /* mJ since the driver loaded */
  typedef int (*clock_fn)(void *, int, unsigned int *);  /* type 1: SM, MHz */
  energy_fn energy = nullptr;
  clock_fn clock = nullptr;
  void *dev = nullptr;

  /* The NVML device of CUDA device 0 (matched by PCI bus id); false, and
   * a line on stderr, where NVML is missing. */
  bool open() {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!lib) {
      fprintf(stderr, "sustained: no libnvidia-ml.so.1 (%s): energy and clock not read\n", dlerror());
      return false;
    }
    init_fn init = (init_fn)dlsym(lib, "nvmlInit_v2");
    by_bus_fn by_bus = (by_bus_fn)dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    energy = (energy_fn)dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption");
    clock = (clock_fn)dlsym(lib, "nvmlDeviceGetClockInfo");
    char bus[32];
    CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, 0));
    if (!init || !by_bus || !energy || !clock || init() != 0 || by_bus(bus, &dev) != 0) {
      fprintf(stderr, "sustained: NVML has no device at %s: energy and clock not read\n", bus);
      dev = nullptr;
      return false;
    }
    return true;
  }
  unsigned long long mj() const {
    unsigned long long e = 0;
    if (dev) energy(dev, &e);
    return e;
  }
  unsigned int mhz() const {
    unsigned int c = 0;
    if (dev) clock(dev, 1, &c);
    return c;
  }
};

struct bench_sustained {
  float us;    /* per launch, over the whole run */
  double mj;   /* energy per launch */
  double watts;
  double mhz;  /* the SM clock, the mean of one sample a batch */
};

/* launch(stream) captured 10 times into a graph, replayed back to back for
 * `warm_s` seconds (untimed: the clock settles), then for `seconds` more
 * between two events, the host keeping at most two batches of 20 replays
 * queued and reading the clock once a batch. */
template <class F>
static inline bench_sustained bench_sustained_us(const bench_nvml &nvml, F launch, double seconds,
                                                 double warm_s = 0.5) {
  enum { BATCH = 20 };
  const bench_graph10 graph = bench_graph10_capture(launch);
  const cudaStream_t s = graph.stream;
  cudaEvent_t a, b, batch[2];
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (cudaEvent_t &e : batch) CHECK(cudaEventCreate(&e));
  typedef std::chrono::steady_clock clk;
  /* Batches until `secs` have passed; returns replays, sums the clock samples. */
  auto run = [&](double secs, double *mhz_sum, long long *samples) {
    long long replays = 0;
    const auto t0 = clk::now();
    for (int n = 0;; n++) {
      for (int i = 0; i < BATCH; i++) CHECK(cudaGraphLaunch(graph.exec, s));
      replays += BATCH;
      CHECK(cudaEventRecord(batch[n & 1], s));
      if (n > 0) CHECK(cudaEventSynchronize(batch[(n - 1) & 1]));
      if (mhz_sum) *mhz_sum += nvml.mhz(), ++*samples;
      if (std::chrono::duration<double>(clk::now() - t0).count() >= secs) break;
    }
    return replays;
  };
  run(warm_s, nullptr, nullptr);
  CHECK(cudaStreamSynchronize(s));
  double mhz_sum = 0;
  long long samples = 0;
  const unsigned long long e0 = nvml.mj();
  CHECK(cudaEventRecord(a, s));
  const long long replays = run(seconds, &mhz_sum, &samples);
  CHECK(cudaEventRecord(b, s));
  CHECK(cudaEventSynchronize(b));
  const unsigned long long e1 = nvml.mj();
  float ms;
  CHECK(cudaEventElapsedTime(&ms, a, b));
  const double launches = 10.0 * replays;
  bench_sustained r;
  r.us = (float)(ms * 1e3 / launches);
  r.mj = (double)(e1 - e0) / launches;
  r.watts = (double)(e1 - e0) / ms;
  r.mhz = samples ? mhz_sum / samples : 0;
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  for (cudaEvent_t &e : batch) CHECK(cudaEventDestroy(e));
  bench_graph10_free(graph);
  return r;
}

#endif
