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

Test(import, what_the_language_cannot_express_is_refused_by_name) {
  write_config(", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "rope_scaling.type \"linear\" is not supported (default, llama3)");
  write_config(", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", "qwen2");
  import_fails(GRETA_UNIMPLEMENTED, "rope_scaling.rope_type \"yarn\" is not supported");
  write_config(", \"rope_parameters\": {\"rope_type\": \"dynamic\", \"rope_theta\": 1e4}", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "rope_parameters.rope_type \"dynamic\" is not supported");
  write_config(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}", "llama");
  import_fails(GRETA_INVALID_ARGUMENT, "the field \"rope_scaling.low_freq_factor\" is missing");
  write_config(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4,"
               " \"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}",
               "llama");
  import_fails(GRETA_INVALID_ARGUMENT,
               "rope_scaling.high_freq_factor 1 must be greater than low_freq_factor 4");
  write_config(", \"attention_bias\": true", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "\"attention_bias\" is true: a llama model with this bias");
  write_config(", \"mlp_bias\": true", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "\"mlp_bias\" is true");
  write_config(", \"num_local_experts\": 8, \"num_experts_per_tok\": 2", "mistral");
  import_fails(GRETA_UNIMPLEMENTED,
               "\"num_local_experts\" is 8: mixture-of-experts models are not supported");
  write_config(", \"alibi\": true", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "\"alibi\" is true: only rotary position embeddings");
  write_config(", \"position_embedding_type\": \"alibi\"", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "\"position_embedding_type\" is \"alibi\"");
  write_config(", \"partial_rotary_factor\": 0.5", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "partial_rotary_factor 0.5 is not supported");
  write_config(", \"hidden_act\": \"gelu\"", "llama");
  import_fails(GRETA_UNIMPLEMENTED, "hidden_act \"gelu\" is not supported");
  write_config(", \"use_sliding_window\": true, \"sliding_window\": 1024", "qwen2");
  import_fails(GRETA_UNIMPLEMENTED, "sliding_window 1024 is shorter than max_seq 2048");
  write_config("", "mixtral");
  import_fails(GRETA_UNIMPLEMENTED, "model_type \"mixtral\" is not supported (llama, mistral, qwen2)");
  write_config("", "gpt2");
  import_fails(GRETA_UNIMPLEMENTED, "model_type \"gpt2\" is not supported");
  write_config(", \"torch_dtype\": \"int8\"", "llama");
  import_fails(GRETA_INVALID_ARGUMENT, "duplicate"); /* a key twice is refused by the JSON reader */
}

/* One real-shaped config per family the issue lists
 * (tests/fixtures/import_configs/<family>/config.json, written after the
 * released checkpoints' configs with small dims): what the .gm must say, and
 * it compiles and fuses. */
static void family(const char *name, const char *const *lines) {
  char src[512], path[128];
  snprintf(src, sizeof src, "%s/tests/fixtures/import_configs/%s/config.json", GRETA_SOURCE_DIR,
           name);
  size_t len = 0;
  FILE *in = fopen(src, "rb");
  cr_assert(in, "cannot open %s", src);
  char text[8192];
  len = fread(text, 1, sizeof text, in);
  fclose(in);
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *out = fopen(path, "wb");
  cr_assert(out && fwrite(text, 1, len, out) == len && fclose(out) == 0);
  import_options_t o = {0};
  char *gm = import_ok(&o);
  for (const char *const *l = lines; *l; l++) expect_line(gm, *l);
  expect_line(gm, "output logits = rmsnorm(last(h), final_norm, eps) @ lm_head.T\n");
  compiles(gm);
  free(gm);
}

static const char untied[] = "weight lm_head: [vocab, dim] = \"lm_head.weight\"";
static const char tied[] = "weight lm_head: [vocab, dim] = \"model.embed_tokens.weight\"";

Test(import, llama2) {
  family("llama2", (const char *[]){"const theta = 10000.0 ", "const n_kv_heads = 4 ",
                                    "const eps = 1e-05 ", "set weight_dtype = f16\n", untied, NULL});
}
Test(import, llama3) {
  family("llama3", (const char *[]){"const theta = 500000.0 ", "const n_kv_heads = 2 ",
                                    "const head_dim = 8 ", "set weight_dtype = bf16\n", untied,
                                    NULL});
}
Test(import, llama3_1_rope_scaling) {
  family("llama3_1", (const char *[]){"set rope_scaling = llama3(8.0, 1.0, 4.0, 8192.0)\n",
                                      "const max_seq = 4096 ", "capped", untied, NULL});
}
Test(import, llama3_2_tied_and_scaled) {
  family("llama3_2", (const char *[]){"set rope_scaling = llama3(32.0, 1.0, 4.0, 8192.0)\n",
                                      "const head_dim = 16 ", tied, NULL});
}
Test(import, tinyllama) {
  family("tinyllama", (const char *[]){"const n_kv_heads = 1 ", "const max_seq = 2048 ", untied,
                                       NULL});
}
Test(import, mistral) {
  family("mistral", (const char *[]){"model_type mistral", "const max_seq = 4096 ", untied, NULL});
}
Test(import, smollm2_tied) {
  family("smollm2", (const char *[]){"const theta = 100000.0 ", tied, NULL});
}
Test(import, qwen2_bias) {
  family("qwen2", (const char *[]){"const eps = 1e-06 ", "const theta = 1000000.0 ",
                                   "weight bk: [n_kv_heads * head_dim] = "
                                   "\"model.layers.{layer}.self_attn.k_proj.bias\"",
                                   "rope(reshape(h @ wq.T + bq, [T, n_heads, head_dim]), theta)",
                                   "reshape(h @ wv.T + bv, [T, n_kv_heads, head_dim])", tied, NULL});
}

/* transformers 5 writes rope_theta and the scaling inside rope_parameters;
 * the type may be under "type" (older configs) or "rope_type"; "default" is
 * no scaling. (`dtype` for torch_dtype: the fixtures of test_import_numerics.c.) */
Test(import, rope_parameters_and_its_spellings) {
  write_config(", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 250000.0}", "llama");
  import_options_t o = {0};
  char *gm = import_ok(&o);
  expect_line(gm, "const theta = 250000.0 ");
  cr_assert_null(strstr(gm, "rope_scaling"), "%s", gm);
  free(gm);
  write_config(", \"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0,"
               " \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4,"
               " \"original_max_position_embeddings\": 8192}",
               "llama");
  gm = import_ok(&o);
  expect_line(gm, "const theta = 500000.0 ");
  expect_line(gm, "# rope_parameters (rope_type llama3)");
  expect_line(gm, "set rope_scaling = llama3(8.0, 1.0, 4.0, 8192.0)\n");
  compiles(gm);
  free(gm);
  write_config(", \"rope_theta\": 500000.0, \"rope_scaling\": {\"type\": \"llama3\", \"factor\": 8.0,"
               " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
               " \"original_max_position_embeddings\": 8192}",
               "llama");
  gm = import_ok(&o);
  expect_line(gm, "set rope_scaling = llama3(8.0, 1.0, 4.0, 8192.0)\n");
  free(gm);
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
