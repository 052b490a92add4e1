/* config.json -> .gm (import.h). The JSON is read with jansson (Debian's
 * libjansson); the model text follows examples/llama2_7b.gm, with the
 * config's numbers as named constants and a comment naming each field they
 * came from, so the output reads like a hand-written model. */
#define _POSIX_C_SOURCE 200809L
#include "import.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* What the model text needs from the config. */
typedef struct llama_config_s {
  const char *model_type;
  int64_t dim, ffn, layers, heads, kv_heads, head_dim, vocab, max_positions;
  double eps, theta;
  bool tied;
  bool qkv_bias;       /* qwen2: q_proj, k_proj and v_proj have a bias */
  const char *scaling; /* the field RoPE scaling came from; NULL: none */
  double factor, low_freq_factor, high_freq_factor, original_max; /* llama3 */
  const char *dtype;   /* .gm spelling */
} llama_config_t;

#define CONFIG "config.json"

/* The model types the import knows, and what sets them apart. */
static const struct {
  const char *name;
  bool qkv_bias;
  double eps; /* rms_norm_eps when the config has none (the config class's default) */
} model_types[] = {
    {"llama", false, 1e-6},
    {"mistral", false, 1e-6},
    {"qwen2", true, 1e-6},
};

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

/* `where` names the object for messages ("rope_scaling."), "" at the top. */
static greta_status_t get_number_in(json_t *obj, const char *where, const char *key,
                                    bool required, double fallback, double *out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    if (required)
      return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": the field \"%s%s\" is missing",
                               where, key);
    *out = fallback;
    return NULL;
  }
  if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
    return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": \"%s%s\" must be a positive number",
                             where, key);
  *out = json_number_value(v);
  return NULL;
}

static greta_status_t get_number(json_t *root, const char *key, double fallback, double *out) {
  return get_number_in(root, "", key, false, fallback, out);
}

static bool is_true(json_t *root, const char *key) { return json_is_true(json_object_get(root, key)); }

/* A JSON value as config text for messages ("8", "\"yarn\"", "true"). */
static void value_text(json_t *v, char *buf, size_t size) {
  if (json_is_string(v)) snprintf(buf, size, "\"%s\"", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, size, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v)) snprintf(buf, size, "%g", json_real_value(v));
  else if (json_is_boolean(v)) snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
  else snprintf(buf, size, "(an object or array)");
}

/* RoPE: theta (top-level rope_theta, or transformers 5's rope_parameters),
 * and the scaling of rope_scaling or rope_parameters, whose type is under
 * "rope_type" or the older "type": none, "default" or "llama3". */
static greta_status_t read_rope(json_t *root, llama_config_t *c) {
  const char *field = "rope_scaling";
  json_t *scaling = json_object_get(root, field);
  if (!scaling || json_is_null(scaling)) {
    field = "rope_parameters";
    scaling = json_object_get(root, field);
  }
  json_t *params = json_object_get(root, "rope_parameters");
  double theta_default = 10000.0;
  if (json_is_object(params))
    GRETA_RETURN_IF_ERROR(
        get_number_in(params, "rope_parameters.", "rope_theta", false, 10000.0, &theta_default));
  GRETA_RETURN_IF_ERROR(get_number(root, "rope_theta", theta_default, &c->theta));
  if (!scaling || json_is_null(scaling)) return NULL;
  if (!json_is_object(scaling))
    return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": \"%s\" must be an object or null",
                             field);
  const char *type_key = "rope_type";
  json_t *type = json_object_get(scaling, type_key);
  if (!type) type = json_object_get(scaling, type_key = "type");
  if (!type) return NULL; /* rope_parameters with rope_theta alone */
  if (!json_is_string(type))
    return greta_status_make(GRETA_INVALID_ARGUMENT, CONFIG ": \"%s.%s\" must be a string", field,
                             type_key);
  const char *name = json_string_value(type);
  if (strcmp(name, "default") == 0) return NULL;
  if (strcmp(name, "llama3") != 0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": %s.%s \"%s\" is not supported (default, llama3)", field,
                             type_key, name);
  char where[64];
  snprintf(where, sizeof where, "%s.", field);
  GRETA_RETURN_IF_ERROR(get_number_in(scaling, where, "factor", true, 0, &c->factor));
  GRETA_RETURN_IF_ERROR(
      get_number_in(scaling, where, "low_freq_factor", true, 0, &c->low_freq_factor));
  GRETA_RETURN_IF_ERROR(
      get_number_in(scaling, where, "high_freq_factor", true, 0, &c->high_freq_factor));
  GRETA_RETURN_IF_ERROR(get_number_in(scaling, where, "original_max_position_embeddings", true, 0,
                                      &c->original_max));
  if (!(c->low_freq_factor < c->high_freq_factor))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             CONFIG ": %s.high_freq_factor %g must be greater than "
                             "low_freq_factor %g",
                             field, c->high_freq_factor, c->low_freq_factor);
  c->scaling = field;
  return NULL;
}

/* What the language cannot express, each named with its value. */
static greta_status_t refuse_unsupported(json_t *root, const llama_config_t *c, int64_t max_seq) {
  char text[96];
  /* Mixture of experts: any of these with a count above 0. */
  static const char *const moe[] = {"num_local_experts", "num_experts", "n_routed_experts",
                                    "num_experts_per_tok", "moe_intermediate_size"};
  for (size_t i = 0; i < sizeof moe / sizeof moe[0]; i++) {
    json_t *v = json_object_get(root, moe[i]);
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0)) {
      value_text(v, text, sizeof text);
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               CONFIG ": \"%s\" is %s: mixture-of-experts models are not "
                               "supported",
                               moe[i], text);
    }
  }
  json_t *pe = json_object_get(root, "position_embedding_type");
  if (is_true(root, "alibi") || (json_is_string(pe) && strcmp(json_string_value(pe), "rope") != 0)) {
    if (pe) value_text(pe, text, sizeof text);
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": %s is %s: only rotary position embeddings (RoPE) are "
                             "supported",
                             is_true(root, "alibi") ? "\"alibi\"" : "\"position_embedding_type\"",
                             is_true(root, "alibi") ? "true" : text);
  }
  /* Qwen2's q/k/v bias is its architecture; anywhere else a bias is not. */
  static const char *const biases[] = {"attention_bias", "mlp_bias"};
  for (size_t i = c->qkv_bias ? 1 : 0; i < 2; i++)
    if (is_true(root, biases[i]))
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               CONFIG ": \"%s\" is true: a %s model with this bias is not "
                               "supported",
                               biases[i], c->model_type);
  const char *act = json_string_value(json_object_get(root, "hidden_act"));
  if (act && strcmp(act, "silu") != 0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": hidden_act \"%s\" is not supported (SiLU only)", act);
  json_t *partial = json_object_get(root, "partial_rotary_factor");
  if (json_is_number(partial) && json_number_value(partial) != 1.0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": partial_rotary_factor %g is not supported (RoPE over the "
                             "whole head only)",
                             json_number_value(partial));
  /* A window is only real when the model uses it (Qwen2 says so with
   * use_sliding_window) and it is shorter than the cache. */
  json_t *window = json_object_get(root, "sliding_window");
  json_t *use = json_object_get(root, "use_sliding_window");
  if (json_is_integer(window) && json_integer_value(window) < max_seq &&
      !(use && json_is_false(use)))
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
  const char *key = "torch_dtype";
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) v = json_object_get(root, key = "dtype");
  const char *name = json_is_string(v) ? json_string_value(v) : "float32";
  static const char *const names[][2] = {
      {"float32", "f32"}, {"float16", "f16"}, {"bfloat16", "bf16"}};
  for (size_t i = 0; i < 3; i++)
    if (strcmp(name, names[i][0]) == 0) {
      *out = names[i][1];
      return NULL;
    }
  return greta_status_make(GRETA_UNIMPLEMENTED,
                           CONFIG ": %s \"%s\" is not one of float32, float16, bfloat16 "
                           "(--dtype chooses the storage)",
                           key, name);
}

static greta_status_t read_config(json_t *root, const import_options_t *o, llama_config_t *c,
                                  int64_t *out_max_seq) {
  json_t *type = json_object_get(root, "model_type");
  c->model_type = json_is_string(type) ? json_string_value(type) : "";
  size_t known = 0;
  while (known < sizeof model_types / sizeof model_types[0] &&
         strcmp(model_types[known].name, c->model_type) != 0)
    known++;
  if (known == sizeof model_types / sizeof model_types[0])
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             CONFIG ": model_type \"%s\" is not supported (llama, mistral, qwen2)",
                             c->model_type);
  c->qkv_bias = model_types[known].qkv_bias;
  GRETA_RETURN_IF_ERROR(get_int(root, "hidden_size", true, 0, &c->dim));
  GRETA_RETURN_IF_ERROR(get_int(root, "intermediate_size", true, 0, &c->ffn));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_hidden_layers", true, 0, &c->layers));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_attention_heads", true, 0, &c->heads));
  GRETA_RETURN_IF_ERROR(get_int(root, "num_key_value_heads", false, c->heads, &c->kv_heads));
  GRETA_RETURN_IF_ERROR(get_int(root, "vocab_size", true, 0, &c->vocab));
  json_t *head_dim = json_object_get(root, "head_dim");
  if (c->dim % c->heads != 0 && (!head_dim || json_is_null(head_dim)))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             CONFIG ": hidden_size %lld is not a multiple of num_attention_heads "
                             "%lld and there is no head_dim",
                             (long long)c->dim, (long long)c->heads);
  GRETA_RETURN_IF_ERROR(get_int(root, "head_dim", false, c->dim / c->heads, &c->head_dim));
  GRETA_RETURN_IF_ERROR(get_int(root, "max_position_embeddings", false, 2048, &c->max_positions));
  GRETA_RETURN_IF_ERROR(get_number(root, "rms_norm_eps", model_types[known].eps, &c->eps));
  GRETA_RETURN_IF_ERROR(read_rope(root, c));
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

/* A number as a .gm float constant: "%.17g" (reads back as the same
 * double), with ".0" when it would read as an integer. */
static void float_text(double v, char *buf, size_t size) {
  snprintf(buf, size, "%.17g", v);
  char shorter[40];
  snprintf(shorter, sizeof shorter, "%.9g", v);
  if (strtod(shorter, NULL) == v) snprintf(buf, size, "%s", shorter);
  if (!strpbrk(buf, ".en")) strncat(buf, ".0", size - strlen(buf) - 1);
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
  float_text(c->theta, theta, sizeof theta);
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
  if (c->scaling) {
    char f[40], lo[40], hi[40], orig[40];
    float_text(c->factor, f, sizeof f);
    float_text(c->low_freq_factor, lo, sizeof lo);
    float_text(c->high_freq_factor, hi, sizeof hi);
    float_text(c->original_max, orig, sizeof orig);
    strbuf_printf(out,
                  "# %s (rope_type llama3): factor, low_freq_factor, high_freq_factor,\n"
                  "# original_max_position_embeddings\n"
                  "set rope_scaling = llama3(%s, %s, %s, %s)\n",
                  c->scaling, f, lo, hi, orig);
  }
  strbuf_append(
      out,
      "dim T                                  # tokens in this step\n\n"
      "block decoder(x: f32[T, dim], layer: int) -> f32[T, dim] {\n"
      "  weight attn_norm: [dim] = \"model.layers.{layer}.input_layernorm.weight\"\n"
      "  weight wq: [n_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.q_proj.weight\"\n"
      "  weight wk: [n_kv_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.k_proj.weight\"\n"
      "  weight wv: [n_kv_heads * head_dim, dim] = \"model.layers.{layer}.self_attn.v_proj.weight\"\n"
      "  weight wo: [dim, n_heads * head_dim] = \"model.layers.{layer}.self_attn.o_proj.weight\"\n");
  if (c->qkv_bias)
    strbuf_append(
        out,
        "  weight bq: [n_heads * head_dim] = \"model.layers.{layer}.self_attn.q_proj.bias\"\n"
        "  weight bk: [n_kv_heads * head_dim] = \"model.layers.{layer}.self_attn.k_proj.bias\"\n"
        "  weight bv: [n_kv_heads * head_dim] = \"model.layers.{layer}.self_attn.v_proj.bias\"\n");
  strbuf_append(
      out,
      "  weight ffn_norm: [dim] = \"model.layers.{layer}.post_attention_layernorm.weight\"\n"
      "  weight w1: [ffn_dim, dim] = \"model.layers.{layer}.mlp.gate_proj.weight\"\n"
      "  weight w2: [dim, ffn_dim] = \"model.layers.{layer}.mlp.down_proj.weight\"\n"
      "  weight w3: [ffn_dim, dim] = \"model.layers.{layer}.mlp.up_proj.weight\"\n"
      "  cache k_cache: [max_seq, n_kv_heads, head_dim]\n"
      "  cache v_cache: [max_seq, n_kv_heads, head_dim]\n\n"
      "  h = rmsnorm(x, attn_norm, eps)\n");
  if (c->qkv_bias)
    strbuf_append(out,
                  "  q = rope(reshape(h @ wq.T + bq, [T, n_heads, head_dim]), theta)\n"
                  "  k = rope(reshape(h @ wk.T + bk, [T, n_kv_heads, head_dim]), theta)\n"
                  "  v = reshape(h @ wv.T + bv, [T, n_kv_heads, head_dim])\n");
  else
    strbuf_append(out,
                  "  q = rope(reshape(h @ wq.T, [T, n_heads, head_dim]), theta)\n"
                  "  k = rope(reshape(h @ wk.T, [T, n_kv_heads, head_dim]), theta)\n"
                  "  v = reshape(h @ wv.T, [T, n_kv_heads, head_dim])\n");
  strbuf_append(
      out,
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
  strbuf_append(out,
                "# The logits of the step's last token only ([1, vocab]): what generation reads.\n"
                "output logits = rmsnorm(last(h), final_norm, eps) @ lm_head.T\n");
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
