/* Running a loaded GPU program (graph_runner.c): one captured graph per
 * (entry, T), replayed; timing and profiling of steps. backend_gpu.c loads
 * the program and calls in here; nothing here needs backend_gpu.c.
 */
#ifndef GRETA_GRAPH_RUNNER_H
#define GRETA_GRAPH_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "gpu_api.h"

/* One instantiated graph: the launches of `entry` for `tokens` tokens. */
typedef struct greta_gpu_graph_s {
  const greta_plan_entry_t *entry; /* borrowed from the plan */
  int64_t tokens;
  void *exec; /* owned graph exec */
} greta_gpu_graph_t;

/* A loaded program: made and destroyed by backend_gpu.c, run here. */
struct greta_program_s {
  greta_gpu_api_t *api;   /* borrowed from the backend, which outlives us */
  greta_spaces_t spaces;  /* device addresses, fixed for the program's life */
  void *module;           /* owned */
  uint32_t n_functions;
  void **functions;       /* [n_functions]: plan->kernels[i]'s handle */
  int use_graphs;         /* 0 when GRETA_NO_GRAPH=1 */
  int32_t params[2];      /* host copy of {T, pos}; source of the async copy */
  greta_gpu_graph_t *graphs; /* [n_graphs] cache, keyed by (entry, tokens) */
  size_t n_graphs, graphs_capacity;
  uint64_t captures;      /* graphs captured so far */
};

/* Runs `entry` for `tokens` tokens at `pos` (graph_runner.c). */
greta_status_t greta_gpu_program_run(greta_program_t *program, const greta_plan_entry_t *entry,
                                     int64_t tokens, int64_t pos);
/* Runs `entry` once, then `repeats` times more, writing each of those runs'
 * device time in ms (events around graph replays; the host clock without
 * graphs or events) to out_ms (graph_runner.c). */
greta_status_t greta_gpu_program_time(greta_program_t *program, const greta_plan_entry_t *entry,
                                      int64_t tokens, int64_t pos, int repeats, double *out_ms);
/* Times each launch of `entry` alone, `repeats` times, in order: launch i's
 * repeat r in ms at out_ms[i * repeats + r] (graph_runner.c). */
greta_status_t greta_gpu_program_profile(greta_program_t *program,
                                         const greta_plan_entry_t *entry, int64_t tokens,
                                         int64_t pos, int repeats, double *out_ms);
/* Times `entry` with launch `skip` left out (skip >= n_launches: none),
 * captured as a graph of its own, `repeats` replays: out_ms[r] in ms
 * (graph_runner.c). */
greta_status_t greta_gpu_program_time_except(greta_program_t *program,
                                             const greta_plan_entry_t *entry, int64_t tokens,
                                             int64_t pos, uint32_t skip, int repeats,
                                             double *out_ms);
/* Destroys every cached graph (graph_runner.c). */
void greta_gpu_program_release_graphs(greta_program_t *program);

/* For tests: how many graphs `program` has captured. Replaying a cached
 * (entry, T) leaves it unchanged. */
uint64_t greta_gpu_program_capture_count(const greta_program_t *program);
/* For tests: whether `program` replays graphs (0 under GRETA_NO_GRAPH=1). */
int greta_gpu_program_uses_graphs(const greta_program_t *program);

#endif /* GRETA_GRAPH_RUNNER_H */
