/* Running a step on the GPU: one captured graph per (entry, T), replayed.
 *
 * Kernels read T and pos from the device parameter block, so a step only
 * rewrites those 8 bytes (an async copy on the stream) and replays the graph
 * of its (entry, T). Decoding token after token (T = 1, pos growing) captures
 * once and replays from then on. The graph is captured on first use: begin
 * capture, enqueue every launch of the entry, end capture, instantiate.
 *
 * GRETA_NO_GRAPH=1 enqueues the launches directly instead (for debugging a
 * kernel under a tool that does not follow graphs).
 *
 * Every launch of a step after the first is enqueued `early`: on sm_90 it
 * may start while the one before it finishes (programmatic dependent
 * launch), reading ahead what no launch of the step writes until its
 * greta_grid_begin (templates/prelude.h); GRETA_OVERLAP=0 turns early
 * launches off (gpu_api.h).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (clock.h) */
#include <stdint.h>
#include <stdlib.h>

#include "clock.h"
#include "graph_runner.h"
#include "launch_constants.h"
#include "pair_layout.h"
#include "status.h"

/* The tensor maps of a launch with attr tma (ops.def): x as [rows at the
 * entry's largest step, k] halves in boxes of a tile's 128 rows; the
 * weight as [tma, k] in boxes of 64 rows, or for the paired GEMMs as the
 * 5-dimensional view of pair_layout.h, whose boxes are 64 virtual rows
 * (launch_constants.h's GRETA_WGMMA_TMA_*). Encoded at every enqueue: a
 * graph keeps the values it captured. */
static greta_status_t runner_tensor_maps(greta_program_t *program,
                                         const greta_plan_entry_t *entry,
                                         const greta_plan_launch_t *launch, void *x, void *w,
                                         unsigned char (*maps)[GRETA_GPU_TENSOR_MAP_BYTES]) {
  greta_gpu_api_t *api = program->api;
  if (!api->ops->tensor_map)
    return greta_status_make(GRETA_UNAVAILABLE, "this GPU adapter has no tensor maps (attr tma)");
  const uint64_t k = (uint64_t)launch->attr.k;
  const uint64_t rows = (uint64_t)launch->rows_coeff *
                        (launch->rows_per_token ? (uint64_t)entry->max_tokens : 1);
  const uint64_t x_dims[2] = {k, rows};
  const uint32_t x_box[2] = {64, GRETA_WGMMA_TMA_X_BOX};
  GRETA_RETURN_IF_ERROR(greta_status_annotate(
      api->ops->tensor_map(api, maps[0], x, 2, x_dims, &k, x_box), "x's tensor map"));
  int64_t s, blocks;
  if (!greta_launch_pairs(launch, &s, &blocks)) {
    const uint64_t dims[2] = {k, (uint64_t)launch->attr.tma};
    const uint32_t box[2] = {64, GRETA_WGMMA_TMA_W_BOX};
    return greta_status_annotate(api->ops->tensor_map(api, maps[1], w, 2, dims, &k, box),
                                 "the weight's tensor map");
  }
  unsigned long long dims[5], strides[4];
  unsigned box[5]; /* GRETA_WGMMA_TMA_W_BOX virtual rows */
  greta_pair_tma_shape(s, blocks, (long long)k, 64, dims, strides, box);
  uint64_t d[5], st[4]; /* the adapter's types */
  for (int i = 0; i < 5; i++) d[i] = dims[i];
  for (int i = 0; i < 4; i++) st[i] = strides[i];
  return greta_status_annotate(api->ops->tensor_map(api, maps[1], w, 5, d, st, box),
                               "the weight's tensor map (pairs)");
}

/* Enqueues launch `index` of `entry`: arguments are the parameter block
 * then each buffer's device address (space base + offset), per the kernel
 * ABI in plan.h, then (attr tma) the tensor maps of x and the weight by
 * value. `early`: it may start before the launch enqueued just before it
 * has finished (its kernel waits in greta_grid_begin). */
static greta_status_t runner_enqueue(greta_program_t *program, const greta_plan_entry_t *entry,
                                     uint32_t index, int64_t tokens, bool early) {
  const greta_plan_launch_t *launch = &entry->launches[index];
  void *const bases[3] = {
      [GRETA_SPACE_ARENA] = program->spaces.arena,
      [GRETA_SPACE_WEIGHTS] = program->spaces.weights,
      [GRETA_SPACE_KV] = program->spaces.kv,
  };
  void *values[1 + GRETA_PLAN_MAX_ARGS]; /* the pointers the kernel receives */
  void *args[3 + GRETA_PLAN_MAX_ARGS];   /* where each one is, for the driver */
  _Alignas(64) unsigned char maps[2][GRETA_GPU_TENSOR_MAP_BYTES];
  values[0] = program->spaces.params;
  args[0] = &values[0];
  for (uint32_t a = 0; a < launch->n_args; ++a) {
    values[1 + a] = (char *)bases[launch->args[a].space] + launch->args[a].offset;
    args[1 + a] = &values[1 + a];
  }
  if (launch->attr.tma) {
    GRETA_RETURN_IF_ERROR(greta_status_annotate(
        runner_tensor_maps(program, entry, launch, values[1], values[2], maps),
        "entry '%s' launch %u (op %s)", entry->name, index, greta_op_name(launch->op)));
    args[1 + launch->n_args] = maps[0];
    args[2 + launch->n_args] = maps[1];
  }
  uint32_t grid[3];
  greta_plan_launch_grid(launch, tokens, grid);
  greta_status_t status = program->api->ops->launch(program->api, program->functions[launch->kernel],
                                                    grid, launch->block, launch->shared_bytes, args,
                                                    early);
  if (status) {
    return greta_status_annotate(status, "entry '%s' launch %u (op %s, grid %ux%ux%u, T=%lld)",
                                 entry->name, index, greta_op_name(launch->op), grid[0], grid[1],
                                 grid[2], (long long)tokens);
  }
  return NULL;
}

/* Enqueues every launch of `entry` but `skip` (skip >= n_launches: every
 * one), each after the first early. */
static greta_status_t runner_enqueue_except(greta_program_t *program,
                                            const greta_plan_entry_t *entry, int64_t tokens,
                                            uint32_t skip) {
  bool first = true;
  for (uint32_t i = 0; i < entry->n_launches; ++i) {
    if (i == skip) continue;
    GRETA_RETURN_IF_ERROR(runner_enqueue(program, entry, i, tokens, !first));
    first = false;
  }
  return NULL;
}

static greta_status_t runner_enqueue_all(greta_program_t *program,
                                         const greta_plan_entry_t *entry, int64_t tokens) {
  return runner_enqueue_except(program, entry, tokens, entry->n_launches);
}

static greta_gpu_graph_t *runner_find(greta_program_t *program, const greta_plan_entry_t *entry,
                                      int64_t tokens) {
  for (size_t i = 0; i < program->n_graphs; ++i) {
    if (program->graphs[i].entry == entry && program->graphs[i].tokens == tokens) {
      return &program->graphs[i];
    }
  }
  return NULL;
}

/* Captures the launches of (entry, T) into a graph and caches its exec. */
static greta_status_t runner_capture(greta_program_t *program, const greta_plan_entry_t *entry,
                                     int64_t tokens, greta_gpu_graph_t **out_graph) {
  greta_gpu_api_t *api = program->api;
  if (program->n_graphs == program->graphs_capacity) {
    size_t capacity = program->graphs_capacity ? 2 * program->graphs_capacity : 4;
    greta_gpu_graph_t *graphs = realloc(program->graphs, capacity * sizeof *graphs);
    if (!graphs) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
    program->graphs = graphs;
    program->graphs_capacity = capacity;
  }
  GRETA_RETURN_IF_ERROR(api->ops->capture_begin(api));
  greta_status_t status = runner_enqueue_all(program, entry, tokens);
  /* End the capture even after a failed launch: the stream stays in
   * capture mode otherwise, and every later call on it fails. */
  void *graph = NULL;
  greta_status_t ended = api->ops->capture_end(api, &graph);
  if (status) {
    greta_status_free(ended);
    if (graph) api->ops->graph_destroy(api, graph);
    return status;
  }
  GRETA_RETURN_IF_ERROR(ended);
  void *exec = NULL;
  status = api->ops->graph_instantiate(api, graph, &exec);
  api->ops->graph_destroy(api, graph); /* the exec holds its own copy */
  GRETA_RETURN_IF_ERROR(status);
  greta_gpu_graph_t *cached = &program->graphs[program->n_graphs++];
  cached->entry = entry;
  cached->tokens = tokens;
  cached->exec = exec;
  ++program->captures;
  *out_graph = cached;
  return NULL;
}

greta_status_t greta_gpu_program_run(greta_program_t *program, const greta_plan_entry_t *entry,
                                     int64_t tokens, int64_t pos) {
  greta_gpu_api_t *api = program->api;
  if (tokens < entry->min_tokens || tokens > entry->max_tokens || pos < 0 ||
      pos > INT32_MAX - tokens) {
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "entry '%s' runs %lld..%lld tokens; asked for T=%lld at pos=%lld",
                             entry->name, (long long)entry->min_tokens,
                             (long long)entry->max_tokens, (long long)tokens, (long long)pos);
  }
  program->params[0] = (int32_t)tokens;
  program->params[1] = (int32_t)pos;
  GRETA_RETURN_IF_ERROR(api->ops->copy_to_device_async(api, program->spaces.params,
                                                       program->params, sizeof program->params));
  greta_status_t status = NULL;
  if (program->use_graphs) {
    greta_gpu_graph_t *graph = runner_find(program, entry, tokens);
    if (!graph) status = runner_capture(program, entry, tokens, &graph);
    if (!status) status = api->ops->graph_launch(api, graph->exec);
    if (status) {
      status = greta_status_annotate(status, "running entry '%s' as a graph (T=%lld)",
                                     entry->name, (long long)tokens);
    }
  } else {
    status = runner_enqueue_all(program, entry, tokens);
  }
  /* Wait even after a failure: program->params must not change while the
   * copy that reads it may still be in flight. */
  greta_status_t synced = api->ops->synchronize(api);
  if (status) {
    greta_status_free(synced);
    return status;
  }
  if (synced) {
    return greta_status_annotate(synced, "running entry '%s' (T=%lld, pos=%lld)", entry->name,
                                 (long long)tokens, (long long)pos);
  }
  return NULL;
}

/* Launches `exec` `repeats` times with an event recorded before the first
 * and after each launch, waits, and writes launch i's device time (event i
 * to event i + 1) in ms to out_ms[i]. GRETA_UNAVAILABLE when the driver
 * library lacks the event functions. */
static greta_status_t graph_time(greta_gpu_api_t *api, void *exec, int repeats, double *out_ms) {
  const greta_gpu_ops_t *ops = api->ops;
  GRETA_RETURN_IF_ERROR(ops->events_begin(api));
  void **events = calloc((size_t)repeats + 1, sizeof *events);
  if (!events) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  greta_status_t status = NULL;
  int created = 0;
  for (; created <= repeats && !status; ++created) {
    status = ops->event_create(api, &events[created]);
    if (status) events[created] = NULL;
  }
  if (!status) status = ops->event_record(api, events[0]);
  for (int i = 0; i < repeats && !status; ++i) {
    status = ops->graph_launch(api, exec);
    if (!status) status = ops->event_record(api, events[i + 1]);
  }
  /* Wait even after a failure: nothing may be destroyed while in flight. */
  greta_status_t synced = ops->synchronize(api);
  if (!status) status = synced;
  else greta_status_free(synced);
  for (int i = 0; i < repeats && !status; ++i) {
    float ms = 0;
    status = ops->event_elapsed(api, events[i], events[i + 1], &ms);
    out_ms[i] = ms;
  }
  for (int i = 0; i < created; ++i) {
    if (events[i]) ops->event_destroy(api, events[i]);
  }
  free(events);
  return status;
}

greta_status_t greta_gpu_program_time(greta_program_t *program, const greta_plan_entry_t *entry,
                                      int64_t tokens, int64_t pos, int repeats, double *out_ms) {
  /* One plain run sets the parameter block and captures the graph. */
  GRETA_RETURN_IF_ERROR(greta_gpu_program_run(program, entry, tokens, pos));
  greta_gpu_graph_t *graph = program->use_graphs ? runner_find(program, entry, tokens) : NULL;
  greta_gpu_api_t *api = program->api;
  if (graph && api->ops->events_begin) {
    greta_status_t status = graph_time(api, graph->exec, repeats, out_ms);
    if (greta_status_code(status) != GRETA_UNAVAILABLE) {
      return status ? greta_status_annotate(status, "timing entry '%s' (T=%lld)", entry->name,
                                            (long long)tokens)
                    : NULL;
    }
    greta_status_free(status); /* no events: the host clock below */
  }
  /* Without graphs or events: each run timed on the host, synchronized. */
  for (int i = 0; i < repeats; ++i) {
    double start = clock_ms();
    GRETA_RETURN_IF_ERROR(greta_gpu_program_run(program, entry, tokens, pos));
    out_ms[i] = clock_ms() - start;
  }
  return NULL;
}

/* Each launch becomes a one-kernel graph, replayed between device events:
 * the kernel's own time plus a graph launch, free of host dispatch. */
greta_status_t greta_gpu_program_profile(greta_program_t *program,
                                         const greta_plan_entry_t *entry, int64_t tokens,
                                         int64_t pos, int repeats, double *out_ms) {
  greta_gpu_api_t *api = program->api;
  if (!api->ops->events_begin)
    return greta_status_make(GRETA_UNAVAILABLE, "profile: the driver has no event functions");
  program->params[0] = (int32_t)tokens;
  program->params[1] = (int32_t)pos;
  GRETA_RETURN_IF_ERROR(api->ops->copy_to_device_async(api, program->spaces.params,
                                                       program->params, sizeof program->params));
  greta_status_t status = NULL;
  for (uint32_t i = 0; i < entry->n_launches && !status; ++i) {
    void *graph = NULL, *exec = NULL;
    status = api->ops->capture_begin(api);
    if (status) break;
    status = runner_enqueue(program, entry, i, tokens, false);
    greta_status_t ended = api->ops->capture_end(api, &graph);
    if (!status) status = ended;
    else greta_status_free(ended);
    if (!status) status = api->ops->graph_instantiate(api, graph, &exec);
    if (graph) api->ops->graph_destroy(api, graph);
    if (!status) status = graph_time(api, exec, repeats, out_ms + (size_t)i * repeats);
    if (exec) api->ops->graph_exec_destroy(api, exec);
    if (status)
      status = greta_status_annotate(status, "profiling launch %u (%s)", i,
                                     greta_op_name(entry->launches[i].op));
  }
  greta_status_t synced = api->ops->synchronize(api);
  if (status) {
    greta_status_free(synced);
    return status;
  }
  return synced;
}

/* The step with one launch left out, as the step graph is captured (the
 * launches after the first enqueued early): what the step costs without
 * it, overlaps included. */
greta_status_t greta_gpu_program_time_except(greta_program_t *program,
                                             const greta_plan_entry_t *entry, int64_t tokens,
                                             int64_t pos, uint32_t skip, int repeats,
                                             double *out_ms) {
  greta_gpu_api_t *api = program->api;
  if (!api->ops->events_begin)
    return greta_status_make(GRETA_UNAVAILABLE, "timing: the driver has no event functions");
  program->params[0] = (int32_t)tokens;
  program->params[1] = (int32_t)pos;
  GRETA_RETURN_IF_ERROR(api->ops->copy_to_device_async(api, program->spaces.params,
                                                       program->params, sizeof program->params));
  void *graph = NULL, *exec = NULL;
  GRETA_RETURN_IF_ERROR(api->ops->capture_begin(api));
  greta_status_t status = runner_enqueue_except(program, entry, tokens, skip);
  greta_status_t ended = api->ops->capture_end(api, &graph);
  if (!status) status = ended;
  else greta_status_free(ended);
  if (!status) status = api->ops->graph_instantiate(api, graph, &exec);
  if (graph) api->ops->graph_destroy(api, graph);
  /* One untimed replay: the first replay of a new graph uploads it. */
  if (!status) status = api->ops->graph_launch(api, exec);
  if (!status) status = graph_time(api, exec, repeats, out_ms);
  if (exec) api->ops->graph_exec_destroy(api, exec);
  greta_status_t synced = api->ops->synchronize(api);
  if (status) {
    greta_status_free(synced);
    return greta_status_annotate(status, "timing entry '%s' without launch %u", entry->name, skip);
  }
  return synced;
}

void greta_gpu_program_release_graphs(greta_program_t *program) {
  for (size_t i = 0; i < program->n_graphs; ++i) {
    program->api->ops->graph_exec_destroy(program->api, program->graphs[i].exec);
  }
  free(program->graphs);
  program->graphs = NULL;
  program->n_graphs = program->graphs_capacity = 0;
}

uint64_t greta_gpu_program_capture_count(const greta_program_t *program) {
  return program->captures;
}

int greta_gpu_program_uses_graphs(const greta_program_t *program) {
  return program->use_graphs;
}
