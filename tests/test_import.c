/* compiler/import: config.json -> .gm. What a config becomes (numbers, the
 * capped max_seq, dtypes, a tied head) and every refusal naming the field.
 * Whether an imported model computes what transformers does is
 * tests/test_hf_model.c's imported_config tests. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend.h"
#include "import.h"
#include "passes.h"

static char dir[] = "/tmp/greta_import_test_XXXXXX";

static void make_dir(void) { cr_assert(mkdtemp(dir)); }
static void remove_dir(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", dir);
  unlink(path);
  rmdir(dir);
}
TestSuite(import, .init = make_dir, .fini = remove_dir);

/* A Llama config with `extra` fields spliced in (each ", \"k\": v"). */
static void write_config(const char *extra, const char *model_type) {
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fprintf(f,
          "{\"model_type\": \"%s\", \"hidden_size\": 64, \"intermediate_size\": 160,"
          " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
          " \"vocab_size\": 100, \"rms_norm_eps\": 1e-06, \"torch_dtype\": \"bfloat16\"%s}",
          model_type, extra);
  fclose(f);
}

static char *import_ok(const import_options_t *o) {
  strbuf_t gm = {0};
  greta_status_t st = import_checkpoint(dir, o, &gm);
  cr_assert_null(st, "%s", greta_status_message(st));
  return strbuf_take(&gm);
}

static void import_fails(greta_status_code_t code, const char *needle) {
  strbuf_t gm = {0};
  import_options_t o = {0};
  greta_status_t st = import_checkpoint(dir, &o, &gm);
  cr_assert(st, "imported, expected a refusal with \"%s\"", needle);
  cr_assert_eq(greta_status_code(st), code, "%s", greta_status_message(st));
  cr_assert(strstr(greta_status_message(st), needle), "\"%s\" lacks \"%s\"",
            greta_status_message(st), needle);
  greta_status_free(st);
  strbuf_free(&gm);
}

static void expect_line(const char *gm, const char *line) {
  cr_assert(strstr(gm, line), "the .gm lacks \"%s\":\n%s", line, gm);
}

/* The text must compile and fuse like a hand-written model. */
static void compiles(const char *gm) {
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("imported.gm", gm, strlen(gm), stderr, &errors);
  cr_assert(g && errors == 0, "the imported model does not compile:\n%s", gm);
  cr_assert_eq(passes_run(g, stderr), 0);
  ir_graph_destroy(g);
}

Test(import, a_llama_config_becomes_a_model) {
  write_config(", \"max_position_embeddings\": 131072, \"rope_theta\": 500000.0", "llama");
  import_options_t o = {0};
  char *gm = import_ok(&o);
  expect_line(gm, "const dim = 64 ");
  expect_line(gm, "const n_kv_heads = 2 ");
  expect_line(gm, "const head_dim = 16 "); /* hidden_size / num_attention_heads */
  expect_line(gm, "const eps = 1e-06 ");
  expect_line(gm, "const theta = 500000.0 ");
  expect_line(gm, "const max_seq = 4096 "); /* capped */
  expect_line(gm, "capped (--max-seq N for more)");
  expect_line(gm, "set weight_dtype = bf16\n");
  expect_line(gm, "weight lm_head: [vocab, dim] = \"lm_head.weight\"");
  cr_assert_null(strstr(gm, "kv_dtype"), "the default KV dtype is the language's");
  compiles(gm);
  free(gm);
  /* The options override the config. */
  o = (import_options_t){.max_seq = 256, .dtype = "f16", .kv_dtype = "f32"};
  gm = import_ok(&o);
  expect_line(gm, "const max_seq = 256 ");
  expect_line(gm, "# --max-seq");
  expect_line(gm, "set weight_dtype = f16\n");
  expect_line(gm, "set kv_dtype = f32\n");
  compiles(gm);
  free(gm);
}

Test(import, tied_embeddings_read_the_table_twice) {
  write_config(", \"tie_word_embeddings\": true, \"head_dim\": 32", "llama");
  import_options_t o = {0};
  char *gm = import_ok(&o);
  expect_line(gm, "weight lm_head: [vocab, dim] = \"model.embed_tokens.weight\"");
  expect_line(gm, "const head_dim = 32 "); /* given: not hidden_size / heads */
  compiles(gm);
  free(gm);
}

Test(import, a_mistral_window_longer_than_the_cache_needs_nothing) {
  write_config(", \"sliding_window\": 4096, \"max_position_embeddings\": 2048", "mistral");
  import_options_t o = {0};
  char *gm = import_ok(&o);
  expect_line(gm, "const max_seq = 2048 ");
  free(gm);
  write_config(", \"sliding_window\": 1024, \"max_position_embeddings\": 2048", "mistral");
  import_fails(GRETA_UNIMPLEMENTED, "sliding_window 1024 is shorter than max_seq 2048");
}

Test(import, what_the_language_cannot_express_yet_is_refused_by_name) {
  write_config(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "rope_scaling of type \"llama3\" is not supported yet");
  write_config(", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "rope_scaling of type \"linear\"");
  write_config(", \"attention_bias\": true", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "\"attention_bias\" is true: a bias add is not supported yet");
  write_config(", \"hidden_act\": \"gelu\"", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "hidden_act \"gelu\" is not supported");
  write_config("", "mixtral");
  import_fails(GRETA_UNIMPLEMENTED, "model_type \"mixtral\" is not supported (llama, mistral)");
  write_config(", \"torch_dtype\": \"int8\"", "llama");
  import_fails(GRETA_INVALID_ARGUMENT, "duplicate"); /* a key twice is refused by the JSON reader */
}

Test(import, malformed_configs_name_the_field_or_the_position) {
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 3,"
        " \"vocab_size\": 100}",
        f);
  fclose(f);
  import_fails(GRETA_INVALID_ARGUMENT, "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
  f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
        " \"torch_dtype\": \"int8\"}",
        f);
  fclose(f);
  import_fails(GRETA_UNIMPLEMENTED, "torch_dtype \"int8\" is not one of float32, float16, bfloat16");
  f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": -5}",
        f);
  fclose(f);
  import_fails(GRETA_INVALID_ARGUMENT, "\"vocab_size\" must be a positive integer");
  f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64,\n  oops}", f);
  fclose(f);
  import_fails(GRETA_INVALID_ARGUMENT, "config.json:2:");
  f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": 64}", f);
  fclose(f);
  import_fails(GRETA_INVALID_ARGUMENT, "the field \"intermediate_size\" is missing");
  f = fopen(path, "w");
  fputs("{\"model_type\": \"llama\", \"hidden_size\": \"big\", \"intermediate_size\": 1}", f);
  fclose(f);
  import_fails(GRETA_INVALID_ARGUMENT, "\"hidden_size\" must be a positive integer");
  unlink(path);
  import_fails(GRETA_NOT_FOUND, "is /tmp/greta_import_test_");
}
