/* The sampler (greta.h): the next token from one step's logits.
 *
 * Hugging Face generate()'s order and definitions, so that a seed-free
 * comparison with transformers' warpers holds: repetition penalty on the
 * raw logits (once per distinct token of the history window), temperature,
 * top-k, top-p (keep a token while the probability of the tokens before it
 * in descending order is < top_p), min-p (keep a token whose probability is
 * >= min_p times the largest), then one draw from what is left, renormalised.
 * Ties in order are broken by the lower token id, so results do not depend
 * on the sort. Probabilities are computed in double.
 *
 * The generator is xoshiro256** seeded through splitmix64: integer
 * arithmetic only, so a seed gives the same tokens on every machine. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "status.h"

typedef struct candidate_s {
  float logit;
  int32_t id;
} candidate_t;

struct greta_sampler_s {
  greta_sampler_params_t params;
  int32_t vocab;
  uint64_t rng[4];
  float *logits;          /* (vocab) the working copy */
  candidate_t *candidates; /* (vocab) */
  double *probs;          /* (vocab) */
  unsigned char *seen;    /* (vocab) the penalty's marks */
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t s[4]) {
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_uniform(uint64_t s[4]) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

greta_sampler_params_t greta_sampler_params_default(void) {
  return (greta_sampler_params_t){.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                                  .repetition_penalty = 1.0f, .repeat_last_n = 0, .seed = 0};
}

static greta_status_t check_params(const greta_sampler_params_t *p, int32_t vocab) {
  if (vocab < 1)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "sampler: vocab is %d, expected >= 1", vocab);
  if (!(p->temperature >= 0.0f) || isinf(p->temperature))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: temperature is %g, expected a finite value >= 0 (0: greedy)",
                             (double)p->temperature);
  if (p->top_k < 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "sampler: top_k is %d, expected >= 0 (0: off)",
                             p->top_k);
  if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: top_p is %g, expected 0 < top_p <= 1 (1: off)",
                             (double)p->top_p);
  if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: min_p is %g, expected 0 <= min_p <= 1 (0: off)",
                             (double)p->min_p);
  if (!(p->repetition_penalty >= 1.0f) || isinf(p->repetition_penalty))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: repetition_penalty is %g, expected a finite value >= 1 "
                             "(1: off)",
                             (double)p->repetition_penalty);
  if (p->repeat_last_n < 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: repeat_last_n is %d, expected >= 0 (0: the whole history)",
                             p->repeat_last_n);
  return NULL;
}

greta_status_t greta_sampler_create(const greta_sampler_params_t *params, int32_t vocab,
                                    greta_sampler_t **out_sampler) {
  *out_sampler = NULL;
  if (!params) return greta_status_make(GRETA_INVALID_ARGUMENT, "sampler: no parameters");
  GRETA_RETURN_IF_ERROR(check_params(params, vocab));
  greta_sampler_t *s = calloc(1, sizeof *s);
  if (s) {
    s->logits = malloc((size_t)vocab * sizeof *s->logits);
    s->candidates = malloc((size_t)vocab * sizeof *s->candidates);
    s->probs = malloc((size_t)vocab * sizeof *s->probs);
    s->seen = calloc((size_t)vocab, 1);
  }
  if (!s || !s->logits || !s->candidates || !s->probs || !s->seen) {
    greta_sampler_destroy(s);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "sampler: out of memory for %d tokens",
                             vocab);
  }
  s->params = *params;
  s->vocab = vocab;
  uint64_t x = params->seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
  *out_sampler = s;
  return NULL;
}

void greta_sampler_destroy(greta_sampler_t *sampler) {
  if (!sampler) return;
  free(sampler->logits);
  free(sampler->candidates);
  free(sampler->probs);
  free(sampler->seen);
  free(sampler);
}

/* Descending logit, then ascending id. */
static int by_logit(const void *a, const void *b) {
  const candidate_t *x = a, *y = b;
  if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* HF's repetition penalty: each distinct token of the window once. */
static greta_status_t apply_penalty(greta_sampler_t *s, const int32_t *history, size_t n) {
  size_t window = s->params.repeat_last_n ? (size_t)s->params.repeat_last_n : n;
  const int32_t *h = history + (n > window ? n - window : 0);
  size_t count = n > window ? window : n;
  for (size_t i = 0; i < count; i++)
    if (h[i] < 0 || h[i] >= s->vocab)
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "sampler: history token %d is outside the vocabulary [0, %d)", h[i],
                               s->vocab);
  const float penalty = s->params.repetition_penalty;
  for (size_t i = 0; i < count; i++) {
    if (s->seen[h[i]]) continue;
    s->seen[h[i]] = 1;
    float *l = &s->logits[h[i]];
    *l = *l > 0.0f ? *l / penalty : *l * penalty;
  }
  for (size_t i = 0; i < count; i++) s->seen[h[i]] = 0;
  return NULL;
}

greta_status_t greta_sampler_sample(greta_sampler_t *s, const float *logits,
                                    const int32_t *history, size_t n_history,
                                    int32_t *out_token) {
  if (!s || !logits || !out_token || (n_history && !history))
    return greta_status_make(GRETA_INVALID_ARGUMENT, "sampler: a required argument is NULL");
  const greta_sampler_params_t *p = &s->params;
  for (int32_t i = 0; i < s->vocab; i++)
    s->logits[i] = isnan(logits[i]) ? -INFINITY : logits[i]; /* NaN: never drawn */
  if (p->repetition_penalty != 1.0f)
    GRETA_RETURN_IF_ERROR(apply_penalty(s, history, n_history));

  /* The candidates that can be drawn at all, most likely first. */
  int32_t count = 0;
  for (int32_t i = 0; i < s->vocab; i++)
    if (s->logits[i] > -INFINITY) s->candidates[count++] = (candidate_t){s->logits[i], i};
  if (count == 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "sampler: every logit is NaN or -inf: no token can be drawn");
  if (p->temperature == 0.0f) {
    candidate_t best = s->candidates[0];
    for (int32_t i = 1; i < count; i++)
      if (by_logit(&s->candidates[i], &best) < 0) best = s->candidates[i];
    *out_token = best.id;
    return NULL;
  }
  /* Only the filters need the order; without them the draw walks the
   * candidates in id order (a vocabulary-sized sort per token saved). */
  const bool filtered = (p->top_k > 0 && p->top_k < count) || p->top_p < 1.0f || p->min_p > 0.0f;
  if (filtered) qsort(s->candidates, (size_t)count, sizeof *s->candidates, by_logit);
  if (p->top_k > 0 && p->top_k < count) count = p->top_k;

  /* Softmax of the tempered logits over what is left (shifted by the
   * largest logit, first once sorted). */
  float largest = s->candidates[0].logit;
  for (int32_t i = 1; !filtered && i < count; i++)
    if (s->candidates[i].logit > largest) largest = s->candidates[i].logit;
  const double inv_t = 1.0 / (double)p->temperature, top = largest * inv_t;
  double total = 0.0;
  for (int32_t i = 0; i < count; i++) {
    s->probs[i] = exp((double)s->candidates[i].logit * inv_t - top);
    total += s->probs[i];
  }
  if (p->top_p < 1.0f) {
    double before = 0.0;
    int32_t keep = 0;
    while (keep < count && before < (double)p->top_p * total) before += s->probs[keep++];
    count = keep;
  }
  if (p->min_p > 0.0f) {
    /* Sorted: probs[0] is the largest (exp(0) = 1 before normalising). */
    int32_t keep = 1;
    while (keep < count && s->probs[keep] >= (double)p->min_p * s->probs[0]) keep++;
    count = keep;
  }
  total = 0.0;
  for (int32_t i = 0; i < count; i++) total += s->probs[i];
  double u = next_uniform(s->rng) * total, cumulative = 0.0;
  int32_t pick = count - 1; /* rounding: the last kept token */
  for (int32_t i = 0; i < count; i++) {
    cumulative += s->probs[i];
    if (u < cumulative) {
      pick = i;
      break;
    }
  }
  *out_token = s->candidates[pick].id;
  return NULL;
}
