/* config.json -> .gm (import.h). The JSON is read with jansson (Debian's
 * libjansson); the model text follows examples/llama2_7b.gm, with the
 * config's numbers as named constants and a comment naming each field they
 * came from, so the output reads like a hand-written model. */
#define _POSIX_C_SOURCE 200809L
#include "import.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

/* What the model text needs from the config. */
typedef struct llama_config_s {
  const char *model_type;
  int64_t dim, ffn, layers, heads, kv_heads, head_dim, vocab, max_positions;
  double eps, theta;
  bool tied;
  const char *dtype; /* .gm spelling */
} llama_config_t;

#define CONFIG "config.json"

static greta_status_t get_int(json_t *root, const char *key, bool required, int64_t fallback,
                              int64_t *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) {
    if (required)
      return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": the field \"%s\" is missing", key);
    *out = fallback;
    return NULL;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 1)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             CONFIG ": \"%s\" must be a positive integer", key);
  *out = (int64_t)json_integer_value(v);
  return NULL;
}

static greta_status_t get_number(json_t *root, const char *key, double fallback, double *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) {
    *out = fallback;
    return NULL;
  }
  if (!json_is_number(v) || !(json_number_value(v) > 0))
    return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": \"%s\" must be a positive number",
                             key);
  *out = json_number_value(v);
  return NULL;
}

static bool is_true(json_t *root, const char *key) { return json_is_true(json_object_get(root, key)); }

/* The fields the language cannot express yet, each named with its value. */
static greta_status_t refuse_unsupported(json_t *root, const llama_config_t *c, int64_t max_seq) {
  json_t *scaling = json_object_get(root, "rope_scaling");
  if (!scaling) scaling = json_object_get(root, "rope_parameters");
  if (scaling && !json_is_null(scaling)) {
    json_t *type = json_object_get(scaling, "rope_type");
    if (!type) type = json_object_get(scaling, "type");
    const char *name = json_is_string(type) ? json_string_value(type) : "?";
    if (strcmp(name, "default") != 0)
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               CONFIG ": rope_scaling of type \"%s\" is not supported yet (RoPE "
                               "frequency scaling)",
                               name);
  }
  static const char *const biases[] = {"attention_bias", "mlp_bias"};
  for (size_t i = 0; i < 2; i++)
    if (is_true(root, biases[i]))
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               CONFIG ": \"%s\" is true: a bias add is not supported yet",
                               biases[i]);
  const char *act = json_string_value(json_object_get(root, "hidden_act"));
  if (act && strcmp(act, "silu") != 0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": hidden_act \"%s\" is not supported (SiLU only)", act);
  json_t *window = json_object_get(root, "sliding_window");
  if (json_is_integer(window) && json_integer_value(window) < max_seq)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": sliding_window %lld is shorter than max_seq %lld: "
                             "windowed attention is not supported (--max-seq %lld avoids it)",
                             (long long)json_integer_value(window), (long long)max_seq,
                             (long long)json_integer_value(window));
  if (c->heads % c->kv_heads != 0)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             CONFIG ": num_attention_heads %lld is not a multiple of "
                             "num_key_value_heads %lld",
                             (long long)c->heads, (long long)c->kv_heads);
  return NULL;
}

static greta_status_t dtype_of(json_t *root, const char *override, const char **out) {
  if (override) {
    if (strcmp(override, "f32") && strcmp(override, "f16") && strcmp(override, "bf16"))
      return greta_status_make(GRETA_INVALID_ARGUMENT,
                               "--dtype %s: expected f32, f16 or bf16", override);
    *out = override;
    return NULL;
  }
  json_t *v = json_object_get(root, "torch_dtype");
  if (!v) v = json_object_get(root, "dtype");
  const char *name = json_is_string(v) ? json_string_value(v) : "float32";
  static const char *const names[][2] = {
      {"float32", "f32"}, {"float16", "f16"}, {"bfloat16", "bf16"}};
  for (size_t i = 0; i < 3; i++)
    if (strcmp(name, names[i][0]) == 0) {
      *out = names[i][1];
      return NULL;
    }
  return greta_status_make(GRETA_UNIMPLEMENTED,
                           CONFIG ": torch_dtype \"%s\" is not one of float32, float16, bfloat16 "
                           "(--dtype chooses the storage)",
                           name);
}

static greta_status_t read_config(json_t *root, const import_options_t *o, llama_config_t *c,
                                  int64_t *out_max_seq) {
  json_t *type = json_object_get(root, "model_type");
  c->model_type = json_is_string(type) ? json_string_value(type) : "";
  if (strcmp(c->model_type, "llama") != 0 && strcmp(c->model_type, "mistral") != 0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": model_type \"%s\" is not supported (llama, mistral)",
                             c->model_type);
  GRETA_RETURN_IF_ERROR(get_int(root, "hidden_size", true, 0, &c->dim));
  GRETA_RETURN_IF_ERROR(get_int(root, "intermediate_size", true, 0, &c->ffn));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_hidden_layers", true, 0, &c->layers));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_attention_heads", true, 0, &c->heads));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_key_value_heads", false, c->heads, &c->kv_heads));
  GRETA_RETURN_IF_ERROR(get_int(root, "vocab_size", true, 0, &c->vocab));
  if (c->dim % c->heads != 0 && !json_object_get(root, "head_dim"))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             CONFIG ": hidden_size %lld is not a multiple of num_attention_heads "
                             "%lld and there is no head_dim",
                             (long long)c->dim, (long long)c->heads);
  GRETA_RETURN_IF_ERROR(get_int(root, "head_dim", false, c->dim / c->heads, &c->head_dim));
  GRETA_RETURN_IF_ERROR(get_int(root, "max_position_embeddings", false, 2048, &c->max_positions));
  GRETA_RETURN_IF_ERROR(get_number(root, "rms_norm_eps", 1e-6, &c->eps));
  GRETA_RETURN_IF_ERROR(get_number(root, "rope_theta", 10000.0, &c->theta));
  if (c->head_dim % 2)
    return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": head_dim %lld is odd (RoPE rotates pairs)",
                             (long long)c->head_dim);
  c->tied = is_true(root, "tie_word_embeddings");
  GRETA_RETURN_IF_ERROR(dtype_of(root, o->dtype, &c->dtype));
  int64_t max_seq = o->max_seq ? o->max_seq
                    : c->max_positions < IMPORT_DEFAULT_MAX_SEQ ? c->max_positions
                                                                : IMPORT_DEFAULT_MAX_SEQ;
  GRETA_RETURN_IF_ERROR(refuse_unsupported(root, c, max_seq));
  *out_max_seq = max_seq;
  return NULL;
}

/* "const NAME = VALUE", the config field it came from in a comment at
 * column 40. */
static void put_text_const(strbuf_t *out, const char *name, const char *value, const char *field) {
  char line[96];
  int n = snprintf(line, sizeof line, "const %s = %s", name, value);
  strbuf_printf(out, "%s%*s# %s\n", line, n < 39 ? 39 - n : 1, "", field);
}

static void put_const(strbuf_t *out, const char *name, const char *format, long long value,
                      const char *field) {
  char text[32];
  snprintf(text, sizeof text, format, value);
  put_text_const(out, name, text, field);
}

static void write_model(const llama_config_t *c, int64_t max_seq, const import_options_t *o,
                        const char *dir, strbuf_t *out) {
  /* The model's name: the directory's (trailing slashes aside), as an
   * identifier. */
  size_t end = strlen(dir);
  while (end > 1 && dir[end - 1] == '/') end--;
  size_t start = end;
  while (start > 0 && dir[start - 1] != '/') start--;
  char name[64];
  size_t n = 0;
  char first = start < end ? dir[start] : '_';
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_'))
    name[n++] = 'm';
  for (size_t i = start; i < end && n < sizeof name - 1; i++) {
    char ch = dir[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    name[n++] = ok ? ch : '_';
  }
  name[n] = '\0';
  strbuf_printf(out,
                "# Imported by gretac from %s/config.json (model_type %s): token embedding,\n"
                "# %lld decoder blocks, final norm, LM head; weights under the checkpoint's names.\n"
                "model %s\n\n",
                dir, c->model_type, (long long)c->layers, name);
  char theta[40];
  snprintf(theta, sizeof theta, "%.9g", c->theta);
  if (!strpbrk(theta, ".e")) strcat(theta, ".0"); /* a float constant */
  put_const(out, "dim", "%lld", (long long)c->dim, "hidden_size");
  put_const(out, "n_layers", "%lld", (long long)c->layers, "num_hidden_layers");
  put_const(out, "n_heads", "%lld", (long long)c->heads, "num_attention_heads");
  put_const(out, "n_kv_heads", "%lld", (long long)c->kv_heads, "num_key_value_heads");
  put_const(out, "head_dim", "%lld", (long long)c->head_dim, "head_dim");
  put_const(out, "ffn_dim", "%lld", (long long)c->ffn, "intermediate_size");
  put_const(out, "vocab", "%lld", (long long)c->vocab, "vocab_size");
  char eps[40];
  snprintf(eps, sizeof eps, "%.9g", c->eps);
  put_text_const(out, "eps", eps, "rms_norm_eps");
  put_text_const(out, "theta", theta, "rope_theta");
  put_const(out, "max_seq", "%lld", (long long)max_seq,
            o->max_seq ? "--max-seq"
            : max_seq < c->max_positions
                ? "max_position_embeddings, capped (--max-seq N for more)"
                : "max_position_embeddings");
  strbuf_printf(out, "set weight_dtype = %s\n", c->dtype);
  if (o->kv_dtype) strbuf_printf(out, "set kv_dtype = %s\n", o->kv_dtype);
  strbuf_append(
      out,
      "dim T                                  # tokens in this step\n\n"
      "block decoder(x: f32[T, dim], layer: int) -> f32[T, dim] {\n"
      "  weight attn_norm: [dim] = \"model.layers.{layer}.input_layernorm.weight\"\n"
      "  weight wq: [n_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.q_proj.weight\"\n"
      "  weight wk: [n_kv_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.k_proj.weight\"\n"
      "  weight wv: [n_kv_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.v_proj.weight\"\n"
      "  weight wo: [dim, n_heads * head_dim] = \"model.layers.{layer}.self_attn.o_proj.weight\"\n"
      "  weight ffn_norm: [dim] = \"model.layers.{layer}.post_attention_layernorm.weight\"\n"
      "  weight w1: [ffn_dim, dim] = \"model.layers.{layer}.mlp.gate_proj.weight\"\n"
      "  weight w2: [dim, ffn_dim] = \"model.layers.{layer}.mlp.down_proj.weight\"\n"
      "  weight w3: [ffn_dim, dim] = \"model.layers.{layer}.mlp.up_proj.weight\"\n"
      "  cache k_cache: [max_seq, n_kv_heads, head_dim]\n"
      "  cache v_cache: [max_seq, n_kv_heads, head_dim]\n\n"
      "  h = rmsnorm(x, attn_norm, eps)\n"
      "  q = rope(reshape(h @ wq.T, [T, n_heads, head_dim]), theta)\n"
      "  k = rope(reshape(h @ wk.T, [T, n_kv_heads, head_dim]), theta)\n"
      "  v = reshape(h @ wv.T, [T, n_kv_heads, head_dim])\n"
      "  a = reshape(attention(q, append(k_cache, k), append(v_cache, v)), [T, n_heads * head_dim])\n"
      "  x1 = x + a @ wo.T\n"
      "  h2 = rmsnorm(x1, ffn_norm, eps)\n"
      "  return x1 + (silu(h2 @ w1.T) * (h2 @ w3.T)) @ w2.T\n"
      "}\n\n"
      "input tokens: i32[T]\n"
      "weight embed: [vocab, dim] = \"model.embed_tokens.weight\"\n"
      "h = embedding(tokens, embed)\n"
      "repeat layer in 0 .. n_layers {\n"
      "  h = decoder(h, layer)\n"
      "}\n"
      "weight final_norm: [dim] = \"model.norm.weight\"\n");
  if (c->tied)
    strbuf_append(out, "# tie_word_embeddings: the LM head is the embedding table itself.\n"
                       "weight lm_head: [vocab, dim] = \"model.embed_tokens.weight\"\n");
  else
    strbuf_append(out, "weight lm_head: [vocab, dim] = \"lm_head.weight\"\n");
  strbuf_append(out, "output logits = rmsnorm(h, final_norm, eps) @ lm_head.T\n");
}

/* The config's JSON, parsed, into the model text. */
static greta_status_t import_json(json_t *root, const char *where, const char *dir,
                                  const import_options_t *options, strbuf_t *out) {
  if (!json_is_object(root))
    return greta_status_make(GRETA_INVALID_ARGUMENT, "import: %s is not a JSON object", where);
  llama_config_t c = {0};
  int64_t max_seq = 0;
  GRETA_RETURN_IF_ERROR(read_config(root, options, &c, &max_seq));
  write_model(&c, max_seq, options, dir, out);
  return NULL;
}

greta_status_t import_config_text(const char *text, size_t size, const char *dir,
                                  const import_options_t *options, strbuf_t *out) {
  json_error_t err;
  json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
  if (!root)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "import: " CONFIG ":%d:%d: %s", err.line,
                             err.column, err.text);
  greta_status_t status = import_json(root, CONFIG, dir, options, out);
  json_decref(root);
  return status;
}

greta_status_t import_checkpoint(const char *dir, const import_options_t *options, strbuf_t *out) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/" CONFIG, dir) >= (int)sizeof path)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "import: the path %s is too long", dir);
  json_error_t err;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!root && err.line < 0) /* not JSON's fault: the file itself */
    return greta_status_make(GRETA_NOT_FOUND, "import: %s (is %s a checkpoint directory?)",
                             err.text, dir);
  if (!root)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "import: %s:%d:%d: %s", path, err.line,
                             err.column, err.text);
  greta_status_t status = import_json(root, path, dir, options, out);
  json_decref(root);
  return status ? greta_status_annotate(status, "import %s", dir) : NULL;
}
