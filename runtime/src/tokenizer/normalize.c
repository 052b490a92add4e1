/* The normalizers SentencePiece-converted tokenizers use (Llama 2,
 * Mistral, TinyLlama): Sequence[Prepend("▁"), Replace(" ", "▁")]. As HF's:
 * Prepend adds its text to a non-empty piece only, and it runs on each
 * piece of text left between added tokens, so "<s>hi" gives "▁hi". Replace
 * swaps every non-overlapping occurrence of a literal, left to right. */
#include <string.h>

#include "status.h"
#include "tokenizer.h"

static greta_status_t apply(const tok_norm_t *step, const char *text, size_t len,
                            tok_buf_t *out) {
  out->len = 0;
  if (step->kind == TOK_NORM_PREPEND) {
    if (len) GRETA_RETURN_IF_ERROR(tok_buf_append(out, step->content, step->content_len));
    return tok_buf_append(out, text, len);
  }
  size_t run = 0, i = 0, plen = step->pattern_len;
  while (plen && i + plen <= len) {
    if (memcmp(text + i, step->pattern, plen) == 0) {
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, text + run, i - run));
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, step->content, step->content_len));
      i += plen;
      run = i;
    } else {
      i++;
    }
  }
  return tok_buf_append(out, text + run, len - run);
}

greta_status_t tok_normalize(const greta_tokenizer_t *tok, const char *text, size_t len,
                             tok_buf_t *out) {
  out->len = 0;
  GRETA_RETURN_IF_ERROR(tok_buf_append(out, text, len));
  tok_buf_t tmp = {0};
  for (size_t k = 0; k < tok->n_norm; k++) {
    greta_status_t st = apply(&tok->norm[k], out->data, out->len, &tmp);
    if (st) {
      tok_buf_free(&tmp);
      return st;
    }
    tok_buf_t swap = *out;
    *out = tmp;
    tmp = swap;
  }
  tok_buf_free(&tmp);
  return NULL;
}
