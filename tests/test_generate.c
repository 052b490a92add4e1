/* greta_generate (runtime/src/generate.c) on examples/tiny_llama.gm compiled
 * for the CPU, with transformers' weights from the fixture
 * tests/fixtures/hf_tiny_llama_f32.safetensors.
 *
 * The reference is a loop written here from greta_session_step and an
 * argmax (the lowest id on a tie): greedy generation must give its tokens,
 * whether the prompt runs as one prefill, in chunks of max_tokens, or one
 * token a step. Then each stop reason, continuing a generation at
 * stats.pos, and the inputs generate must refuse. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

#define WEIGHTS GRETA_SOURCE_DIR "/tests/fixtures/hf_tiny_llama_f32.safetensors"
enum { VOCAB = 97, MAX_SEQ = 64, MAX_GEN = 64 };

static const int32_t PROMPT[] = {1, 15, 42, 7, 88, 3, 61};
#define N_PROMPT ((int64_t)(sizeof PROMPT / sizeof PROMPT[0]))

typedef struct rig_s {
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *session;
} rig_t;

/* tiny_llama.gm for the CPU with prefill steps of up to `max_tokens`, its
 * weights bound. */
static void rig_open(rig_t *r, int64_t max_tokens) {
  char *log = NULL;
  r->model = support_compile_file("tiny_llama.gm", NULL, "cpu", max_tokens, &log);
  cr_assert(r->model, "compiling tiny_llama.gm: %s", log ? log : "");
  free(log);
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &r->device);
  cr_assert_null(st, "%s", greta_status_message(st));
  st = greta_session_create(r->model, r->device, &r->session);
  cr_assert_null(st, "%s", greta_status_message(st));
  st = greta_session_bind_safetensors(r->session, WEIGHTS);
  cr_assert_null(st, "%s", greta_status_message(st));
}

static void rig_close(rig_t *r) {
  greta_session_destroy(r->session);
  greta_device_destroy(r->device);
  greta_model_destroy(r->model);
}

static int32_t argmax(const float *row) {
  int32_t best = 0;
  for (int32_t i = 1; i < VOCAB; i++)
    if (row[i] > row[best])
      best = i;
  return best;
}

/* The reference: the prompt in steps of `prefill_step` tokens from position
 * 0, then `n` greedy tokens, each the argmax of the last logits row and the
 * next step's input. */
static void reference(greta_session_t *s, const int32_t *prompt, int64_t count,
                      int64_t prefill_step, int n, int32_t *out) {
  float logits[MAX_SEQ * VOCAB];
  int64_t pos = 0, t = 0;
  for (; pos < count; pos += t) {
    t = count - pos < prefill_step ? count - pos : prefill_step;
    greta_status_t st = greta_session_set_input(s, "tokens", prompt + pos, (size_t)t * 4);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, t, pos);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_get_output(s, "logits", logits, (size_t)t * VOCAB * sizeof(float));
    cr_assert_null(st, "%s", greta_status_message(st));
  }
  const float *last = logits + (t - 1) * VOCAB;
  for (int i = 0; i < n; i++) {
    out[i] = argmax(last);
    if (i + 1 == n)
      break;
    greta_status_t st = greta_session_set_input(s, "tokens", &out[i], 4);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, 1, pos++);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_get_output(s, "logits", logits, VOCAB * sizeof(float));
    cr_assert_null(st, "%s", greta_status_message(st));
    last = logits;
  }
}

/* What the callback saw. */
typedef struct seen_s {
  int32_t tokens[MAX_GEN + 1];
  int n;
  int stop_at; /* return nonzero on this many tokens (0: never) */
} seen_t;

static int on_token(void *user, int32_t token) {
  seen_t *seen = user;
  cr_assert_lt(seen->n, MAX_GEN + 1);
  seen->tokens[seen->n++] = token;
  return seen->stop_at && seen->n == seen->stop_at;
}

static greta_generate_params_t greedy(int64_t max_new) {
  return (greta_generate_params_t){.sampler = greta_sampler_params_default(),
                                   .max_new_tokens = max_new};
}

static greta_generate_stats_t run(greta_session_t *s, const int32_t *prompt, int64_t count,
                                  int64_t pos, const greta_generate_params_t *p, seen_t *seen) {
  greta_generate_stats_t stats;
  memset(&stats, 0xff, sizeof stats);
  greta_status_t st = greta_generate(s, prompt, (size_t)count, pos, p, on_token, seen, &stats);
  cr_assert_null(st, "generate: %s", greta_status_message(st));
  cr_assert_eq(stats.generated_tokens, seen->n, "stats count the tokens the callback saw");
  cr_assert_eq(stats.prompt_tokens, count);
  cr_assert(stats.prompt_ms >= 0 && stats.generate_ms >= 0);
  return stats;
}

static void expect_same(const int32_t *got, const int32_t *want, int n, const char *what) {
  for (int i = 0; i < n; i++)
    cr_assert_eq(got[i], want[i], "%s: token %d is %d, the reference gives %d", what, i, got[i],
                 want[i]);
}

Test(generate, greedy_equals_step_and_argmax_loop) {
  rig_t r;
  rig_open(&r, 16); /* the prompt is one prefill step */
  enum { N = 24 };
  int32_t want[N];
  reference(r.session, PROMPT, N_PROMPT, N_PROMPT, N, want);
  seen_t seen = {0};
  greta_generate_params_t p = greedy(N);
  greta_generate_stats_t stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(seen.n, N);
  cr_assert_eq(stats.stop, GRETA_STOP_LENGTH);
  cr_assert_eq(stats.pos, N_PROMPT + N - 1, "the last token is sampled, not run: pos %lld",
               (long long)stats.pos);
  expect_same(seen.tokens, want, N, "greedy");
  /* The tokens are not all one id: the comparison means something. */
  int distinct = 0;
  for (int i = 1; i < N; i++)
    distinct += seen.tokens[i] != seen.tokens[0];
  cr_assert_gt(distinct, 0);
  rig_close(&r);
}

Test(generate, chunked_prefill_equals_token_by_token_prefill) {
  rig_t r;
  rig_open(&r, 3); /* 7 prompt ids: prefill steps of 3, 3 and 1 */
  enum { N = 16 };
  int32_t want[N];
  reference(r.session, PROMPT, N_PROMPT, 1, N, want);
  seen_t seen = {0};
  greta_generate_params_t p = greedy(N);
  run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  expect_same(seen.tokens, want, N, "chunked prefill");
  /* A longer prompt, several full chunks: 40 ids in steps of 3. */
  int32_t long_prompt[40];
  for (int i = 0; i < 40; i++)
    long_prompt[i] = (i * 37 + 11) % VOCAB;
  reference(r.session, long_prompt, 40, 1, N, want);
  seen = (seen_t){0};
  run(r.session, long_prompt, 40, 0, &p, &seen);
  expect_same(seen.tokens, want, N, "40 ids in chunks of 3");
  rig_close(&r);
}

Test(generate, stops_at_eos) {
  rig_t r;
  rig_open(&r, 16);
  seen_t all = {0};
  greta_generate_params_t p = greedy(20);
  run(r.session, PROMPT, N_PROMPT, 0, &p, &all);
  /* The first token from index 2 on that did not come before: EOS there. */
  int k = 2;
  for (;; k++) {
    cr_assert_lt(k, 20, "the greedy tokens repeat too early to pick an EOS");
    int fresh = 1;
    for (int i = 0; i < k; i++)
      fresh &= all.tokens[i] != all.tokens[k];
    if (fresh)
      break;
  }
  /* Two stop ids: that token, and one that never came out before it. */
  int32_t eos[2] = {all.tokens[k], 0};
  for (int used = 1; used;) {
    used = 0;
    for (int i = 0; i <= k; i++)
      used |= all.tokens[i] == eos[1];
    if (used)
      eos[1]++;
  }
  p.eos = eos;
  p.n_eos = 2;
  seen_t seen = {0};
  greta_generate_stats_t stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_EOS);
  cr_assert_eq(seen.n, k + 1, "the EOS token is passed and counted");
  cr_assert_eq(seen.tokens[k], eos[0]);
  cr_assert_eq(stats.pos, N_PROMPT + k);
  rig_close(&r);
}

Test(generate, stops_at_length_cache_full_and_callback) {
  rig_t r;
  rig_open(&r, 16);
  seen_t seen = {0};
  greta_generate_params_t p = greedy(6);
  greta_generate_stats_t stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_LENGTH);
  cr_assert_eq(seen.n, 6);

  /* max_new_tokens 0: until the cache is full. The last token needs no
   * room: it is sampled from the logits of position max_seq - 1. */
  seen = (seen_t){0};
  p = greedy(0);
  stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_CACHE_FULL);
  cr_assert_eq(seen.n, MAX_SEQ - N_PROMPT + 1);
  cr_assert_eq(stats.pos, MAX_SEQ);
  /* A limit beyond the cache stops at the cache too. */
  seen = (seen_t){0};
  p = greedy(1000);
  stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_CACHE_FULL);
  cr_assert_eq(seen.n, MAX_SEQ - N_PROMPT + 1);
  /* A prompt that fills the cache exactly still gives one token. */
  int32_t full[MAX_SEQ];
  for (int i = 0; i < MAX_SEQ; i++)
    full[i] = (i * 5 + 1) % VOCAB;
  seen = (seen_t){0};
  stats = run(r.session, full, MAX_SEQ, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_CACHE_FULL);
  cr_assert_eq(seen.n, 1);

  seen = (seen_t){.stop_at = 3};
  p = greedy(10);
  stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &seen);
  cr_assert_eq(stats.stop, GRETA_STOP_CALLBACK);
  cr_assert_eq(seen.n, 3);
  cr_assert_eq(stats.pos, N_PROMPT + 2);
  rig_close(&r);
}

Test(generate, continuing_at_stats_pos_equals_one_call) {
  rig_t r;
  rig_open(&r, 4);
  seen_t one = {0}, first = {0}, second = {0};
  greta_generate_params_t p = greedy(18);
  run(r.session, PROMPT, N_PROMPT, 0, &p, &one);

  p = greedy(10);
  greta_generate_stats_t stats = run(r.session, PROMPT, N_PROMPT, 0, &p, &first);
  /* The last token was sampled, not run: it is the next call's prompt. */
  p = greedy(8);
  stats = run(r.session, &first.tokens[9], 1, stats.pos, &p, &second);
  cr_assert_eq(stats.pos, N_PROMPT + 17);
  expect_same(first.tokens, one.tokens, 10, "first call");
  expect_same(second.tokens, one.tokens + 10, 8, "second call");

  /* A continuation of several ids (a chat turn): the same as one prompt. */
  int32_t joined[N_PROMPT + 5];
  memcpy(joined, PROMPT, sizeof PROMPT);
  for (int i = 0; i < 5; i++)
    joined[N_PROMPT + i] = (i * 13 + 2) % VOCAB;
  seen_t whole = {0}, part = {0}, rest = {0};
  run(r.session, joined, N_PROMPT + 5, 0, &p, &whole);
  p = greedy(1);
  stats = run(r.session, PROMPT, 3, 0, &p, &part); /* caches PROMPT[0..2] */
  p = greedy(8);
  run(r.session, joined + 3, N_PROMPT + 2, stats.pos, &p, &rest);
  expect_same(rest.tokens, whole.tokens, 8, "a turn continued at stats.pos");
  rig_close(&r);
}

Test(generate, seeded_sampling_repeats) {
  rig_t r;
  rig_open(&r, 16);
  greta_generate_params_t p = greedy(20);
  p.sampler.temperature = 1.5f;
  p.sampler.top_k = 40;
  p.sampler.seed = 1234;
  seen_t a = {0}, b = {0};
  run(r.session, PROMPT, N_PROMPT, 0, &p, &a);
  run(r.session, PROMPT, N_PROMPT, 0, &p, &b);
  expect_same(b.tokens, a.tokens, 20, "the same seed");
  rig_close(&r);
}

static void expect_error(greta_status_t st, greta_status_code_t code, const char *needle) {
  cr_assert_not_null(st, "expected an error containing \"%s\"", needle);
  cr_expect_eq(greta_status_code(st), code, "code %d, expected %d: %s", greta_status_code(st), code,
               greta_status_message(st));
  cr_expect(strstr(greta_status_message(st), needle), "\"%s\" lacks \"%s\"",
            greta_status_message(st), needle);
  greta_status_free(st);
}

Test(generate, refuses_bad_inputs_before_any_step) {
  rig_t r;
  rig_open(&r, 16);
  greta_generate_params_t p = greedy(4);
  int32_t long_prompt[MAX_SEQ + 1] = {0};
  seen_t seen = {0};
  expect_error(greta_generate(r.session, long_prompt, MAX_SEQ + 1, 0, &p, on_token, &seen, NULL),
               GRETA_OUT_OF_RANGE,
               "a prompt of 65 tokens at position 0 does not fit in the KV "
               "cache of max_seq 64 tokens");
  expect_error(greta_generate(r.session, PROMPT, N_PROMPT, MAX_SEQ - 3, &p, on_token, &seen, NULL),
               GRETA_OUT_OF_RANGE, "at position 61 does not fit");
  int32_t bad[] = {1, 2, VOCAB};
  expect_error(greta_generate(r.session, bad, 3, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT,
               "prompt id 97 at index 2 is outside the vocabulary (expected 0 <= id < 97)");
  bad[0] = -1;
  expect_error(greta_generate(r.session, bad, 3, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT, "prompt id -1 at index 0");
  expect_error(greta_generate(r.session, PROMPT, 0, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT, "expected at least one prompt id");
  p.max_new_tokens = -1;
  expect_error(greta_generate(r.session, PROMPT, N_PROMPT, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT, "max_new_tokens is -1");
  p = greedy(4);
  p.sampler.top_p = 0;
  expect_error(greta_generate(r.session, PROMPT, N_PROMPT, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT, "top_p");
  p = greedy(4);
  int32_t eos = 500;
  p.eos = &eos;
  p.n_eos = 1;
  expect_error(greta_generate(r.session, PROMPT, N_PROMPT, 0, &p, on_token, &seen, NULL),
               GRETA_INVALID_ARGUMENT, "EOS id 500 is outside the vocabulary");
  cr_assert_eq(seen.n, 0, "no token came out");
  /* No step ran: the session has no output yet. */
  float row[VOCAB];
  expect_error(greta_session_get_output(r.session, "logits", row, sizeof row),
               GRETA_FAILED_PRECONDITION, "no step has completed");
  rig_close(&r);
}

Test(generate, refuses_models_that_are_not_language_models) {
  greta_device_t *device;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st);
  greta_generate_params_t p = greedy(4);
  int32_t one = 1;

  char *log = NULL;
  greta_model_t *block = support_compile_file("tiny_block.gm", NULL, "cpu", 4, &log);
  cr_assert(block, "%s", log ? log : "");
  greta_session_t *s;
  st = greta_session_create(block, device, &s);
  cr_assert_null(st);
  expect_error(greta_generate(s, &one, 1, 0, &p, NULL, NULL, NULL), GRETA_INVALID_ARGUMENT,
               "expected a model whose only input is \"tokens\" i32[T], found inputs: x");
  greta_session_destroy(s);
  greta_model_destroy(block);

  /* tiny_llama with its output renamed. */
  size_t len;
  char *text = support_read_file(GRETA_SOURCE_DIR "/examples/tiny_llama.gm", &len);
  char *at = strstr(text, "output logits");
  cr_assert(at);
  memcpy(at, "output scores", 13);
  greta_model_t *renamed = support_compile("renamed.gm", text, NULL, "cpu", 4, 1, &log);
  cr_assert(renamed, "%s", log ? log : "");
  st = greta_session_create(renamed, device, &s);
  cr_assert_null(st);
  expect_error(greta_generate(s, &one, 1, 0, &p, NULL, NULL, NULL), GRETA_INVALID_ARGUMENT,
               "expected an output \"logits\" f32[T, vocab] or f32[1, vocab], found outputs: "
               "scores");
  greta_session_destroy(s);
  greta_model_destroy(renamed);
  free(text);
  greta_device_destroy(device);
}
