/* Numerics of a WHOLE model against Hugging Face transformers: golden
 * fixtures made by bench/hf_model_reference.py with transformers' own
 * LlamaForCausalLM (eager attention, untied LM head) at the shape of
 * examples/tiny_llama.gm: a prefill of T tokens, then N single-token decodes
 * through a DynamicCache, as generate() runs it. Each fixture is one
 * safetensors file with every weight under HF's checkpoint names, the token
 * ids (greta.input.tokens, I32) and HF's logits (greta.expected.logits, F32).
 * Here tiny_llama.gm is compiled for the CPU, its weights bound from the same
 * file, the same steps run, and every token's ||ours - hf|| / ||hf|| checked
 * (and, for f32, each token's argmax). docs/numerics.md has the figures. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greta/greta.h"
#include "import.h"
#include "support.h"

enum { MAX_TOKENS = 64 };

typedef struct fixture_s {
  const char *file;  /* under tests/fixtures/ */
  const char *dtype; /* the weights' dtype, as HF computed with them */
  double tolerance;  /* on the worst token's relative error */
  int check_argmax;  /* each token's top logit must be HF's */
} fixture_t;

/* ---- running and comparing ------------------------------------------------- */

/* Runs the steps (token counts summing to `tokens`) from position 0 with the
 * weights bound from `path`; logits gets every token's row of `vocab`, or
 * with `last_only` (a model whose logits are last(...)) each step's last
 * token's row. */
static void run_steps(greta_model_t *model, greta_device_t *device, const char *path,
                      const int32_t *ids, long long vocab, const int *steps, int tokens,
                      int last_only, float *logits) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  st = greta_session_bind_safetensors(s, path);
  cr_assert_null(st, "binding the fixture's weights (it also holds greta.* tensors): %s",
                 greta_status_message(st));
  for (int k = 0, pos = 0; pos < tokens; pos += steps[k++]) {
    size_t n = (size_t)steps[k] * (size_t)vocab, bytes = n * sizeof(float);
    for (size_t i = 0; i < n; i++) logits[pos * vocab + (long long)i] = NAN; /* poison */
    st = greta_session_set_input(s, "tokens", ids + pos, (size_t)steps[k] * sizeof(int32_t));
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, steps[k], pos);
    cr_assert_null(st, "step T=%d pos=%d: %s", steps[k], pos, greta_status_message(st));
    if (last_only)
      st = greta_session_get_output(s, "logits", logits + (pos + steps[k] - 1) * vocab,
                                    (size_t)vocab * sizeof(float));
    else
      st = greta_session_get_output(s, "logits", logits + pos * vocab, bytes);
    cr_assert_null(st, "%s", greta_status_message(st));
  }
  greta_session_destroy(s);
}

static long long argmax(const float *row, long long n) {
  long long best = 0;
  for (long long i = 1; i < n; i++)
    if (row[i] > row[best]) best = i;
  return best;
}

/* Checks and reports one run of the steps against HF's logits. */
static void compare(const fixture_t *fx, const char *what, const float *got, const float *want,
                    int tokens, long long vocab) {
  char line[1024];
  snprintf(line, sizeof line, "hf_model %s, %s, per token:", fx->file, what);
  double worst = support_worst_row_error(got, want, tokens, vocab, line, sizeof line);
  int agree = 0;
  for (int t = 0; t < tokens; t++)
    agree += argmax(got + t * vocab, vocab) == argmax(want + t * vocab, vocab);
  fprintf(stderr, "%s; worst %.2e (tolerance %.0e); max abs error %.2e; argmax agrees %d/%d\n",
          line, worst, fx->tolerance, support_max_abs_error(got, want, tokens * vocab), agree, tokens);
  cr_expect_leq(worst, fx->tolerance, "%s, %s vs HF: %.3e", fx->file, what, worst);
  if (fx->check_argmax)
    for (int t = 0; t < tokens; t++)
      cr_expect_eq(argmax(got + t * vocab, vocab), argmax(want + t * vocab, vocab),
                   "%s, %s: token %d's argmax is %lld, HF's %lld", fx->file, what, t,
                   argmax(got + t * vocab, vocab), argmax(want + t * vocab, vocab));
}

/* The model's interface, checked by reflection: input "tokens" i32[T],
 * output "logits" f32[T, vocab] (or f32[1, vocab] with last(): returns 1),
 * every weight stored as the fixture's dtype. */
static int check_interface(greta_model_t *model, const fixture_t *fx, long long vocab) {
  cr_assert_eq(greta_model_input_count(model), 1, "tiny_llama.gm: expected one input");
  const greta_tensor_info_t *in = greta_model_input(model, 0);
  cr_assert(in && !strcmp(in->name, "tokens") && in->dtype == GRETA_I32 && in->rank == 1 &&
                in->dims[0].symbol && in->dims[0].coeff == 1,
            "tiny_llama.gm: the input is not tokens: i32[T]");
  cr_assert_eq(greta_model_output_count(model), 1, "tiny_llama.gm: expected one output");
  const greta_tensor_info_t *out = greta_model_output(model, 0);
  cr_assert(out && !strcmp(out->name, "logits") && out->dtype == GRETA_F32 && out->rank == 2 &&
                (out->dims[0].symbol || out->dims[0].coeff == 1) && !out->dims[1].symbol &&
                out->dims[1].coeff == vocab,
            "tiny_llama.gm: the output is not logits: f32[T or 1, %lld]", vocab);
  for (int i = 0; i < greta_model_weight_count(model); i++)
    cr_assert_str_eq(greta_dtype_name(greta_model_weight(model, i)->dtype), fx->dtype,
                     "tiny_llama.gm: weight %s is not stored as %s",
                     greta_model_weight(model, i)->name, fx->dtype);
  return out->dims[0].symbol == NULL;
}

/* The rows of the steps' last tokens, packed (for a last() model). */
static int step_ends(const float *rows, long long vocab, const int *steps, int n_steps,
                     float *out) {
  for (int k = 0, pos = 0; k < n_steps; pos += steps[k++])
    memcpy(out + k * vocab, rows + (pos + steps[k] - 1) * vocab, (size_t)vocab * sizeof(float));
  return n_steps;
}

/* `gm`: the .gm model to compile (NULL: examples/tiny_llama.gm). */
static void check_fixture(const fixture_t *fx, const char *gm) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fixtures/%s", GRETA_SOURCE_DIR, fx->file);
  support_st_t f;
  support_st_open(&f, path);
  long long ids_shape[4], logits_shape[4];
  int32_t *ids = support_st_tensor(&f, "greta.input.tokens", "I32", 1, ids_shape);
  float *want = support_st_tensor(&f, "greta.expected.logits", "F32", 2, logits_shape);
  long long rows = ids_shape[0], vocab = logits_shape[1];
  long long prefill = support_st_meta_int(&f, "T"), decodes = support_st_meta_int(&f, "N");
  cr_assert_eq(logits_shape[0], rows, "%s: %lld tokens but %lld rows of logits", fx->file, rows,
               logits_shape[0]);
  cr_assert(prefill >= 1 && decodes >= 0 && prefill + decodes == rows && rows <= MAX_TOKENS,
            "%s: T=%lld N=%lld for %lld tokens", fx->file, prefill, decodes, rows);
  for (long long t = 0; t < rows; t++)
    cr_assert(ids[t] >= 0 && ids[t] < vocab, "%s: token %lld is %d, outside the vocabulary",
              fx->file, t, ids[t]);
  /* HF's logits must be far from constant, or a model that did nothing
   * (or gave every token the same row) could pass. */
  for (long long t = 1; t < rows; t++)
    cr_assert_gt(support_rel_error(want + t * vocab, want, vocab), 0.1,
                 "%s: token %lld's expected logits are too close to token 0's", fx->file, t);

  /* GRETA_HF_MODEL_GM: another .gm in its place (to see a changed model fail). */
  char source[512], *log = NULL;
  const char *other = getenv("GRETA_HF_MODEL_GM");
  if (gm) snprintf(source, sizeof source, "%s", gm);
  else if (other) snprintf(source, sizeof source, "%s", other);
  else snprintf(source, sizeof source, "%s/examples/tiny_llama.gm", GRETA_SOURCE_DIR);
  /* An imported model says its own weight dtype (the config's torch_dtype). */
  greta_model_t *model = support_compile_file(source, gm ? NULL : fx->dtype, "cpu", rows, &log);
  cr_assert(model, "tiny_llama.gm: gretac failed for cpu: %s", log);
  free(log);
  const int last_only = check_interface(model, fx, vocab);
  greta_device_t *device;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "device: %s", greta_status_message(st));

  /* As HF ran it: a prefill of T, then N decodes; and all rows in one prefill. */
  int hf_steps[MAX_TOKENS], one_step[1] = {(int)rows}, n = 0;
  hf_steps[n++] = (int)prefill;
  for (long long i = 0; i < decodes; i++) hf_steps[n++] = 1;
  float *got = malloc((size_t)(rows * vocab) * sizeof(float));
  float *got_ends = malloc((size_t)(rows * vocab) * sizeof(float));
  float *want_ends = malloc((size_t)(rows * vocab) * sizeof(float));
  char what[64];
  for (int pass = 0; pass < 2; pass++) {
    const int *steps = pass ? one_step : hf_steps;
    int n_steps = pass ? 1 : n;
    run_steps(model, device, path, ids, vocab, steps, (int)rows, last_only, got);
    if (pass) snprintf(what, sizeof what, "one prefill of %lld", rows);
    else snprintf(what, sizeof what, "prefill %lld + %lld decodes", prefill, decodes);
    if (!last_only) {
      compare(fx, what, got, want, (int)rows, vocab);
      continue;
    }
    /* last(): each step's last token only (HF's rows of the others unused). */
    step_ends(got, vocab, steps, n_steps, got_ends);
    step_ends(want, vocab, steps, n_steps, want_ends);
    strncat(what, ", last tokens", sizeof what - strlen(what) - 1);
    compare(fx, what, got_ends, want_ends, n_steps, vocab);
  }
  free(got_ends);
  free(want_ends);

  free(got);
  greta_device_destroy(device);
  greta_model_destroy(model);
  free(ids);
  free(want);
  support_st_close(&f);
}

/* f32: HF computed in IEEE f32 too, so only summation order differs.
 * f16: HF computed in f16 (its half path); we compute in f32 from the same
 * f16 weights, so the figure is mostly HF's own half-precision rounding, and
 * near-tied logits may swap: no argmax check. */
static const fixture_t fixtures[] = {
    {"hf_tiny_llama_f32.safetensors", "f32", 1e-5, 1},
    {"hf_tiny_llama_f16.safetensors", "f16", 5e-3, 0},
};

Test(hf_model, tiny_llama_f32) { check_fixture(&fixtures[0], NULL); }
Test(hf_model, tiny_llama_f16) { check_fixture(&fixtures[1], NULL); }

/* `gretac import` on the config.json transformers would write for the
 * fixtures' model (bench/hf_model_reference.py's LlamaConfig): the imported
 * .gm must give transformers' logits as tiny_llama.gm does. */
static void check_imported(const fixture_t *fx, const char *torch_dtype) {
  char dir[] = "/tmp/greta_import_XXXXXX", path[128];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fprintf(f,
          "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\",\n"
          " \"vocab_size\": 97, \"hidden_size\": 64, \"intermediate_size\": 160,\n"
          " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,\n"
          " \"head_dim\": 16, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-05,\n"
          " \"rope_theta\": 10000.0, \"rope_scaling\": null, \"hidden_act\": \"silu\",\n"
          " \"attention_bias\": false, \"mlp_bias\": false, \"tie_word_embeddings\": false,\n"
          " \"torch_dtype\": \"%s\"}\n",
          torch_dtype);
  fclose(f);
  strbuf_t gm = {0};
  import_options_t options = {0};
  greta_status_t st = import_checkpoint(dir, &options, &gm);
  cr_assert_null(st, "%s", greta_status_message(st));
  snprintf(path, sizeof path, "%s/model.gm", dir);
  f = fopen(path, "w");
  cr_assert(f && fwrite(gm.data, 1, gm.len, f) == gm.len && fclose(f) == 0);
  strbuf_free(&gm);
  check_fixture(fx, path);
  unlink(path);
  snprintf(path, sizeof path, "%s/config.json", dir);
  unlink(path);
  rmdir(dir);
}

Test(hf_model, imported_config_f32) { check_imported(&fixtures[0], "float32"); }
Test(hf_model, imported_config_f16) { check_imported(&fixtures[1], "float16"); }
