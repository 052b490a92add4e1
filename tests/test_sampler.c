/* runtime/src/sampler.c against a reference written here independently:
 * the expected distribution after penalty, temperature, top-k, top-p and
 * min-p is computed in double with HF's own formulations (top-p through
 * the ascending cumulative sum, min-p on normalised probabilities, a
 * selection sort), then 200000 draws must match it within 5 standard
 * errors and never give a filtered token. The draws are seeded: the test
 * is deterministic. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"

enum { V = 12, DRAWS = 200000 };

static const float base_logits[V] = {2.0f, 1.5f, -0.5f, 3.0f, 0.25f, 1.5f,
                                     -2.0f, 0.9f, 2.6f, -1.0f, 0.0f, 1.1f};

/* The expected probability of each token. */
static void reference(const greta_sampler_params_t *p, const int32_t *history, size_t n_history,
                      double *out) {
  double l[V];
  for (int i = 0; i < V; i++) l[i] = base_logits[i];
  size_t window = p->repeat_last_n ? (size_t)p->repeat_last_n : n_history;
  size_t first = n_history > window ? n_history - window : 0;
  int penalised[V] = {0};
  for (size_t i = first; i < n_history; i++) penalised[history[i]] = 1;
  for (int i = 0; i < V; i++)
    if (penalised[i] && p->repetition_penalty != 1.0f)
      l[i] = l[i] > 0 ? l[i] / p->repetition_penalty : l[i] * p->repetition_penalty;
  for (int i = 0; i < V; i++) l[i] /= p->temperature;
  /* Rank by selection: rank[r] = the id at rank r (descending, lower id first on ties). */
  int rank[V], used[V] = {0};
  for (int r = 0; r < V; r++) {
    int best = -1;
    for (int i = 0; i < V; i++)
      if (!used[i] && (best < 0 || l[i] > l[best])) best = i;
    used[best] = 1;
    rank[r] = best;
  }
  int keep[V];
  for (int i = 0; i < V; i++) keep[i] = 1;
  if (p->top_k > 0)
    for (int r = p->top_k; r < V; r++) keep[rank[r]] = 0;
  double prob[V], total = 0;
  for (int i = 0; i < V; i++) total += keep[i] ? exp(l[i]) : 0;
  for (int i = 0; i < V; i++) prob[i] = keep[i] ? exp(l[i]) / total : 0;
  if (p->top_p < 1.0f) { /* HF: remove where the ascending cumulative sum <= 1 - top_p */
    double cumulative = 0;
    for (int r = V - 1; r >= 1; r--) { /* the most likely token always stays */
      cumulative += prob[rank[r]];
      if (keep[rank[r]] && cumulative <= 1.0 - p->top_p) keep[rank[r]] = 0;
    }
  }
  total = 0;
  for (int i = 0; i < V; i++) total += keep[i] ? prob[i] : 0;
  for (int i = 0; i < V; i++) prob[i] = keep[i] ? prob[i] / total : 0;
  if (p->min_p > 0.0f) {
    double top = 0;
    for (int i = 0; i < V; i++) top = prob[i] > top ? prob[i] : top;
    for (int i = 0; i < V; i++)
      if (prob[i] < p->min_p * top) keep[i] = 0;
  }
  total = 0;
  for (int i = 0; i < V; i++) total += keep[i] ? prob[i] : 0;
  for (int i = 0; i < V; i++) out[i] = keep[i] ? prob[i] / total : 0;
}

static void check_distribution(greta_sampler_params_t p, const int32_t *history, size_t n) {
  double want[V];
  reference(&p, history, n, want);
  greta_sampler_t *s;
  cr_assert_null(greta_sampler_create(&p, V, &s));
  static int counts[V];
  memset(counts, 0, sizeof counts);
  for (int d = 0; d < DRAWS; d++) {
    int32_t token = -1;
    cr_assert_null(greta_sampler_sample(s, base_logits, history, n, &token));
    cr_assert(token >= 0 && token < V);
    counts[token]++;
  }
  greta_sampler_destroy(s);
  for (int i = 0; i < V; i++) {
    double got = (double)counts[i] / DRAWS;
    if (want[i] == 0) {
      cr_assert_eq(counts[i], 0, "token %d was filtered out but drawn %d times", i, counts[i]);
      continue;
    }
    double bound = 5 * sqrt(want[i] * (1 - want[i]) / DRAWS) + 1e-4;
    cr_assert(fabs(got - want[i]) <= bound, "token %d: drawn %.5f, expected %.5f (+-%.5f)", i, got,
              want[i], bound);
  }
}

Test(sampler, temperature_and_top_k) {
  greta_sampler_params_t p = greta_sampler_params_default();
  p.temperature = 0.7f;
  p.top_k = 5;
  p.seed = 1;
  check_distribution(p, NULL, 0);
}

Test(sampler, top_p) {
  greta_sampler_params_t p = greta_sampler_params_default();
  p.temperature = 1.3f;
  p.top_p = 0.8f;
  p.seed = 2;
  check_distribution(p, NULL, 0);
}

Test(sampler, min_p) {
  greta_sampler_params_t p = greta_sampler_params_default();
  p.temperature = 1.0f;
  p.min_p = 0.1f;
  p.seed = 3;
  check_distribution(p, NULL, 0);
}

Test(sampler, everything_with_a_penalised_history) {
  greta_sampler_params_t p = greta_sampler_params_default();
  p.temperature = 0.9f;
  p.top_k = 9;
  p.top_p = 0.95f;
  p.min_p = 0.02f;
  p.repetition_penalty = 1.3f;
  p.repeat_last_n = 4;
  p.seed = 4;
  /* The window is the last 4: 8, 3, 3, 9 (the 0 before it is not penalised). */
  const int32_t history[] = {0, 8, 3, 3, 9};
  check_distribution(p, history, 5);
}

Test(sampler, greedy_takes_the_largest_logit_and_the_lowest_id_on_a_tie) {
  greta_sampler_params_t p = greta_sampler_params_default();
  greta_sampler_t *s;
  cr_assert_null(greta_sampler_create(&p, V, &s));
  int32_t token;
  cr_assert_null(greta_sampler_sample(s, base_logits, NULL, 0, &token));
  cr_assert_eq(token, 3);
  float tie[V];
  memcpy(tie, base_logits, sizeof tie);
  tie[8] = 3.0f; /* equal to token 3 */
  cr_assert_null(greta_sampler_sample(s, tie, NULL, 0, &token));
  cr_assert_eq(token, 3);
  /* The penalty works on greedy too: 3.0 / 1.5 = 2.0 < 2.6 (token 8). */
  greta_sampler_destroy(s);
  p.repetition_penalty = 1.5f;
  cr_assert_null(greta_sampler_create(&p, V, &s));
  const int32_t seen[] = {3};
  cr_assert_null(greta_sampler_sample(s, base_logits, seen, 1, &token));
  cr_assert_eq(token, 8);
  /* NaN is never drawn; all NaN or -inf is an error. */
  float nan_logits[V];
  for (int i = 0; i < V; i++) nan_logits[i] = NAN;
  nan_logits[6] = -INFINITY;
  greta_status_t st = greta_sampler_sample(s, nan_logits, NULL, 0, &token);
  cr_assert(st && strstr(greta_status_message(st), "every logit is NaN or -inf"));
  greta_status_free(st);
  nan_logits[10] = -50.0f;
  cr_assert_null(greta_sampler_sample(s, nan_logits, NULL, 0, &token));
  cr_assert_eq(token, 10);
  greta_sampler_destroy(s);
}

Test(sampler, a_seed_gives_the_same_tokens) {
  greta_sampler_params_t p = greta_sampler_params_default();
  p.temperature = 1.0f;
  p.seed = 42;
  int32_t first[64], again[64], other[64];
  int32_t *runs[3] = {first, again, other};
  for (int r = 0; r < 3; r++) {
    p.seed = r == 2 ? 43 : 42;
    greta_sampler_t *s;
    cr_assert_null(greta_sampler_create(&p, V, &s));
    for (int i = 0; i < 64; i++) cr_assert_null(greta_sampler_sample(s, base_logits, NULL, 0, &runs[r][i]));
    greta_sampler_destroy(s);
  }
  cr_assert_eq(memcmp(first, again, sizeof first), 0);
  cr_assert_neq(memcmp(first, other, sizeof first), 0, "another seed gave the same 64 tokens");
}

Test(sampler, bad_parameters_and_history_are_refused) {
  struct {
    greta_sampler_params_t p;
    const char *needle;
  } cases[6];
  for (int i = 0; i < 6; i++) cases[i].p = greta_sampler_params_default();
  cases[0].p.temperature = -1.0f, cases[0].needle = "temperature is -1";
  cases[1].p.top_k = -2, cases[1].needle = "top_k is -2";
  cases[2].p.top_p = 0.0f, cases[2].needle = "top_p is 0";
  cases[3].p.min_p = 1.5f, cases[3].needle = "min_p is 1.5";
  cases[4].p.repetition_penalty = 0.5f, cases[4].needle = "repetition_penalty is 0.5";
  cases[5].p.repeat_last_n = -1, cases[5].needle = "repeat_last_n is -1";
  for (int i = 0; i < 6; i++) {
    greta_sampler_t *s = (greta_sampler_t *)&cases;
    greta_status_t st = greta_sampler_create(&cases[i].p, V, &s);
    cr_assert(st, "case %d accepted", i);
    cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
    cr_assert(strstr(greta_status_message(st), cases[i].needle), "%s", greta_status_message(st));
    cr_assert_null(s);
    greta_status_free(st);
  }
  greta_sampler_params_t p = greta_sampler_params_default();
  p.repetition_penalty = 1.2f;
  greta_sampler_t *s;
  cr_assert_null(greta_sampler_create(&p, V, &s));
  const int32_t bad[] = {2, V};
  int32_t token;
  greta_status_t st = greta_sampler_sample(s, base_logits, bad, 2, &token);
  cr_assert(st && strstr(greta_status_message(st), "history token 12 is outside the vocabulary [0, 12)"));
  greta_status_free(st);
  greta_sampler_destroy(s);
}
