/* From a Hugging Face checkpoint directory to transformers' greedy tokens
 * (issue 10's end-to-end test).
 *
 * bench/hf_generate.py built two tiny random-weight Llama checkpoints with
 * transformers 5.17 (save_pretrained, sharded), one Llama-2-style (GQA,
 * untied, f16, the Llama 2 tokenizer) and one Llama-3-style (rope_scaling
 * llama3, tied embeddings, bf16, the Llama 3 tokenizer), and recorded
 * transformers' greedy generate() on four prompts each. Committed under
 * tests/fixtures/generate/<model>/: config.json, generation_config.json,
 * model.safetensors.index.json and expected.json; no weights: they come
 * from a generator written both there (weight_values) and here
 * (weight_value), every value exact in f16, bf16 and f32.
 *
 * Here the checkpoint directory is rebuilt: each shard of the committed
 * index written with the generator's values in the checkpoint's dtype
 * (support_write_checkpoint), the configs copied, and the real tokenizer
 * files (scripts/fetch_tokenizers.sh) beside them. Then, as a user would:
 * gretac imports and compiles it for the CPU (f32 weights and KV cache:
 * transformers ran in f32 too, on the same values), the weights are bound
 * with greta_session_bind_checkpoint, each prompt is tokenized (a chat
 * prompt rendered with the chat template first), and greta_generate's
 * greedy ids must be transformers'. `greta generate --output ids` must
 * print the same, and `greta generate --chat` must answer each turn as the
 * conversation run afresh does.
 *
 * What the ids do and do not pin down (checked by hand on a merge of the
 * branches, with the Llama-3-style .gm written out): a wrong rope_theta
 * changes them; leaving out the llama3 RoPE scaling does not, at these
 * lengths (under 64 positions the scaled low frequencies turn by less than
 * a few hundredths of a radian). The scaling's numbers are tested against
 * transformers' inv_freq and logits elsewhere (test_rope_freq,
 * test_hf_model). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "greta/greta.h"
#include "support.h"

#define FIXTURES GRETA_SOURCE_DIR "/tests/fixtures/generate/"
#define GRETAC GRETA_BINARY_DIR "/compiler/gretac"
#define GRETA GRETA_BINARY_DIR "/runtime/cli/greta"

/* ---- the weight generator (bench/hf_generate.py weight_values) ------------ */

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

static bool ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), m = strlen(tail);
  return n >= m && !strcmp(s + n - m, tail);
}

/* Element i (row-major over the HF shape) of tensor `name`, h its hash. */
static float weight_value(const char *name, uint64_t h, int64_t i) {
  uint64_t z = h + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  int64_t r = (int64_t)(z >> 40);
  if (ends_with(name, "norm.weight"))
    return 1.0f + (float)(r % 33 - 16) / 64.0f;
  if (strstr(name, "embed_tokens") || strstr(name, "lm_head"))
    return (float)(r % 129 - 64) / 2048.0f;
  return (float)(r % 129 - 64) / 512.0f;
}

/* The generator's values are exact in both half types: plain bit moves. */
static uint16_t exact_bf16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  cr_assert_eq(b & 0xffffu, 0u, "%g is not exact in bf16", (double)f);
  return (uint16_t)(b >> 16);
}

static uint16_t exact_f16(float f) {
  if (f == 0.0f)
    return 0;
  uint32_t b;
  memcpy(&b, &f, 4);
  int exp = (int)((b >> 23) & 0xff) - 127 + 15;
  cr_assert((b & 0x1fffu) == 0 && exp > 0 && exp < 31, "%g is not exact in f16", (double)f);
  return (uint16_t)(((b >> 31) << 15) | ((uint32_t)exp << 10) | ((b >> 13) & 0x3ffu));
}

/* ---- files ----------------------------------------------------------------- */

static json_t *load_json(const char *path) {
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  cr_assert(j, "%s:%d: %s", path, err.line, err.text);
  return j;
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *bytes = support_read_file(from, &len);
  FILE *f = fopen(to, "wb");
  cr_assert(f, "cannot write %s", to);
  cr_assert_eq(fwrite(bytes, 1, len, f), len);
  fclose(f);
  free(bytes);
}

static int shell(const char *cmd, char *out, size_t size) {
  FILE *p = popen(cmd, "r");
  cr_assert(p, "cannot run %s", cmd);
  size_t len = out ? fread(out, 1, size - 1, p) : 0;
  if (out)
    out[len] = 0;
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* scripts/fetch_tokenizers.sh's cache (it prints it last), with the two
 * tokenizers these checkpoints use. */
static void tokenizer_cache(char *dir, size_t size) {
  char out[4096];
  int rc = shell("sh " GRETA_SOURCE_DIR "/scripts/fetch_tokenizers.sh llama2 llama3", out, sizeof out);
  cr_assert_eq(rc, 0, "scripts/fetch_tokenizers.sh failed (the tokenizer files are needed)");
  char *end = out + strlen(out);
  while (end > out && end[-1] == '\n')
    *--end = 0;
  char *last = strrchr(out, '\n');
  snprintf(dir, size, "%s", last ? last + 1 : out);
}

/* Writes the checkpoint `model`'s shards into `dir` as the committed index
 * lays them out, its configs, and the tokenizer files from the cache. */
static void write_checkpoint(const char *model, const json_t *expected, const char *dir) {
  char from[4096], to[4096];
  const char *files[] = {"config.json", "generation_config.json", "model.safetensors.index.json"};
  for (int i = 0; i < 3; i++) {
    snprintf(from, sizeof from, FIXTURES "%s/%s", model, files[i]);
    snprintf(to, sizeof to, "%s/%s", dir, files[i]);
    copy_file(from, to);
  }
  const json_t *tensors = json_object_get(expected, "tensors");
  size_t n = json_array_size(tensors);
  cr_assert_gt(n, 0);
  support_tensor_t *t = calloc(n, sizeof *t);
  const char **shard_of = calloc(n, sizeof *shard_of);
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(tensors, i);
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *dtype = json_string_value(json_object_get(e, "dtype"));
    const json_t *shape = json_object_get(e, "shape");
    cr_assert(name && dtype && json_array_size(shape) >= 1 && json_array_size(shape) <= 2);
    t[i].name = name;
    t[i].dtype = !strcmp(dtype, "bfloat16") ? GRETA_BF16 : GRETA_F16;
    cr_assert(!strcmp(dtype, "bfloat16") || !strcmp(dtype, "float16"), "%s: dtype %s", name, dtype);
    t[i].rank = (int)json_array_size(shape);
    int64_t count = 1;
    for (int d = 0; d < t[i].rank; d++)
      count *= t[i].shape[d] = json_integer_value(json_array_get(shape, (size_t)d));
    uint16_t *data = malloc((size_t)count * sizeof *data);
    uint64_t h = fnv1a64(name);
    double sum = 0;
    for (int64_t k = 0; k < count; k++) {
      float v = weight_value(name, h, k);
      sum += v;
      data[k] = t[i].dtype == GRETA_BF16 ? exact_bf16(v) : exact_f16(v);
    }
    /* The same values as transformers saved: their sums are exact. */
    cr_assert_eq(sum, json_real_value(json_object_get(e, "sum")),
                 "%s: the generator's sum %.17g, "
                 "the checkpoint's %.17g",
                 name, sum, json_real_value(json_object_get(e, "sum")));
    t[i].data = data;
    shard_of[i] = json_string_value(json_object_get(e, "shard"));
  }
  /* One shard at a time: the tensors the index puts in it, written as a
   * single-file checkpoint and renamed to the shard's name. */
  for (size_t i = 0; i < n; i++) {
    if (!shard_of[i])
      continue;
    const char *shard = shard_of[i];
    support_tensor_t *group = calloc(n, sizeof *group);
    size_t g = 0;
    for (size_t j = i; j < n; j++)
      if (shard_of[j] && !strcmp(shard_of[j], shard)) {
        group[g++] = t[j];
        shard_of[j] = NULL;
      }
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/.shard", dir);
    cr_assert_eq(support_write_checkpoint(tmp, group, g, 1), 0);
    snprintf(from, sizeof from, "%s/model.safetensors", tmp);
    snprintf(to, sizeof to, "%s/%s", dir, shard);
    cr_assert_eq(rename(from, to), 0, "rename %s", to);
    rmdir(tmp);
    free(group);
  }
  for (size_t i = 0; i < n; i++)
    free((void *)t[i].data);
  free(t);
  free(shard_of);

  char cache[1024];
  tokenizer_cache(cache, sizeof cache);
  const char *tokenizer = strstr(model, "llama3") ? "llama3" : "llama2";
  const char *tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
  for (int i = 0; i < 2; i++) {
    snprintf(from, sizeof from, "%s/%s/%s", cache, tokenizer, tok_files[i]);
    snprintf(to, sizeof to, "%s/%s", dir, tok_files[i]);
    copy_file(from, to);
  }
}

/* ---- the test -------------------------------------------------------------- */

/* The fixture `model`'s checkpoint rebuilt in a new directory (`dir`, a
 * mkdtemp template) and compiled by gretac with `flags` into DIR.gplan
 * (`plan`, 1100 bytes); the caller removes both. The fixture's expected.json
 * goes to `out_expected` (the caller's to decref) unless that is NULL. */
static void checkpoint_and_plan(const char *model, char *dir, char *plan, const char *flags,
                                json_t **out_expected) {
  char path[1024], cmd[4096], log[8192];
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, FIXTURES "%s/expected.json", model);
  json_t *expected = load_json(path);
  write_checkpoint(model, expected, dir);
  if (out_expected)
    *out_expected = expected;
  else
    json_decref(expected);
  snprintf(plan, 1100, "%s.gplan", dir);
  snprintf(cmd, sizeof cmd, "%s -q %s %s -o %s 2>&1", GRETAC, dir, flags, plan);
  cr_assert_eq(shell(cmd, log, sizeof log), 0, "%s:\n%s", cmd, log);
}

typedef struct collected_s {
  int32_t ids[256];
  size_t n;
} collected_t;

static int collect(void *user, int32_t token) {
  collected_t *c = user;
  cr_assert_lt(c->n, 256);
  c->ids[c->n++] = token;
  return 0;
}

/* Where the model runs: the CPU with f32 weights and cache (transformers'
 * f32 ids), or the first GPU present with f32 weights, or with the
 * checkpoint's own dtype (f16 / bf16 weights and cache: transformers' ids in
 * that dtype on its GPU, "generated_native"). */
typedef enum { ON_CPU, ON_GPU_F32, ON_GPU_NATIVE } where_t;


static void check_model(const char *model, where_t where) {
  greta_device_t *device = NULL;
  char why[1024];
  if (where == ON_CPU)
    cr_assert_null(greta_device_open(GRETA_BACKEND_CPU, 0, &device));
  else if (!(device = support_open_gpu(why, sizeof why)))
    cr_skip_test("no GPU: %s", why);
  const char *target = where == ON_CPU ? "cpu" : greta_device_target(device);
  const char *dtypes = where == ON_GPU_NATIVE ? "" : "--dtype=f32 --kv-dtype=f32";
  const char *want_key = where == ON_GPU_NATIVE ? "generated_native" : "generated_f32";

  /* gretac imports the checkpoint directory and compiles it in one go. */
  char dir[] = "/tmp/greta_hf_generate_XXXXXX", plan[1100], flags[256], cmd[4096];
  snprintf(flags, sizeof flags, "--target=%s --max-seq=64 %s", target, dtypes);
  json_t *expected;
  checkpoint_and_plan(model, dir, plan, flags, &expected);

  greta_model_t *m;
  greta_session_t *s;
  greta_tokenizer_t *tok;
  greta_status_t st = greta_model_open(plan, &m);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_assert_null(greta_session_create(m, device, &s));
  st = greta_session_bind_checkpoint(s, dir, NULL, NULL);
  cr_assert_null(st, "binding %s: %s", dir, greta_status_message(st));
  st = greta_tokenizer_open(dir, &tok);
  cr_assert_null(st, "%s", greta_status_message(st));

  /* The Llama 3 package's tokenizer_config.json carries Meta's first Llama 3
   * template; the Llama 2 package's none. */
  cr_expect_eq(greta_chat_template_detect(tok),
               strstr(model, "llama3") ? GRETA_CHAT_LLAMA3 : GRETA_CHAT_NONE);

  const json_t *eos_json = json_object_get(expected, "eos");
  int32_t eos[8];
  size_t n_eos = json_array_size(eos_json);
  for (size_t i = 0; i < n_eos && i < 8; i++)
    eos[i] = (int32_t)json_integer_value(json_array_get(eos_json, i));
  /* The tokenizer's EOS ids hold generation_config.json's. */
  size_t n_tok_eos;
  const int32_t *tok_eos = greta_tokenizer_eos(tok, &n_tok_eos);
  for (size_t i = 0; i < n_eos; i++) {
    bool found = false;
    for (size_t k = 0; k < n_tok_eos; k++)
      found |= tok_eos[k] == eos[i];
    cr_expect(found, "%s: EOS id %d is not among the tokenizer's", model, eos[i]);
  }

  const json_t *cases = json_object_get(expected, "cases");
  for (size_t c = 0; c < json_array_size(cases); c++) {
    const json_t *kase = json_array_get(cases, c);
    const char *prompt = json_string_value(json_object_get(kase, "prompt"));
    const json_t *chat = json_object_get(kase, "chat");
    char *text = (char *)prompt;
    size_t len = strlen(prompt);
    if (chat) {
      /* The chat prompt: our template's rendering is transformers'. */
      greta_chat_template_t tmpl;
      const char *name = json_string_value(json_object_get(kase, "template"));
      cr_assert_null(greta_chat_template_from_name(name, &tmpl));
      greta_chat_message_t msgs[8];
      size_t n_msgs = json_array_size(chat);
      for (size_t i = 0; i < n_msgs && i < 8; i++) {
        msgs[i].role = json_string_value(json_object_get(json_array_get(chat, i), "role"));
        msgs[i].content = json_string_value(json_object_get(json_array_get(chat, i), "content"));
      }
      text = malloc(4096);
      st = greta_chat_format(tmpl, msgs, n_msgs, 1, text, 4096, &len);
      cr_assert_null(st);
      cr_assert(len == strlen(prompt) && !memcmp(text, prompt, len), "%s: rendered [%.*s]", model,
                (int)len, text);
    }
    unsigned flags =
        GRETA_TOKENIZE_PARSE_SPECIAL |
        (json_is_true(json_object_get(kase, "add_special")) ? GRETA_TOKENIZE_ADD_SPECIAL : 0);
    int32_t ids[512];
    size_t n_ids;
    st = greta_tokenizer_encode(tok, text, len, flags, ids, 512, &n_ids);
    cr_assert_null(st, "%s", greta_status_message(st));
    if (text != prompt)
      free(text);
    const json_t *want_ids = json_object_get(kase, "prompt_ids");
    cr_assert_eq(n_ids, json_array_size(want_ids), "%s case %zu: %zu prompt ids, HF %zu", model, c,
                 n_ids, json_array_size(want_ids));
    for (size_t i = 0; i < n_ids; i++)
      cr_assert_eq(ids[i], json_integer_value(json_array_get(want_ids, i)),
                   "%s case %zu: prompt id %zu", model, c, i);

    const json_t *want = json_object_get(kase, want_key);
    greta_generate_params_t params = {
        .sampler = greta_sampler_params_default(),
        .max_new_tokens = json_integer_value(json_object_get(expected, "max_new_tokens")),
        .eos = eos,
        .n_eos = n_eos};
    collected_t got = {0};
    greta_generate_stats_t stats;
    st = greta_generate(s, ids, n_ids, 0, &params, collect, &got, &stats);
    cr_assert_null(st, "%s", greta_status_message(st));
    const json_t *margins = json_object_get(kase, "margins_f32");
    for (size_t i = 0; i < got.n && i < json_array_size(want); i++)
      cr_assert_eq(got.ids[i], json_integer_value(json_array_get(want, i)),
                   "%s on %s, case %zu (%s): token %zu is %d, transformers' %s is %lld (its "
                   "top-1/top-2 margin in f32: %g)",
                   model, target, c, chat ? "chat" : prompt, i, got.ids[i], want_key,
                   json_integer_value(json_array_get(want, i)),
                   json_real_value(json_array_get(margins, i)));
    cr_assert_eq(got.n, json_array_size(want), "%s case %zu: %zu tokens, transformers %zu", model,
                 c, got.n, json_array_size(want));

    /* The command line, on the same directory (the tokenizer found there). */
    if (c == 0) {
      char out[4096], line[4096] = "";
      snprintf(cmd, sizeof cmd,
               "GRETA_BACKEND=%s %s generate %s --weights %s --prompt '%s' --greedy -n %lld "
               "--output ids 2>/dev/null",
               greta_device_backend_name(device), GRETA, plan, dir, prompt,
               (long long)params.max_new_tokens);
      cr_assert_eq(shell(cmd, out, sizeof out), 0, "%s", cmd);
      for (size_t i = 0; i < got.n; i++)
        snprintf(line + strlen(line), sizeof line - strlen(line), i ? " %d" : "%d", got.ids[i]);
      strcat(line, "\n");
      cr_expect_str_eq(out, line, "greta generate printed [%s]", out);
    }
  }
  greta_tokenizer_destroy(tok);
  greta_session_destroy(s);
  greta_device_destroy(device);
  greta_model_destroy(m);
  json_decref(expected);
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, plan);
  cr_assert_eq(shell(cmd, NULL, 0), 0);
}

Test(generate_hf, llama2_style_f16_gqa_untied_sharded) { check_model("llama2_style", ON_CPU); }

Test(generate_hf, llama3_style_bf16_rope_llama3_tied) { check_model("llama3_style", ON_CPU); }

/* The same on a GPU (skipped, saying so, without one): f32 weights against
 * transformers' f32 ids, and the checkpoint's own half dtype against
 * transformers' ids in that dtype. */
Test(generate_hf, llama2_style_gpu_f32) { check_model("llama2_style", ON_GPU_F32); }
Test(generate_hf, llama3_style_gpu_f32) { check_model("llama3_style", ON_GPU_F32); }
Test(generate_hf, llama2_style_gpu_f16) { check_model("llama2_style", ON_GPU_NATIVE); }
Test(generate_hf, llama3_style_gpu_bf16) { check_model("llama3_style", ON_GPU_NATIVE); }

/* A model whose logits are the last position's only (last(x), [1, vocab]:
 * no [T, vocab] buffer for a long prefill) generates the tokens of the same
 * model with every position's logits, prefill in chunks of 4 included.
 * Needs last() from the language branch. */
static void run_ids(greta_model_t *model, int32_t *out, int n) {
  greta_device_t *device;
  greta_session_t *s;
  cr_assert_null(greta_device_open(GRETA_BACKEND_CPU, 0, &device));
  cr_assert_null(greta_session_create(model, device, &s));
  greta_status_t st = greta_session_bind_safetensors(
      s, GRETA_SOURCE_DIR "/tests/fixtures/hf_tiny_llama_f32.safetensors");
  cr_assert_null(st, "%s", greta_status_message(st));
  const int32_t prompt[] = {1, 15, 42, 7, 88, 3, 61, 5, 9, 11};
  greta_generate_params_t p = {.sampler = greta_sampler_params_default(), .max_new_tokens = n};
  collected_t got = {0};
  st = greta_generate(s, prompt, 10, 0, &p, collect, &got, NULL);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_assert_eq(got.n, (size_t)n);
  memcpy(out, got.ids, (size_t)n * sizeof *out);
  greta_session_destroy(s);
  greta_device_destroy(device);
}

Test(generate_hf, last_position_logits_give_the_same_tokens) {
  size_t len;
  char *text = support_read_file(GRETA_SOURCE_DIR "/examples/tiny_llama.gm", &len), *log = NULL;
  greta_model_t *all = support_compile("tiny_llama.gm", text, NULL, "cpu", 4, 1, &log);
  cr_assert(all, "%s", log ? log : "");
  const char *from = "output logits = rmsnorm(h, final_norm, eps) @ lm_head.T";
  char *at = strstr(text, from), edited[8192];
  cr_assert(at && len < sizeof edited - 16);
  snprintf(edited, sizeof edited,
           "%.*soutput logits = rmsnorm(last(h), final_norm, eps) @ lm_head.T%s", (int)(at - text),
           text, at + strlen(from));
  greta_model_t *last = support_compile("tiny_llama_last.gm", edited, NULL, "cpu", 4, 1, &log);
  cr_assert(last, "compiling last(h) (the language branch's last()): %s", log ? log : "");
  const greta_tensor_info_t *logits = greta_model_output(last, 0);
  cr_assert(logits->dims[0].symbol == NULL && logits->dims[0].coeff == 1, "logits not [1, vocab]");
  int32_t a[16], b[16];
  run_ids(all, a, 16);
  run_ids(last, b, 16);
  for (int i = 0; i < 16; i++)
    cr_expect_eq(b[i], a[i], "token %d: %d with last(), %d without", i, b[i], a[i]);
  greta_model_destroy(all);
  greta_model_destroy(last);
  free(text);
  free(log);
}

/* ---- `greta generate --chat` ---------------------------------------------- */

/* Everything readable now from the non-blocking `fd`, appended to *buf
 * (NUL-terminated, of length *len). */
static void drain(int fd, char **buf, size_t *len) {
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) {
    *buf = realloc(*buf, *len + (size_t)got + 1);
    cr_assert(*buf, "out of memory");
    memcpy(*buf + *len, chunk, (size_t)got);
    *len += (size_t)got;
    (*buf)[*len] = 0;
  }
}

/* The file at `path` (the stderr of child `pid`) once it holds `count`
 * copies of `needle`, NUL-terminated (caller frees), with the child's
 * stdout `out` (non-blocking) drained into *buf meanwhile, so that it never
 * blocks on it. Polled, for up to 10 minutes (the sanitizer builds); the
 * test fails at once if the child ends first. */
static char *wait_for(pid_t pid, const char *path, const char *needle, int count, int out,
                      char **buf, size_t *len) {
  for (int tries = 0;; tries++) {
    drain(out, buf, len);
    size_t n;
    char *text = support_read_file(path, &n);
    int found = 0, status;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
      found++;
    if (found >= count) {
      drain(out, buf, len); /* the reply is flushed before the timings */
      return text;
    }
    cr_assert_eq(waitpid(pid, &status, WNOHANG), 0,
                 "the child ended (status %#x) before its stderr held %d of \"%s\":\n%s", status,
                 count, needle, text);
    cr_assert_lt(tries, 60000, "%s never held %d of \"%s\":\n%s", path, count, needle, text);
    free(text);
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
}

/* The ids of `msgs` rendered with the Llama 3 template (its generation
 * prompt added) and tokenized as greta generate does, into `ids` (512 at
 * most; NULL: only counted). Returns their number. */
static size_t chat_ids(const greta_tokenizer_t *tok, const greta_chat_message_t *msgs, size_t n,
                       int32_t *ids) {
  char rendered[8192];
  size_t len, n_ids;
  SUPPORT_OK(greta_chat_format(GRETA_CHAT_LLAMA3, msgs, n, 1, rendered, sizeof rendered, &len));
  SUPPORT_OK(greta_tokenizer_encode(tok, rendered, len, GRETA_TOKENIZE_PARSE_SPECIAL, ids,
                                    ids ? 512 : 0, &n_ids));
  return n_ids;
}

/* A CPU session on `plan` with the checkpoint in `dir` bound, and its
 * tokenizer. */
typedef struct chat_session_s {
  greta_model_t *m;
  greta_device_t *device;
  greta_session_t *s;
  greta_tokenizer_t *tok;
} chat_session_t;

static void chat_session_open(chat_session_t *c, const char *plan, const char *dir) {
  SUPPORT_OK(greta_model_open(plan, &c->m));
  SUPPORT_OK(greta_device_open(GRETA_BACKEND_CPU, 0, &c->device));
  SUPPORT_OK(greta_session_create(c->m, c->device, &c->s));
  SUPPORT_OK(greta_session_bind_checkpoint(c->s, dir, NULL, NULL));
  SUPPORT_OK(greta_tokenizer_open(dir, &c->tok));
}

static void chat_session_close(chat_session_t *c) {
  greta_tokenizer_destroy(c->tok);
  greta_session_destroy(c->s);
  greta_device_destroy(c->device);
  greta_model_destroy(c->m);
}

/* The reply greta_generate gives on a fresh run of `msgs` rendered with
 * the template (its generation prompt added), greedy, at most 6 tokens; its
 * text, the EOS left out, into `text` (of `size` bytes). Returns the
 * number of prompt ids. */
static size_t fresh_reply(greta_session_t *s, const greta_tokenizer_t *tok,
                          const greta_chat_message_t *msgs, size_t n_msgs, char *text,
                          size_t size) {
  size_t n_eos, len, n_ids = chat_ids(tok, msgs, n_msgs, NULL);
  const int32_t *eos = greta_tokenizer_eos(tok, &n_eos);
  int32_t ids[512];
  chat_ids(tok, msgs, n_msgs, ids);
  greta_generate_params_t params = {
      .sampler = greta_sampler_params_default(), .max_new_tokens = 6, .eos = eos, .n_eos = n_eos};
  collected_t got = {0};
  greta_generate_stats_t stats;
  SUPPORT_OK(greta_session_truncate(s, 0));
  SUPPORT_OK(greta_generate(s, ids, n_ids, 0, &params, collect, &got, &stats));
  size_t n_text = got.n - (stats.stop == GRETA_STOP_EOS ? 1 : 0);
  SUPPORT_OK(greta_tokenizer_decode(tok, got.ids, n_text, GRETA_DETOKENIZE_SKIP_SPECIAL, text,
                                    size - 1, &len));
  text[len] = 0;
  return n_ids;
}

/* `greta generate PLAN --weights DIR --chat --greedy -n N_PREDICT` on the
 * CPU, sent `turns` one at a time: reply i (its stdout, without the newline
 * after it) into replies[i], what it wrote to stderr for that turn into
 * said[i] (caller frees both). Turn `interrupt` (-1: none) gets a Ctrl-C as
 * soon as its reply's first bytes are out. Then Ctrl-C at its prompt, with
 * stdin still open: returns the exit status. */
static int run_chat(const char *plan, const char *dir, const char *n_predict, int interrupt,
                    const char *const *turns, size_t n, char **replies, char **said) {
  char err_path[1100];
  snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
  setenv("GRETA_BACKEND", "cpu", 1);
  char *argv[] = {GRETA,     "generate", (char *)plan, "--weights", (char *)dir, "--chat",
                  "--greedy", "-n",      (char *)n_predict, NULL};
  int in, out;
  pid_t pid = support_spawn(argv, &in, &out, err_path);
  cr_assert_neq(fcntl(out, F_SETFL, O_NONBLOCK), -1);
  signal(SIGPIPE, SIG_IGN); /* greta gone: a failed write, not a dead test */
  size_t said_before = 0;
  for (size_t t = 0; t < n; t++) {
    char line[256];
    int len = snprintf(line, sizeof line, "%s\n", turns[t]);
    cr_assert_eq(write(in, line, (size_t)len), len, "turn %zu: greta no longer reads its turns", t);
    if ((int)t == interrupt) {
      struct pollfd ready = {.fd = out, .events = POLLIN};
      cr_assert_eq(poll(&ready, 1, -1), 1);
      cr_assert_eq(kill(pid, SIGINT), 0);
    }
    /* Its reply and its timings are out. */
    char *reply = NULL;
    size_t got = 0;
    char *err = wait_for(pid, err_path, "greta: stopped: ", (int)t + 1, out, &reply, &got);
    said[t] = strdup(err + said_before);
    said_before = strlen(err);
    free(err);
    cr_assert(got > 0 && reply[got - 1] == '\n', "turn %zu: the reply [%s] is not a whole line", t,
              reply ? reply : "");
    reply[got - 1] = 0;
    replies[t] = reply;
  }
  cr_assert_eq(kill(pid, SIGINT), 0);
  int status;
  for (int tries = 0; waitpid(pid, &status, WNOHANG) == 0; tries++) {
    if (tries == 6000) { /* 60 s */
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      cr_assert_fail("greta did not end on Ctrl-C at its prompt");
    }
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
  close(in);
  close(out);
  return status;
}

/* The Llama-3-style checkpoint (whose tokenizer's chat template greta
 * recognises) into `dir` and its CPU plan of `max_seq` positions into
 * `plan`, then run_chat on them, which must end with exit 0. */
static void chat_on_checkpoint(char *dir, char *plan, int max_seq, const char *n_predict,
                               int interrupt, const char *const *turns, size_t n, char **replies,
                               char **said) {
  char flags[128];
  snprintf(flags, sizeof flags, "--target=cpu --max-seq=%d --dtype=f32 --kv-dtype=f32", max_seq);
  checkpoint_and_plan("llama3_style", dir, plan, flags, NULL);
  int status = run_chat(plan, dir, n_predict, interrupt, turns, n, replies, said);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "Ctrl-C at the prompt: status %#x, expected exit 0; the last turn's stderr:\n%s",
            status, said[n - 1]);
}

/* Frees run_chat's replies and what was said, and removes the checkpoint
 * directory and plan. */
static void chat_done(char **replies, char **said, size_t n, const char *dir, const char *plan) {
  char cmd[4096];
  for (size_t t = 0; t < n; t++)
    free(replies[t]), free(said[t]);
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, plan);
  cr_assert_eq(shell(cmd, NULL, 0), 0);
}

/* `greta generate --chat` keeps its KV cache across turns and runs only
 * what the cache does not hold. Its replies must be greta_generate's on the
 * whole conversation run afresh (each reply before a turn in it as its
 * text). The second turn is typed on two lines, the first ending in a
 * backslash: one turn holding a newline. Then Ctrl-C at its prompt, with
 * stdin still open, ends the chat (exit 0). The Llama-3-style checkpoint,
 * whose tokenizer's chat template greta recognises. */
Test(generate_hf, chat_command_answers_as_the_conversation_run_afresh) {
  char dir[] = "/tmp/greta_hf_chat_XXXXXX", plan[1100];
  const char *typed[] = {"Hello there", "And what comes\\\nnext?"},
             *turns[] = {"Hello there", "And what comes\nnext?"};
  char *replies[2], *said[2];
  chat_on_checkpoint(dir, plan, 128, "6", -1, typed, 2, replies, said);

  chat_session_t c;
  chat_session_open(&c, plan, dir);
  char want[1024];
  greta_chat_message_t msgs[3] = {{"user", turns[0]}, {"assistant", replies[0]}, {"user", turns[1]}};
  fresh_reply(c.s, c.tok, msgs, 1, want, sizeof want);
  cr_expect_str_eq(replies[0], want, "turn 0: --chat [%s], afresh [%s]", replies[0], want);
  size_t n_whole = fresh_reply(c.s, c.tok, msgs, 3, want, sizeof want);
  cr_expect_str_eq(replies[1], want, "turn 1: --chat [%s], afresh [%s]", replies[1], want);
  /* The second turn ran only what the cache lacked: fewer ids than the
   * whole conversation's. */
  size_t n_run = 0;
  cr_assert(sscanf(said[1], "\ngreta: prompt %zu tokens", &n_run) == 1, "stderr:\n%s", said[1]);
  cr_expect(n_run > 0 && n_run < n_whole, "the second turn ran %zu ids of the conversation's %zu",
            n_run, n_whole);
  chat_session_close(&c);
  chat_done(replies, said, 2, dir, plan);
}

/* Ctrl-C during a reply stops that reply only: its timings say so, what
 * was printed of it is the assistant's turn, and the next turn is answered
 * as the conversation holding that part is afresh (the first 6 tokens of
 * its reply). -n 0, so only the signal (or an EOS the greedy reply does not
 * reach) stops the first reply; greta blocks on its one-page stdout until
 * the test reads it, after the signal. */
Test(generate_hf, chat_ctrl_c_stops_only_the_reply) {
  char dir[] = "/tmp/greta_hf_chat_int_XXXXXX", plan[1100];
  const char *turns[] = {"Hello there", "And what comes next?"};
  char *replies[2], *said[2];
  chat_on_checkpoint(dir, plan, 1200, "0", 0, turns, 2, replies, said);
  cr_expect(strstr(said[0], "greta: stopped: interrupted (Ctrl-C)"), "turn 0:\n%s", said[0]);
  cr_expect(!strstr(said[1], "interrupted"), "turn 1:\n%s", said[1]);

  chat_session_t c;
  chat_session_open(&c, plan, dir);
  char want[1024];
  greta_chat_message_t msgs[3] = {{"user", turns[0]}, {"assistant", replies[0]}, {"user", turns[1]}};
  fresh_reply(c.s, c.tok, msgs, 3, want, sizeof want);
  cr_expect(strncmp(replies[1], want, strlen(want)) == 0,
            "turn 1: --chat [%.200s...], afresh [%s] (after the part [%s])", replies[1], want,
            replies[0]);
  chat_session_close(&c);
  chat_done(replies, said, 2, dir, plan);
}

/* A conversation longer than the KV cache (64 positions) goes on: before
 * each turn, while the conversation and the reply's room (-n 6) do not fit,
 * its oldest exchange (a user turn and its reply) is dropped, and stderr
 * says how many; each reply is greta_generate's on what is left, run
 * afresh. The rule is applied here again, turn by turn, on the ids the
 * template and tokenizer give. */
Test(generate_hf, chat_drops_its_oldest_exchanges_to_fit_the_cache) {
  char dir[] = "/tmp/greta_hf_chat_trim_XXXXXX", plan[1100], cmd[4096];
  enum { TURNS = 6, MAX_SEQ = 64, ROOM = 6 };
  const char *turns[TURNS] = {"Hello there",    "What comes next?",
                              "Tell me more about that one, and the next one",
                              "And then what?", "Why is that?", "Thanks, goodbye"};
  char *replies[TURNS], *said[TURNS];
  chat_on_checkpoint(dir, plan, MAX_SEQ, "6", -1, turns, TURNS, replies, said);

  chat_session_t c;
  chat_session_open(&c, plan, dir);
  greta_chat_message_t msgs[2 * TURNS];
  size_t n = 0, dropped_in_all = 0;
  char want[1024];
  for (int t = 0; t < TURNS; t++) {
    msgs[n++] = (greta_chat_message_t){"user", turns[t]};
    size_t dropped = 0;
    while (chat_ids(c.tok, msgs, n, NULL) + ROOM > MAX_SEQ && n >= 3) {
      memmove(msgs, msgs + 2, (n - 2) * sizeof *msgs);
      n -= 2;
      dropped++;
    }
    size_t said_dropped = 0;
    if (strstr(said[t], "the conversation's oldest exchange was dropped"))
      said_dropped = 1;
    else if (strstr(said[t], "oldest exchanges were dropped"))
      cr_assert_eq(sscanf(strstr(said[t], "the conversation's "), "the conversation's %zu",
                          &said_dropped), 1);
    cr_expect_eq(said_dropped, dropped, "turn %d: greta dropped %zu exchanges, the rule %zu:\n%s", t,
                 said_dropped, dropped, said[t]);
    dropped_in_all += dropped;
    fresh_reply(c.s, c.tok, msgs, n, want, sizeof want);
    cr_expect_str_eq(replies[t], want, "turn %d: --chat [%s], afresh [%s]", t, replies[t], want);
    msgs[n++] = (greta_chat_message_t){"assistant", replies[t]};
  }
  cr_expect_gt(dropped_in_all, 0, "no turn dropped anything: the test needs a longer conversation");
  chat_session_close(&c);

  /* A turn that does not fit by itself, and one that is not UTF-8, are
   * dropped, each with its message, and the next one is answered. */
  char long_turn[512] = "", out[8192];
  for (int i = 0; i < 60; i++)
    strcat(long_turn, "word ");
  snprintf(cmd, sizeof cmd,
           "printf '%s\\ncaf\\351\\nHello there\\n' | GRETA_BACKEND=cpu %s generate %s "
           "--weights %s --chat --greedy -n 6 2>&1 >/dev/null",
           long_turn, GRETA, plan, dir);
  cr_expect_eq(shell(cmd, out, sizeof out), 0, "%s:\n%s", cmd, out);
  cr_expect(strstr(out, "does not fit in the KV cache (max_seq 64); it is dropped"), "%s", out);
  cr_expect(strstr(out, "this turn is dropped: greta_tokenizer_encode: the text is not valid "
                        "UTF-8 at byte offset 3 (byte 0xE9)"),
            "%s", out);
  const char *second = strstr(out, "greta: stopped: ");
  cr_expect(second && !strstr(second + 1, "greta: stopped: "), "one reply expected:\n%s", out);
  chat_done(replies, said, TURNS, dir, plan);
}

/* -n 0: each reply runs until the KV cache (64 positions) is full. The
 * first reply is cut there and kept; the next turn drops that exchange to
 * make room and is answered as its own turn is afresh (the first 6 tokens
 * of its reply); the chat goes on, and Ctrl-C at the prompt ends it with
 * exit 0. */
Test(generate_hf, chat_reply_cut_by_a_full_cache_then_the_next_turn) {
  char dir[] = "/tmp/greta_hf_chat_full_XXXXXX", plan[1100];
  const char *turns[] = {"Hello there", "What comes next?"};
  char *replies[2], *said[2];
  chat_on_checkpoint(dir, plan, 64, "0", -1, turns, 2, replies, said);
  for (int t = 0; t < 2; t++)
    cr_expect(strstr(said[t], "greta: stopped: the KV cache is full (max_seq 64 tokens)"),
              "turn %d:\n%s", t, said[t]);
  cr_expect(strstr(said[1], "the conversation's oldest exchange was dropped"), "turn 1:\n%s",
            said[1]);

  chat_session_t c;
  chat_session_open(&c, plan, dir);
  char want[1024];
  for (int t = 0; t < 2; t++) {
    greta_chat_message_t msg = {"user", turns[t]};
    fresh_reply(c.s, c.tok, &msg, 1, want, sizeof want);
    cr_expect(strlen(replies[t]) > strlen(want) && strncmp(replies[t], want, strlen(want)) == 0,
              "turn %d: --chat [%s], afresh [%s...]", t, replies[t], want);
  }
  chat_session_close(&c);
  chat_done(replies, said, 2, dir, plan);
}

/* ---- a damaged checkpoint directory on the command line ------------------ */

/* Runs `greta generate` on `plan` with `args`, expecting exit 1 and a
 * message holding `want` on stderr. */
static void expect_refused(const char *plan, const char *args, const char *want) {
  char cmd[8192], out[8192];
  snprintf(cmd, sizeof cmd, "GRETA_BACKEND=cpu %s generate %s %s -n 4 2>&1 >/dev/null", GRETA, plan,
           args);
  int rc = shell(cmd, out, sizeof out);
  fprintf(stderr, "refused (exit %d): %s", rc, out);
  cr_expect_eq(rc, 1, "%s: exit %d, expected 1; said: %s", cmd, rc, out);
  cr_expect(strstr(out, want), "%s: expected a message holding \"%s\", got: %s", cmd, want, out);
  cr_expect(strncmp(out, "greta generate: ", 16) == 0 && strchr(out, '\n') == out + strlen(out) - 1,
            "%s: expected one line \"greta generate: ...\", got: %s", cmd, out);
}

/* Each damage the issue names, one at a time on a real sharded checkpoint
 * (the llama2_style fixture's): a message and exit 1, nothing crashes. */
Test(generate_hf, a_damaged_checkpoint_is_refused_with_a_message) {
  char dir[] = "/tmp/greta_hf_damaged_XXXXXX", plan[1100], cmd[4096], args[4096], a[1100], b[1100];
  checkpoint_and_plan("llama2_style", dir, plan, "--target=cpu --max-seq=64", NULL);

  /* The prompt: longer than max_seq, or not UTF-8. */
  char long_prompt[2048] = "";
  for (int i = 0; i < 100; i++) strcat(long_prompt, "word ");
  snprintf(args, sizeof args, "--weights %s --prompt '%s'", dir, long_prompt);
  expect_refused(plan, args, "does not fit in the KV cache of max_seq 64");
  snprintf(args, sizeof args, "--weights %s --prompt \"$(printf 'caf\\351')\"", dir);
  expect_refused(plan, args, "not valid UTF-8 at byte offset 3");

  /* tokenizer.json corrupt (cut in half), then missing. */
  snprintf(a, sizeof a, "%s/tokenizer.json", dir);
  snprintf(b, sizeof b, "%s/tokenizer.json.whole", dir);
  copy_file(a, b);
  FILE *f = fopen(a, "r+");
  cr_assert(f);
  cr_assert_eq(ftruncate(fileno(f), 4000), 0);
  fclose(f);
  snprintf(args, sizeof args, "--weights %s --prompt hello", dir);
  expect_refused(plan, args, "not valid JSON");
  cr_assert_eq(unlink(a), 0);
  expect_refused(plan, args, "tokenizer.json");
  cr_assert_eq(rename(b, a), 0);

  /* A shard missing. */
  snprintf(a, sizeof a, "%s/model-00002-of-00003.safetensors", dir);
  snprintf(b, sizeof b, "%s/moved.safetensors", dir);
  struct stat sb;
  cr_assert_eq(stat(a, &sb), 0, "the fixture's index has no shard %s", a);
  cr_assert_eq(rename(a, b), 0);
  expect_refused(plan, args, "model-00002-of-00003.safetensors");
  cr_assert_eq(rename(b, a), 0);

  /* The index naming a file that does not exist. */
  snprintf(a, sizeof a, "%s/model.safetensors.index.json", dir);
  json_error_t err;
  json_t *index = json_load_file(a, 0, &err);
  cr_assert(index);
  json_t *map = json_object_get(index, "weight_map");
  json_object_set_new(map, "model.norm.weight", json_string("model-00009-of-00009.safetensors"));
  cr_assert_eq(json_dump_file(index, a, 0), 0);
  json_decref(index);
  expect_refused(plan, args, "model-00009-of-00009.safetensors");

  snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, plan);
  cr_assert_eq(shell(cmd, NULL, 0), 0);
}
