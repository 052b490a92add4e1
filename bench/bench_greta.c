/* bench_greta: time one step shape of a model compiled by gretac.
 *
 *   bench_greta MODEL --tokens T [--pos P] [--repeats N] [--name NAME]
 *               [--warm-s S] [--profile [--in-step]]
 *
 * Binds seeded random weights (norms near 1, the rest uniform with std
 * 0.02; drawn once into a pool that every weight binds a slice of, so the
 * 7B model's 13.5 GB bind in seconds: see bind_weights), fills the KV
 * cache up to P tokens with random prefill steps of at most max_tokens
 * each, sets random inputs for T tokens, and times the step
 * (T tokens at pos P) with greta_session_time_step: a first call of 20
 * repeats to warm the GPU's clocks (and with --warm-s, more such calls
 * until S seconds have passed: a long step holds the GPU at its power
 * limit, where the clock settles lower, and a peer timed in the same state
 * must be warmed as long: docs/gemm.md, "Under the power limit"), then N
 * repeats, whose median is reported. Prints one JSON line:
 *
 *   {"name": ..., "model": ..., "device": ..., "tokens": T, "pos": P,
 *    "repeats": N, "median_ms": ..., "warmup_median_ms": ...}
 *
 * With --profile, each launch of the step is also timed alone
 * (greta_session_profile_step) and printed as one more JSON line per launch:
 *
 *   {"name": ..., "launch": i, "op": ..., "kernel": ..., "median_ms": ...,
 *    "bytes": ..., "flops": ...}
 *
 * With --in-step as well, each line also carries "in_step_ms": what the
 * launch costs the step (greta_session_profile_in_step: the step's median
 * minus the median of the step without it; launches overlap in a step).
 *
 * The step replays over the same buffers: inputs, activations and any
 * weights that fit in L2 stay there between repeats (the Llama block's
 * weights, 405 MB in f16, do not fit in the H100's 50 MB L2).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greta/greta.h"

static int fail(greta_status_t status, const char *what) {
  fprintf(stderr, "bench_greta: %s: %s\n", what, greta_status_message(status));
  greta_status_free(status);
  return 1;
}

#define TRY(expr, what)                \
  do {                                 \
    greta_status_t st_ = (expr);       \
    if (st_) return fail(st_, what);   \
  } while (0)

static uint64_t next_u64(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* Uniform in [-1, 1): std 1/sqrt(3). */
static float next_pm1(uint64_t *s) { return (float)((next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0); }

static int64_t elems(const greta_tensor_info_t *t, int64_t tokens) {
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= t->dims[d].coeff * (t->dims[d].symbol ? tokens : 1);
  return n;
}

/* Host memory runs out only on a misconfigured machine; a benchmark with a
 * weight or input silently left unset would be worse than stopping. */
static void *xmalloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) {
    fprintf(stderr, "bench_greta: out of host memory (%zu bytes)\n", bytes);
    exit(1);
  }
  return p;
}

/* f32 to IEEE half, rounded to nearest even (subnormals too). */
static uint16_t f16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a >= 0x47800000u) return (uint16_t)(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a < 0x38800000u) { /* below half's smallest normal: a multiple of 2^-24 */
    float m;
    memcpy(&m, &a, sizeof m);
    return (uint16_t)(sign | (uint32_t)lrintf(m * 16777216.0f));
  }
  return (uint16_t)(sign | ((a + 0x0fffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
}

/* f32 to bfloat16, rounded to nearest even (the values here are finite). */
static uint16_t bf16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Random weights, drawn once into two pools in each storage dtype the model
 * uses: matrices uniform with std 0.02, vectors (the norms) 1 + 0.1 * uniform.
 * Weight i binds the slice of its pool that starts at an offset of its own
 * (below POOL_SLACK elements), already in its storage dtype, so binding is one
 * upload per weight: drawing and converting 6.7 G values one by one for the
 * 7B model (13.5 GB of f16) would take longer on the host than the whole
 * row's GPU work. The values only have to be random and of the scale a real
 * model has, not distinct between layers. */
#define POOL_SLACK ((int64_t)1 << 16)

typedef struct pool_s {
  void *data[2][GRETA_I32 + 1]; /* [vector?][storage dtype]; NULL until needed */
  int64_t count[2];             /* elements in each pool */
} pool_t;

static void *pool_get(pool_t *p, int vector, greta_dtype_t dtype) {
  if (p->data[vector][dtype]) return p->data[vector][dtype];
  int64_t n = p->count[vector];
  void *out = xmalloc((size_t)n * greta_dtype_size(dtype));
  uint64_t state = vector ? 0xD1B54A32D192ED03ull : 0x9E3779B97F4A7C15ull;
  const float spread = 0.02f * 1.7320508f; /* uniform with std 0.02 */
  for (int64_t k = 0; k < n; k++) {
    float v = vector ? 1.0f + 0.1f * next_pm1(&state) : spread * next_pm1(&state);
    if (dtype == GRETA_F32) ((float *)out)[k] = v;
    else if (dtype == GRETA_F16) ((uint16_t *)out)[k] = f16_bits(v);
    else ((uint16_t *)out)[k] = bf16_bits(v);
  }
  p->data[vector][dtype] = out;
  return out;
}

static greta_status_t bind_weights(greta_session_t *s, const greta_model_t *m) {
  pool_t pool = {0};
  for (int i = 0; i < greta_model_weight_count(m); i++) {
    const greta_tensor_info_t *w = greta_model_weight(m, i);
    int64_t n = elems(w, 1);
    if (n > pool.count[w->rank == 1]) pool.count[w->rank == 1] = n;
  }
  pool.count[0] += POOL_SLACK;
  pool.count[1] += POOL_SLACK;
  greta_status_t st = NULL;
  for (int i = 0; i < greta_model_weight_count(m) && !st; i++) {
    const greta_tensor_info_t *w = greta_model_weight(m, i);
    int vector = w->rank == 1;
    /* f32, f16 and bf16 are stored as they are; anything else binds from f32. */
    greta_dtype_t dtype = w->dtype == GRETA_F16 || w->dtype == GRETA_BF16 ? w->dtype : GRETA_F32;
    const char *base = pool_get(&pool, vector, dtype);
    int64_t offset = ((int64_t)i * 7919) % POOL_SLACK;
    const char *slice = base + (size_t)offset * greta_dtype_size(dtype);
    st = greta_session_bind_weight(s, w->name, dtype, slice, (size_t)elems(w, 1));
  }
  for (int v = 0; v < 2; v++)
    for (int d = 0; d <= GRETA_I32; d++) free(pool.data[v][d]);
  return st;
}

static greta_status_t set_inputs(greta_session_t *s, const greta_model_t *m, int64_t tokens,
                                 uint64_t *state) {
  for (int i = 0; i < greta_model_input_count(m); i++) {
    const greta_tensor_info_t *in = greta_model_input(m, i);
    int64_t n = elems(in, tokens);
    size_t bytes = (size_t)n * greta_dtype_size(in->dtype);
    void *data = xmalloc(bytes);
    for (int64_t k = 0; k < n; k++) {
      if (in->dtype == GRETA_I32) ((int32_t *)data)[k] = (int32_t)(next_u64(state) % 2u);
      else ((float *)data)[k] = next_pm1(state);
    }
    greta_status_t st = greta_session_set_input(s, in->name, data, bytes);
    free(data);
    if (st) return st;
  }
  return NULL;
}

#define USAGE                                                                            \
  "usage: bench_greta MODEL --tokens T [--pos P] [--repeats N] [--name NAME] [--warm-s S] " \
  "[--profile [--in-step]]\n"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *path = NULL, *name = NULL;
  int64_t tokens = 1, pos = 0;
  int repeats = 200, profile = 0, in_step = 0;
  double warm_s = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--tokens") && v) tokens = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--pos") && v) pos = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--repeats") && v) repeats = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--name") && v) name = argv[++i];
    else if (!strcmp(argv[i], "--warm-s") && v) warm_s = atof(argv[++i]);
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else if (!strcmp(argv[i], "--in-step")) in_step = 1;
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      fprintf(stderr, "%s", USAGE);
      return 2;
    }
  }
  if (!path || tokens < 1 || pos < 0 || repeats < 1 || warm_s < 0 || (in_step && !profile)) {
    fprintf(stderr, "%s", USAGE);
    return 2;
  }
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *session;
  TRY(greta_model_open(path, &model), "opening the model");
  TRY(greta_device_open(GRETA_BACKEND_AUTO, 0, &device), "opening the device");
  TRY(greta_session_create(model, device, &session), "creating the session");
  TRY(bind_weights(session, model), "binding weights");
  greta_memory_report_t mem;
  greta_model_memory(model, &mem);

  uint64_t state = 12345;
  for (int64_t filled = 0; filled < pos;) { /* the context: prefill in chunks */
    int64_t chunk = pos - filled < mem.max_tokens ? pos - filled : mem.max_tokens;
    TRY(set_inputs(session, model, chunk, &state), "setting context inputs");
    TRY(greta_session_step(session, chunk, filled), "filling the KV cache");
    filled += chunk;
  }
  double warm = 0, median = 0;
  TRY(set_inputs(session, model, tokens, &state), "setting inputs");
  const double warm_start = now_s();
  TRY(greta_session_time_step(session, tokens, pos, 20, &warm), "warming up");
  while (now_s() - warm_start < warm_s) { /* each call consumes the inputs */
    TRY(set_inputs(session, model, tokens, &state), "setting inputs");
    TRY(greta_session_time_step(session, tokens, pos, 20, &warm), "warming up");
  }
  TRY(set_inputs(session, model, tokens, &state), "setting inputs");
  TRY(greta_session_time_step(session, tokens, pos, repeats, &median), "timing");

  /* The last step's outputs must be finite: a benchmark of garbage is none. */
  for (int i = 0; i < greta_model_output_count(model); i++) {
    const greta_tensor_info_t *out = greta_model_output(model, i);
    int64_t n = elems(out, tokens);
    float *y = xmalloc((size_t)n * sizeof *y);
    TRY(greta_session_get_output(session, out->name, y, (size_t)n * sizeof *y), "reading output");
    for (int64_t k = 0; k < n; k++)
      if (!isfinite(y[k])) {
        fprintf(stderr, "bench_greta: output %s[%lld] = %g is not finite\n", out->name,
                (long long)k, y[k]);
        return 1;
      }
    free(y);
  }
  printf("{\"name\": \"%s\", \"model\": \"%s\", \"device\": \"%s\", \"backend\": \"%s\", "
         "\"tokens\": %lld, \"pos\": %lld, \"repeats\": %d, \"median_ms\": %.6f, "
         "\"warmup_median_ms\": %.6f, \"weight_bytes\": %llu, \"kv_cache_bytes\": %llu}\n",
         name ? name : path, path, greta_device_name(device), greta_device_backend_name(device),
         (long long)tokens, (long long)pos, repeats, median, warm,
         (unsigned long long)mem.weight_bytes, (unsigned long long)mem.kv_cache_bytes);
  if (profile) {
    /* The whole 7B model's decode is 515 launches with today's compiler. */
    enum { MAX_LAUNCHES = 4096 };
    static greta_launch_profile_t launches[MAX_LAUNCHES];
    size_t count = 0;
    TRY(set_inputs(session, model, tokens, &state), "setting inputs");
    TRY(greta_session_profile_step(session, tokens, pos, repeats < 50 ? repeats : 50, launches,
                                   MAX_LAUNCHES, &count),
        "profiling");
    static double in_step_ms[MAX_LAUNCHES];
    if (in_step) {
      size_t n = 0;
      TRY(set_inputs(session, model, tokens, &state), "setting inputs");
      TRY(greta_session_profile_in_step(session, tokens, pos, repeats < 50 ? repeats : 50,
                                        in_step_ms, MAX_LAUNCHES, &n),
          "timing each launch in the step");
    }
    for (size_t i = 0; i < count && i < MAX_LAUNCHES; i++) {
      printf("{\"name\": \"%s\", \"launch\": %zu, \"op\": \"%s\", \"kernel\": \"%s\", "
             "\"median_ms\": %.6f, \"bytes\": %llu, \"flops\": %llu",
             name ? name : path, i, launches[i].op, launches[i].kernel, launches[i].median_ms,
             (unsigned long long)launches[i].bytes, (unsigned long long)launches[i].flops);
      if (in_step) printf(", \"in_step_ms\": %.6f", in_step_ms[i]);
      printf("}\n");
    }
  }
  greta_session_destroy(session);
  greta_device_destroy(device);
  greta_model_destroy(model);
  return 0;
}
