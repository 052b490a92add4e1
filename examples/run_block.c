/* run_block: load a model compiled by gretac, bind weights, prefill a prompt
 * of T tokens, then decode N tokens one at a time, printing each step's time.
 *
 *   run_block block.hsaco [--backend auto|cpu|hip|cuda] [--weights w.safetensors]
 *             [--prompt T] [--decode N] [--seed S] [--check]
 *
 * Without --weights, every weight is filled with seeded random values
 * (normal, std 0.02; norm weights around 1). --check runs the same steps on
 * the CPU backend too and prints the largest relative difference of every
 * step's outputs.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greta/greta.h"

typedef struct args_s {
  const char *model, *weights, *backend;
  int64_t prompt, decode;
  uint64_t seed;
  int check;
} args_t;

static int fail(greta_status_t status, const char *what) {
  fprintf(stderr, "run_block: %s: %s\n", what, greta_status_message(status));
  greta_status_free(status);
  return 1;
}

#define TRY(expr, what)                          \
  do {                                           \
    greta_status_t st_ = (expr);                 \
    if (st_) return fail(st_, what);             \
  } while (0)

/* xorshift64* and Box-Muller: reproducible inputs without libc's rand. */
static uint64_t next_u64(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}
static float next_uniform(uint64_t *s) { return (float)((next_u64(s) >> 40) + 1) / 16777217.0f; }
static float next_normal(uint64_t *s) {
  float u = next_uniform(s), v = next_uniform(s);
  return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int64_t static_elems(const greta_tensor_info_t *t, int64_t tokens) {
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= t->dims[d].coeff * (t->dims[d].symbol ? tokens : 1);
  return n;
}

static void print_tensor(const char *kind, const greta_tensor_info_t *t) {
  printf("  %s %s: %s[", kind, t->name, greta_dtype_name(t->dtype));
  for (int d = 0; d < t->rank; d++) {
    if (d) printf(", ");
    if (t->dims[d].symbol && t->dims[d].coeff == 1) printf("%s", t->dims[d].symbol);
    else if (t->dims[d].symbol) printf("%lld*%s", (long long)t->dims[d].coeff, t->dims[d].symbol);
    else printf("%lld", (long long)t->dims[d].coeff);
  }
  printf("]\n");
}

/* Random weights: norms near 1 (as trained models have), the rest N(0, 0.02). */
static greta_status_t bind_random_weights(greta_session_t *s, const greta_model_t *m,
                                          uint64_t seed) {
  for (int i = 0; i < greta_model_weight_count(m); i++) {
    const greta_tensor_info_t *w = greta_model_weight(m, i);
    int64_t n = static_elems(w, 1);
    float *data = malloc((size_t)n * sizeof(float));
    if (!data) return NULL;
    uint64_t state = seed * 1000003u + (uint64_t)i + 1;
    int is_norm = w->rank == 1;
    for (int64_t k = 0; k < n; k++)
      data[k] = is_norm ? 1.0f + 0.1f * next_normal(&state) : 0.02f * next_normal(&state);
    greta_status_t st = greta_session_bind_weight(s, w->name, GRETA_F32, data, (size_t)n);
    free(data);
    if (st) return st;
  }
  return NULL;
}

/* Vocabulary size for token inputs: the embedding table's first dimension. */
static int64_t vocab_size(const greta_model_t *m) {
  for (int i = 0; i < greta_model_weight_count(m); i++) {
    const greta_tensor_info_t *w = greta_model_weight(m, i);
    if (strstr(w->name, "embed") && w->rank == 2) return w->dims[0].coeff;
  }
  return 2;
}

/* Fills every input for a step of `tokens` tokens. */
static greta_status_t set_random_inputs(greta_session_t *s, const greta_model_t *m,
                                        int64_t tokens, uint64_t *state) {
  for (int i = 0; i < greta_model_input_count(m); i++) {
    const greta_tensor_info_t *in = greta_model_input(m, i);
    int64_t n = static_elems(in, tokens);
    size_t bytes = (size_t)n * greta_dtype_size(in->dtype);
    void *data = malloc(bytes);
    if (!data) return NULL;
    if (in->dtype == GRETA_I32) {
      int64_t vocab = vocab_size(m);
      for (int64_t k = 0; k < n; k++) ((int32_t *)data)[k] = (int32_t)(next_u64(state) % (uint64_t)vocab);
    } else {
      for (int64_t k = 0; k < n; k++) ((float *)data)[k] = next_normal(state);
    }
    greta_status_t st = greta_session_set_input(s, in->name, data, bytes);
    free(data);
    if (st) return st;
  }
  return NULL;
}

typedef struct runner_s {
  greta_device_t *device;
  greta_session_t *session;
} runner_t;

static int runner_open(runner_t *r, greta_model_t *m, greta_backend_kind_t kind, const args_t *a) {
  TRY(greta_device_open(kind, 0, &r->device), "opening the device");
  TRY(greta_session_create(m, r->device, &r->session), "creating the session");
  if (a->weights)
    TRY(greta_session_bind_safetensors(r->session, a->weights), "binding weights");
  else
    TRY(bind_random_weights(r->session, m, a->seed), "binding random weights");
  return 0;
}

static void runner_close(runner_t *r) {
  greta_session_destroy(r->session);
  greta_device_destroy(r->device);
}

/* Largest |a - b| / max(|b|) over one output. */
static double rel_diff(const float *a, const float *b, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t k = 0; k < n; k++) {
    double d = fabs((double)a[k] - b[k]);
    if (d > diff || isnan(d)) diff = isnan(d) ? INFINITY : d;
    if (fabs(b[k]) > scale) scale = fabs(b[k]);
  }
  return scale > 0 ? diff / scale : diff;
}

static int parse_args(int argc, char **argv, args_t *a) {
  *a = (args_t){.backend = "auto", .prompt = 16, .decode = 8, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--check")) a->check = 1;
    else if (!strcmp(argv[i], "--backend") && v) a->backend = argv[++i];
    else if (!strcmp(argv[i], "--weights") && v) a->weights = argv[++i];
    else if (!strcmp(argv[i], "--prompt") && v) a->prompt = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--decode") && v) a->decode = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && v) a->seed = strtoull(argv[++i], NULL, 10);
    else if (argv[i][0] != '-' && !a->model) a->model = argv[i];
    else {
      fprintf(stderr, "run_block: unknown or incomplete argument '%s'\n", argv[i]);
      return 0;
    }
  }
  if (!a->model || a->prompt < 1 || a->decode < 0) {
    fprintf(stderr, "usage: run_block MODEL [--backend auto|cpu|hip|cuda] [--weights FILE]"
                    " [--prompt T>=1] [--decode N] [--seed S] [--check]\n");
    return 0;
  }
  return 1;
}

/* Each output of the step on `run` against `ref` (the CPU): the largest
 * relative difference into *worst. */
static int compare_outputs(runner_t *run, runner_t *ref, greta_model_t *model, int64_t tokens,
                           double *worst) {
  for (int i = 0; i < greta_model_output_count(model); i++) {
    const greta_tensor_info_t *out = greta_model_output(model, i);
    int64_t n = static_elems(out, tokens);
    size_t bytes = (size_t)n * sizeof(float);
    float *x = malloc(bytes ? bytes : 1), *y = malloc(bytes ? bytes : 1);
    if (!x || !y) {
      free(x);
      free(y);
      fprintf(stderr, "run_block: out of memory for output %s\n", out->name);
      return 1;
    }
    greta_status_t st = greta_session_get_output(run->session, out->name, x, bytes);
    if (!st) st = greta_session_get_output(ref->session, out->name, y, bytes);
    if (!st) {
      double d = rel_diff(x, y, n);
      if (d > *worst) *worst = d;
      printf("   %s vs cpu: max rel diff %.2e", out->name, d);
    }
    free(x);
    free(y);
    if (st) return fail(st, "reading the outputs");
  }
  return 0;
}

/* The prefill and the decode steps, each checked against `ref` when given. */
static int run_steps(runner_t *run, runner_t *ref, greta_model_t *model, const args_t *a) {
  double worst = 0;
  uint64_t state = a->seed;
  int64_t pos = 0;
  for (int64_t step = 0; step <= a->decode; step++) {
    int64_t tokens = step == 0 ? a->prompt : 1;
    uint64_t input_state = state;
    TRY(set_random_inputs(run->session, model, tokens, &state), "setting inputs");
    double t0 = now_ms();
    TRY(greta_session_step(run->session, tokens, pos), "running a step");
    double ms = now_ms() - t0;
    printf("%-8s T=%-4lld pos=%-5lld %9.3f ms", step == 0 ? "prefill" : "decode", (long long)tokens,
           (long long)pos, ms);
    if (ref) {
      TRY(set_random_inputs(ref->session, model, tokens, &input_state), "setting CPU inputs");
      TRY(greta_session_step(ref->session, tokens, pos), "running the CPU step");
      if (compare_outputs(run, ref, model, tokens, &worst)) return 1;
    }
    printf("\n");
    pos += tokens;
  }
  if (ref) printf("largest relative difference from the CPU backend: %.3e\n", worst);
  return 0;
}

int main(int argc, char **argv) {
  args_t a;
  if (!parse_args(argc, argv, &a)) return 2;
  greta_backend_kind_t kind = GRETA_BACKEND_AUTO;
  if (!strcmp(a.backend, "cpu")) kind = GRETA_BACKEND_CPU;
  else if (!strcmp(a.backend, "hip")) kind = GRETA_BACKEND_HIP;
  else if (!strcmp(a.backend, "cuda")) kind = GRETA_BACKEND_CUDA;
  else if (strcmp(a.backend, "auto")) {
    fprintf(stderr, "run_block: unknown backend '%s' (auto, cpu, hip or cuda)\n", a.backend);
    return 2;
  }

  greta_model_t *model;
  TRY(greta_model_open(a.model, &model), "opening the model");
  greta_memory_report_t mem;
  greta_model_memory(model, &mem);
  printf("model %s: target %s, compiled by %s\n", a.model, greta_model_target(model),
         greta_model_toolchain(model));
  for (int i = 0; i < greta_model_input_count(model); i++) print_tensor("input", greta_model_input(model, i));
  for (int i = 0; i < greta_model_output_count(model); i++) print_tensor("output", greta_model_output(model, i));
  printf("  %d weights, %.1f MiB; KV cache %.1f MiB for max_seq %lld; arena %.1f MiB for max_tokens %lld\n",
         greta_model_weight_count(model), mem.weight_bytes / 1048576.0, mem.kv_cache_bytes / 1048576.0,
         (long long)mem.max_seq, mem.arena_bytes / 1048576.0, (long long)mem.max_tokens);
  if (a.prompt + a.decode > mem.max_seq && mem.max_seq > 0) {
    fprintf(stderr, "run_block: prompt %lld + decode %lld tokens exceed max_seq %lld\n",
            (long long)a.prompt, (long long)a.decode, (long long)mem.max_seq);
    return 2;
  }

  runner_t run = {0}, ref = {0};
  int rc = runner_open(&run, model, kind, &a);
  int check = 0;
  if (rc == 0) {
    printf("device: %s (%s, %s)\n", greta_device_name(run.device),
           greta_device_backend_name(run.device), greta_device_target(run.device));
    check = a.check && strcmp(greta_device_backend_name(run.device), "cpu") != 0;
    if (a.check && !check) printf("--check: the device is the CPU already; nothing to compare\n");
    if (check) rc = runner_open(&ref, model, GRETA_BACKEND_CPU, &a);
  }
  if (rc == 0) rc = run_steps(&run, check ? &ref : NULL, model, &a);
  /* Every path, error or not, releases what it opened. */
  runner_close(&run);
  runner_close(&ref);
  greta_model_destroy(model);
  return rc;
}
