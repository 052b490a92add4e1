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

enum { MAX_TOKENS = 64 };

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

/* ---- a minimal safetensors reader: just the f32 tensors and metadata ------ */

typedef struct st_file_s {
  char *bytes;
  size_t size;
  char *header; /* NUL-terminated copy of the JSON header */
  const char *data;
  size_t data_size;
} st_file_t;

static void st_open(st_file_t *f, const char *path) {
  FILE *fp = fopen(path, "rb");
  cr_assert(fp, "cannot open %s", path);
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  cr_assert_gt(size, 8, "%s: too short for a safetensors file", path);
  fseek(fp, 0, SEEK_SET);
  f->size = (size_t)size;
  f->bytes = malloc(f->size);
  cr_assert_eq(fread(f->bytes, 1, f->size, fp), f->size);
  fclose(fp);
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= (uint64_t)(unsigned char)f->bytes[i] << (8 * i);
  cr_assert_leq(n, f->size - 8, "%s: header length %llu beyond the file", path,
                (unsigned long long)n);
  f->header = malloc(n + 1);
  memcpy(f->header, f->bytes + 8, n);
  f->header[n] = 0;
  f->data = f->bytes + 8 + n;
  f->data_size = f->size - 8 - n;
}

static void st_close(st_file_t *f) {
  free(f->bytes);
  free(f->header);
}

/* The text after `"key"` and its colon inside [from, end), or NULL. A quoted
 * key cannot match inside a JSON string, whose quotes are escaped. */
static const char *find_key(const char *from, const char *end, const char *key) {
  char quoted[128];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  for (const char *p = strstr(from, quoted); p && p < end; p = strstr(p + 1, quoted)) {
    const char *q = p + strlen(quoted);
    while (*q == ' ') q++;
    if (*q == ':') {
      q++;
      while (*q == ' ') q++;
      return q;
    }
  }
  return NULL;
}

/* The end of the object opening at `p` ('{'): braces inside strings (the
 * metadata holds JSON text as strings) do not count. */
static const char *object_end(const char *p) {
  cr_assert_eq(*p, '{', "expected an object in the header");
  int depth = 0, in_string = 0;
  for (; *p; p++) {
    if (in_string) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_string = 0;
    } else if (*p == '"') {
      in_string = 1;
    } else if (*p == '{') {
      depth++;
    } else if (*p == '}' && --depth == 0) {
      return p;
    }
  }
  cr_assert_fail("an object in the header is not closed");
  return NULL;
}

/* A list of integers "[a, b, ...]" at `p`; returns how many (at most max). */
static int read_ints(const char *p, long long *out, int max) {
  cr_assert_eq(*p, '[', "expected a list in the header");
  int n = 0;
  p++;
  while (*p && *p != ']') {
    char *next;
    long long v = strtoll(p, &next, 10);
    cr_assert(next != p, "expected an integer in the header at \"%.20s\"", p);
    cr_assert_lt(n, max);
    out[n++] = v;
    p = next;
    while (*p == ' ' || *p == ',') p++;
  }
  return n;
}

/* Tensor `name`, which must be F32 of rank 2: a malloc'd copy and its shape. */
static float *st_f32_matrix(const st_file_t *f, const char *name, long long *rows, long long *cols) {
  const char *end = f->header + strlen(f->header);
  const char *obj = find_key(f->header, end, name);
  cr_assert(obj && *obj == '{', "the fixture has no tensor %s", name);
  const char *close = object_end(obj);
  const char *dtype = find_key(obj, close, "dtype");
  cr_assert(dtype && !strncmp(dtype, "\"F32\"", 5), "%s: expected dtype F32", name);
  long long shape[4], offsets[2];
  const char *s = find_key(obj, close, "shape");
  const char *o = find_key(obj, close, "data_offsets");
  cr_assert(s && o, "%s: no shape or data_offsets", name);
  cr_assert_eq(read_ints(s, shape, 4), 2, "%s: expected rank 2", name);
  cr_assert_eq(read_ints(o, offsets, 2), 2, "%s: expected two data_offsets", name);
  size_t bytes = (size_t)(shape[0] * shape[1]) * sizeof(float);
  cr_assert(offsets[0] >= 0 && offsets[1] - offsets[0] == (long long)bytes &&
                (size_t)offsets[1] <= f->data_size,
            "%s: data_offsets [%lld, %lld) do not hold %zu bytes", name, offsets[0], offsets[1],
            bytes);
  float *out = malloc(bytes);
  memcpy(out, f->data + offsets[0], bytes); /* the file is little-endian, as is this host */
  *rows = shape[0];
  *cols = shape[1];
  return out;
}

/* The integer value of a metadata entry (stored as a string, "5"). */
static long long st_meta_int(const st_file_t *f, const char *key) {
  const char *meta = find_key(f->header, f->header + strlen(f->header), "__metadata__");
  cr_assert(meta && *meta == '{', "the fixture has no __metadata__");
  const char *v = find_key(meta, object_end(meta), key);
  cr_assert(v && *v == '"', "the fixture's metadata has no \"%s\"", key);
  return strtoll(v + 1, NULL, 10);
}

/* ---- compiling the .gm ------------------------------------------------------ */

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

/* ||a - b|| / ||b|| of one row, in double (NaN when a holds one). */
static double row_error(const float *a, const float *b, long long dim) {
  double num = 0, den = 0;
  for (long long i = 0; i < dim; i++) {
    double d = (double)a[i] - (double)b[i];
    num += d * d;
    den += (double)b[i] * (double)b[i];
  }
  return sqrt(num / den);
}

static double max_abs_error(const float *a, const float *b, long long n) {
  double m = 0;
  for (long long i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

/* The worst token's error; the per-token figures are appended to `line`. */
static double worst_error(const float *got, const float *want, int tokens, long long dim,
                          char *line, size_t size) {
  double worst = 0;
  size_t used = strlen(line);
  for (int t = 0; t < tokens; t++) {
    double e = row_error(got + t * dim, want + t * dim, dim);
    if (!(e <= worst)) worst = e; /* NaN propagates */
    if (used < size) used += (size_t)snprintf(line + used, size - used, " %.1e", e);
  }
  return worst;
}

static void check_fixture(const fixture_t *fx, greta_backend_kind_t kind) {
  char path[512];
  resolve(path, sizeof path, "tests/fixtures", fx->file);
  st_file_t f;
  st_open(&f, path);
  long long rows, dim, rows_y, dim_y;
  float *x = st_f32_matrix(&f, "greta.input.x", &rows, &dim);
  float *want = st_f32_matrix(&f, "greta.expected.y", &rows_y, &dim_y);
  long long prefill = st_meta_int(&f, "T"), decodes = st_meta_int(&f, "N");
  cr_assert(rows == rows_y && dim == dim_y, "%s: x and y shapes differ", fx->file);
  cr_assert(prefill >= 1 && decodes >= 0 && prefill + decodes == rows && rows <= MAX_TOKENS,
            "%s: T=%lld N=%lld for %lld rows", fx->file, prefill, decodes, rows);

  /* The block must change its input: a fixture whose y were its x (or 0)
   * would let a no-op pass. */
  for (long long t = 0; t < rows; t++)
    cr_assert_gt(row_error(x + t * dim, want + t * dim, dim), 0.1,
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
  double e_steps = worst_error(y, want, (int)rows, dim, line, sizeof line);
  fprintf(stderr, "%s; worst %.2e (tolerance %.0e); max abs error %.2e\n", line, e_steps,
          fx->tolerance, max_abs_error(y, want, rows * dim));

  run_steps(model, device, path, x, dim, one_step, (int)rows, y);
  snprintf(line, sizeof line, "hf_fixtures %s: one prefill of %lld, per token:", fx->file, rows);
  double e_once = worst_error(y, want, (int)rows, dim, line, sizeof line);
  fprintf(stderr, "%s; worst %.2e (tolerance %.0e); max abs error %.2e\n", line, e_once,
          fx->tolerance, max_abs_error(y, want, rows * dim));

  cr_expect_leq(e_steps, fx->tolerance, "%s, prefill + decodes vs HF: %.3e", fx->file, e_steps);
  cr_expect_leq(e_once, fx->tolerance, "%s, one prefill vs HF: %.3e", fx->file, e_once);
  free(y);
  greta_device_destroy(device);
  greta_model_destroy(model);
  free(x);
  free(want);
  st_close(&f);
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
