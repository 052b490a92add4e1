/* Added tokens ("<s>", "<|eot_id|>") split out of text, as HF's
 * AddedVocabulary::find_matches: leftmost-longest, non-overlapping matches
 * over all added tokens of one kind (normalized or not); a special token
 * matched while special tokens are not parsed is passed over (the search
 * goes on after it, as HF's Aho-Corasick iterator does); single_word
 * tokens must not touch a word character; lstrip / rstrip tokens take the
 * white space beside them. */
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tokenizer.h"

/* Where the white space at the end of text[0..end) begins. */
static size_t white_space_run_start(const char *text, size_t end) {
  const uint8_t *t = (const uint8_t *)text;
  size_t i = end;
  while (i > 0) {
    size_t k = i - 1;
    while (k > 0 && (t[k] & 0xC0) == 0x80) k--;
    size_t clen;
    if (!utf8_is_white_space(utf8_decode(t + k, i - k, &clen))) break;
    i = k;
  }
  return i;
}

/* Where the white space at the start of text[begin..len) ends. */
static size_t white_space_run_end(const char *text, size_t begin, size_t len) {
  const uint8_t *t = (const uint8_t *)text;
  size_t i = begin;
  while (i < len) {
    size_t clen;
    uint32_t c = utf8_decode(t + i, len - i, &clen);
    if (!utf8_is_white_space(c)) break;
    i += clen;
  }
  return i;
}

static bool regex_matches(const pcre2_code *re, tok_scratch_t *s, const char *text, size_t len) {
  return pcre2_match(re, (PCRE2_SPTR)text, len, 0, PCRE2_NO_UTF_CHECK, s->match, s->match_ctx) >=
         0;
}

static greta_status_t push_span(tok_span_t **spans, size_t *n, size_t *cap, tok_span_t span) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    tok_span_t *p = realloc(*spans, c * sizeof *p);
    if (!p) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot allocate spans");
    *spans = p;
    *cap = c;
  }
  (*spans)[(*n)++] = span;
  return NULL;
}

/* The longest added token of the kind starting at text[i], or NULL. */
static const tok_added_t *match_at(const greta_tokenizer_t *tok, const char *text, size_t len,
                                   size_t i, bool normalized) {
  uint8_t b = (uint8_t)text[i];
  for (size_t k = tok->added_start[b]; k < tok->added_start[b + 1]; k++) {
    const tok_added_t *a = &tok->added[k];
    if (a->normalized != normalized) continue;
    if (a->match_len <= len - i && memcmp(text + i, a->match, a->match_len) == 0) return a;
  }
  return NULL;
}

greta_status_t tok_split_added(const greta_tokenizer_t *tok, tok_scratch_t *s, const char *text,
                               size_t len, bool normalized, bool parse_special,
                               tok_span_t **out_spans, size_t *out_count) {
  tok_span_t *spans = NULL;
  size_t n = 0, cap = 0, start_offset = 0;
  greta_status_t st = NULL;
  for (size_t i = 0; i < len && !st;) {
    const tok_added_t *a = match_at(tok, text, len, i, normalized);
    if (!a) {
      i++;
      continue;
    }
    size_t start = i, stop = i + a->match_len;
    i = stop; /* the next match is searched after this one, whatever is done with it */
    if (a->special && !parse_special) continue;
    if (a->single_word) {
      bool start_space = start == 0 || !regex_matches(tok->word_end, s, text, start);
      bool stop_space = stop == len || !regex_matches(tok->word_start, s, text + stop, len - stop);
      if (!start_space || !stop_space) continue;
    }
    if (a->lstrip) {
      size_t new_start = white_space_run_start(text, start);
      start = new_start > start_offset ? new_start : start_offset;
    }
    if (a->rstrip) stop = white_space_run_end(text, stop, len);
    if (start_offset < start)
      st = push_span(&spans, &n, &cap, (tok_span_t){start_offset, start, -1});
    if (!st) st = push_span(&spans, &n, &cap, (tok_span_t){start, stop, a->id});
    start_offset = stop;
  }
  if (!st && start_offset < len)
    st = push_span(&spans, &n, &cap, (tok_span_t){start_offset, len, -1});
  if (st) {
    free(spans);
    return st;
  }
  *out_spans = spans;
  *out_count = n;
  return NULL;
}
