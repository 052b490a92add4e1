/* libFuzzer harness for the tokenizer (runtime/src/tokenizer/). The first
 * byte of an input picks what the rest is:
 *   0     a tokenizer.json: opened (a status or a tokenizer, never a crash);
 *         when it opens, a fixed text and the input itself are encoded,
 *         decoded and streamed.
 *   1, 2  text, encoded by a small byte-level tokenizer (Llama 3's shape:
 *         Split regex + ByteLevel, added tokens) or a small SentencePiece-style
 *         one (Llama 2's: Prepend/Replace, byte fallback, Strip), both written
 *         once at start-up; invalid UTF-8 must be refused with its offset.
 *   3     int32 ids (any value), decoded and streamed by both.
 * Checked on every input beside the sanitizers: ids in range, the stream
 * equal to the whole decode and each streamed piece whole UTF-8, and for
 * the byte-level tokenizer decode(encode(text)) == text. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greta/greta.h"

static const char byte_level_json[] =
    "{\"added_tokens\": ["
    "{\"id\": 262, \"content\": \"<|eot|>\", \"special\": true, \"normalized\": false},"
    "{\"id\": 263, \"content\": \" <x>\", \"special\": false, \"normalized\": false},"
    "{\"id\": 264, \"content\": \"<|s|>\", \"special\": true, \"normalized\": false, \"lstrip\": true,"
    " \"rstrip\": true}],"
    "\"normalizer\": null,"
    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}"
    "\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+"
    "(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false},"
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
    "\"<|eot|>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<|eot|>\": {\"ids\": "
    "[262]}}},"
    "\"decoder\": {\"type\": \"ByteLevel\"},"
    "\"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {VOCAB}, \"merges\": [MERGES]}}";

static const char sentencepiece_json[] =
    "{\"added_tokens\": ["
    "{\"id\": 0, \"content\": \"<unk>\", \"special\": true, \"normalized\": false},"
    "{\"id\": 1, \"content\": \"<s>\", \"special\": true, \"normalized\": false},"
    "{\"id\": 2, \"content\": \"[n]\", \"special\": false, \"normalized\": true}],"
    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": "
    "\"\\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]},"
    "\"pre_tokenizer\": null,"
    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
    "\"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"ids\": [1]}}},"
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
    "{\"String\": \"\\u2581\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"},"
    " {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
    "\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"fuse_unk\": true, \"unk_token\": \"<unk>\","
    " \"vocab\": {VOCAB}, \"merges\": [MERGES]}}";

static greta_tokenizer_t *tokenizers[2];

/* GPT-2's byte-level character for byte b, as UTF-8 into out. */
static int byte_char(int b, char *out) {
  int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE, n = 0;
  for (int k = 0; k < b; k++)
    n += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
  int c = printable ? b : 256 + n;
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  out[0] = (char)(0xC0 | (c >> 6));
  out[1] = (char)(0x80 | (c & 0x3F));
  return 2;
}

static void append(char **buf, size_t *len, const char *s) {
  size_t n = strlen(s);
  *buf = realloc(*buf, *len + n + 1);
  memcpy(*buf + *len, s, n + 1);
  *len += n;
}

/* Fills VOCAB and MERGES: the 256 byte-level characters (or, as Llama 2,
 * the added tokens, "<0xXX>" byte tokens, "▁" and a few letters), and
 * merges of a few pairs. Added tokens take HF's ids: a content in the
 * vocabulary keeps its id, others follow the vocabulary (262.. for the
 * byte-level one). */
static char *make_json(const char *tmpl, int byte_level) {
  char *vocab = NULL, *merges = NULL, item[64];
  size_t vl = 0, ml = 0;
  int id = byte_level ? 0 : 3;
  for (int b = 0; b < 256; b++) {
    if (byte_level) {
      char c[3] = {0};
      byte_char(b, c);
      if (c[0] == '"' || c[0] == '\\') snprintf(item, sizeof item, "%s\"\\%s\": %d", b ? "," : "", c, id++);
      else snprintf(item, sizeof item, "%s\"%s\": %d", b ? "," : "", c, id++);
    } else {
      snprintf(item, sizeof item, "%s\"<0x%02X>\": %d", b ? "," : "\"<unk>\": 0, \"<s>\": 1, \"[n]\": 2,", b, id++);
    }
    append(&vocab, &vl, item);
  }
  static const char *pairs[][2] = {{"a", "b"}, {"ab", "c"}, {"t", "h"}, {"th", "e"}, {"e", "r"}};
  const char *sp = byte_level ? "\\u0120" : "\\u2581"; /* "Ġ" or "▁" */
  if (!byte_level)
    for (const char *l = "abcdehrt"; *l; l++) {
      snprintf(item, sizeof item, ",\"%c\": %d", *l, id++);
      append(&vocab, &vl, item);
    }
  if (!byte_level) {
    snprintf(item, sizeof item, ",\"%s\": %d", sp, id++);
    append(&vocab, &vl, item);
  }
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    snprintf(item, sizeof item, ",\"%s%s\": %d", pairs[i][0], pairs[i][1], id++);
    append(&vocab, &vl, item);
    snprintf(item, sizeof item, "%s\"%s %s\"", i ? "," : "", pairs[i][0], pairs[i][1]);
    append(&merges, &ml, item);
  }
  snprintf(item, sizeof item, ",\"%sthe\": %d", sp, id++);
  append(&vocab, &vl, item);
  snprintf(item, sizeof item, ",\"%s the\"", sp);
  append(&merges, &ml, item);
  /* Substitute the placeholders. */
  char *out = NULL;
  size_t ol = 0;
  const char *v = strstr(tmpl, "VOCAB"), *m = strstr(tmpl, "MERGES");
  char *head = strndup(tmpl, (size_t)(v - tmpl)), *mid = strndup(v + 5, (size_t)(m - v - 5));
  append(&out, &ol, head);
  append(&out, &ol, vocab);
  append(&out, &ol, mid);
  append(&out, &ol, merges);
  append(&out, &ol, m + 6);
  free(head);
  free(mid);
  free(vocab);
  free(merges);
  return out;
}

static greta_status_t open_text(const char *json, size_t len, greta_tokenizer_t **out) {
  char path[] = "/tmp/fuzz_tokenizer_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) abort();
  if (len && write(fd, json, len) != (ssize_t)len) abort();
  close(fd);
  greta_status_t st = greta_tokenizer_open(path, out);
  unlink(path);
  return st;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < 2; i++) {
    char *json = make_json(i ? sentencepiece_json : byte_level_json, !i);
    greta_status_t st = open_text(json, strlen(json), &tokenizers[i]);
    if (st) {
      fprintf(stderr, "fuzz_tokenizer: the built-in tokenizer %d does not open: %s\n", i,
              greta_status_message(st));
      abort();
    }
    free(json);
  }
  return 0;
}

/* Decodes and streams `ids`; the stream must equal the decode. */
static void decode_and_stream(const greta_tokenizer_t *tok, const int32_t *ids, size_t n,
                              unsigned flags) {
  size_t len = 0;
  greta_status_t st = greta_tokenizer_decode(tok, ids, n, flags, NULL, 0, &len);
  if (st) abort(); /* decoding any ids cannot fail but for memory */
  char *whole = malloc(len + 1), *streamed = malloc(len + 1);
  if (greta_tokenizer_decode(tok, ids, n, flags, whole, len, &len)) abort();
  greta_detokenizer_t *d;
  if (greta_detokenizer_create(tok, flags, &d)) abort();
  size_t got = 0;
  int nul = memchr(whole, 0, len) != NULL;
  for (size_t i = 0; i <= n; i++) {
    const char *piece;
    if (i < n) {
      if (greta_detokenizer_push(d, ids[i], &piece)) abort();
    } else {
      piece = greta_detokenizer_finish(d);
    }
    size_t k = strlen(piece);
    if (got + k > len) {
      if (!nul) abort(); /* more streamed than decoded */
      k = 0;
    }
    memcpy(streamed + got, piece, k);
    got += k;
  }
  if (!nul && (got != len || memcmp(whole, streamed, len) != 0)) abort();
  greta_detokenizer_destroy(d);
  free(whole);
  free(streamed);
}

/* `built_in`: one of the two tokenizers above, whose only encode error is
 * invalid UTF-8; a fuzzed tokenizer.json may fail for its own reasons (an
 * unk_token missing from its vocabulary, as HF fails too). */
static void encode_decode(const greta_tokenizer_t *tok, const char *text, size_t len,
                          int round_trip, int built_in) {
  int32_t *ids = malloc(sizeof(int32_t) * (len * 4 + 8));
  for (unsigned flags = 0; flags < 4; flags++) {
    size_t n = 0;
    greta_status_t st = greta_tokenizer_encode(tok, text, len, flags, ids, len * 4 + 8, &n);
    if (st) {
      if (!greta_status_message(st)[0]) abort();
      if (built_in && (greta_status_code(st) != GRETA_INVALID_ARGUMENT ||
                       !strstr(greta_status_message(st), "byte offset")))
        abort();
      greta_status_free(st);
      break;
    }
    if (n > len * 4 + 8) {
      /* More ids than bytes: only a fuzzed tokenizer.json can do that (a
       * long Prepend, added tokens of one byte). The count is snprintf's:
       * encode again into room for all of them, which must agree. */
      if (built_in) abort();
      int32_t *more = realloc(ids, sizeof(int32_t) * n);
      if (!more) abort();
      ids = more;
      size_t again = 0;
      st = greta_tokenizer_encode(tok, text, len, flags, ids, n, &again);
      if (st || again != n) abort();
    }
    for (size_t i = 0; i < n; i++)
      if (ids[i] < 0 || ids[i] >= greta_tokenizer_vocab_size(tok)) abort();
    decode_and_stream(tok, ids, n, 0);
    decode_and_stream(tok, ids, n, GRETA_DETOKENIZE_SKIP_SPECIAL);
    if (round_trip && flags == 0) {
      size_t dl = 0;
      char *back = malloc(len + 1);
      if (greta_tokenizer_decode(tok, ids, n, 0, back, len, &dl)) abort();
      if (dl != len || memcmp(back, text, len) != 0) abort();
      free(back);
    }
  }
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *rest = (const char *)data + 1;
  size_t len = size - 1;
  switch (data[0] % 4) {
    case 0: {
      greta_tokenizer_t *tok = NULL;
      greta_status_t st = open_text(rest, len, &tok);
      if (st) {
        if (tok || !greta_status_message(st)[0]) abort();
        greta_status_free(st);
        return 0;
      }
      encode_decode(tok, "Hello, world! <s> 123 \xE4\xBD\xA0\xE5\xA5\xBD", 25, 0, 0);
      encode_decode(tok, rest, len < 256 ? len : 256, 0, 0);
      greta_tokenizer_destroy(tok);
      return 0;
    }
    case 1:
    case 2:
      encode_decode(tokenizers[data[0] % 4 - 1], rest, len, data[0] % 4 == 1, 1);
      return 0;
    default: {
      size_t n = len / 4;
      int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
      memcpy(ids, rest, n * 4);
      for (int t = 0; t < 2; t++) {
        decode_and_stream(tokenizers[t], ids, n, 0);
        decode_and_stream(tokenizers[t], ids, n, GRETA_DETOKENIZE_SKIP_SPECIAL);
      }
      free(ids);
      return 0;
    }
  }
}
