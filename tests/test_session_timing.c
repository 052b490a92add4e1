/* greta_session_time_step, greta_session_profile_step and
 * greta_session_profile_in_step: they run, report positive times (the
 * in-step costs finite ones), refuse what greta_session_step refuses, and
 * leave the session exactly as one plain step would (outputs, KV cache,
 * inputs to be set again), profile_in_step although it runs steps with a
 * launch left out. profile_step's records name every launch with its floors.
 * Checked on the CPU backend always and on a GPU when one and its toolchain
 * are present. No test here looks at how long anything took beyond "more
 * than zero". */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

enum { DIM = 64, PROMPT = 5, REPEATS = 7 };

/* examples/tiny_block.gm compiled for `target_name`; NULL when no toolchain
 * for it is present (the reason printed). */
static greta_model_t *compile_tiny(const char *target_name) {
  char *log = NULL;
  greta_model_t *model = support_compile_file("tiny_block.gm", NULL, target_name, 16, &log);
  if (!model) fprintf(stderr, "test_session_timing: skip %s: %s\n", target_name, log ? log : "?");
  free(log);
  return model;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float uniform_pm1(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static greta_session_t *open_session(greta_model_t *model, greta_device_t *device) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  rng = 0x2545F4914F6CDD1Dull; /* the same weights in every session */
  for (int i = 0; i < greta_model_weight_count(model); i++) {
    const greta_tensor_info_t *w = greta_model_weight(model, i);
    size_t n = 1;
    for (int d = 0; d < w->rank; d++) n *= (size_t)w->dims[d].coeff;
    float *data = malloc(n * sizeof *data);
    for (size_t k = 0; k < n; k++) data[k] = w->rank == 1 ? 1.0f + 0.1f * uniform_pm1() : 0.2f * uniform_pm1();
    st = greta_session_bind_weight(s, w->name, GRETA_F32, data, n);
    free(data);
    cr_assert_null(st, "bind %s: %s", w->name, greta_status_message(st));
  }
  return s;
}

static void set_x(greta_session_t *s, const float *x, int tokens) {
  greta_status_t st = greta_session_set_input(s, "x", x, (size_t)tokens * DIM * sizeof(float));
  cr_assert_null(st, "%s", greta_status_message(st));
}

static void get_y(greta_session_t *s, float *y, int tokens) {
  for (int i = 0; i < tokens * DIM; i++) y[i] = NAN; /* poison */
  greta_status_t st = greta_session_get_output(s, "y", y, (size_t)tokens * DIM * sizeof(float));
  cr_assert_null(st, "%s", greta_status_message(st));
}

/* tiny_block.gm's matmuls: (N, K) of q, k, v, o, gate, up, down. */
static const int64_t matmul_nk[7][2] = {{64, 64}, {32, 64}, {32, 64}, {64, 64},
                                        {160, 64}, {160, 64}, {64, 160}};

/* profile_step's records for one step of `tokens` tokens. Decode (T = 1)
 * runs the fused projections: their cost adds the in-kernel norm (2 flops
 * per x element, q/k/v and gate/up), RoPE (3 per rotated element of q and
 * k) and silu * up (5 per output); prefill runs rms_scale, plain GEMMs,
 * qkv_rope_append and glu instead, so its matmuls carry exactly the GEMM flops. */
static void check_profile(const greta_launch_profile_t *p, size_t n, int tokens) {
  cr_assert(n >= 5 && n <= 64, "%zu launches", n);
  uint64_t matmul_flops = 0, want = 0, T = (uint64_t)tokens;
  for (int i = 0; i < 7; i++) want += 2 * T * (uint64_t)(matmul_nk[i][0] * matmul_nk[i][1]);
  want += 2 * T * 64; /* the two residual adds fused into o and down */
  if (tokens == 1) want += 2 * (2 * T * 64) + 3 * T * (4 + 2) * 16 + 5 * T * 160;
  for (size_t i = 0; i < n; i++) {
    cr_assert(p[i].op && *p[i].op && p[i].kernel && *p[i].kernel, "record %zu is unnamed", i);
    cr_assert(p[i].median_ms > 0 && isfinite(p[i].median_ms), "%s: %g ms", p[i].op, p[i].median_ms);
    cr_assert_gt(p[i].bytes, 0, "%s moves no bytes", p[i].op);
    if (!strncmp(p[i].op, "matmul", 6)) matmul_flops += p[i].flops;
  }
  cr_assert_eq(matmul_flops, want, "matmul FLOPs %llu, expected %llu", (unsigned long long)matmul_flops,
               (unsigned long long)want);
}

enum { TIME_STEP, PROFILE_STEP, PROFILE_IN_STEP };
static const char *const timing_names[] = {"time_step", "profile_step", "profile_in_step"};

/* Prefill PROMPT tokens, then decode one: plainly in one session, through
 * `timing` (TIME_STEP, PROFILE_STEP or PROFILE_IN_STEP) in the other. Both
 * must give the same bits at every step. */
static void check_same_as_plain(greta_model_t *model, greta_device_t *device, int timing) {
  static float x[(PROMPT + 1) * DIM], plain[(PROMPT + 1) * DIM], timed[(PROMPT + 1) * DIM];
  rng = 77;
  for (int i = 0; i < (PROMPT + 1) * DIM; i++) x[i] = uniform_pm1();
  greta_session_t *a = open_session(model, device), *b = open_session(model, device);
  const int steps[2][2] = {{PROMPT, 0}, {1, PROMPT}}; /* {tokens, pos} */
  for (int k = 0; k < 2; k++) {
    int tokens = steps[k][0], pos = steps[k][1];
    set_x(a, x + pos * DIM, tokens);
    greta_status_t st = greta_session_step(a, tokens, pos);
    cr_assert_null(st, "%s", greta_status_message(st));
    get_y(a, plain + pos * DIM, tokens);

    set_x(b, x + pos * DIM, tokens);
    if (timing == PROFILE_STEP) {
      greta_launch_profile_t records[64];
      size_t n = 0;
      st = greta_session_profile_step(b, tokens, pos, 3, records, 64, &n);
      cr_assert_null(st, "profile_step T=%d pos=%d: %s", tokens, pos, greta_status_message(st));
      check_profile(records, n, tokens);
    } else if (timing == PROFILE_IN_STEP) {
      double costs[64];
      size_t n = 0;
      for (int i = 0; i < 64; i++) costs[i] = NAN;
      st = greta_session_profile_in_step(b, tokens, pos, 3, costs, 64, &n);
      cr_assert_null(st, "profile_in_step T=%d pos=%d: %s", tokens, pos, greta_status_message(st));
      cr_assert(n >= 5 && n <= 64, "%zu launches", n);
      for (size_t i = 0; i < n; i++) cr_assert(isfinite(costs[i]), "launch %zu: %g ms", i, costs[i]);
    } else {
      double median = -1;
      st = greta_session_time_step(b, tokens, pos, REPEATS, &median);
      cr_assert_null(st, "time_step T=%d pos=%d: %s", tokens, pos, greta_status_message(st));
      cr_assert(median > 0 && isfinite(median), "median %g ms must be positive", median);
    }
    get_y(b, timed + pos * DIM, tokens);
    for (int i = 0; i < tokens * DIM; i++)
      cr_assert(!isnan(timed[pos * DIM + i]), "output %d of step %d unwritten", i, k);
    cr_assert(memcmp(plain + pos * DIM, timed + pos * DIM, (size_t)tokens * DIM * sizeof(float)) == 0,
              "%s: %s's outputs differ from a plain step's (T=%d, pos=%d)",
              greta_device_backend_name(device), timing_names[timing], tokens, pos);
    /* Inputs are consumed as by a plain step. */
    st = greta_session_step(b, tokens, pos);
    cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION, "%s", greta_status_message(st));
    greta_status_free(st);
  }
  greta_session_destroy(a);
  greta_session_destroy(b);
}

Test(session_timing, cpu_outputs_match_a_plain_step) {
  greta_model_t *model = compile_tiny("cpu");
  cr_assert(model);
  greta_device_t *device;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "%s", greta_status_message(st));
  check_same_as_plain(model, device, TIME_STEP);
  check_same_as_plain(model, device, PROFILE_STEP);
  check_same_as_plain(model, device, PROFILE_IN_STEP);
  greta_device_destroy(device);
  greta_model_destroy(model);
}

Test(session_timing, refusals) {
  greta_model_t *model = compile_tiny("cpu");
  cr_assert(model);
  greta_device_t *device;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "%s", greta_status_message(st));
  greta_session_t *s = open_session(model, device);
  static float x[DIM];
  double median = 123;
  set_x(s, x, 1);
  st = greta_session_time_step(s, 1, 0, 0, &median);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "repeats 0: %s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_time_step(s, 1, 0, 3, NULL);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "no median: %s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_time_step(s, 1, 3, 3, &median); /* a gap in the cache */
  cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION, "%s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_time_step(s, 2, 0, 3, &median); /* x holds one row */
  cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION, "%s", greta_status_message(st));
  greta_status_free(st);
  cr_assert_eq(median, 123, "a refused call must not write the median");
  size_t count = 99;
  st = greta_session_profile_step(s, 1, 0, 0, NULL, 0, &count);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "repeats 0: %s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_profile_step(s, 1, 3, 2, NULL, 0, &count); /* a gap in the cache */
  cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION, "%s", greta_status_message(st));
  greta_status_free(st);
  double cost = 123;
  st = greta_session_profile_in_step(s, 1, 0, 0, &cost, 1, &count);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "repeats 0: %s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_profile_in_step(s, 1, 0, 2, NULL, 1, &count); /* no place for the costs */
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "%s", greta_status_message(st));
  greta_status_free(st);
  st = greta_session_profile_in_step(s, 1, 3, 2, &cost, 1, &count); /* a gap in the cache */
  cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION, "%s", greta_status_message(st));
  greta_status_free(st);
  cr_assert_eq(count, 99, "a refused call must not write the count");
  cr_assert_eq(cost, 123, "a refused call must not write a cost");
  greta_session_destroy(s);
  greta_device_destroy(device);
  greta_model_destroy(model);
}

Test(session_timing, gpu_outputs_match_a_plain_step) {
  greta_device_t *device;
  greta_status_t st = greta_device_open(GRETA_BACKEND_AUTO, 0, &device);
  cr_assert_null(st, "%s", greta_status_message(st));
  if (!strcmp(greta_device_backend_name(device), "cpu")) {
    greta_device_destroy(device);
    cr_skip_test("no GPU present");
  }
  greta_model_t *model = compile_tiny(greta_device_target(device));
  if (!model) {
    greta_device_destroy(device);
    cr_skip_test("a GPU is present but no toolchain for it (see stderr)");
  }
  check_same_as_plain(model, device, TIME_STEP);
  check_same_as_plain(model, device, PROFILE_STEP);
  check_same_as_plain(model, device, PROFILE_IN_STEP);
  greta_model_destroy(model);
  greta_device_destroy(device);
}
