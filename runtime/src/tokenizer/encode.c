/* greta_tokenizer_encode: HF's Tokenizer::encode(text, add_special_tokens)
 * for one sequence. Added tokens are split out of the raw text; each piece
 * between them is normalized, split again on added tokens of normalized
 * form, pre-tokenized into words and each word run through BPE; with
 * GRETA_TOKENIZE_ADD_SPECIAL the post-processor's template puts its ids
 * around the result (Llama 2's <s>; the Llama 3 file's ByteLevel
 * post-processor adds nothing, as HF's). */
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tokenizer.h"

greta_status_t tok_scratch_init(tok_scratch_t *s, const greta_tokenizer_t *tok) {
  *s = (tok_scratch_t){0};
  s->match = pcre2_match_data_create(32, NULL);
  s->match_ctx = pcre2_match_context_create(NULL);
  /* A JIT stack of its own (PCRE2's default is 32 KiB on the machine stack);
   * 1 MiB held 2 MB of spaces through Llama 3's \s+(?!\S), and past it
   * pretokenize.c falls back to the interpreter. Larger costs time on every
   * call (the mapping is made per call). */
  s->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
  if (!s->match || !s->match_ctx || !s->jit_stack) {
    tok_scratch_deinit(s);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot allocate PCRE2 state");
  }
  pcre2_jit_stack_assign(s->match_ctx, NULL, s->jit_stack);
  (void)tok;
  return NULL;
}

void tok_scratch_deinit(tok_scratch_t *s) {
  pcre2_match_data_free(s->match);
  pcre2_match_context_free(s->match_ctx);
  pcre2_jit_stack_free(s->jit_stack);
  free(s->sym_id);
  free(s->sym_prev);
  free(s->sym_next);
  free(s->sym_len);
  free(s->heap);
  *s = (tok_scratch_t){0};
}

/* One piece of text between added tokens: normalized, then split on the
 * added tokens of normalized form, then pre-tokenized. */
static greta_status_t encode_piece(const greta_tokenizer_t *tok, tok_scratch_t *s,
                                   const char *text, size_t len, bool parse_special,
                                   tok_buf_t *norm, tok_ids_t *out) {
  GRETA_RETURN_IF_ERROR(tok_normalize(tok, text, len, norm));
  if (!tok->any_added_normalized)
    return tok_pretokenize_and_encode(tok, s, norm->data, norm->len, out);
  tok_span_t *spans = NULL;
  size_t n = 0;
  GRETA_RETURN_IF_ERROR(tok_split_added(tok, s, norm->data, norm->len, true, parse_special,
                                        &spans, &n));
  greta_status_t st = NULL;
  for (size_t i = 0; i < n && !st; i++)
    st = spans[i].id >= 0 ? tok_ids_push(out, spans[i].id)
                          : tok_pretokenize_and_encode(tok, s, norm->data + spans[i].start,
                                                       spans[i].end - spans[i].start, out);
  free(spans);
  return st;
}

static greta_status_t encode(const greta_tokenizer_t *tok, tok_scratch_t *s, const char *text,
                             size_t len, unsigned flags, tok_ids_t *out) {
  bool add_special = flags & GRETA_TOKENIZE_ADD_SPECIAL;
  bool parse_special = flags & GRETA_TOKENIZE_PARSE_SPECIAL;
  if (add_special)
    for (size_t i = 0; i < tok->n_prefix; i++)
      GRETA_RETURN_IF_ERROR(tok_ids_push(out, tok->prefix_ids[i]));
  tok_span_t *spans = NULL;
  size_t n = 0;
  GRETA_RETURN_IF_ERROR(tok_split_added(tok, s, text, len, false, parse_special, &spans, &n));
  tok_buf_t norm = {0};
  greta_status_t st = NULL;
  for (size_t i = 0; i < n && !st; i++)
    st = spans[i].id >= 0 ? tok_ids_push(out, spans[i].id)
                          : encode_piece(tok, s, text + spans[i].start,
                                         spans[i].end - spans[i].start, parse_special, &norm, out);
  free(spans);
  tok_buf_free(&norm);
  GRETA_RETURN_IF_ERROR(st);
  if (add_special)
    for (size_t i = 0; i < tok->n_suffix; i++)
      GRETA_RETURN_IF_ERROR(tok_ids_push(out, tok->suffix_ids[i]));
  return NULL;
}

greta_status_t greta_tokenizer_encode(const greta_tokenizer_t *tok, const char *text, size_t len,
                                      unsigned flags, int32_t *ids, size_t capacity,
                                      size_t *out_count) {
  if (out_count) *out_count = 0;
  if (!tok || !out_count || (!text && len) || (!ids && capacity))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_encode: tokenizer, out_count, and text / ids when "
                             "their sizes are not 0, must not be NULL");
  if (flags & ~(unsigned)(GRETA_TOKENIZE_ADD_SPECIAL | GRETA_TOKENIZE_PARSE_SPECIAL))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_encode: unknown flags 0x%x", flags);
  size_t valid = utf8_valid_prefix((const uint8_t *)text, len);
  if (valid != len)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_encode: the text is not valid UTF-8 at byte offset "
                             "%zu (byte 0x%02X)",
                             valid, (unsigned)(uint8_t)text[valid]);
  tok_scratch_t s;
  GRETA_RETURN_IF_ERROR(tok_scratch_init(&s, tok));
  tok_ids_t out = {0};
  greta_status_t st = encode(tok, &s, text ? text : "", len, flags, &out);
  tok_scratch_deinit(&s);
  if (!st) {
    size_t k = out.len < capacity ? out.len : capacity;
    if (k) memcpy(ids, out.data, k * sizeof *ids);
    *out_count = out.len;
  }
  free(out.data);
  return st;
}
