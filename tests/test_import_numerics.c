/* `gretac import` against transformers on whole checkpoints it wrote
 * (tests/fixtures/hf_import, made by bench/hf_import_reference.py with
 * transformers 5.17 on the CPU): each fixture is a directory save_pretrained
 * wrote (config.json, model.safetensors in bf16) and a file of token ids
 * and transformers' f32 logits for every token of a prefill of T tokens
 * then N single-token decodes.
 *
 *   llama3_tied  Llama-3.2 style: RoPE scaling of type llama3 (in
 *                transformers 5's rope_parameters), rope_theta 500000,
 *                tied embeddings (the file has no lm_head.weight), GQA.
 *   qwen2_bias   Qwen2: q/k/v bias, rms_norm_eps 1e-6, rope_theta 1e6.
 *
 * The directory is imported (its .gm uses last(): one row of logits per
 * step), compiled for the CPU, its weights bound from the directory's own
 * file, and each step's logits compared with transformers' row of that
 * step's last token: ||ours - hf|| / ||hf|| and the argmax. transformers
 * computed in f32 with the same bf16-valued weights, so only the order of
 * sums differs. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greta/greta.h"
#include "import.h"
#include "support.h"

enum { MAX_TOKENS = 64 };

static long long argmax(const float *row, long long n) {
  long long best = 0;
  for (long long i = 1; i < n; i++)
    if (row[i] > row[best]) best = i;
  return best;
}

/* Imports fixture directory `dir` (weights stored as `dtype`, NULL: the
 * config's) into a .gm under /tmp; returns its path (malloc'd) and the .gm
 * text in *out_text. */
static char *import_fixture(const char *dir, const char *dtype, char **out_text) {
  strbuf_t gm = {0};
  import_options_t options = {.dtype = dtype};
  greta_status_t st = import_checkpoint(dir, &options, &gm);
  cr_assert_null(st, "import %s: %s", dir, greta_status_message(st));
  char *path = strdup("/tmp/greta_import_numerics_XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  cr_assert(f && fwrite(gm.data, 1, gm.len, f) == gm.len && fclose(f) == 0);
  *out_text = strbuf_take(&gm);
  return path;
}

/* Runs `steps` token counts from position 0; logits gets each step's one
 * row (the step's last token) at that token's row. */
static void run_steps(greta_model_t *model, greta_device_t *device, const char *weights,
                      const int32_t *ids, long long vocab, const int *steps, int n_steps,
                      float *logits) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  st = greta_session_bind_safetensors(s, weights);
  cr_assert_null(st, "binding %s: %s", weights, greta_status_message(st));
  for (int k = 0, pos = 0; k < n_steps; pos += steps[k++]) {
    st = greta_session_set_input(s, "tokens", ids + pos, (size_t)steps[k] * sizeof(int32_t));
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, steps[k], pos);
    cr_assert_null(st, "step T=%d pos=%d: %s", steps[k], pos, greta_status_message(st));
    /* One row, whatever T: asking for T rows' bytes would be refused. */
    float *row = logits + (pos + steps[k] - 1) * vocab;
    st = greta_session_get_output(s, "logits", row, (size_t)vocab * sizeof(float));
    cr_assert_null(st, "%s", greta_status_message(st));
  }
  greta_session_destroy(s);
}

/* A GPU device (HIP, else CUDA), or NULL with the reasons printed. */
static greta_device_t *open_gpu(void) {
  const greta_backend_kind_t kinds[] = {GRETA_BACKEND_HIP, GRETA_BACKEND_CUDA};
  for (int k = 0; k < 2; k++) {
    greta_device_t *gpu = NULL;
    greta_status_t st = greta_device_open(kinds[k], 0, &gpu);
    if (!st) return gpu;
    fprintf(stderr, "import_numerics: %s\n", greta_status_message(st));
    greta_status_free(st);
  }
  return NULL;
}

/* `dtype`: the storage (--dtype), NULL for the config's bf16. `gpu`: run on
 * that device, compiled for its target (NULL: the CPU backend). */
static void check_on(const char *name, const char *must_have, const char *dtype, double tolerance,
                     greta_device_t *gpu) {
  char dir[400], expected[512], weights[512];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/hf_import/%s", GRETA_SOURCE_DIR, name);
  snprintf(expected, sizeof expected, "%s_expected.safetensors", dir);
  snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
  support_st_t f;
  support_st_open(&f, expected);
  long long ids_shape[4], logits_shape[4];
  int32_t *ids = support_st_tensor(&f, "greta.input.tokens", "I32", 1, ids_shape);
  float *want = support_st_tensor(&f, "greta.expected.logits", "F32", 2, logits_shape);
  const long long rows = ids_shape[0], vocab = logits_shape[1];
  const long long prefill = support_st_meta_int(&f, "T"), decodes = support_st_meta_int(&f, "N");
  cr_assert(prefill >= 2 && decodes >= 1 && prefill + decodes == rows && rows <= MAX_TOKENS);

  char *text, *log = NULL;
  char *gm = import_fixture(dir, dtype, &text);
  cr_assert(strstr(text, must_have), "%s: the imported .gm lacks \"%s\":\n%s", name, must_have, text);
  cr_assert(strstr(text, "rmsnorm(last(h), final_norm, eps) @ lm_head.T"), "%s", text);
  const char *target = gpu ? greta_device_target(gpu) : "cpu";
  greta_model_t *model = support_compile_file(gm, NULL, target, rows, &log);
  cr_assert(model, "%s: gretac failed for %s: %s", name, target, log);
  free(log);
  /* Reflection: logits are one row, whatever T. */
  const greta_tensor_info_t *out = greta_model_output(model, 0);
  cr_assert(out && !strcmp(out->name, "logits") && out->rank == 2 && !out->dims[0].symbol &&
                out->dims[0].coeff == 1 && !out->dims[1].symbol && out->dims[1].coeff == vocab,
            "%s: the output is not logits: f32[1, %lld]", name, vocab);
  greta_device_t *device = gpu;
  if (!gpu) {
    greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
    cr_assert_null(st, "%s", greta_status_message(st));
  }

  int hf_steps[MAX_TOKENS], one[1] = {(int)rows}, n = 0;
  hf_steps[n++] = (int)prefill;
  for (long long i = 0; i < decodes; i++) hf_steps[n++] = 1;
  float *got = malloc((size_t)(rows * vocab) * sizeof(float));
  for (int pass = 0; pass < 2; pass++) {
    const int *steps = pass ? one : hf_steps;
    int n_steps = pass ? 1 : n;
    run_steps(model, device, weights, ids, vocab, steps, n_steps, got);
    for (int k = 0, pos = 0; k < n_steps; pos += steps[k++]) {
      long long t = pos + steps[k] - 1;
      double err = support_rel_error(got + t * vocab, want + t * vocab, vocab);
      fprintf(stderr,
              "import_numerics %s on %s (%s storage), %s: token %lld (T = %d at %d): rel error "
              "%.2e\n",
              name, target, dtype ? dtype : "bf16", pass ? "one prefill" : "prefill + decodes", t,
              steps[k], pos, err);
      cr_expect_leq(err, tolerance, "%s: token %lld: %.3e", name, t, err);
      cr_expect_eq(argmax(got + t * vocab, vocab), argmax(want + t * vocab, vocab),
                   "%s: token %lld's argmax", name, t);
    }
  }
  free(got);
  if (!gpu) greta_device_destroy(device);
  greta_model_destroy(model);
  unlink(gm);
  free(gm);
  free(text);
  free(ids);
  free(want);
  support_st_close(&f);
}

/* f32 storage (--dtype f32; the bf16 values bound exactly): only the order
 * of f32 sums differs from transformers (measured 3e-7 .. 6e-7). bf16
 * storage, as the config says: fold_norm rounds W diag(g) to bf16 at bind
 * time (8 significant bits: ~2e-3 per weight; measured 2.8e-3 .. 3.8e-3 on
 * the logits), the price of folding the norms. */
static void check(const char *name, const char *must_have, const char *dtype, double tolerance) {
  check_on(name, must_have, dtype, tolerance, NULL);
}

static const char llama3_line[] = "set rope_scaling = llama3(8.0, 1.0, 4.0, 64.0)";

Test(import_numerics, llama3_rope_scaling_tied_embeddings_f32) {
  check("llama3_tied", llama3_line, "f32", 1e-5);
}
Test(import_numerics, llama3_rope_scaling_tied_embeddings_bf16) {
  check("llama3_tied", llama3_line, NULL, 1e-2);
}
Test(import_numerics, qwen2_qkv_bias_f32) { check("qwen2_bias", "h @ wq.T + bq", "f32", 1e-5); }
Test(import_numerics, qwen2_qkv_bias_bf16) { check("qwen2_bias", "h @ wq.T + bq", NULL, 1e-2); }

/* The same on a GPU when there is one (the H200 machine: CUDA, sm_90), with
 * f32 storage: the GPU's f32 GEMMs and GEMVs sum in other orders (no TF32). */
Test(import_numerics, on_the_gpu) {
  greta_device_t *gpu = open_gpu();
  if (!gpu) {
    fprintf(stderr, "import_numerics: no GPU, the GPU variant not run\n");
    return;
  }
  check_on("llama3_tied", llama3_line, "f32", 1e-4, gpu);
  check_on("qwen2_bias", "h @ wq.T + bq", "f32", 1e-4, gpu);
  check_on("llama3_tied", llama3_line, NULL, 1e-2, gpu);
  greta_device_destroy(gpu);
}
