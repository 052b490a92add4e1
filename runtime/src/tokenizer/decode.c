/* Decoding: ids -> token texts -> the decoder steps of tokenizer.json, as
 * HF's Tokenizer::decode (ids out of range are skipped; with SKIP_SPECIAL
 * so are special tokens), and the streaming detokenizer.
 *
 * greta_tokenizer_decode runs HF's decode_chain step by step over a list
 * of strings: Replace (a literal, per token), ByteFallback (a run of
 * "<0xXX>" tokens becomes its bytes when they are valid UTF-8 as a whole,
 * else one U+FFFD per byte), Fuse (join), Strip (cut up to `start` leading
 * copies of a character), ByteLevel (characters back to bytes, then
 * Rust's lossy UTF-8). No decoder joins the tokens with spaces.
 *
 * The detokenizer gives the same text token by token. Every step but two
 * is local to a token: a ByteFallback run is held until a token that is not
 * a byte ends it (only then is its validity known), and a byte-level
 * character split across tokens is held until complete (or shown as U+FFFD
 * once it cannot complete). Strip applies once, to the start of the whole
 * text. The decoders accepted at load (tok_decoder_check) are the shapes
 * for which this holds. */
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tokenizer.h"

static const char replacement[] = "\xEF\xBF\xBD";

greta_status_t tok_decoder_check(const greta_tokenizer_t *tok) {
  /* Replace* ByteFallback? Fuse? Strip? (Strip after Fuse, stop 0), or
   * ByteLevel alone. */
  size_t i = 0, n = tok->n_dec;
  if (n == 1 && tok->dec[0].kind == TOK_DEC_BYTE_LEVEL) return NULL;
  while (i < n && tok->dec[i].kind == TOK_DEC_REPLACE) i++;
  if (i < n && tok->dec[i].kind == TOK_DEC_BYTE_FALLBACK) i++;
  bool fused = false;
  if (i < n && tok->dec[i].kind == TOK_DEC_FUSE) {
    fused = true;
    i++;
  }
  if (i < n && tok->dec[i].kind == TOK_DEC_STRIP && fused && tok->dec[i].stop == 0) i++;
  if (i == n) return NULL;
  static const char *names[] = {"Replace", "ByteFallback", "Fuse", "Strip", "ByteLevel"};
  return greta_status_make(
      GRETA_UNIMPLEMENTED,
      "tokenizer: decoder step %zu (\"%s\") is not supported in that place: supported decoders "
      "are ByteLevel alone, or Sequence[Replace..., ByteFallback, Fuse, Strip(stop 0)] with "
      "any of them left out (Strip only after Fuse)",
      i, names[tok->dec[i].kind]);
}

/* ---- the text of one token ------------------------------------------------ */

static bool skipped(const greta_tokenizer_t *tok, int32_t id, unsigned flags) {
  if (id < 0 || id >= tok->n_ids || !tok->id_text[id]) return true;
  return (flags & GRETA_DETOKENIZE_SKIP_SPECIAL) && (tok->id_flags[id] & TOK_ID_SPECIAL);
}

static greta_status_t replace_all(const tok_dec_t *d, const char *text, size_t len,
                                  tok_buf_t *out) {
  out->len = 0;
  size_t run = 0, i = 0, plen = d->pattern_len;
  while (plen && i + plen <= len) {
    if (memcmp(text + i, d->pattern, plen) == 0) {
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, text + run, i - run));
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, d->content, d->content_len));
      i += plen;
      run = i;
    } else {
      i++;
    }
  }
  return tok_buf_append(out, text + run, len - run);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "<0xXX>" -> the byte, as HF's test (u8::from_str_radix takes "+F"), or -1. */
static int byte_token(const char *t, size_t len) {
  if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
  int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  if (t[3] == '+' && lo >= 0) return lo;
  return hi >= 0 && lo >= 0 ? hi * 16 + lo : -1;
}

/* A token's bytes under the byte-level decoder: each character's byte, or
 * the text itself when any character is not one of the 256. */
static greta_status_t byte_level_bytes(const greta_tokenizer_t *tok, const char *text, size_t len,
                                       tok_buf_t *out) {
  size_t start = out->len;
  const uint8_t *t = (const uint8_t *)text;
  for (size_t i = 0; i < len;) {
    size_t clen;
    uint32_t c = utf8_decode(t + i, len - i, &clen);
    if (c >= 324 || tok->char_byte[c] < 0) {
      out->len = start;
      return tok_buf_append(out, text, len);
    }
    uint8_t b = (uint8_t)tok->char_byte[c];
    GRETA_RETURN_IF_ERROR(tok_buf_append(out, &b, 1));
    i += clen;
  }
  return NULL;
}

/* Rust's String::from_utf8: the bytes when valid, else U+FFFD per byte. */
static greta_status_t flush_byte_run(tok_buf_t *run, tok_buf_t *out) {
  if (!run->len) return NULL;
  if (utf8_valid_prefix((const uint8_t *)run->data, run->len) == run->len) {
    GRETA_RETURN_IF_ERROR(tok_buf_append(out, run->data, run->len));
  } else {
    for (size_t i = 0; i < run->len; i++)
      GRETA_RETURN_IF_ERROR(tok_buf_append(out, replacement, 3));
  }
  run->len = 0;
  return NULL;
}

/* ---- whole-sequence decode -------------------------------------------------- */

/* A list of strings in one buffer: HF's Vec<String> without a malloc per token. */
typedef struct strlist_s {
  tok_buf_t data;
  size_t *off, *len; /* (cap) where each string starts in data, and its length */
  size_t n, cap;
} strlist_t;

static greta_status_t strlist_push(strlist_t *l, const char *text, size_t len) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    size_t *off = realloc(l->off, cap * sizeof *off);
    if (off) l->off = off;
    size_t *ln = realloc(l->len, cap * sizeof *ln);
    if (ln) l->len = ln;
    if (!off || !ln) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot allocate");
    l->cap = cap;
  }
  l->off[l->n] = l->data.len;
  l->len[l->n++] = len;
  return tok_buf_append(&l->data, text, len);
}

static const char *item(const strlist_t *l, size_t i) { return l->data.data + l->off[i]; }

static void strlist_free(strlist_t *l) {
  tok_buf_free(&l->data);
  free(l->off);
  free(l->len);
  *l = (strlist_t){0};
}

static greta_status_t apply_step(const greta_tokenizer_t *tok, const tok_dec_t *d,
                                 const strlist_t *in, strlist_t *out) {
  tok_buf_t tmp = {0}, run = {0};
  greta_status_t st = NULL;
  switch (d->kind) {
    case TOK_DEC_REPLACE:
      for (size_t i = 0; i < in->n && !st; i++) {
        st = replace_all(d, item(in, i), in->len[i], &tmp);
        if (!st) st = strlist_push(out, tmp.data, tmp.len);
      }
      break;
    case TOK_DEC_BYTE_FALLBACK:
      for (size_t i = 0; i < in->n && !st; i++) {
        int b = byte_token(item(in, i), in->len[i]);
        if (b >= 0) {
          uint8_t byte = (uint8_t)b;
          st = tok_buf_append(&run, &byte, 1);
          continue;
        }
        if (run.len) {
          tmp.len = 0;
          st = flush_byte_run(&run, &tmp);
          /* HF pushes the U+FFFDs as one token each; joined they read the same. */
          if (!st) st = strlist_push(out, tmp.data, tmp.len);
        }
        if (!st) st = strlist_push(out, item(in, i), in->len[i]);
      }
      if (!st && run.len) {
        tmp.len = 0;
        st = flush_byte_run(&run, &tmp);
        if (!st) st = strlist_push(out, tmp.data, tmp.len);
      }
      break;
    case TOK_DEC_FUSE:
      /* The strings already lie end to end. */
      st = strlist_push(out, in->data.data ? in->data.data : "", in->data.len);
      break;
    case TOK_DEC_STRIP:
      for (size_t i = 0; i < in->n && !st; i++) {
        const char *t = item(in, i);
        size_t len = in->len[i], cut = 0;
        for (int64_t k = 0; k < d->start && cut + d->content_len <= len &&
                            memcmp(t + cut, d->content, d->content_len) == 0;
             k++)
          cut += d->content_len;
        st = strlist_push(out, t + cut, len - cut);
      }
      break;
    case TOK_DEC_BYTE_LEVEL:
      for (size_t i = 0; i < in->n && !st; i++)
        st = byte_level_bytes(tok, item(in, i), in->len[i], &run);
      if (!st) {
        size_t used;
        st = utf8_lossy_append(&tmp, (const uint8_t *)(run.data ? run.data : ""), run.len, true,
                               &used);
      }
      if (!st) st = strlist_push(out, tmp.data ? tmp.data : "", tmp.len);
      break;
  }
  tok_buf_free(&tmp);
  tok_buf_free(&run);
  return st;
}

static greta_status_t decode(const greta_tokenizer_t *tok, const int32_t *ids, size_t count,
                             unsigned flags, tok_buf_t *text) {
  strlist_t list = {0}, next = {0};
  greta_status_t st = NULL;
  for (size_t i = 0; i < count && !st; i++)
    if (!skipped(tok, ids[i], flags))
      st = strlist_push(&list, tok->id_text[ids[i]], tok->id_len[ids[i]]);
  for (size_t k = 0; k < tok->n_dec && !st; k++) {
    st = apply_step(tok, &tok->dec[k], &list, &next);
    strlist_free(&list);
    list = next;
    next = (strlist_t){0};
  }
  for (size_t i = 0; i < list.n && !st; i++) {
    if (tok->n_dec == 0 && i > 0) st = tok_buf_append(text, " ", 1);
    if (!st) st = tok_buf_append(text, item(&list, i), list.len[i]);
  }
  strlist_free(&list);
  strlist_free(&next);
  return st;
}

greta_status_t greta_tokenizer_decode(const greta_tokenizer_t *tok, const int32_t *ids,
                                      size_t count, unsigned flags, char *text, size_t capacity,
                                      size_t *out_len) {
  if (out_len) *out_len = 0;
  if (!tok || !out_len || (!ids && count) || (!text && capacity))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_decode: tokenizer, out_len, and ids / text when "
                             "their sizes are not 0, must not be NULL");
  if (flags & ~(unsigned)GRETA_DETOKENIZE_SKIP_SPECIAL)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_tokenizer_decode: unknown flags 0x%x", flags);
  tok_buf_t out = {0};
  greta_status_t st = decode(tok, ids, count, flags, &out);
  if (!st) {
    size_t k = out.len < capacity ? out.len : capacity;
    if (k) memcpy(text, out.data, k);
    *out_len = out.len;
  }
  tok_buf_free(&out);
  return st;
}

/* ---- the streaming detokenizer ---------------------------------------------- */

struct greta_detokenizer_s {
  const greta_tokenizer_t *tok;
  unsigned flags;
  bool byte_level;
  const tok_dec_t *strip; /* NULL: none */
  bool byte_fallback;
  tok_buf_t pending; /* a ByteFallback run, or byte-level bytes not yet a character */
  tok_buf_t out;     /* what the last call returns */
  tok_buf_t tmp, tmp2;
  int64_t stripped;  /* leading strip characters cut so far */
  bool started;      /* some text has been given out (Strip is done; no-decoder join) */
};

greta_status_t greta_detokenizer_create(const greta_tokenizer_t *tok, unsigned flags,
                                        greta_detokenizer_t **out) {
  if (out) *out = NULL;
  if (!tok || !out)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_detokenizer_create: tokenizer and out must not be NULL");
  if (flags & ~(unsigned)GRETA_DETOKENIZE_SKIP_SPECIAL)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_detokenizer_create: unknown flags 0x%x", flags);
  greta_detokenizer_t *d = calloc(1, sizeof *d);
  if (!d) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cannot allocate a detokenizer");
  d->tok = tok;
  d->flags = flags;
  for (size_t k = 0; k < tok->n_dec; k++) {
    if (tok->dec[k].kind == TOK_DEC_BYTE_LEVEL) d->byte_level = true;
    if (tok->dec[k].kind == TOK_DEC_BYTE_FALLBACK) d->byte_fallback = true;
    if (tok->dec[k].kind == TOK_DEC_STRIP) d->strip = &tok->dec[k];
  }
  greta_status_t st = tok_buf_append(&d->out, "", 0);
  if (st) {
    greta_detokenizer_destroy(d);
    return st;
  }
  *out = d;
  return NULL;
}

void greta_detokenizer_destroy(greta_detokenizer_t *d) {
  if (!d) return;
  tok_buf_free(&d->pending);
  tok_buf_free(&d->out);
  tok_buf_free(&d->tmp);
  tok_buf_free(&d->tmp2);
  free(d);
}

/* Appends decoded text to the output, cutting Strip's leading characters
 * from the start of the whole stream. */
static greta_status_t emit(greta_detokenizer_t *d, const char *text, size_t len) {
  if (!len) return NULL;
  const tok_dec_t *s = d->strip;
  if (s && !d->started) {
    while (d->stripped < s->start && len >= s->content_len &&
           memcmp(text, s->content, s->content_len) == 0) {
      text += s->content_len;
      len -= s->content_len;
      d->stripped++;
    }
    if (!len) return NULL;
  }
  d->started = true;
  return tok_buf_append(&d->out, text, len);
}

static greta_status_t push(greta_detokenizer_t *d, int32_t id) {
  const greta_tokenizer_t *tok = d->tok;
  if (skipped(tok, id, d->flags)) return NULL;
  const char *text = tok->id_text[id];
  size_t len = tok->id_len[id];
  if (d->byte_level) {
    GRETA_RETURN_IF_ERROR(byte_level_bytes(tok, text, len, &d->pending));
    d->tmp.len = 0;
    size_t used;
    GRETA_RETURN_IF_ERROR(utf8_lossy_append(&d->tmp, (const uint8_t *)d->pending.data,
                                            d->pending.len, false, &used));
    memmove(d->pending.data, d->pending.data + used, d->pending.len - used);
    d->pending.len -= used;
    return emit(d, d->tmp.data, d->tmp.len);
  }
  if (tok->n_dec == 0) {
    if (d->started) GRETA_RETURN_IF_ERROR(tok_buf_append(&d->out, " ", 1));
    d->started = true;
    return tok_buf_append(&d->out, text, len);
  }
  /* Replace steps, in order. */
  GRETA_RETURN_IF_ERROR(tok_buf_append(&d->tmp, "", 0));
  d->tmp.len = 0;
  GRETA_RETURN_IF_ERROR(tok_buf_append(&d->tmp, text, len));
  for (size_t k = 0; k < tok->n_dec && tok->dec[k].kind == TOK_DEC_REPLACE; k++) {
    GRETA_RETURN_IF_ERROR(replace_all(&tok->dec[k], d->tmp.data, d->tmp.len, &d->tmp2));
    tok_buf_t swap = d->tmp;
    d->tmp = d->tmp2;
    d->tmp2 = swap;
  }
  if (d->byte_fallback) {
    int b = byte_token(d->tmp.data, d->tmp.len);
    if (b >= 0) {
      uint8_t byte = (uint8_t)b;
      return tok_buf_append(&d->pending, &byte, 1);
    }
    d->tmp2.len = 0;
    GRETA_RETURN_IF_ERROR(flush_byte_run(&d->pending, &d->tmp2));
    GRETA_RETURN_IF_ERROR(emit(d, d->tmp2.data, d->tmp2.len));
  }
  return emit(d, d->tmp.data, d->tmp.len);
}

greta_status_t greta_detokenizer_push(greta_detokenizer_t *d, int32_t id, const char **out_text) {
  if (out_text) *out_text = "";
  if (!d || !out_text)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "greta_detokenizer_push: detokenizer and out_text must not be NULL");
  d->out.len = 0;
  d->out.data[0] = '\0';
  greta_status_t st = push(d, id);
  *out_text = d->out.data;
  return st;
}

const char *greta_detokenizer_finish(greta_detokenizer_t *d) {
  if (!d) return "";
  d->out.len = 0;
  d->out.data[0] = '\0';
  d->tmp.len = 0;
  greta_status_t st = NULL;
  if (d->byte_level) {
    size_t used;
    st = utf8_lossy_append(&d->tmp, (const uint8_t *)(d->pending.data ? d->pending.data : ""),
                           d->pending.len, true, &used);
  } else {
    st = flush_byte_run(&d->pending, &d->tmp);
  }
  if (!st) st = emit(d, d->tmp.data, d->tmp.len);
  /* Out of memory here leaves what could be written; there is no status to return. */
  greta_status_free(st);
  d->pending.len = 0;
  d->stripped = 0;
  d->started = false;
  return d->out.data;
}
