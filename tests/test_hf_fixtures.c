/* Numerics against Hugging Face transformers: golden fixtures made by
 * bench/hf_reference.py with transformers' own LlamaDecoderLayer (eager
 * attention, a prefill of T tokens then N single-token decodes through a
 * DynamicCache). Each fixture is one safetensors file holding the weights
 * under HF's names, the block's input rows (greta.input.x) and HF's output
 * rows (greta.expected.y). Here the matching .gm is compiled for the CPU,
 * its weights bound from the same file, the same steps run, and every
 * token's ||ours - hf|| / ||hf|| checked. docs/numerics.md has the figures. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

enum { MAX_TOKENS = 512 }; /* the 7B block's max_tokens: bench/hf_7b.sh runs 508 + 4 rows */

typedef struct fixture_s {
  const char *file;   /* under tests/fixtures/, or a path (GRETA_HF_FIXTURE) */
  const char *source; /* under examples/, or a path (GRETA_HF_MODEL) */
  const char *dtype;  /* the weights' dtype, as HF computed with them */
  double tolerance;   /* on the worst token's relative error */
} fixture_t;

/* A path as given when it has a '/', else under GRETA_SOURCE_DIR/dir. */
static void resolve(char *out, size_t size, const char *dir, const char *name) {
  if (strchr(name, '/')) snprintf(out, size, "%s", name);
  else snprintf(out, size, "%s/%s/%s", GRETA_SOURCE_DIR, dir, name);
}

/* examples/<source> with its weight_dtype set to `dtype`, compiled for
 * `target_name` (the device's target). */
static greta_model_t *compile_for(const char *source, const char *dtype, const char *target_name,
                                  int64_t max_tokens) {
  char path[512], *log = NULL;
  resolve(path, sizeof path, "examples", source);
  greta_model_t *model = support_compile_file(path, dtype, target_name, max_tokens, &log);
  cr_assert(model, "%s: gretac failed for %s: %s", source, target_name, log);
  free(log);
  return model;
}

/* ---- running and comparing ------------------------------------------------- */

/* Runs the steps (token counts summing to `tokens`) from position 0 with the
 * weights bound from `path`; y gets every token's output row. */
static void run_steps(greta_model_t *model, greta_device_t *device, const char *path,
                      const float *x, long long dim, const int *steps, int tokens, float *y) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  st = greta_session_bind_safetensors(s, path);
  cr_assert_null(st, "binding the fixture's weights (it also holds greta.* tensors): %s",
                 greta_status_message(st));
  for (int k = 0, pos = 0; pos < tokens; pos += steps[k++]) {
    size_t n = (size_t)steps[k] * (size_t)dim, bytes = n * sizeof(float);
    for (size_t i = 0; i < n; i++) y[pos * dim + (long long)i] = NAN; /* poison */
    st = greta_session_set_input(s, "x", x + pos * dim, bytes);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, steps[k], pos);
    cr_assert_null(st, "step T=%d pos=%d: %s", steps[k], pos, greta_status_message(st));
    st = greta_session_get_output(s, "y", y + pos * dim, bytes);
    cr_assert_null(st, "%s", greta_status_message(st));
  }
  greta_session_destroy(s);
}

static void check_fixture(const fixture_t *fx, greta_backend_kind_t kind) {
  char path[512];
  resolve(path, sizeof path, "tests/fixtures", fx->file);
  support_st_t f;
  support_st_open(&f, path);
  long long xs[4], ys[4];
  float *x = support_st_tensor(&f, "greta.input.x", "F32", 2, xs);
  float *want = support_st_tensor(&f, "greta.expected.y", "F32", 2, ys);
  long long rows = xs[0], dim = xs[1], rows_y = ys[0], dim_y = ys[1];
  long long prefill = support_st_meta_int(&f, "T"), decodes = support_st_meta_int(&f, "N");
  cr_assert(rows == rows_y && dim == dim_y, "%s: x and y shapes differ", fx->file);
  cr_assert(prefill >= 1 && decodes >= 0 && prefill + decodes == rows && rows <= MAX_TOKENS,
            "%s: T=%lld N=%lld for %lld rows", fx->file, prefill, decodes, rows);

  /* The block must change its input: a fixture whose y were its x (or 0)
   * would let a no-op pass. */
  for (long long t = 0; t < rows; t++)
    cr_assert_gt(support_rel_error(x + t * dim, want + t * dim, dim), 0.1,
                 "%s: token %lld's expected output is too close to its input", fx->file, t);

  greta_device_t *device;
  greta_status_t st = greta_device_open(kind, 0, &device);
  cr_assert_null(st, "device: %s", greta_status_message(st));
  greta_model_t *model = compile_for(fx->source, fx->dtype, greta_device_target(device), rows);
  const greta_tensor_info_t *in = greta_model_input(model, 0);
  cr_assert(in && in->rank == 2 && in->dims[1].coeff == dim,
            "%s: the model's input is not [T, %lld]", fx->source, dim);
  for (int i = 0; i < greta_model_weight_count(model); i++)
    cr_assert_str_eq(greta_dtype_name(greta_model_weight(model, i)->dtype), fx->dtype,
                     "%s: weight %s is not stored as %s", fx->source,
                     greta_model_weight(model, i)->name, fx->dtype);

  /* As HF ran it: a prefill of T, then N decodes; and all rows in one prefill. */
  int hf_steps[MAX_TOKENS], one_step[1] = {(int)rows}, n = 0;
  hf_steps[n++] = (int)prefill;
  for (long long i = 0; i < decodes; i++) hf_steps[n++] = 1;
  float *y = malloc((size_t)(rows * dim) * sizeof(float));
  char line[1024];
  run_steps(model, device, path, x, dim, hf_steps, (int)rows, y);
  snprintf(line, sizeof line, "hf_fixtures %s on %s: prefill %lld + %lld decodes, per token:",
           fx->file, greta_device_name(device), prefill, decodes);
  double e_steps = support_worst_row_error(y, want, (int)rows, dim, line, sizeof line);
  fprintf(stderr, "%s; worst %.2e (tolerance %.0e); max abs error %.2e\n", line, e_steps,
          fx->tolerance, support_max_abs_error(y, want, rows * dim));

  run_steps(model, device, path, x, dim, one_step, (int)rows, y);
  snprintf(line, sizeof line, "hf_fixtures %s: one prefill of %lld, per token:", fx->file, rows);
  double e_once = support_worst_row_error(y, want, (int)rows, dim, line, sizeof line);
  fprintf(stderr, "%s; worst %.2e (tolerance %.0e); max abs error %.2e\n", line, e_once,
          fx->tolerance, support_max_abs_error(y, want, rows * dim));

  cr_expect_leq(e_steps, fx->tolerance, "%s, prefill + decodes vs HF: %.3e", fx->file, e_steps);
  cr_expect_leq(e_once, fx->tolerance, "%s, one prefill vs HF: %.3e", fx->file, e_once);
  free(y);
  greta_device_destroy(device);
  greta_model_destroy(model);
  free(x);
  free(want);
  support_st_close(&f);
}

/* f32: HF computed in f32 too, so only summation order differs.
 * f16: HF computed in f16 (its half path); we compute in f32 from the same
 * f16 weights, so the figure is mostly HF's own half-precision rounding. */
static const fixture_t fixtures[] = {
    {"hf_tiny_block_f32.safetensors", "tiny_block.gm", "f32", 1e-5},
    {"hf_tiny_block_f16.safetensors", "tiny_block.gm", "f16", 5e-3},
    {"hf_tiny_block_hd32_f32.safetensors", "tiny_block_hd32.gm", "f32", 1e-5},
    {"hf_tiny_block_hd32_f16.safetensors", "tiny_block_hd32.gm", "f16", 5e-3},
};

Test(hf_fixtures, tiny_block_f32) { check_fixture(&fixtures[0], GRETA_BACKEND_CPU); }
Test(hf_fixtures, tiny_block_f16) { check_fixture(&fixtures[1], GRETA_BACKEND_CPU); }
Test(hf_fixtures, tiny_block_hd32_f32) { check_fixture(&fixtures[2], GRETA_BACKEND_CPU); }
Test(hf_fixtures, tiny_block_hd32_f16) { check_fixture(&fixtures[3], GRETA_BACKEND_CPU); }

/* A fixture too large to commit (the Llama-2-7B shape), made on the GPU
 * machine by bench/hf_7b.sh and checked on the best device present:
 *   GRETA_HF_FIXTURE=file GRETA_HF_MODEL=examples/llama2_block.gm
 *   GRETA_HF_DTYPE=f32|f16 GRETA_HF_TOLERANCE=1e-5 */
Test(hf_fixtures, external) {
  const char *file = getenv("GRETA_HF_FIXTURE"), *model = getenv("GRETA_HF_MODEL");
  if (!file || !model) cr_skip_test("GRETA_HF_FIXTURE / GRETA_HF_MODEL not set (bench/hf_7b.sh sets them)");
  const char *dtype = getenv("GRETA_HF_DTYPE"), *tol = getenv("GRETA_HF_TOLERANCE");
  fixture_t fx = {file, model, dtype ? dtype : "f32", tol ? atof(tol) : 1e-5};
  check_fixture(&fx, GRETA_BACKEND_AUTO);
}
