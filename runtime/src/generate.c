/* The generation loop (greta.h): prompt ids in, one sampled token at a time
 * out.
 *
 * A prompt runs through prefill in steps of at most the model's max_tokens;
 * the last row of the last step's logits gives the first new token. Then each
 * new token is one decode step (T = 1) whose logits give the next. The token
 * that ends the loop (an EOS id, the last of max_new_tokens, or the one that
 * would not fit in the cache) is sampled but never run through the model:
 * stats.pos counts the tokens the KV cache holds, so a following call that
 * passes that token as its first prompt id at stats.pos continues exactly
 * where one longer call would have gone on.
 *
 * Times are taken with the host clock around whole steps; reading the logits
 * back waits for the device, so a step's time includes its GPU work. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "greta/greta.h"
#include "plan.h"
#include "session.h"
#include "status.h"

/* What the loop needs to know about the model's interface. */
typedef struct lm_shape_s {
  int32_t vocab;
  int64_t max_tokens;
  int64_t max_seq;
} lm_shape_t;

static bool dim_is_T(const greta_dim_t *d) { return d->symbol && d->coeff == 1; }

static void describe(const greta_tensor_info_t *info, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "%s[", greta_dtype_name(info->dtype));
  for (int i = 0; i < info->rank && n < size; i++) {
    const greta_dim_t *d = &info->dims[i];
    if (d->symbol && d->coeff == 1)
      n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", d->symbol);
    else if (d->symbol)
      n += (size_t)snprintf(buf + n, size - n, "%s%lld*%s", i ? ", " : "", (long long)d->coeff,
                            d->symbol);
    else
      n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)d->coeff);
  }
  if (n < size)
    snprintf(buf + n, size - n, "]");
}

/* The names of a list of tensors, for messages: "tokens, x". */
static void list_names(const greta_plan_io_t *io, uint32_t count, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (uint32_t i = 0; i < count && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", io[i].info.name);
  if (count == 0)
    snprintf(buf, size, "none");
}

/* Checks that the model is a language model the loop can drive: exactly one
 * input, `tokens` i32[T], and an output `logits` f32[T, vocab] or
 * f32[1, vocab]. */
static greta_status_t lm_shape(const greta_plan_t *plan, lm_shape_t *out) {
  char names[512], shape[128];
  const greta_plan_io_t *tokens = NULL, *logits = NULL;
  for (uint32_t i = 0; i < plan->n_inputs; i++)
    if (!strcmp(plan->inputs[i].info.name, "tokens"))
      tokens = &plan->inputs[i];
  for (uint32_t i = 0; i < plan->n_outputs; i++)
    if (!strcmp(plan->outputs[i].info.name, "logits"))
      logits = &plan->outputs[i];
  if (!tokens || plan->n_inputs != 1) {
    list_names(plan->inputs, plan->n_inputs, names, sizeof names);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: expected a model whose only input is \"tokens\" i32[T], "
                             "found inputs: %s",
                             names);
  }
  if (tokens->info.dtype != GRETA_I32 || tokens->info.rank != 1 ||
      !dim_is_T(&tokens->info.dims[0])) {
    describe(&tokens->info, shape, sizeof shape);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: expected input \"tokens\" to be i32[T], found %s", shape);
  }
  if (!logits) {
    list_names(plan->outputs, plan->n_outputs, names, sizeof names);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: expected an output \"logits\" f32[T, vocab] or "
                             "f32[1, vocab], found outputs: %s",
                             names);
  }
  const greta_tensor_info_t *l = &logits->info;
  bool rows_ok =
      l->rank == 2 && (dim_is_T(&l->dims[0]) || (!l->dims[0].symbol && l->dims[0].coeff == 1));
  if (l->dtype != GRETA_F32 || !rows_ok || l->dims[1].symbol || l->dims[1].coeff < 1 ||
      l->dims[1].coeff > INT32_MAX) {
    describe(l, shape, sizeof shape);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: expected output \"logits\" to be f32[T, vocab] or "
                             "f32[1, vocab] with a constant vocab, found %s",
                             shape);
  }
  out->vocab = (int32_t)l->dims[1].coeff;
  out->max_tokens = plan->max_tokens;
  out->max_seq = plan->max_seq;
  return NULL;
}

/* Runs `count` ids at `pos` as one step; with `row`, leaves the last
 * position's logits there (vocab floats: the one row read from the device). */
static greta_status_t run_step(greta_session_t *session, const lm_shape_t *lm, const int32_t *ids,
                               int64_t count, int64_t pos, float *row) {
  GRETA_RETURN_IF_ERROR(
      greta_session_set_input(session, "tokens", ids, (size_t)count * sizeof(int32_t)));
  GRETA_RETURN_IF_ERROR(greta_session_step(session, count, pos));
  if (!row) return NULL;
  return greta_session_get_output_last_row(session, "logits", row,
                                           (size_t)lm->vocab * sizeof(float));
}

greta_status_t greta_generate(greta_session_t *session, const int32_t *prompt, size_t count,
                              int64_t pos, const greta_generate_params_t *params,
                              greta_token_fn on_token, void *user,
                              greta_generate_stats_t *out_stats) {
  if (!session || !params)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "generate: session and params are required");
  if (count == 0 || !prompt)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: expected at least one prompt id (the first new token is "
                             "sampled from the last prompt id's logits), got %zu",
                             count);
  if (params->max_new_tokens < 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "generate: max_new_tokens is %lld, expected >= 0 (0: until EOS or a "
                             "full cache)",
                             (long long)params->max_new_tokens);
  if (params->n_eos && !params->eos)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "generate: n_eos is %zu but eos is NULL",
                             params->n_eos);
  lm_shape_t lm;
  GRETA_RETURN_IF_ERROR(lm_shape(greta_session_plan(session), &lm));
  if (pos < 0 || pos > lm.max_seq || (int64_t)count > lm.max_seq - pos)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "generate: a prompt of %zu tokens at position %lld does not fit in "
                             "the KV cache of max_seq %lld tokens",
                             count, (long long)pos, (long long)lm.max_seq);
  for (size_t i = 0; i < count; i++)
    if (prompt[i] < 0 || prompt[i] >= lm.vocab)
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "generate: prompt id %d at index %zu is outside the vocabulary "
                               "(expected 0 <= id < %d)",
                               prompt[i], i, lm.vocab);
  for (size_t i = 0; i < params->n_eos; i++)
    if (params->eos[i] < 0 || params->eos[i] >= lm.vocab)
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "generate: EOS id %d is outside the vocabulary (expected 0 <= id "
                               "< %d)",
                               params->eos[i], lm.vocab);

  greta_sampler_t *sampler = NULL;
  GRETA_RETURN_IF_ERROR(greta_status_annotate(
      greta_sampler_create(&params->sampler, lm.vocab, &sampler), "generate"));

  /* The sampler's history (for the repetition penalty) is this call's prompt
   * and what it generates: HF's input_ids. */
  int64_t room = lm.max_seq - pos - (int64_t)count + 1; /* the most tokens that can be sampled */
  int64_t limit =
      params->max_new_tokens && params->max_new_tokens < room ? params->max_new_tokens : room;
  size_t vocab = (size_t)lm.vocab;
  int64_t chunk = lm.max_tokens < (int64_t)count ? lm.max_tokens : (int64_t)count;
  int32_t *history = malloc((count + (size_t)limit) * sizeof *history);
  float *row = malloc(vocab * sizeof *row);
  greta_status_t status = NULL;
  if (!history || !row) {
    status = greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                               "generate: out of memory for the history and a row of %zu logits",
                               vocab);
    goto done;
  }
  memcpy(history, prompt, count * sizeof *history);

  greta_generate_stats_t stats = {.prompt_tokens = (int64_t)count, .pos = pos};
  double start = clock_ms();
  for (size_t off = 0; off < count && !status; off += (size_t)chunk) {
    int64_t n = (int64_t)(count - off) < chunk ? (int64_t)(count - off) : chunk;
    /* Only the prompt's last position's logits are wanted. */
    bool last_chunk = off + (size_t)n == count;
    status = run_step(session, &lm, prompt + off, n, stats.pos, last_chunk ? row : NULL);
    if (status) {
      status =
          greta_status_annotate(status, "generate: prefill of tokens %zu..%zu at position %lld",
                                off, off + (size_t)n - 1, (long long)stats.pos);
      break;
    }
    stats.pos += n;
  }
  stats.prompt_ms = clock_ms() - start;
  start = clock_ms();
  size_t n_history = count;
  while (!status) {
    int32_t token;
    status = greta_sampler_sample(sampler, row, history, n_history, &token);
    if (status) {
      status = greta_status_annotate(status, "generate: sampling token %lld",
                                     (long long)stats.generated_tokens);
      break;
    }
    history[n_history++] = token;
    stats.generated_tokens++;
    bool is_eos = false;
    for (size_t i = 0; i < params->n_eos; i++)
      is_eos |= token == params->eos[i];
    bool stop_asked = on_token && on_token(user, token) != 0;
    if (is_eos) {
      stats.stop = GRETA_STOP_EOS;
      break;
    }
    if (stop_asked) {
      stats.stop = GRETA_STOP_CALLBACK;
      break;
    }
    if (params->max_new_tokens && stats.generated_tokens == params->max_new_tokens) {
      stats.stop = GRETA_STOP_LENGTH;
      break;
    }
    if (stats.pos == lm.max_seq) {
      stats.stop = GRETA_STOP_CACHE_FULL;
      break;
    }
    status = run_step(session, &lm, &token, 1, stats.pos, row);
    if (status) {
      status =
          greta_status_annotate(status, "generate: decode at position %lld", (long long)stats.pos);
      break;
    }
    stats.pos++;
  }
  stats.generate_ms = clock_ms() - start;
  if (out_stats)
    *out_stats = stats;
done:
  free(row);
  free(history);
  greta_sampler_destroy(sampler);
  return status;
}
