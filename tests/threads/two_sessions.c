/* The threading contract of greta.h, as a plain program so that it runs
 * under ThreadSanitizer too (Criterion's runner does not survive TSan):
 * one model and one CPU device shared by two sessions stepping on two
 * threads at once give, bit for bit, what one session gives alone.
 *
 *   two_sessions MODEL.gplan     exit 0: equal and no error; 1 otherwise
 *
 * Weights and inputs are a fixed function of their index, so every session
 * sees the same ones. Registered with CTest (tests/CMakeLists.txt) on
 * examples/tiny_block.gm; scripts/test.sh runs it again under TSan. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"

enum { PREFILL = 4, DECODES = 4, MAX_FLOATS = 1 << 20 };

static greta_model_t *model;
static greta_device_t *device;

typedef struct run_s {
  float out[MAX_FLOATS]; /* every step's outputs, concatenated */
  size_t n;
  int failed;
} run_t;

static float value_at(size_t i) { return (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f; }

static size_t elems(const greta_tensor_info_t *t, int64_t tokens) {
  size_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= (size_t)(t->dims[d].coeff * (t->dims[d].symbol ? tokens : 1));
  return n;
}

static int failed(greta_status_t st, const char *what) {
  if (!st) return 0;
  fprintf(stderr, "two_sessions: %s: %s\n", what, greta_status_message(st));
  greta_status_free(st);
  return 1;
}

static void *run_session(void *arg) {
  run_t *r = arg;
  greta_session_t *s = NULL;
  if (failed(greta_session_create(model, device, &s), "session")) {
    r->failed = 1;
    return NULL;
  }
  for (int w = 0; w < greta_model_weight_count(model) && !r->failed; w++) {
    const greta_tensor_info_t *info = greta_model_weight(model, w);
    size_t n = elems(info, 1);
    float *data = malloc(n * sizeof *data);
    for (size_t i = 0; data && i < n; i++) data[i] = 0.1f * value_at(i + 7 * (size_t)w);
    r->failed = !data || failed(greta_session_bind_weight(s, info->name, GRETA_F32, data, n), "bind");
    free(data);
  }
  int64_t pos = 0;
  for (int step = 0; step <= DECODES && !r->failed; step++) {
    int64_t tokens = step == 0 ? PREFILL : 1;
    for (int i = 0; i < greta_model_input_count(model) && !r->failed; i++) {
      const greta_tensor_info_t *in = greta_model_input(model, i);
      size_t n = elems(in, tokens);
      float *x = malloc(n * sizeof *x);
      for (size_t k = 0; x && k < n; k++) x[k] = value_at(k + (size_t)pos * 131);
      r->failed = !x || failed(greta_session_set_input(s, in->name, x, n * sizeof *x), "input");
      free(x);
    }
    if (!r->failed) r->failed = failed(greta_session_step(s, tokens, pos), "step");
    for (int o = 0; o < greta_model_output_count(model) && !r->failed; o++) {
      const greta_tensor_info_t *out = greta_model_output(model, o);
      size_t n = elems(out, tokens);
      if (r->n + n > MAX_FLOATS) {
        r->failed = 1;
        break;
      }
      r->failed = failed(greta_session_get_output(s, out->name, r->out + r->n, n * sizeof(float)),
                         "output");
      r->n += n;
    }
    pos += tokens;
  }
  greta_session_destroy(s);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: two_sessions MODEL.gplan\n");
    return 2;
  }
  if (failed(greta_model_open(argv[1], &model), "model") ||
      failed(greta_device_open(GRETA_BACKEND_CPU, 0, &device), "device"))
    return 1;
  static run_t alone, a, b;
  run_session(&alone);
  pthread_t ta, tb;
  if (pthread_create(&ta, NULL, run_session, &a) || pthread_create(&tb, NULL, run_session, &b)) return 1;
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  int ok = !alone.failed && !a.failed && !b.failed && alone.n > 0 && a.n == alone.n &&
           b.n == alone.n && !memcmp(a.out, alone.out, alone.n * sizeof(float)) &&
           !memcmp(b.out, alone.out, alone.n * sizeof(float));
  printf("two_sessions: %zu output values per session, threads %s one session alone\n", alone.n,
         ok ? "equal" : "DIFFER from");
  greta_device_destroy(device);
  greta_model_destroy(model);
  return ok ? 0 : 1;
}
