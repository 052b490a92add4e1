/* A session: one model on one device. It owns the four memory spaces
 * (allocated once), the loaded program, which weights are bound, which
 * inputs are set, and how many tokens the KV cache holds. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (clock.h) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "device.h"
#include "half.h"
#include "model.h"
#include "session.h"
#include "status.h"

struct greta_session_s {
  const greta_plan_t *plan; /* borrowed from the model */
  greta_backend_t *backend; /* borrowed from the device */
  greta_spaces_t spaces;    /* params int32[2], arena, weights, kv */
  greta_program_t *program;
  bool *weight_bound;   /* (n_weights) */
  int64_t *input_rows;  /* (n_inputs): T the input was set for; 0 unset; -1 fixed size */
  bool *output_valid;   /* (n_outputs): not overwritten since the last step */
  int64_t cached;       /* tokens in the KV cache: positions 0 .. cached - 1 */
  int64_t last_tokens;  /* T of the last successful step; 0 before any */
  bool folded;          /* the plan's bind entry has run (norms folded into weights) */
};

enum { PARAMS_BYTES = 2 * sizeof(int32_t) };

const greta_plan_t *greta_session_plan(const greta_session_t *session) { return session->plan; }

/* ---- sizes of inputs and outputs ---------------------------------------- */

/* Bytes of an input/output at T tokens (a dim with symbol "T" scales). */
static uint64_t io_bytes(const greta_tensor_info_t *info, int64_t tokens) {
  uint64_t bytes = greta_dtype_size(info->dtype);
  for (int d = 0; d < info->rank; d++)
    bytes *= (uint64_t)info->dims[d].coeff * (info->dims[d].symbol ? (uint64_t)tokens : 1u);
  return bytes;
}

static bool io_is_per_token(const greta_tensor_info_t *info) {
  return info->rank > 0 && info->dims[0].symbol != NULL;
}

/* "[T, 4096]" into buf. */
static const char *shape_text(const greta_tensor_info_t *info, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < info->rank && used < size; d++) {
    const greta_dim_t *dim = &info->dims[d];
    const char *sep = d ? ", " : "";
    if (dim->symbol && dim->coeff == 1)
      used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, dim->symbol);
    else if (dim->symbol)
      used += (size_t)snprintf(buf + used, size - used, "%s%lld*%s", sep, (long long)dim->coeff,
                               dim->symbol);
    else
      used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep, (long long)dim->coeff);
  }
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* ---- create / destroy ------------------------------------------------------ */

static greta_status_t zero_space(greta_backend_t *backend, void *space, size_t bytes) {
  enum { CHUNK = 16 << 20 };
  size_t chunk = bytes < CHUNK ? bytes : CHUNK;
  void *zeros = calloc(chunk ? chunk : 1, 1);
  if (!zeros) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "session: out of memory");
  greta_status_t status = NULL;
  for (size_t at = 0; at < bytes && !status; at += chunk) {
    size_t n = bytes - at < chunk ? bytes - at : chunk;
    status = backend->vtable->upload(backend, space, at, zeros, n);
  }
  free(zeros);
  return status;
}

static greta_status_t check_target(const greta_plan_t *plan, const greta_backend_t *backend) {
  if (strcmp(backend->target, "cpu") == 0) return NULL; /* the reference runs any plan */
  if (strcmp(plan->target, backend->target) != 0)
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "session: the model was compiled for target %s but the device "
                             "(%s, %s) is %s; recompile with gretac --target %s",
                             plan->target, backend->kind_name, backend->device_name,
                             backend->target, backend->target);
  return NULL;
}

static greta_status_t check_memory(const greta_plan_t *plan, greta_backend_t *backend) {
  uint64_t free_bytes;
  GRETA_RETURN_IF_ERROR(greta_status_annotate(
      backend->vtable->memory_free(backend, &free_bytes), "session: reading free memory"));
  uint64_t needed = 0;
  bool overflow = __builtin_add_overflow(plan->weight_bytes, plan->kv_bytes, &needed) ||
                  __builtin_add_overflow(needed, plan->arena_bytes, &needed) ||
                  __builtin_add_overflow(needed, (uint64_t)PARAMS_BYTES, &needed);
  if (overflow || needed > free_bytes)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                             "session: the model needs %llu bytes (weights %llu + KV cache %llu "
                             "for max_seq %lld + arena %llu + params %d) but the %s device has "
                             "only %llu bytes free",
                             (unsigned long long)needed, (unsigned long long)plan->weight_bytes,
                             (unsigned long long)plan->kv_bytes, (long long)plan->max_seq,
                             (unsigned long long)plan->arena_bytes, (int)PARAMS_BYTES,
                             backend->kind_name, (unsigned long long)free_bytes);
  return NULL;
}

greta_status_t greta_session_create(greta_model_t *model, greta_device_t *device,
                                    greta_session_t **out_session) {
  *out_session = NULL;
  if (!model || !device)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "session: model and device are required");
  const greta_plan_t *plan = greta_model_plan(model);
  greta_backend_t *backend = greta_device_backend(device);
  GRETA_RETURN_IF_ERROR(check_target(plan, backend));
  GRETA_RETURN_IF_ERROR(check_memory(plan, backend));
  if (plan->weight_bytes > SIZE_MAX || plan->kv_bytes > SIZE_MAX || plan->arena_bytes > SIZE_MAX)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "session: the model's spaces exceed size_t");

  greta_session_t *s = calloc(1, sizeof *s);
  if (!s) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "session: out of memory");
  s->plan = plan;
  s->backend = backend;
  s->weight_bound = calloc(plan->n_weights + 1, sizeof *s->weight_bound);
  s->input_rows = calloc(plan->n_inputs + 1, sizeof *s->input_rows);
  s->output_valid = calloc(plan->n_outputs + 1, sizeof *s->output_valid);
  greta_status_t status = NULL;
  if (!s->weight_bound || !s->input_rows || !s->output_valid)
    status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "session: out of memory");
  const greta_backend_vtable_t *vt = backend->vtable;
  if (!status) status = vt->alloc(backend, PARAMS_BYTES, &s->spaces.params);
  if (!status) status = vt->alloc(backend, (size_t)plan->arena_bytes, &s->spaces.arena);
  if (!status) status = vt->alloc(backend, (size_t)plan->weight_bytes, &s->spaces.weights);
  if (!status) status = vt->alloc(backend, (size_t)plan->kv_bytes, &s->spaces.kv);
  /* Zeroed once: decode attention's arrival counters live in the arena and
   * must read 0 before their first launch (the kernel keeps them so). */
  if (!status) status = zero_space(backend, s->spaces.arena, (size_t)plan->arena_bytes);
  if (!status) {
    size_t file_size;
    const uint8_t *file = greta_model_file(model, &file_size);
    status = vt->program_create(backend, file, file_size, plan, &s->spaces, &s->program);
  }
  if (status) {
    greta_session_destroy(s);
    return greta_status_annotate(status, "session");
  }
  *out_session = s;
  return NULL;
}

void greta_session_destroy(greta_session_t *session) {
  if (!session) return;
  const greta_backend_vtable_t *vt = session->backend->vtable;
  if (session->program) vt->program_destroy(session->program);
  void *spaces[] = {session->spaces.params, session->spaces.arena, session->spaces.weights,
                    session->spaces.kv};
  for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
    if (spaces[i]) vt->free(session->backend, spaces[i]);
  free(session->weight_bound);
  free(session->input_rows);
  free(session->output_valid);
  free(session);
}

/* ---- weights ------------------------------------------------------------ */

/* Does weight `w` take part in a fold of the bind entry (as the matrix or
 * as the norm's weight)? */
static bool weight_is_folded(const greta_plan_t *plan, const greta_plan_weight_t *w) {
  const greta_plan_entry_t *bind = greta_plan_bind_entry(plan);
  for (uint32_t i = 0; bind && i < bind->n_launches; i++) {
    const greta_plan_launch_t *l = &bind->launches[i];
    uint64_t esize = greta_dtype_size((greta_dtype_t)l->attr.wdtype);
    uint64_t extent[2] = {(uint64_t)l->rows_coeff * (uint64_t)l->attr.n * esize,
                          (uint64_t)l->attr.n * esize};
    for (int a = 0; a < 2; a++)
      if (l->args[a].offset < w->offset + w->bytes && w->offset < l->args[a].offset + extent[a])
        return true;
  }
  return false;
}

greta_status_t greta_session_check_rebind(const greta_session_t *session, uint32_t index) {
  const greta_plan_weight_t *w = &session->plan->weights[index];
  /* Once folded, a weight is no longer what the checkpoint holds: binding
   * one of a fold's pair again would fold twice or not at all. */
  if (session->folded && weight_is_folded(session->plan, w))
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "weight %s: an RMSNorm weight was folded into it (or it into a "
                             "matmul) at the first step; it cannot be bound again in this "
                             "session (create a new session to change it)",
                             w->info.name);
  return NULL;
}

greta_status_t greta_session_bind_index(greta_session_t *session, uint32_t index,
                                        greta_dtype_t dtype, const void *data, size_t count) {
  const greta_plan_weight_t *w = &session->plan->weights[index];
  GRETA_RETURN_IF_ERROR(greta_session_check_rebind(session, index));
  size_t storage_size = greta_dtype_size(w->info.dtype);
  uint64_t expected = w->bytes / storage_size;
  if (count != expected)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "weight %s: expected %llu elements, got %zu", w->info.name,
                             (unsigned long long)expected, count);
  if ((unsigned)dtype > GRETA_I32)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "weight %s: dtype %d is not one of 0..3",
                             w->info.name, (int)dtype);
  greta_backend_t *b = session->backend;
  greta_status_t status;
  if (dtype == w->info.dtype) {
    status = b->vtable->upload(b, session->spaces.weights, (size_t)w->offset, data,
                               (size_t)w->bytes);
  } else {
    void *converted = malloc(w->bytes ? (size_t)w->bytes : 1);
    if (!converted) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "weight %s: out of memory",
                                             w->info.name);
    if (greta_convert(converted, w->info.dtype, data, dtype, count) != 0) {
      free(converted);
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "weight %s: stored as %s, cannot convert from %s", w->info.name,
                               greta_dtype_name(w->info.dtype), greta_dtype_name(dtype));
    }
    status = b->vtable->upload(b, session->spaces.weights, (size_t)w->offset, converted,
                               (size_t)w->bytes);
    free(converted);
  }
  if (!status) session->weight_bound[index] = true;
  return status;
}

greta_status_t greta_session_bind_weight(greta_session_t *session, const char *name,
                                         greta_dtype_t dtype, const void *data, size_t count) {
  for (uint32_t i = 0; i < session->plan->n_weights; i++)
    if (strcmp(session->plan->weights[i].info.name, name) == 0)
      return greta_status_annotate(greta_session_bind_index(session, i, dtype, data, count),
                                   "bind_weight");
  return greta_status_make(GRETA_NOT_FOUND, "bind_weight: the model has no weight named \"%s\"",
                           name);
}

/* ---- inputs, step, outputs ------------------------------------------------- */

static const greta_plan_io_t *find_io(const greta_plan_io_t *ios, uint32_t count,
                                      const char *name, uint32_t *out_index) {
  for (uint32_t i = 0; i < count; i++)
    if (strcmp(ios[i].info.name, name) == 0) {
      *out_index = i;
      return &ios[i];
    }
  return NULL;
}

/* Which T a buffer of `bytes` holds for `io`: -1 for a fixed-size io, 0 when
 * it fits no T in 1..max_tokens. */
static int64_t rows_of(const greta_plan_t *plan, const greta_plan_io_t *io, size_t bytes) {
  if (!io_is_per_token(&io->info)) return bytes == io_bytes(&io->info, 1) ? -1 : 0;
  uint64_t row = io_bytes(&io->info, 1);
  if (bytes == 0 || bytes % row != 0 || bytes / row > (uint64_t)plan->max_tokens) return 0;
  return (int64_t)(bytes / row);
}

greta_status_t greta_session_set_input(greta_session_t *session, const char *name,
                                       const void *data, size_t bytes) {
  const greta_plan_t *plan = session->plan;
  uint32_t index;
  const greta_plan_io_t *io = find_io(plan->inputs, plan->n_inputs, name, &index);
  if (!io)
    return greta_status_make(GRETA_NOT_FOUND, "set_input: the model has no input named \"%s\"",
                             name);
  int64_t rows = rows_of(plan, io, bytes);
  if (rows == 0) {
    char shape[128];
    if (io_is_per_token(&io->info))
      return greta_status_make(
          GRETA_INVALID_ARGUMENT,
          "set_input: input \"%s\" %s %s takes T rows of %llu bytes (1 <= T <= %lld), got %zu "
          "bytes",
          name, shape_text(&io->info, shape, sizeof shape), greta_dtype_name(io->info.dtype),
          (unsigned long long)io_bytes(&io->info, 1), (long long)plan->max_tokens, bytes);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "set_input: input \"%s\" %s %s is %llu bytes, got %zu bytes", name,
                             shape_text(&io->info, shape, sizeof shape),
                             greta_dtype_name(io->info.dtype),
                             (unsigned long long)io_bytes(&io->info, 1), bytes);
  }
  GRETA_RETURN_IF_ERROR(greta_status_annotate(
      session->backend->vtable->upload(session->backend, session->spaces.arena,
                                       (size_t)io->offset, data, bytes),
      "set_input \"%s\"", name));
  session->input_rows[index] = rows;
  /* The arena is shared by liveness: an output may sit where this input
   * was just written. */
  for (uint32_t o = 0; o < plan->n_outputs; o++) {
    const greta_plan_io_t *out = &plan->outputs[o];
    uint64_t out_end = out->offset + io_bytes(&out->info, session->last_tokens);
    if (out->offset < io->offset + bytes && io->offset < out_end) session->output_valid[o] = false;
  }
  return NULL;
}

greta_status_t greta_session_step(greta_session_t *session, int64_t tokens, int64_t pos) {
  const greta_plan_t *plan = session->plan;
  if (tokens < 1 || tokens > plan->max_tokens)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "step: tokens = %lld, expected 1 <= tokens <= the model's "
                             "max_tokens %lld",
                             (long long)tokens, (long long)plan->max_tokens);
  if (pos < 0)
    return greta_status_make(GRETA_OUT_OF_RANGE, "step: pos = %lld, expected pos >= 0",
                             (long long)pos);
  if (pos > plan->max_seq - tokens)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "step: pos %lld + tokens %lld exceeds the KV cache's max_seq %lld",
                             (long long)pos, (long long)tokens, (long long)plan->max_seq);
  if (pos > session->cached)
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "step: pos = %lld would leave a gap: the KV cache holds %lld tokens, "
                             "expected pos <= %lld",
                             (long long)pos, (long long)session->cached,
                             (long long)session->cached);
  const greta_plan_entry_t *entry = greta_plan_entry_for(plan, tokens);
  if (!entry)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "step: the model has no entry for %lld tokens", (long long)tokens);
  uint32_t unbound = 0, first_unbound = 0;
  for (uint32_t i = plan->n_weights; i-- > 0;)
    if (!session->weight_bound[i]) {
      unbound++;
      first_unbound = i;
    }
  if (unbound)
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "step: weight \"%s\" is not bound (%u of %u weights are unbound; "
                             "bind them with greta_session_bind_checkpoint or _bind_weight)",
                             plan->weights[first_unbound].info.name, unbound, plan->n_weights);
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    int64_t rows = session->input_rows[i];
    if (rows == 0 || (rows > 0 && rows != tokens))
      return greta_status_make(GRETA_FAILED_PRECONDITION,
                               "step: input \"%s\" %s, but the step has %lld tokens",
                               plan->inputs[i].info.name,
                               rows == 0 ? "was not set since the last step"
                                         : (rows < tokens ? "holds fewer rows" : "holds more rows"),
                               (long long)tokens);
  }

  /* The backend writes T and pos into the parameter block itself (the GPU
   * runner with an async copy ahead of the graph). */
  greta_backend_t *b = session->backend;
  if (!session->folded) { /* once: the first step folds the norms into their weights */
    const greta_plan_entry_t *bind = greta_plan_bind_entry(plan);
    if (bind)
      GRETA_RETURN_IF_ERROR(greta_status_annotate(b->vtable->program_run(session->program, bind, 1, 0),
                                                  "step: folding the norm weights (bind entry)"));
    session->folded = true;
  }
  /* From here the cache beyond pos is overwritten: whatever happens, the
   * tokens after pos are gone. */
  session->cached = pos;
  session->last_tokens = 0;
  for (uint32_t i = 0; i < plan->n_inputs; i++) session->input_rows[i] = 0;
  GRETA_RETURN_IF_ERROR(greta_status_annotate(
      b->vtable->program_run(session->program, entry, tokens, pos), "step (T = %lld, pos = %lld)",
      (long long)tokens, (long long)pos));
  session->cached = pos + tokens;
  session->last_tokens = tokens;
  for (uint32_t o = 0; o < plan->n_outputs; o++) session->output_valid[o] = true;
  return NULL;
}

/* ---- timing (benchmarks) -------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median_of(double *values, int n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

greta_status_t greta_session_time_step(greta_session_t *session, int64_t tokens, int64_t pos,
                                       int repeats, double *out_median_ms) {
  if (repeats < 1 || !out_median_ms)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "time_step: repeats = %d, expected >= 1, and a place for the median",
                             repeats);
  /* The plain step checks the arguments, inputs and weights, and warms up. */
  GRETA_RETURN_IF_ERROR(greta_status_annotate(greta_session_step(session, tokens, pos),
                                              "time_step"));
  const greta_plan_entry_t *entry = greta_plan_entry_for(session->plan, tokens);
  greta_backend_t *b = session->backend;
  double *ms = malloc((size_t)repeats * sizeof *ms);
  if (!ms) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "time_step: out of memory");
  greta_status_t status = NULL;
  for (int warm = 0; warm < 2 && !status; warm++)
    status = b->vtable->program_run(session->program, entry, tokens, pos);
  if (!status && b->vtable->program_time) {
    status = b->vtable->program_time(session->program, entry, tokens, pos, repeats, ms);
  } else {
    for (int i = 0; i < repeats && !status; i++) {
      double start = clock_ms();
      status = b->vtable->program_run(session->program, entry, tokens, pos);
      ms[i] = clock_ms() - start;
    }
  }
  if (status) {
    /* A failed run may have left the step half done: like a failed step. */
    session->cached = pos;
    session->last_tokens = 0;
    free(ms);
    return greta_status_annotate(status, "time_step (T = %lld, pos = %lld)", (long long)tokens,
                                 (long long)pos);
  }
  *out_median_ms = median_of(ms, repeats);
  free(ms);
  return NULL;
}

greta_status_t greta_session_profile_step(greta_session_t *session, int64_t tokens, int64_t pos,
                                          int repeats, greta_launch_profile_t *out,
                                          size_t capacity, size_t *out_count) {
  if (repeats < 1 || !out_count || (capacity && !out))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "profile_step: repeats = %d, expected >= 1, and places for the "
                             "records and their count",
                             repeats);
  greta_backend_t *b = session->backend;
  if (!b->vtable->program_profile)
    return greta_status_make(GRETA_UNIMPLEMENTED, "profile_step: the %s backend cannot profile",
                             b->kind_name);
  GRETA_RETURN_IF_ERROR(greta_status_annotate(greta_session_step(session, tokens, pos),
                                              "profile_step"));
  const greta_plan_t *plan = session->plan;
  const greta_plan_entry_t *entry = greta_plan_entry_for(plan, tokens);
  size_t n = entry->n_launches;
  double *ms = malloc(n * (size_t)repeats * sizeof *ms + 1);
  if (!ms) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "profile_step: out of memory");
  greta_status_t status = b->vtable->program_profile(session->program, entry, tokens, pos,
                                                     repeats, ms);
  if (status) {
    session->cached = pos; /* as after a failed step */
    session->last_tokens = 0;
    free(ms);
    return greta_status_annotate(status, "profile_step (T = %lld, pos = %lld)",
                                 (long long)tokens, (long long)pos);
  }
  for (size_t i = 0; i < n && i < capacity; i++) {
    const greta_plan_launch_t *l = &entry->launches[i];
    out[i].op = greta_op_name(l->op);
    /* A CPU plan may carry no kernel names: the op's name stands in. */
    out[i].kernel = plan->n_kernels ? plan->kernels[l->kernel] : out[i].op;
    out[i].median_ms = median_of(ms + i * (size_t)repeats, repeats);
    greta_plan_launch_cost(l, tokens, pos, &out[i].bytes, &out[i].flops);
  }
  *out_count = n;
  free(ms);
  return NULL;
}

greta_status_t greta_session_profile_in_step(greta_session_t *session, int64_t tokens,
                                             int64_t pos, int repeats, double *out_ms,
                                             size_t capacity, size_t *out_count) {
  if (repeats < 1 || !out_count || (capacity && !out_ms))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "profile_in_step: repeats = %d, expected >= 1, and places for the "
                             "times and their count",
                             repeats);
  greta_backend_t *b = session->backend;
  if (!b->vtable->program_time_except)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "profile_in_step: the %s backend cannot leave a launch out",
                             b->kind_name);
  GRETA_RETURN_IF_ERROR(greta_status_annotate(greta_session_step(session, tokens, pos),
                                              "profile_in_step"));
  const greta_plan_entry_t *entry = greta_plan_entry_for(session->plan, tokens);
  const uint32_t n = entry->n_launches;
  double *ms = malloc(2 * (size_t)repeats * sizeof *ms);
  if (!ms) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "profile_in_step: out of memory");
  greta_status_t status = NULL;
  for (uint32_t i = 0; i < n && !status; i++) {
    /* The whole step timed next to each partial one: slow drifts of the
     * clocks cancel. */
    status = b->vtable->program_time_except(session->program, entry, tokens, pos, n, repeats, ms);
    if (!status)
      status = b->vtable->program_time_except(session->program, entry, tokens, pos, i, repeats,
                                              ms + repeats);
    if (!status && i < capacity)
      out_ms[i] = median_of(ms, repeats) - median_of(ms + repeats, repeats);
  }
  free(ms);
  if (!status) status = b->vtable->program_run(session->program, entry, tokens, pos);
  if (status) {
    session->cached = pos; /* as after a failed step */
    session->last_tokens = 0;
    return greta_status_annotate(status, "profile_in_step (T = %lld, pos = %lld)",
                                 (long long)tokens, (long long)pos);
  }
  *out_count = n;
  return NULL;
}

/* Output `name` of the last step, checked readable. */
static greta_status_t readable_output(const greta_session_t *session, const char *name,
                                      const greta_plan_io_t **out_io) {
  const greta_plan_t *plan = session->plan;
  uint32_t index;
  const greta_plan_io_t *io = find_io(plan->outputs, plan->n_outputs, name, &index);
  if (!io)
    return greta_status_make(GRETA_NOT_FOUND, "get_output: the model has no output named \"%s\"",
                             name);
  if (session->last_tokens == 0)
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "get_output \"%s\": no step has completed", name);
  if (!session->output_valid[index])
    return greta_status_make(GRETA_FAILED_PRECONDITION,
                             "get_output \"%s\": an input set since the last step overwrote it "
                             "(read outputs before setting the next step's inputs)",
                             name);
  *out_io = io;
  return NULL;
}

/* Copies `bytes` of output `io` from `offset` bytes into it. */
static greta_status_t download_output(greta_session_t *session, const greta_plan_io_t *io,
                                      uint64_t offset, void *data, size_t bytes) {
  return greta_status_annotate(
      session->backend->vtable->download(session->backend, data, session->spaces.arena,
                                         (size_t)(io->offset + offset), bytes),
      "get_output \"%s\"", io->info.name);
}

greta_status_t greta_session_get_output(greta_session_t *session, const char *name, void *data,
                                        size_t bytes) {
  const greta_plan_io_t *io;
  GRETA_RETURN_IF_ERROR(readable_output(session, name, &io));
  uint64_t expected = io_bytes(&io->info, session->last_tokens);
  if (bytes != expected) {
    char shape[128];
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "get_output \"%s\" %s %s: the last step (T = %lld) made %llu bytes, "
                             "the buffer holds %zu",
                             name, shape_text(&io->info, shape, sizeof shape),
                             greta_dtype_name(io->info.dtype), (long long)session->last_tokens,
                             (unsigned long long)expected, bytes);
  }
  return download_output(session, io, 0, data, bytes);
}

greta_status_t greta_session_get_output_last_row(greta_session_t *session, const char *name,
                                                 void *data, size_t bytes) {
  const greta_plan_io_t *io;
  GRETA_RETURN_IF_ERROR(readable_output(session, name, &io));
  uint64_t all = io_bytes(&io->info, session->last_tokens);
  uint64_t rows = io->info.rank == 0 ? 1
                                     : (uint64_t)io->info.dims[0].coeff *
                                           (io->info.dims[0].symbol ? (uint64_t)session->last_tokens
                                                                    : 1u);
  if (bytes != all / rows) {
    char shape[128];
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "get_output \"%s\" %s %s: a row is %llu bytes, the buffer holds %zu",
                             name, shape_text(&io->info, shape, sizeof shape),
                             greta_dtype_name(io->info.dtype),
                             (unsigned long long)(all / rows), bytes);
  }
  return download_output(session, io, all - bytes, data, bytes);
}

greta_status_t greta_session_truncate(greta_session_t *session, int64_t pos) {
  if (pos < 0 || pos > session->plan->max_seq)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "truncate: pos = %lld, expected 0 <= pos <= max_seq %lld",
                             (long long)pos, (long long)session->plan->max_seq);
  if (pos < session->cached) session->cached = pos;
  return NULL;
}
