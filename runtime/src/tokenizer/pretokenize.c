/* Pre-tokenizers: the regex Split (Isolated: matches and the text between
 * them are words) and ByteLevel (every byte as one printable character,
 * GPT-2's table; optionally its own regex split and a prefix space), in
 * the order tokenizer.json lists them; each word then goes to BPE.
 *
 * HF compiles these regexes with Oniguruma; here PCRE2 runs them with UTF
 * and UCP (\p{L}, \p{N} by Unicode properties) and JIT. The two differ on
 * \s: Oniguruma's is the Unicode White_Space property, PCRE2's adds U+180E
 * (MONGOLIAN VOWEL SEPARATOR, a format character since Unicode 6.3) and
 * leaves out U+0085 (NEL). tok_regex_compile writes \s and \S out as the
 * White_Space list so both engines split the same (both seen in the
 * corpus, tests/tokenizer/make_corpus.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tokenizer.h"

void tok_byte_level_tables(greta_tokenizer_t *tok) {
  int extra = 0;
  for (int c = 0; c < 324; c++) tok->char_byte[c] = -1;
  for (int b = 0; b < 256; b++) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    int c = printable ? b : 256 + extra++;
    tok->byte_char[b] = (uint16_t)c;
    tok->char_byte[c] = (int16_t)b;
  }
}

/* Unicode White_Space, as a class body. */
#define WHITE_SPACE \
  "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
  "\\x{202F}\\x{205F}\\x{3000}"

/* Oniguruma -> PCRE2: \s and \S outside a class, \s inside one. */
static greta_status_t rewrite(const char *p, size_t len, tok_buf_t *out) {
  bool in_class = false;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (c == '\\' && i + 1 < len) {
      char e = p[i + 1];
      if (e == 's') {
        const char *w = in_class ? WHITE_SPACE : "[" WHITE_SPACE "]";
        GRETA_RETURN_IF_ERROR(tok_buf_append(out, w, strlen(w)));
      } else if (e == 'S' && !in_class) {
        GRETA_RETURN_IF_ERROR(tok_buf_append(out, "[^" WHITE_SPACE "]", strlen("[^" WHITE_SPACE "]")));
      } else {
        GRETA_RETURN_IF_ERROR(tok_buf_append(out, p + i, 2));
      }
      i++;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, p + i, 1));
      /* A ']' or '^]' right after '[' is a literal. */
      if (i + 1 < len && p[i + 1] == '^') GRETA_RETURN_IF_ERROR(tok_buf_append(out, p + ++i, 1));
      if (i + 1 < len && p[i + 1] == ']') GRETA_RETURN_IF_ERROR(tok_buf_append(out, p + ++i, 1));
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    GRETA_RETURN_IF_ERROR(tok_buf_append(out, p + i, 1));
  }
  return NULL;
}

greta_status_t tok_regex_compile(const char *pattern, size_t len, const char *what,
                                 pcre2_code **out) {
  tok_buf_t rewritten = {0};
  greta_status_t st = rewrite(pattern, len, &rewritten);
  if (st) {
    tok_buf_free(&rewritten);
    return st;
  }
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)(rewritten.data ? rewritten.data : ""),
                                 rewritten.len, PCRE2_UTF | PCRE2_UCP, &err, &err_off, NULL);
  tok_buf_free(&rewritten);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return greta_status_make(GRETA_UNIMPLEMENTED,
                             "tokenizer: %s: the regex \"%.*s\" does not compile with PCRE2: %s",
                             what, (int)(len > 200 ? 200 : len), pattern, (const char *)msg);
  }
  /* Without JIT (a platform lacking it) PCRE2 still interprets it. */
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
  *out = re;
  return NULL;
}

typedef greta_status_t (*piece_fn)(const greta_tokenizer_t *tok, tok_scratch_t *s, size_t step,
                                   const char *piece, size_t len, tok_ids_t *out);

static greta_status_t run_step(const greta_tokenizer_t *tok, tok_scratch_t *s, size_t step,
                               const char *piece, size_t len, tok_ids_t *out);

/* Isolated split: each match and each gap between matches is one piece. */
static greta_status_t split_regex(const greta_tokenizer_t *tok, tok_scratch_t *s,
                                  const pcre2_code *re, size_t next_step, piece_fn fn,
                                  const char *piece, size_t len, tok_ids_t *out) {
  size_t pos = 0, prev = 0;
  while (pos <= len) {
    int rc = pcre2_match(re, (PCRE2_SPTR)piece, len, pos, PCRE2_NO_UTF_CHECK, s->match,
                         s->match_ctx);
    /* Past the JIT stack (1 MiB): the interpreter, which backtracks on the heap. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(re, (PCRE2_SPTR)piece, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       s->match, s->match_ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      return greta_status_make(GRETA_INTERNAL,
                               "tokenizer: the pre-tokenizer regex failed on a %zu-byte piece: %s",
                               len, (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->match);
    size_t ms = ov[0], me = ov[1];
    if (ms > prev) GRETA_RETURN_IF_ERROR(fn(tok, s, next_step, piece + prev, ms - prev, out));
    if (me > ms) GRETA_RETURN_IF_ERROR(fn(tok, s, next_step, piece + ms, me - ms, out));
    prev = me;
    if (me == ms) {
      if (ms >= len) break;
      pos = ms + utf8_char_len((uint8_t)piece[ms]);
    } else {
      pos = me;
    }
  }
  if (prev < len) GRETA_RETURN_IF_ERROR(fn(tok, s, next_step, piece + prev, len - prev, out));
  return NULL;
}

/* Maps the bytes of a piece to byte-level characters, then goes on. */
static greta_status_t byte_map(const greta_tokenizer_t *tok, tok_scratch_t *s, size_t step,
                               const char *piece, size_t len, tok_ids_t *out) {
  if (len == 0) return NULL;
  char small[512];
  small[0] = 0; /* silences GCC's maybe-uninitialized: n >= 1 bytes are written below */
  char *buf = len * 2 <= sizeof small ? small : malloc(len * 2);
  if (!buf)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                             "tokenizer: cannot allocate %zu bytes for a word", len * 2);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    uint16_t c = tok->byte_char[(uint8_t)piece[i]];
    if (c < 0x80) {
      buf[n++] = (char)c;
    } else {
      buf[n++] = (char)(0xC0 | (c >> 6));
      buf[n++] = (char)(0x80 | (c & 0x3F));
    }
  }
  greta_status_t st = run_step(tok, s, step, buf, n, out);
  if (buf != small) free(buf);
  return st;
}

static greta_status_t run_step(const greta_tokenizer_t *tok, tok_scratch_t *s, size_t step,
                               const char *piece, size_t len, tok_ids_t *out) {
  if (len == 0) return NULL;
  if (step == tok->n_pre) return tok_bpe_word(tok, s, piece, len, out);
  const tok_pre_t *pre = &tok->pre[step];
  if (pre->kind == TOK_PRE_SPLIT)
    return split_regex(tok, s, pre->regex, step + 1, run_step, piece, len, out);
  /* ByteLevel */
  char *prefixed = NULL;
  if (pre->add_prefix_space && piece[0] != ' ') {
    prefixed = malloc(len + 1);
    if (!prefixed)
      return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot allocate a word");
    prefixed[0] = ' ';
    memcpy(prefixed + 1, piece, len);
    piece = prefixed;
    len++;
  }
  greta_status_t st = pre->regex
                          ? split_regex(tok, s, pre->regex, step + 1, byte_map, piece, len, out)
                          : byte_map(tok, s, step + 1, piece, len, out);
  free(prefixed);
  return st;
}

greta_status_t tok_pretokenize_and_encode(const greta_tokenizer_t *tok, tok_scratch_t *s,
                                          const char *piece, size_t len, tok_ids_t *out) {
  return run_step(tok, s, 0, piece, len, out);
}
