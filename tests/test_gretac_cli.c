/* gretac's command line: exit codes and messages, run as a user would. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greta/greta.h"
#include "support/support.h"

#define GRETAC GRETA_BINARY_DIR "/compiler/gretac"
#define EXAMPLES GRETA_SOURCE_DIR "/examples/"

/* Runs gretac with `args` (a shell fragment); returns its exit code and its
 * stdout + stderr in *out (caller frees). */
static int gretac(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s", GRETAC, args);
  return support_run(cmd, out);
}

static void expect(const char *args, int code, const char *needle) {
  char *out;
  int rc = gretac(args, &out);
  cr_expect_eq(rc, code, "gretac %s: exit %d, expected %d; output:\n%s", args, rc, code, out);
  cr_expect(strstr(out, needle), "gretac %s: output lacks \"%s\":\n%s", args, needle, out);
  free(out);
}

Test(gretac_cli, help_and_version) {
  expect("--help", 0, "usage: gretac [options] input.gm -o output");
  expect("--version", 0, "gretac 0.1.0");
}

Test(gretac_cli, usage_errors_exit_2) {
  expect("", 2, "no input file");
  expect("--bogus x.gm", 2, "unknown option '--bogus'");
  expect(EXAMPLES "tiny_block.gm --target=gfx1234", 2, "gfx1234");
  expect(EXAMPLES "tiny_block.gm --emit=asm", 2, "unknown --emit 'asm'");
  expect(EXAMPLES "tiny_block.gm --toolchain=gcc", 2, "unknown --toolchain 'gcc'");
  expect(EXAMPLES "tiny_block.gm --max-tokens=0", 2, "--max-tokens needs a whole number");
  expect(EXAMPLES "tiny_block.gm a.gm", 2, "more than one input file");
  expect(EXAMPLES "tiny_block.gm --target=cpu", 2, "no output file: give -o FILE");
  expect(EXAMPLES "tiny_block.gm --target=cpu --emit=src", 2, "generates no source");
}

Test(gretac_cli, input_errors_exit_1) {
  expect("/nonexistent/model.gm -o x", 1, "/nonexistent/model.gm");
}

Test(gretac_cli, emits_ir_plan_and_dot) {
  expect(EXAMPLES "tiny_block.gm --emit=ir", 0, "rmsnorm");
  expect(EXAMPLES "tiny_block.gm --emit=ir-fused", 0, "matmul_glu");
  expect(EXAMPLES "tiny_block.gm --emit=ir-fused", 0, "matmul_qkv");
  expect(EXAMPLES "tiny_block.gm --emit=ir-fused", 0, "matmul_add");
  expect(EXAMPLES "tiny_block.gm --emit=dot", 0, "digraph");
  expect(EXAMPLES "tiny_block.gm --emit=plan --target=cpu", 0, "entry decode (T in 1..1)");
  expect(EXAMPLES "tiny_block.gm --emit=plan --target=sm_90", 0, "attention_decode");
  expect(EXAMPLES "tiny_block.gm --emit=plan --target=sm_90", 0, "entry decode (T in 1..1): 5 launches");
  expect(EXAMPLES "tiny_block.gm --emit=plan --target=sm_90", 0, "entry bind");
}

Test(gretac_cli, cpu_plan_file_loads) {
  char path[] = "/tmp/greta_cli_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  char args[512];
  snprintf(args, sizeof args, EXAMPLES "tiny_block.gm --target=cpu -o %s", path);
  expect(args, 0, "wrote");
  greta_model_t *model;
  greta_status_t st = greta_model_open(path, &model);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_expect_str_eq(greta_model_target(model), "cpu");
  cr_expect_eq(greta_model_input_count(model), 1);
  greta_model_destroy(model);
  remove(path);
}

/* A checkpoint directory: `gretac import DIR` prints the .gm, `gretac DIR`
 * compiles it, the import options belong to a directory only. */
Test(gretac_cli, import_a_checkpoint_directory) {
  char dir[] = "/tmp/greta_cli_import_XXXXXX", path[128], args[512];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
        " \"vocab_size\": 100, \"max_position_embeddings\": 64, \"torch_dtype\": \"float16\"}",
        f);
  fclose(f);
  snprintf(args, sizeof args, "import %s", dir);
  expect(args, 0, "set weight_dtype = f16");
  snprintf(args, sizeof args, "import %s --max-seq 32 --kv-dtype f32", dir);
  expect(args, 0, "set kv_dtype = f32");
  snprintf(args, sizeof args, "%s --target=cpu --emit=plan --max-seq 32", dir);
  expect(args, 0, "KV cache f16 8.0 KiB (max_seq 32");
  snprintf(args, sizeof args, "import %s --kv-dtype f8", dir);
  expect(args, 2, "--kv-dtype 'f8': expected f32, f16 or bf16");
  snprintf(args, sizeof args, "import %s --dtype int4", dir);
  expect(args, 1, "--dtype int4: expected f32, f16 or bf16");
  expect("import", 2, "no checkpoint directory");
  expect("import /nonexistent_dir", 1, "is /nonexistent_dir a checkpoint directory?");
  expect(EXAMPLES "tiny_block.gm --max-seq 8 --emit=ir", 2, "apply to a checkpoint directory");
  unlink(path);
  rmdir(dir);
}

/* Every family the import knows (tests/fixtures/import_configs) compiles
 * from its checkpoint directory to a CPU model that loads, its logits one
 * row; a config it refuses exits 1 naming the field. */
Test(gretac_cli, every_imported_family_compiles_for_the_cpu) {
  static const char *const families[] = {"llama2",  "llama3",  "llama3_1", "llama3_2",
                                         "tinyllama", "mistral", "smollm2", "qwen2"};
  char out[] = "/tmp/greta_cli_family_XXXXXX";
  int fd = mkstemp(out);
  cr_assert(fd >= 0);
  close(fd);
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    char args[1024];
    snprintf(args, sizeof args,
             "%s/tests/fixtures/import_configs/%s --target=cpu --max-seq 256 -o %s",
             GRETA_SOURCE_DIR, families[i], out);
    expect(args, 0, "for cpu");
    greta_model_t *model;
    greta_status_t st = greta_model_open(out, &model);
    cr_assert_null(st, "%s: %s", families[i], greta_status_message(st));
    const greta_tensor_info_t *logits = greta_model_output(model, 0);
    cr_expect(logits && logits->rank == 2 && !logits->dims[0].symbol && logits->dims[0].coeff == 1,
              "%s: logits are not one row", families[i]);
    greta_model_destroy(model);
  }
  unlink(out);
  char dir[] = "/tmp/greta_cli_refuse_XXXXXX", path[128], args[512];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
        " \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}",
        f);
  fclose(f);
  snprintf(args, sizeof args, "import %s", dir);
  expect(args, 1, "rope_scaling.rope_type \"yarn\" is not supported (default, llama3)");
  snprintf(args, sizeof args, "%s --target=cpu -o /dev/null", dir);
  expect(args, 1, "rope_scaling.rope_type \"yarn\"");
  unlink(path);
  rmdir(dir);
}

/* Occurrences of `needle` in text [from, to). */
static int count_in(const char *from, const char *to, const char *needle) {
  int n = 0;
  for (const char *p = strstr(from, needle); p && p < to; p = strstr(p + 1, needle)) n++;
  return n;
}

/* The 7B with f16 weights: in its prefill entry every GEMM of the 32 blocks
 * and the LM head reads x stored in f16 (q/k/v and gate/up from rms_scale,
 * o from attention, down from gate/up's GLU epilogue; ops.def), and the
 * decode entry keeps every activation f32. gate/up is one matmul_glu launch
 * and q/k/v one matmul_qkv in both entries: no glu or qkv_rope_append launch
 * is left. */
Test(gretac_cli, prefill_stores_gemm_x_in_half) {
  char *out;
  int rc = gretac(EXAMPLES "llama2_7b.gm --emit=plan --target=cpu", &out);
  cr_assert_eq(rc, 0, "%s", out);
  const char *decode = strstr(out, "entry decode"), *prefill = strstr(out, "entry prefill");
  const char *bind = strstr(out, "entry bind");
  cr_assert(decode && prefill && bind && decode < prefill && prefill < bind, "%s", out);
  cr_expect_eq(count_in(decode, prefill, " x f16"), 0);
  cr_expect_eq(count_in(decode, prefill, " out f16"), 0);
  cr_expect_eq(count_in(prefill, bind, " x f16"), 4 * 32 + 1, "q/k/v, o, gate/up, down; the head");
  cr_expect_eq(count_in(prefill, bind, " out f16"), 2 * 32 + 32 + 32 + 1,
               "rms_scale twice a block, attention, matmul_glu; the final norm");
  cr_expect_eq(count_in(decode, prefill, "\n  matmul_glu "), 32);
  cr_expect_eq(count_in(prefill, bind, "\n  matmul_glu "), 32);
  cr_expect_eq(count_in(prefill, bind, "\n  glu "), 0);
  cr_expect_eq(count_in(prefill, bind, "\n  matmul_qkv "), 32);
  cr_expect_eq(count_in(prefill, bind, "\n  qkv_rope_append "), 0);
  free(out);
}

/* The prefill plan of `text` (a .gm model written to a temporary file):
 * how many launches read half x and write half outputs, and (when not NULL)
 * how many are matmul_glu and glu. */
static void prefill_counts(const char *text, int *x_half, int *out_half, int *matmul_glu,
                           int *glu) {
  char path[] = "/tmp/greta_cli_half_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  char args[512], *out;
  snprintf(args, sizeof args, "%s --emit=plan --target=cpu", path);
  int rc = gretac(args, &out);
  remove(path);
  cr_assert_eq(rc, 0, "%s", out);
  const char *prefill = strstr(out, "entry prefill");
  cr_assert(prefill, "%s", out);
  const char *end = strstr(prefill, "entry bind");
  if (!end) end = prefill + strlen(prefill);
  *x_half = count_in(prefill, end, " x f16");
  *out_half = count_in(prefill, end, " out f16");
  if (matmul_glu) *matmul_glu = count_in(prefill, end, "\n  matmul_glu ");
  if (glu) *glu = count_in(prefill, end, "\n  glu ");
  free(out);
}

static void half_counts(const char *text, int *x_half, int *out_half) {
  prefill_counts(text, x_half, out_half, NULL, NULL);
}

/* What does not take half x: K not a multiple of 64, a value that is also
 * an output, a value also read as a residual. A model of a norm feeding a
 * gate/up pair and a down projection (dim 128; ffn as given). */
Test(gretac_cli, half_x_only_where_every_reader_is_such_a_gemm) {
  static const char *const fmt =
      "model half_rule\n"
      "set weight_dtype = f16\n"
      "dim T\n"
      "input x: f32[T, 128]\n"
      "weight g: [128] = \"g\"\n"
      "weight w1: [%d, 128] = \"w1\"\n"
      "weight w3: [%d, 128] = \"w3\"\n"
      "weight w2: [128, %d] = \"w2\"\n"
      "h = rmsnorm(x, g, 1e-5)\n"
      "a = silu(h @ w1.T) * (h @ w3.T)\n"
      "output y = x + a @ w2.T\n"
      "%s";
  char text[1024];
  int xh, oh;
  /* ffn 192: rms_scale -> gate/up, glu -> down, both in half. */
  snprintf(text, sizeof text, fmt, 192, 192, 192, "");
  half_counts(text, &xh, &oh);
  cr_expect_eq(xh, 2, "gate/up and down read half x");
  cr_expect_eq(oh, 2, "rms_scale and glu write half");
  /* ffn 160: down's K is not a multiple of 64, so glu stays f32. */
  snprintf(text, sizeof text, fmt, 160, 160, 160, "");
  half_counts(text, &xh, &oh);
  cr_expect_eq(xh, 1, "only gate/up");
  cr_expect_eq(oh, 1, "only rms_scale");
  /* The glu output is also an output of the model: stored f32. */
  snprintf(text, sizeof text, fmt, 192, 192, 192, "output a_out = a\n");
  half_counts(text, &xh, &oh);
  cr_expect_eq(oh, 1, "an output stays f32");
}

/* Prefill's gate/up GEMM takes silu(gate) up as its epilogue exactly where
 * it reads half x (a half weight, 64 | dim: templates/gemm.h's virtual
 * weight needs the matrix-core tiles); otherwise the GEMM writes the
 * stacked [T, 2 ffn] and a glu launch follows. */
Test(gretac_cli, prefill_glu_in_the_gemm_epilogue_where_it_reads_half_x) {
  static const char *const fmt =
      "model glu_rule\n"
      "set weight_dtype = %s\n"
      "dim T\n"
      "input x: f32[T, %d]\n"
      "weight g: [%d] = \"g\"\n"
      "weight w1: [40, %d] = \"w1\"\n"
      "weight w3: [40, %d] = \"w3\"\n"
      "h = rmsnorm(x, g, 1e-5)\n"
      "output y = silu(h @ w1.T) * (h @ w3.T)\n";
  static const struct {
    const char *dtype;
    int dim, fused;
  } cases[] = {{"f16", 128, 1}, {"bf16", 64, 1}, {"f16", 96, 0}, {"f32", 128, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[1024];
    const int d = cases[i].dim;
    snprintf(text, sizeof text, fmt, cases[i].dtype, d, d, d, d);
    int xh, oh, matmul_glu, glu;
    prefill_counts(text, &xh, &oh, &matmul_glu, &glu);
    cr_expect_eq(matmul_glu, cases[i].fused, "%s dim %d", cases[i].dtype, d);
    cr_expect_eq(glu, !cases[i].fused, "%s dim %d", cases[i].dtype, d);
  }
}

/* Prefill matmul launches between `from` and `to` of a plan listing whose
 * operand list has `n` entries. */
static int matmuls_with_operands(const char *from, const char *to, int n) {
  int count = 0;
  for (const char *p = strstr(from, "\n  matmul "); p && p < to; p = strstr(p + 1, "\n  matmul ")) {
    const char *open = strchr(p, '('), *close = open ? strchr(open, ')') : NULL;
    if (!close || close > to) break;
    int commas = 0;
    for (const char *c = open; c < close; c++) commas += *c == ',';
    count += commas + 1 == n;
  }
  return count;
}

/* Split-K: on sm_90 the 7B's prefill o and down matmuls (f16, 64 | K,
 * K >= 256) carry split_k and the step's workspace as a fifth operand, one
 * buffer for all of them (16.5 MiB more arena); decode, the CPU target,
 * sm_80 and gretac with GRETA_SPLIT_K=0 keep four operands. */
Test(gretac_cli, split_k_workspace_on_sm90) {
  static const struct {
    const char *target;
    int off, split;
  } cases[] = {{"sm_90", 0, 64}, {"sm_90", 1, 0}, {"cpu", 0, 0}, {"sm_80", 0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].off) setenv("GRETA_SPLIT_K", "0", 1);
    char args[256], *out;
    snprintf(args, sizeof args, EXAMPLES "llama2_7b.gm --emit=plan --target=%s", cases[i].target);
    int rc = gretac(args, &out);
    unsetenv("GRETA_SPLIT_K");
    cr_assert_eq(rc, 0, "%s", out);
    const char *decode = strstr(out, "entry decode"), *prefill = strstr(out, "entry prefill");
    const char *bind = strstr(out, "entry bind");
    cr_assert(decode && prefill && bind, "%s", out);
    cr_expect_eq(matmuls_with_operands(prefill, bind, 5), cases[i].split, "%s, off %d",
                 cases[i].target, cases[i].off);
    cr_expect_eq(matmuls_with_operands(decode, prefill, 5), 0);
    free(out);
  }
}

/* Two launches share a kernel exactly when their instantiations are the
 * same text: in the 7B's source for sm_90 no two kernel definitions are the
 * same once their names are taken out, and the prefill entry's embedding
 * (the same kernel as decode's, at its own grid) names decode's kernel. */
Test(gretac_cli, a_kernel_for_each_distinct_instantiation) {
  char *src, *plan;
  int rc = gretac(EXAMPLES "llama2_7b.gm --emit=src --target=sm_90", &src);
  cr_assert_eq(rc, 0, "%s", src);
  enum { MAX = 64 };
  char *body[MAX];
  int n = 0;
  const char *head = "extern \"C\" __global__ void";
  for (const char *at = strstr(src, head); at; at = strstr(at + 1, head)) {
    cr_assert_lt(n, MAX);
    const char *name = strchr(at, '\n') + 1, *end = strstr(at, "\n}\n");
    cr_assert(end, "a kernel without its closing brace");
    size_t name_len = strcspn(name, "(");
    /* The definition with each occurrence of its name cut out. */
    char *text = calloc((size_t)(end - at) + 1, 1), *w = text;
    cr_assert(text, "out of memory");
    for (const char *p = at; p < end;)
      if (strncmp(p, name, name_len) == 0) p += name_len;
      else *w++ = *p++;
    body[n++] = text;
  }
  cr_assert_gt(n, 5, "%d kernels", n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      cr_expect_str_neq(body[i], body[j], "kernels %d and %d are the same instantiation", j, i);
  for (int i = 0; i < n; i++) free(body[i]);
  free(src);

  rc = gretac(EXAMPLES "llama2_7b.gm --emit=plan --target=sm_90", &plan);
  cr_assert_eq(rc, 0, "%s", plan);
  const char *decode = strstr(plan, "entry decode"), *prefill = strstr(plan, "entry prefill");
  cr_assert(decode && prefill, "%s", plan);
  cr_expect_eq(count_in(decode, prefill, "\n  embedding          greta_embedding_0 "), 1, "%s", plan);
  cr_expect_eq(count_in(prefill, prefill + strlen(prefill), "\n  embedding          greta_embedding_0 "),
               1, "%s", plan);
  free(plan);
}
