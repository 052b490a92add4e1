/* greta_tokenizer_open: a Hugging Face tokenizer.json (read with jansson)
 * and, beside it, tokenizer_config.json (BOS, EOS, chat template) and
 * generation_config.json (more EOS ids). Everything the encoder and the
 * decoder need is built once here: the vocabulary and merges as hash
 * tables, the added tokens by first byte, the regexes compiled with JIT.
 * What the pipeline does not implement is refused with
 * GRETA_UNIMPLEMENTED naming the field and its value, so a tokenizer is
 * either exact or refused, never approximately right. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_io.h"
#include "status.h"
#include "tokenizer.h"

/* GPT-2's pre-tokenizer regex, which ByteLevel(use_regex = true) applies. */
static const char gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- JSON helpers ----------------------------------------------------------- */

static greta_status_t bad(const char *where, const char *expected, const json_t *found) {
  static const char *types[] = {"an object", "an array", "a string", "an integer",
                                "a number",  "true",     "false",    "null"};
  return greta_status_make(GRETA_DATA_LOSS, "tokenizer: %s: expected %s, found %s", where,
                           expected, found ? types[json_typeof(found)] : "nothing");
}

static greta_status_t get_bool(const json_t *obj, const char *key, const char *where, bool dflt,
                               bool *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = dflt;
    return NULL;
  }
  if (!json_is_boolean(v)) {
    char w[256];
    snprintf(w, sizeof w, "%s.%s", where, key);
    return bad(w, "true or false", v);
  }
  *out = json_is_true(v);
  return NULL;
}

/* A string field (NULL when absent or null); its length to *out_len. */
static greta_status_t get_string(const json_t *obj, const char *key, const char *where,
                                 const char **out, size_t *out_len) {
  const json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!v || json_is_null(v)) return NULL;
  if (!json_is_string(v)) {
    char w[512];
    snprintf(w, sizeof w, "%s.%s", where, key);
    return bad(w, "a string", v);
  }
  *out = json_string_value(v);
  if (out_len) *out_len = json_string_length(v);
  return NULL;
}

static char *dup_bytes(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static greta_status_t oom(void) {
  return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: out of memory");
}

static greta_status_t unsupported(const char *where, const char *type, const char *supported) {
  return greta_status_make(GRETA_UNIMPLEMENTED,
                           "tokenizer: %s.type is \"%s\": not supported (supported: %s)", where,
                           type, supported);
}

/* An object's "type", or a message. */
static greta_status_t get_type(const json_t *obj, const char *where, const char **out) {
  if (!json_is_object(obj)) return bad(where, "an object", obj);
  GRETA_RETURN_IF_ERROR(get_string(obj, "type", where, out, NULL));
  if (!*out) {
    char w[256];
    snprintf(w, sizeof w, "%s.type", where);
    return bad(w, "a string", NULL);
  }
  return NULL;
}

/* A {"String": s} or {"Regex": r} pattern. */
static greta_status_t get_pattern(const json_t *obj, const char *where, bool *out_regex,
                                  const char **out, size_t *out_len) {
  char w[256];
  snprintf(w, sizeof w, "%s.pattern", where);
  const json_t *p = json_object_get(obj, "pattern");
  if (!json_is_object(p)) return bad(w, "an object {\"String\": ...} or {\"Regex\": ...}", p);
  const json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
  const json_t *v = s ? s : r;
  if (!json_is_string(v)) return bad(w, "an object {\"String\": ...} or {\"Regex\": ...}", p);
  *out_regex = v == r;
  *out = json_string_value(v);
  *out_len = json_string_length(v);
  return NULL;
}

/* A {"type": "Replace"} normalizer or decoder (`stage`): its String pattern
 * and its content, copied (the caller owns both). */
static greta_status_t load_replace(const json_t *n, const char *where, const char *stage,
                                   char **out_pattern, size_t *out_plen, char **out_content,
                                   size_t *out_clen) {
  bool regex;
  const char *pat, *content;
  GRETA_RETURN_IF_ERROR(get_pattern(n, where, &regex, &pat, out_plen));
  if (regex)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: %s.pattern is {\"Regex\": \"%s\"}: only a String "
                             "pattern is supported in a Replace %s",
                             where, pat, stage);
  GRETA_RETURN_IF_ERROR(get_string(n, "content", where, &content, out_clen));
  if (!content) return bad(where, "a Replace with \"content\": \"...\"", NULL);
  *out_pattern = dup_bytes(pat, *out_plen);
  *out_content = dup_bytes(content, *out_clen);
  if (!*out_pattern || !*out_content) {
    free(*out_pattern);
    free(*out_content);
    return oom();
  }
  return NULL;
}

/* ---- model: BPE --------------------------------------------------------------- */

static greta_status_t id_of(const json_t *v, const char *where, int64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX)
    return bad(where, "an id, an integer from 0 to 2^31-2", v);
  *out = json_integer_value(v);
  return NULL;
}

/* Sizes the id tables from the largest id of the vocabulary and the added tokens. */
static greta_status_t size_ids(greta_tokenizer_t *tok, const json_t *vocab, const json_t *added) {
  int64_t max_id = -1;
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)vocab, key, v) {
    int64_t id = 0;
    GRETA_RETURN_IF_ERROR(id_of(v, "model.vocab", &id));
    if (id > max_id) max_id = id;
  }
  /* Added tokens get ids from the vocabulary's size on (load_added): at
   * most one new id each. */
  int64_t bound = (int64_t)json_object_size(vocab) + (int64_t)json_array_size(added);
  if (bound > INT32_MAX - 1)
    return greta_status_make(GRETA_DATA_LOSS, "tokenizer: %lld tokens is too many",
                             (long long)bound);
  /* Ids index flat tables: a vocabulary whose ids are far sparser than
   * its size (a corrupt file) would ask for gigabytes. */
  if (max_id > 16 * bound + 4096)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tokenizer: model.vocab has an id of %lld for %lld tokens (expected "
                             "ids about 0 .. %lld)",
                             (long long)max_id, (long long)bound, (long long)bound - 1);
  if (bound - 1 > max_id) max_id = bound - 1;
  tok->n_ids = (int32_t)(max_id + 1);
  size_t n = (size_t)tok->n_ids ? (size_t)tok->n_ids : 1;
  tok->id_text = calloc(n, sizeof *tok->id_text);
  tok->id_len = calloc(n, sizeof *tok->id_len);
  tok->id_flags = calloc(n, 1);
  tok->model_text = calloc(n, sizeof *tok->model_text);
  tok->model_len = calloc(n, sizeof *tok->model_len);
  if (!tok->id_text || !tok->id_len || !tok->id_flags || !tok->model_text || !tok->model_len)
    return oom();
  return NULL;
}

static greta_status_t load_vocab(greta_tokenizer_t *tok, const json_t *vocab) {
  size_t bytes = 0;
  const char *key;
  const json_t *v;
  void *it;
  for (it = json_object_iter((json_t *)vocab); it; it = json_object_iter_next((json_t *)vocab, it))
    bytes += json_object_iter_key_len(it) + 1;
  tok->arena = malloc(bytes ? bytes : 1);
  if (!tok->arena) return oom();
  GRETA_RETURN_IF_ERROR(tok_strmap_init(&tok->vocab, json_object_size(vocab)));
  char *p = tok->arena;
  for (it = json_object_iter((json_t *)vocab); it;
       it = json_object_iter_next((json_t *)vocab, it)) {
    key = json_object_iter_key(it);
    size_t len = json_object_iter_key_len(it);
    v = json_object_iter_value(it);
    int32_t id = (int32_t)json_integer_value(v);
    if (tok->model_text[id])
      return greta_status_make(GRETA_DATA_LOSS,
                               "tokenizer: model.vocab gives id %d to both \"%s\" and \"%s\"", id,
                               tok->model_text[id], key);
    memcpy(p, key, len);
    p[len] = '\0';
    tok->model_text[id] = p;
    tok->model_len[id] = (uint32_t)len;
    tok->id_text[id] = p;
    tok->id_len[id] = (uint32_t)len;
    tok->id_flags[id] |= TOK_ID_PRESENT;
    p += len + 1;
    tok_strmap_insert(&tok->vocab, tok, id);
  }
  return NULL;
}

static greta_status_t load_merges(greta_tokenizer_t *tok, const json_t *merges) {
  if (!json_is_array(merges)) return bad("model.merges", "an array", merges);
  size_t n = json_array_size(merges);
  GRETA_RETURN_IF_ERROR(tok_pairmap_init(&tok->merges, n));
  tok_buf_t joined = {0};
  greta_status_t st = NULL;
  for (size_t i = 0; i < n && !st; i++) {
    const json_t *m = json_array_get(merges, i);
    const char *a, *b;
    size_t alen, blen;
    if (json_is_string(m)) {
      /* "a b": HF splits on ' ' and wants exactly two parts. */
      a = json_string_value(m);
      const char *sp = memchr(a, ' ', json_string_length(m));
      if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
        st = greta_status_make(GRETA_DATA_LOSS,
                               "tokenizer: model.merges[%zu] is \"%s\", expected two tokens "
                               "separated by one space",
                               i, a);
        break;
      }
      alen = (size_t)(sp - a);
      b = sp + 1;
      blen = json_string_length(m) - alen - 1;
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
      a = json_string_value(json_array_get(m, 0));
      alen = json_string_length(json_array_get(m, 0));
      b = json_string_value(json_array_get(m, 1));
      blen = json_string_length(json_array_get(m, 1));
    } else {
      char w[64];
      snprintf(w, sizeof w, "model.merges[%zu]", i);
      st = bad(w, "\"a b\" or [\"a\", \"b\"]", m);
      break;
    }
    int32_t ia = tok_strmap_find(&tok->vocab, tok, a, alen);
    int32_t ib = tok_strmap_find(&tok->vocab, tok, b, blen);
    joined.len = 0;
    st = tok_buf_append(&joined, a, alen);
    if (!st) st = tok_buf_append(&joined, b, blen);
    if (st) break;
    int32_t inew = tok_strmap_find(&tok->vocab, tok, joined.data, joined.len);
    if (ia < 0 || ib < 0 || inew < 0) {
      st = greta_status_make(GRETA_DATA_LOSS,
                             "tokenizer: model.merges[%zu] (\"%.*s\" + \"%.*s\"): %s\"%.*s\" is "
                             "not in model.vocab",
                             i, (int)alen, a, (int)blen, b,
                             ia < 0 ? "" : ib < 0 ? "" : "the merged token ",
                             ia < 0 ? (int)alen : ib < 0 ? (int)blen : (int)joined.len,
                             ia < 0 ? a : ib < 0 ? b : joined.data);
      break;
    }
    tok_pairmap_insert(&tok->merges, ia, ib, (uint32_t)i, inew);
  }
  tok_buf_free(&joined);
  return st;
}

static greta_status_t load_model(greta_tokenizer_t *tok, const json_t *model) {
  const char *type = NULL;
  if (!json_is_object(model)) return bad("model", "an object", model);
  GRETA_RETURN_IF_ERROR(get_string(model, "type", "model", &type, NULL));
  /* HF accepts a BPE model without "type" (it is recognised by its fields). */
  if (type && strcmp(type, "BPE") != 0) return unsupported("model", type, "BPE");
  const json_t *dropout = json_object_get(model, "dropout");
  if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: model.dropout is %g: BPE dropout is not supported",
                             json_number_value(dropout));
  const char *s;
  size_t slen;
  GRETA_RETURN_IF_ERROR(get_string(model, "continuing_subword_prefix", "model", &s, &slen));
  if (s && slen)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: model.continuing_subword_prefix is \"%s\": not supported",
                             s);
  GRETA_RETURN_IF_ERROR(get_string(model, "end_of_word_suffix", "model", &s, &slen));
  if (s && slen)
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: model.end_of_word_suffix is \"%s\": not supported", s);
  GRETA_RETURN_IF_ERROR(get_bool(model, "byte_fallback", "model", false, &tok->byte_fallback));
  GRETA_RETURN_IF_ERROR(get_bool(model, "fuse_unk", "model", false, &tok->fuse_unk));
  GRETA_RETURN_IF_ERROR(get_bool(model, "ignore_merges", "model", false, &tok->ignore_merges));
  GRETA_RETURN_IF_ERROR(load_vocab(tok, json_object_get(model, "vocab")));
  GRETA_RETURN_IF_ERROR(load_merges(tok, json_object_get(model, "merges")));
  GRETA_RETURN_IF_ERROR(get_string(model, "unk_token", "model", &s, &slen));
  tok->unk_id = -1;
  if (s) {
    tok->has_unk = true;
    tok->unk_token = dup_bytes(s, slen);
    if (!tok->unk_token) return oom();
    tok->unk_id = tok_strmap_find(&tok->vocab, tok, s, slen);
  }
  for (int b = 0; b < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    tok->byte_ids[b] = tok_strmap_find(&tok->vocab, tok, name, 6);
  }
  return NULL;
}

/* Appends `item` (`elem` bytes) to the array *items of *count elements.
 * Load-time lists are short (a few steps, a few template ids): one realloc
 * each is fine. */
static bool append(void **items, size_t *count, size_t elem, const void *item) {
  char *p = realloc(*items, (*count + 1) * elem);
  if (!p) return false;
  memcpy(p + *count * elem, item, elem);
  *items = p;
  ++*count;
  return true;
}

/* A component of one pipeline stage, loaded into the tokenizer. */
typedef greta_status_t (*load_fn)(greta_tokenizer_t *tok, const json_t *n, const char *where);

/* A stage's {"type": "Sequence", "<key>": [...]}: each element loaded in
 * order by `load`, named "<where>.<key>[i]" in messages. */
static greta_status_t load_sequence(greta_tokenizer_t *tok, const json_t *n, const char *key,
                                    const char *where, load_fn load) {
  const json_t *list = json_object_get(n, key);
  if (!json_is_array(list)) {
    char expected[64];
    snprintf(expected, sizeof expected, "a Sequence with \"%s\": [...]", key);
    return bad(where, expected, list);
  }
  size_t i;
  const json_t *v;
  json_array_foreach(list, i, v) {
    char w[256];
    snprintf(w, sizeof w, "%s.%s[%zu]", where, key, i);
    GRETA_RETURN_IF_ERROR(load(tok, v, w));
  }
  return NULL;
}

/* ---- normalizer --------------------------------------------------------------- */

static greta_status_t add_norm(greta_tokenizer_t *tok, tok_norm_t n) {
  if (append((void **)&tok->norm, &tok->n_norm, sizeof n, &n)) return NULL;
  free(n.pattern);
  free(n.content);
  return oom();
}

static greta_status_t load_normalizer(greta_tokenizer_t *tok, const json_t *n, const char *where) {
  if (!n || json_is_null(n)) return NULL;
  const char *type;
  GRETA_RETURN_IF_ERROR(get_type(n, where, &type));
  if (strcmp(type, "Sequence") == 0)
    return load_sequence(tok, n, "normalizers", where, load_normalizer);
  if (strcmp(type, "Prepend") == 0) {
    const char *s;
    size_t len;
    GRETA_RETURN_IF_ERROR(get_string(n, "prepend", where, &s, &len));
    if (!s) return bad(where, "a Prepend with \"prepend\": \"...\"", NULL);
    char *c = dup_bytes(s, len);
    if (!c) return oom();
    return add_norm(tok, (tok_norm_t){.kind = TOK_NORM_PREPEND, .content = c, .content_len = len});
  }
  if (strcmp(type, "Replace") == 0) {
    char *p, *c;
    size_t plen, clen;
    GRETA_RETURN_IF_ERROR(load_replace(n, where, "normalizer", &p, &plen, &c, &clen));
    return add_norm(tok, (tok_norm_t){.kind = TOK_NORM_REPLACE, .pattern = p, .pattern_len = plen,
                                      .content = c, .content_len = clen});
  }
  /* Canonical composition (Qwen2), through libutf8proc (normalize.c). */
  if (strcmp(type, "NFC") == 0) return add_norm(tok, (tok_norm_t){.kind = TOK_NORM_NFC});
  return unsupported(where, type, "Sequence, Prepend, Replace, NFC");
}

/* ---- pre-tokenizer ----------------------------------------------------------- */

static greta_status_t add_pre(greta_tokenizer_t *tok, tok_pre_t pre) {
  if (append((void **)&tok->pre, &tok->n_pre, sizeof pre, &pre)) return NULL;
  pcre2_code_free(pre.regex);
  return oom();
}

static greta_status_t load_pre_tokenizer(greta_tokenizer_t *tok, const json_t *n,
                                         const char *where) {
  if (!n || json_is_null(n)) return NULL;
  const char *type;
  GRETA_RETURN_IF_ERROR(get_type(n, where, &type));
  if (strcmp(type, "Sequence") == 0)
    return load_sequence(tok, n, "pretokenizers", where, load_pre_tokenizer);
  if (strcmp(type, "Split") == 0) {
    const char *behavior;
    bool invert = false, regex = false;
    const char *pat;
    size_t plen;
    GRETA_RETURN_IF_ERROR(get_string(n, "behavior", where, &behavior, NULL));
    if (!behavior || strcmp(behavior, "Isolated") != 0)
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               "tokenizer: %s.behavior is \"%s\": only \"Isolated\" is supported",
                               where, behavior ? behavior : "(none)");
    GRETA_RETURN_IF_ERROR(get_bool(n, "invert", where, false, &invert));
    if (invert)
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               "tokenizer: %s.invert is true: not supported", where);
    GRETA_RETURN_IF_ERROR(get_pattern(n, where, &regex, &pat, &plen));
    tok_pre_t pre = {.kind = TOK_PRE_SPLIT};
    if (regex) {
      GRETA_RETURN_IF_ERROR(tok_regex_compile(pat, plen, where, &pre.regex));
    } else {
      int err;
      PCRE2_SIZE off;
      pre.regex = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_UTF | PCRE2_LITERAL, &err, &off, NULL);
      if (!pre.regex) return oom();
    }
    return add_pre(tok, pre);
  }
  if (strcmp(type, "ByteLevel") == 0) {
    bool use_regex = true;
    tok_pre_t pre = {.kind = TOK_PRE_BYTE_LEVEL};
    GRETA_RETURN_IF_ERROR(get_bool(n, "add_prefix_space", where, true, &pre.add_prefix_space));
    GRETA_RETURN_IF_ERROR(get_bool(n, "use_regex", where, true, &use_regex));
    if (use_regex)
      GRETA_RETURN_IF_ERROR(
          tok_regex_compile(gpt2_regex, strlen(gpt2_regex), "ByteLevel's regex", &pre.regex));
    return add_pre(tok, pre);
  }
  return unsupported(where, type, "Sequence, Split (Isolated), ByteLevel");
}

/* ---- added tokens ------------------------------------------------------------- */

static int compare_added(const void *pa, const void *pb) {
  const tok_added_t *a = pa, *b = pb;
  int fa = a->match_len ? (uint8_t)a->match[0] : 256, fb = b->match_len ? (uint8_t)b->match[0] : 256;
  if (fa != fb) return fa < fb ? -1 : 1;
  if (a->match_len != b->match_len) return a->match_len > b->match_len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static bool same_added(const tok_added_t *a, const tok_added_t *b) {
  return a->special == b->special && a->normalized == b->normalized && a->lstrip == b->lstrip &&
         a->rstrip == b->rstrip && a->single_word == b->single_word;
}

/* The added tokens, as HF's AddedVocabulary::add_tokens gives them ids:
 * the "id" written in tokenizer.json is NOT used (HF only warns when it
 * differs). A content already added, or in the model's vocabulary, keeps
 * that id; any other takes the next id from the vocabulary's entry count
 * on. A normalized token is searched for, and decoded, in its normalized
 * form ("[N]" -> "▁[N]" under Llama 2's normalizer). */
static greta_status_t load_added(greta_tokenizer_t *tok, const json_t *added) {
  size_t n = json_array_size(added);
  tok->added = calloc(n ? n : 1, sizeof *tok->added);
  if (!tok->added) return oom();
  int32_t next_id = (int32_t)tok->vocab.count, max_id = -1;
  for (int32_t id = 0; id < tok->n_ids; id++)
    if (tok->model_text[id]) max_id = id;
  size_t i;
  const json_t *v;
  json_array_foreach(added, i, v) {
    char w[64];
    snprintf(w, sizeof w, "added_tokens[%zu]", i);
    if (!json_is_object(v)) return bad(w, "an object", v);
    tok_added_t a = {0};
    GRETA_RETURN_IF_ERROR(get_string(v, "content", w, &a.content, &a.content_len));
    if (!a.content) return bad(w, "an object with \"content\"", NULL);
    GRETA_RETURN_IF_ERROR(get_bool(v, "special", w, false, &a.special));
    /* HF's default: normalized unless special. */
    GRETA_RETURN_IF_ERROR(get_bool(v, "normalized", w, !a.special, &a.normalized));
    GRETA_RETURN_IF_ERROR(get_bool(v, "lstrip", w, false, &a.lstrip));
    GRETA_RETURN_IF_ERROR(get_bool(v, "rstrip", w, false, &a.rstrip));
    GRETA_RETURN_IF_ERROR(get_bool(v, "single_word", w, false, &a.single_word));
    if (a.content_len == 0) continue; /* HF ignores it */
    tok_added_t *prev = NULL;
    for (size_t k = 0; k < tok->n_added && !prev; k++)
      if (tok->added[k].content_len == a.content_len &&
          memcmp(tok->added[k].content, a.content, a.content_len) == 0)
        prev = &tok->added[k];
    if (prev && same_added(prev, &a)) continue;
    a.id = prev ? prev->id : tok_strmap_find(&tok->vocab, tok, a.content, a.content_len);
    if (a.id < 0) a.id = next_id++;
    if (a.id > max_id) max_id = a.id;
    /* Owned copies: the JSON tree is freed after loading. */
    a.content = dup_bytes(a.content, a.content_len);
    if (!a.content) return oom();
    tok_buf_t m = {0};
    greta_status_t st = a.normalized ? tok_normalize(tok, a.content, a.content_len, &m)
                                     : tok_buf_append(&m, a.content, a.content_len);
    if (st) {
      free((char *)a.content);
      return st;
    }
    a.match = m.data;
    a.match_len = m.len;
    if (prev) { /* the later one replaces it, under the same id */
      free((char *)prev->content);
      free(prev->match);
      *prev = a;
    } else {
      tok->added[tok->n_added++] = a; /* freed with the tokenizer from here on */
    }
  }
  tok->n_ids = max_id + 1;
  qsort(tok->added, tok->n_added, sizeof *tok->added, compare_added);
  size_t k = 0;
  for (int b = 0; b <= 256; b++) {
    while (k < tok->n_added && tok->added[k].match_len && (uint8_t)tok->added[k].match[0] < b) k++;
    tok->added_start[b] = k;
  }
  for (size_t j = 0; j < tok->n_added; j++) {
    tok_added_t *a = &tok->added[j];
    if (a->normalized) tok->any_added_normalized = true;
    if (a->single_word) tok->any_single_word = true;
    /* Decoding reads an added token's text first (HF's simple_id_to_token):
     * the normalized form for a normalized token. */
    tok->id_text[a->id] = a->normalized ? a->match : (char *)a->content;
    tok->id_len[a->id] = (uint32_t)(a->normalized ? a->match_len : a->content_len);
    tok->id_flags[a->id] |= TOK_ID_PRESENT | TOK_ID_ADDED;
  }
  /* HF skips a token in decode when its text is the content of a special
   * added token (a normalized special token's normalized text is not). */
  for (size_t j = 0; j < tok->n_added; j++) {
    const tok_added_t *sp = &tok->added[j];
    if (!sp->special) continue;
    for (size_t q = 0; q < tok->n_added; q++) {
      const tok_added_t *a = &tok->added[q];
      if (tok->id_len[a->id] == sp->content_len &&
          memcmp(tok->id_text[a->id], sp->content, sp->content_len) == 0)
        tok->id_flags[a->id] |= TOK_ID_SPECIAL;
    }
    int32_t id = tok_strmap_find(&tok->vocab, tok, sp->content, sp->content_len);
    if (id >= 0 && tok->id_len[id] == sp->content_len &&
        memcmp(tok->id_text[id], sp->content, sp->content_len) == 0)
      tok->id_flags[id] |= TOK_ID_SPECIAL;
  }
  if (tok->any_single_word) {
    GRETA_RETURN_IF_ERROR(tok_regex_compile("^\\w", 3, "single_word", &tok->word_start));
    GRETA_RETURN_IF_ERROR(tok_regex_compile("\\w$", 3, "single_word", &tok->word_end));
  }
  return NULL;
}

/* The id of a token text: an added token's, else the vocabulary's; -1. */
static int32_t token_id(const greta_tokenizer_t *tok, const char *text, size_t len) {
  for (size_t i = 0; i < tok->n_added; i++)
    if (tok->added[i].content_len == len && memcmp(tok->added[i].content, text, len) == 0)
      return tok->added[i].id;
  return tok_strmap_find(&tok->vocab, tok, text, len);
}

/* ---- post-processor ------------------------------------------------------------ */

static greta_status_t push_id(int32_t **ids, size_t *n, int32_t id) {
  return append((void **)ids, n, sizeof id, &id) ? NULL : oom();
}

static greta_status_t load_template(greta_tokenizer_t *tok, const json_t *n, const char *where) {
  const json_t *single = json_object_get(n, "single");
  const json_t *specials = json_object_get(n, "special_tokens");
  if (!json_is_array(single)) return bad(where, "a TemplateProcessing with \"single\": [...]", single);
  bool seen_sequence = false;
  size_t i;
  const json_t *item;
  json_array_foreach(single, i, item) {
    char w[256];
    snprintf(w, sizeof w, "%s.single[%zu]", where, i);
    const json_t *seq = json_object_get(item, "Sequence");
    const json_t *sp = json_object_get(item, "SpecialToken");
    if (seq) {
      if (seen_sequence)
        return greta_status_make(GRETA_UNIMPLEMENTED,
                                 "tokenizer: %s: a second Sequence in a single template", w);
      seen_sequence = true;
      continue;
    }
    const char *name;
    GRETA_RETURN_IF_ERROR(get_string(sp, "id", w, &name, NULL));
    if (!name) return bad(w, "{\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}", item);
    const json_t *entry = json_object_get(specials, name);
    const json_t *ids = json_object_get(entry, "ids");
    if (!json_is_array(ids))
      return greta_status_make(GRETA_DATA_LOSS,
                               "tokenizer: %s names \"%s\", which %s.special_tokens does not "
                               "give ids",
                               w, name, where);
    size_t k;
    const json_t *idv;
    json_array_foreach(ids, k, idv) {
      int64_t id = 0;
      GRETA_RETURN_IF_ERROR(id_of(idv, w, &id));
      GRETA_RETURN_IF_ERROR(seen_sequence ? push_id(&tok->suffix_ids, &tok->n_suffix, (int32_t)id)
                                          : push_id(&tok->prefix_ids, &tok->n_prefix, (int32_t)id));
    }
  }
  return NULL;
}

static greta_status_t load_post_processor(greta_tokenizer_t *tok, const json_t *n,
                                          const char *where) {
  if (!n || json_is_null(n)) return NULL;
  const char *type;
  GRETA_RETURN_IF_ERROR(get_type(n, where, &type));
  if (strcmp(type, "Sequence") == 0)
    return load_sequence(tok, n, "processors", where, load_post_processor);
  /* ByteLevel as a post-processor only trims offsets: the ids stay. */
  if (strcmp(type, "ByteLevel") == 0) return NULL;
  if (strcmp(type, "TemplateProcessing") == 0) return load_template(tok, n, where);
  return unsupported(where, type, "Sequence, ByteLevel, TemplateProcessing");
}

/* ---- decoder ------------------------------------------------------------------- */

static greta_status_t add_dec(greta_tokenizer_t *tok, tok_dec_t d) {
  if (append((void **)&tok->dec, &tok->n_dec, sizeof d, &d)) return NULL;
  free(d.pattern);
  free(d.content);
  return oom();
}

static greta_status_t load_decoder(greta_tokenizer_t *tok, const json_t *n, const char *where) {
  if (!n || json_is_null(n)) return NULL;
  const char *type;
  GRETA_RETURN_IF_ERROR(get_type(n, where, &type));
  if (strcmp(type, "Sequence") == 0)
    return load_sequence(tok, n, "decoders", where, load_decoder);
  if (strcmp(type, "ByteFallback") == 0) return add_dec(tok, (tok_dec_t){.kind = TOK_DEC_BYTE_FALLBACK});
  if (strcmp(type, "Fuse") == 0) return add_dec(tok, (tok_dec_t){.kind = TOK_DEC_FUSE});
  if (strcmp(type, "ByteLevel") == 0) return add_dec(tok, (tok_dec_t){.kind = TOK_DEC_BYTE_LEVEL});
  if (strcmp(type, "Replace") == 0) {
    char *p, *c;
    size_t plen, clen;
    GRETA_RETURN_IF_ERROR(load_replace(n, where, "decoder", &p, &plen, &c, &clen));
    return add_dec(tok, (tok_dec_t){.kind = TOK_DEC_REPLACE, .pattern = p, .pattern_len = plen,
                                    .content = c, .content_len = clen});
  }
  if (strcmp(type, "Strip") == 0) {
    const char *content;
    size_t clen;
    GRETA_RETURN_IF_ERROR(get_string(n, "content", where, &content, &clen));
    const json_t *start = json_object_get(n, "start"), *stop = json_object_get(n, "stop");
    if (!content || utf8_valid_prefix((const uint8_t *)content, clen) != clen || clen == 0 ||
        utf8_char_len((uint8_t)content[0]) != clen)
      return bad(where, "a Strip whose \"content\" is one character", json_object_get(n, "content"));
    if (!json_is_integer(start) || !json_is_integer(stop) || json_integer_value(start) < 0 ||
        json_integer_value(stop) < 0)
      return bad(where, "a Strip with integer \"start\" and \"stop\"", start);
    if (json_integer_value(stop) != 0)
      return greta_status_make(GRETA_UNIMPLEMENTED,
                               "tokenizer: %s.stop is %lld: only 0 is supported (the streaming "
                               "detokenizer cannot cut the end of a stream)",
                               where, (long long)json_integer_value(stop));
    char *c = dup_bytes(content, clen);
    if (!c) return oom();
    return add_dec(tok, (tok_dec_t){.kind = TOK_DEC_STRIP, .content = c, .content_len = clen,
                                    .start = json_integer_value(start)});
  }
  return unsupported(where, type, "Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel");
}

/* ---- tokenizer_config.json / generation_config.json ------------------------------- */

/* A file beside tokenizer.json, parsed; *out NULL when it does not exist. */
static greta_status_t load_side_json(const char *dir, const char *name, size_t flags,
                                     json_t **out) {
  *out = NULL;
  size_t plen = strlen(dir) + strlen(name) + 2;
  char *path = malloc(plen);
  if (!path) return oom();
  snprintf(path, plen, "%s/%s", dir, name);
  struct stat sb;
  if (stat(path, &sb) != 0) {
    free(path);
    return NULL;
  }
  uint8_t *data = NULL;
  size_t size = 0;
  greta_status_t st = greta_file_read_whole(path, (size_t)64 << 20, &data, &size);
  if (!st) {
    json_error_t err;
    *out = json_loadb((const char *)data, size, flags, &err);
    if (!*out)
      st = greta_status_make(GRETA_DATA_LOSS, "'%s' is not valid JSON: line %d, column %d: %s",
                             path, err.line, err.column, err.text);
    else if (!json_is_object(*out)) {
      st = greta_status_make(GRETA_DATA_LOSS, "'%s': expected a JSON object", path);
      json_decref(*out);
      *out = NULL;
    }
  }
  free(data);
  free(path);
  return st;
}

/* bos_token / eos_token: a string or {"content": "..."}; -2 when absent. */
static greta_status_t config_token(const greta_tokenizer_t *tok, const json_t *cfg,
                                   const char *key, int32_t *out) {
  *out = -2;
  const json_t *v = json_object_get(cfg, key);
  if (!v || json_is_null(v)) return NULL;
  if (json_is_object(v)) v = json_object_get(v, "content");
  if (!json_is_string(v)) {
    char w[128];
    snprintf(w, sizeof w, "tokenizer_config.json: %s", key);
    return bad(w, "a string or {\"content\": \"...\"}", v);
  }
  *out = token_id(tok, json_string_value(v), json_string_length(v));
  if (*out < 0)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tokenizer: tokenizer_config.json's %s \"%s\" is not a token of "
                             "tokenizer.json",
                             key, json_string_value(v));
  return NULL;
}

static greta_status_t add_eos(greta_tokenizer_t *tok, int64_t id) {
  if (id < 0 || id >= tok->n_ids)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tokenizer: EOS id %lld is outside the vocabulary (0 .. %d)",
                             (long long)id, tok->n_ids - 1);
  for (size_t i = 0; i < tok->n_eos; i++)
    if (tok->eos[i] == id) return NULL;
  return push_id(&tok->eos, &tok->n_eos, (int32_t)id);
}

static greta_status_t load_configs(greta_tokenizer_t *tok, const char *dir) {
  json_t *cfg = NULL, *gen = NULL;
  /* tokenizer_config.json's model_max_length is often 1e30 written as an
   * integer, too big for jansson's: its numbers are read as doubles (only
   * its strings are used). */
  greta_status_t st = load_side_json(dir, "tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &cfg);
  if (!st) st = load_side_json(dir, "generation_config.json", 0, &gen);
  tok->bos = -1;
  int32_t id;
  /* "bos_token": null (Qwen2) says the tokenizer has none: generation_config.json's
   * bos_token_id (151643, <|endoftext|>, in Qwen2.5's) is then not taken for one. */
  bool no_bos = cfg && json_is_null(json_object_get(cfg, "bos_token"));
  if (!st && cfg) {
    st = config_token(tok, cfg, "bos_token", &id);
    if (!st && id >= 0) tok->bos = id;
    if (!st) st = config_token(tok, cfg, "eos_token", &id);
    if (!st && id >= 0) st = add_eos(tok, id);
    const json_t *tmpl = json_object_get(cfg, "chat_template");
    if (!st && json_is_array(tmpl)) {
      /* [{"name": ..., "template": ...}]: the "default" one, else the first. */
      const json_t *pick = NULL, *e;
      size_t i;
      json_array_foreach(tmpl, i, e) {
        const json_t *name = json_object_get(e, "name");
        if (!pick || (json_is_string(name) && strcmp(json_string_value(name), "default") == 0))
          pick = e;
      }
      tmpl = json_object_get(pick, "template");
    }
    if (!st && json_is_string(tmpl)) {
      tok->chat_template = dup_bytes(json_string_value(tmpl), json_string_length(tmpl));
      if (!tok->chat_template) st = oom();
    }
  }
  if (!st && gen) {
    const json_t *e = json_object_get(gen, "eos_token_id"), *v;
    if (json_is_integer(e)) {
      st = add_eos(tok, json_integer_value(e));
    } else if (json_is_array(e)) {
      size_t i;
      json_array_foreach(e, i, v) {
        if (!json_is_integer(v)) {
          st = bad("generation_config.json: eos_token_id[]", "an integer", v);
          break;
        }
        if ((st = add_eos(tok, json_integer_value(v)))) break;
      }
    } else if (e && !json_is_null(e)) {
      st = bad("generation_config.json: eos_token_id", "an integer or a list of them", e);
    }
    const json_t *b = json_object_get(gen, "bos_token_id");
    if (!st && tok->bos < 0 && !no_bos && json_is_integer(b) && json_integer_value(b) >= 0 &&
        json_integer_value(b) < tok->n_ids)
      tok->bos = (int32_t)json_integer_value(b);
  }
  json_decref(cfg);
  json_decref(gen);
  return st;
}

/* ---- open / destroy ----------------------------------------------------------------- */

static greta_status_t load(greta_tokenizer_t *tok, const json_t *root, const char *dir) {
  if (!json_is_object(root)) return bad("the top level", "an object", root);
  const json_t *trunc = json_object_get(root, "truncation");
  if (trunc && !json_is_null(trunc))
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: \"truncation\" is set: not supported (expected null)");
  const json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) return bad("model", "an object", model);
  const json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab)) return bad("model.vocab", "an object {\"token\": id}", vocab);
  const json_t *added = json_object_get(root, "added_tokens");
  if (added && !json_is_null(added) && !json_is_array(added))
    return bad("added_tokens", "an array", added);
  GRETA_RETURN_IF_ERROR(size_ids(tok, vocab, added));
  tok_byte_level_tables(tok);
  GRETA_RETURN_IF_ERROR(load_model(tok, model));
  /* The normalizer first: normalized added tokens are stored normalized. */
  GRETA_RETURN_IF_ERROR(load_normalizer(tok, json_object_get(root, "normalizer"), "normalizer"));
  GRETA_RETURN_IF_ERROR(load_added(tok, added));
  GRETA_RETURN_IF_ERROR(
      load_pre_tokenizer(tok, json_object_get(root, "pre_tokenizer"), "pre_tokenizer"));
  GRETA_RETURN_IF_ERROR(
      load_post_processor(tok, json_object_get(root, "post_processor"), "post_processor"));
  GRETA_RETURN_IF_ERROR(load_decoder(tok, json_object_get(root, "decoder"), "decoder"));
  GRETA_RETURN_IF_ERROR(tok_decoder_check(tok));
  return load_configs(tok, dir);
}

greta_status_t greta_tokenizer_open(const char *path, greta_tokenizer_t **out) {
  if (out) *out = NULL;
  if (!path || !out)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_open: path and out_tokenizer must not be NULL");
  /* A directory holds tokenizer.json; the config files sit beside it. */
  struct stat sb;
  bool is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  size_t plen = strlen(path);
  char *file = malloc(plen + sizeof "/tokenizer.json"), *dir = malloc(plen + 2);
  if (!file || !dir) {
    free(file);
    free(dir);
    return oom();
  }
  if (is_dir) {
    snprintf(file, plen + sizeof "/tokenizer.json", "%s/tokenizer.json", path);
    memcpy(dir, path, plen + 1);
  } else {
    memcpy(file, path, plen + 1);
    const char *slash = strrchr(path, '/');
    if (slash) {
      memcpy(dir, path, (size_t)(slash - path));
      dir[slash == path ? 1 : slash - path] = '\0';
      if (slash == path) dir[0] = '/';
    } else {
      strcpy(dir, ".");
    }
  }
  uint8_t *data = NULL;
  size_t size = 0;
  greta_status_t st = greta_file_read_whole(file, (size_t)1 << 30, &data, &size);
  json_t *root = NULL;
  if (!st) {
    json_error_t err;
    root = json_loadb((const char *)data, size, 0, &err);
    free(data);
    if (!root)
      st = greta_status_make(GRETA_DATA_LOSS,
                             "'%s' is not valid JSON (truncated or corrupt?): line %d, column %d: "
                             "%s",
                             file, err.line, err.column, err.text);
  }
  greta_tokenizer_t *tok = NULL;
  if (!st) {
    tok = calloc(1, sizeof *tok);
    if (!tok) st = oom();
  }
  if (!st) {
    st = load(tok, root, dir);
  }
  json_decref(root);
  free(file);
  free(dir);
  if (st) {
    greta_tokenizer_destroy(tok);
    return greta_status_annotate(st, "%s", path);
  }
  *out = tok;
  return NULL;
}

void greta_tokenizer_destroy(greta_tokenizer_t *tok) {
  if (!tok) return;
  free(tok->id_text);
  free(tok->id_len);
  free(tok->id_flags);
  free(tok->model_text);
  free(tok->model_len);
  free(tok->arena);
  tok_strmap_deinit(&tok->vocab);
  tok_pairmap_deinit(&tok->merges);
  free(tok->unk_token);
  for (size_t i = 0; i < tok->n_added; i++) {
    free((char *)tok->added[i].content);
    free(tok->added[i].match);
  }
  free(tok->added);
  pcre2_code_free(tok->word_start);
  pcre2_code_free(tok->word_end);
  for (size_t i = 0; i < tok->n_norm; i++) {
    free(tok->norm[i].pattern);
    free(tok->norm[i].content);
  }
  free(tok->norm);
  for (size_t i = 0; i < tok->n_pre; i++) pcre2_code_free(tok->pre[i].regex);
  free(tok->pre);
  free(tok->prefix_ids);
  free(tok->suffix_ids);
  for (size_t i = 0; i < tok->n_dec; i++) {
    free(tok->dec[i].pattern);
    free(tok->dec[i].content);
  }
  free(tok->dec);
  free(tok->eos);
  free(tok->chat_template);
  free(tok);
}

/* ---- accessors ------------------------------------------------------------------------ */

int32_t greta_tokenizer_vocab_size(const greta_tokenizer_t *tok) { return tok ? tok->n_ids : 0; }

int32_t greta_tokenizer_bos(const greta_tokenizer_t *tok) { return tok ? tok->bos : -1; }

const int32_t *greta_tokenizer_eos(const greta_tokenizer_t *tok, size_t *out_count) {
  if (out_count) *out_count = tok ? tok->n_eos : 0;
  return tok ? tok->eos : NULL;
}

const char *greta_tokenizer_token(const greta_tokenizer_t *tok, int32_t id) {
  if (!tok || id < 0 || id >= tok->n_ids) return NULL;
  return tok->id_text[id];
}

const char *greta_tokenizer_chat_template_source(const greta_tokenizer_t *tok) {
  return tok ? tok->chat_template : NULL;
}
