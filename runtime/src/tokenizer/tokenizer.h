/* The tokenizer's private state, shared by the files of runtime/src/tokenizer/.
 *
 * A greta_tokenizer_t is Hugging Face `tokenizers`' pipeline reduced to
 * what Llama 2 / Mistral / TinyLlama (BPE + byte fallback + the "▁"
 * normalizer) and Llama 3 / Qwen2 (byte-level BPE + a regex pre-tokenizer)
 * need, in HF's order:
 *
 *   text ─ added tokens split out (added.c) ─ normalizer (normalize.c) ─
 *   added tokens of normalized form split out ─ pre-tokenizer (pretokenize.c)
 *   ─ BPE per word (bpe.c) ─ post-processor (encode.c)
 *
 * and back: ids ─ token texts ─ decoder steps (decode.c). It is read-only
 * once opened (tokenizer_load.c); everything an encode call writes lives in
 * a tok_scratch_t of that call, so threads may share one tokenizer. */
#ifndef GRETA_TOKENIZER_H
#define GRETA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "greta/greta.h"

/* ---- growable buffers ----------------------------------------------------- */

typedef struct tok_buf_s {
  char *data;
  size_t len, cap;
} tok_buf_t;

greta_status_t tok_buf_append(tok_buf_t *b, const void *bytes, size_t n);
void tok_buf_free(tok_buf_t *b);

typedef struct tok_ids_s {
  int32_t *data;
  size_t len, cap;
} tok_ids_t;

greta_status_t tok_ids_push(tok_ids_t *v, int32_t id);

/* ---- UTF-8 (utf8.c) -------------------------------------------------------- */

/* The length of the valid UTF-8 prefix of `s` (n when all of it is valid). */
size_t utf8_valid_prefix(const uint8_t *s, size_t n);
/* Length of the character starting at s[0] of valid UTF-8 (1..4). */
size_t utf8_char_len(uint8_t lead);
/* Decodes the valid character at `s` (of `n` bytes); its length to *len. */
uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *len);
/* Appends `bytes` as Rust's String::from_utf8_lossy would: each maximal
 * invalid subpart becomes one U+FFFD. When `final` is false a valid but
 * incomplete character at the end is left out; *out_used says how many
 * bytes were consumed. */
greta_status_t utf8_lossy_append(tok_buf_t *out, const uint8_t *bytes, size_t n, bool final,
                                 size_t *out_used);
/* Unicode White_Space (Rust's char::is_whitespace, regex's \s). */
bool utf8_is_white_space(uint32_t c);

/* ---- hash tables (vocab.c) ---------------------------------------------- */

/* Text -> id over strings owned elsewhere (the tokenizer's id table). */
typedef struct tok_strmap_s {
  int32_t *slots; /* (cap) an id, or -1 for empty */
  uint64_t cap;   /* a power of two */
  uint64_t count;
} tok_strmap_t;

/* (left id, right id) -> (rank, merged id): the BPE merges. */
typedef struct tok_merge_slot_s {
  uint64_t key; /* left << 32 | right; UINT64_MAX for empty */
  uint32_t rank;
  int32_t new_id;
} tok_merge_slot_t;

typedef struct tok_pairmap_s {
  tok_merge_slot_t *slots; /* (cap) */
  uint64_t cap;
  uint64_t count;
} tok_pairmap_t;

/* ---- configuration --------------------------------------------------------- */

typedef struct tok_added_s {
  const char *content; /* as written in tokenizer.json, NUL-terminated */
  size_t content_len;
  char *match; /* what is searched for: content, or content normalized */
  size_t match_len;
  int32_t id;
  bool special, normalized, lstrip, rstrip, single_word;
} tok_added_t;

typedef enum tok_norm_kind_e { TOK_NORM_PREPEND, TOK_NORM_REPLACE, TOK_NORM_NFC } tok_norm_kind_t;
typedef struct tok_norm_s {
  tok_norm_kind_t kind;
  char *pattern; /* REPLACE: the literal text replaced */
  size_t pattern_len;
  char *content; /* PREPEND: the prefix; REPLACE: the replacement (NFC: neither) */
  size_t content_len;
} tok_norm_t;

typedef enum tok_pre_kind_e { TOK_PRE_SPLIT, TOK_PRE_BYTE_LEVEL } tok_pre_kind_t;
typedef struct tok_pre_s {
  tok_pre_kind_t kind;
  pcre2_code *regex;       /* SPLIT, or BYTE_LEVEL with use_regex */
  bool add_prefix_space;   /* BYTE_LEVEL */
} tok_pre_t;

typedef enum tok_dec_kind_e {
  TOK_DEC_REPLACE,
  TOK_DEC_BYTE_FALLBACK,
  TOK_DEC_FUSE,
  TOK_DEC_STRIP,
  TOK_DEC_BYTE_LEVEL,
} tok_dec_kind_t;
typedef struct tok_dec_s {
  tok_dec_kind_t kind;
  char *pattern, *content; /* REPLACE: literal pattern -> content; STRIP: content (one char) */
  size_t pattern_len, content_len;
  int64_t start, stop; /* STRIP: characters cut at each end */
} tok_dec_t;

/* Per-id flags. */
enum {
  TOK_ID_ADDED = 1u << 0,
  TOK_ID_SPECIAL = 1u << 1,
  TOK_ID_PRESENT = 1u << 2,
};

struct greta_tokenizer_s {
  int32_t n_ids;       /* vocab_size: largest id + 1 */
  char **id_text;      /* (n_ids) NUL-terminated text of each id (an added token's
                        * content first, as HF's id_to_token), NULL for a hole */
  uint32_t *id_len;    /* (n_ids) its length in bytes */
  char **model_text;   /* (n_ids) the model vocabulary's text of each id, or NULL */
  uint32_t *model_len; /* (n_ids) */
  char *arena;         /* the model vocabulary's texts, NUL-separated */
  uint8_t *id_flags;   /* (n_ids) TOK_ID_* */

  /* The BPE model. */
  tok_strmap_t vocab;  /* model vocabulary only (added tokens are looked up apart) */
  tok_pairmap_t merges;
  bool byte_fallback, ignore_merges, fuse_unk;
  bool has_unk;          /* model.unk_token is set */
  int32_t unk_id;        /* its id; -1 when it is not in the vocabulary */
  char *unk_token;
  int32_t byte_ids[256]; /* "<0xXX>" ids for byte fallback, -1 if absent */

  tok_added_t *added; /* (n_added) by first byte, then longest first */
  size_t n_added;
  size_t added_start[257]; /* added[added_start[b] .. added_start[b+1]) begin with byte b */
  bool any_added_normalized, any_single_word;
  pcre2_code *word_start, *word_end; /* ^\w and \w$, for single_word tokens */

  tok_norm_t *norm; /* (n_norm) applied in order */
  size_t n_norm;
  tok_pre_t *pre; /* (n_pre) applied in order */
  size_t n_pre;
  size_t max_regex_captures;

  int32_t *prefix_ids, *suffix_ids; /* what ADD_SPECIAL puts around the ids */
  size_t n_prefix, n_suffix;

  uint16_t byte_char[256]; /* byte-level: the character standing for each byte */
  int16_t char_byte[324];  /* and back: the byte of characters 0..323, or -1 */

  tok_dec_t *dec; /* (n_dec) decoder steps; none: tokens joined by " " */
  size_t n_dec;

  int32_t bos;
  int32_t *eos; /* (n_eos) */
  size_t n_eos;
  char *chat_template;
};

/* ---- internal entry points ------------------------------------------------- */

/* vocab.c */
greta_status_t tok_strmap_init(tok_strmap_t *m, uint64_t expected);
void tok_strmap_deinit(tok_strmap_t *m);
/* Inserts id (whose text is tok->model_text[id]); an existing entry for the
 * same text keeps the later id, as HF's HashMap collect does. */
void tok_strmap_insert(tok_strmap_t *m, const greta_tokenizer_t *tok, int32_t id);
int32_t tok_strmap_find(const tok_strmap_t *m, const greta_tokenizer_t *tok, const char *text,
                        size_t len);
greta_status_t tok_pairmap_init(tok_pairmap_t *m, uint64_t expected);
void tok_pairmap_deinit(tok_pairmap_t *m);
void tok_pairmap_insert(tok_pairmap_t *m, int32_t left, int32_t right, uint32_t rank,
                        int32_t new_id);
const tok_merge_slot_t *tok_pairmap_find(const tok_pairmap_t *m, int32_t left, int32_t right);

typedef struct tok_heap_entry_s {
  uint64_t key; /* rank << 32 | position: HF pops the lowest rank, then the leftmost */
  int32_t new_id;
} tok_heap_entry_t;

/* What one encode call works in (never shared between threads). */
typedef struct tok_scratch_s {
  pcre2_match_data *match;
  pcre2_jit_stack *jit_stack;
  pcre2_match_context *match_ctx;
  /* bpe.c's symbols and heap */
  int32_t *sym_id;
  int64_t *sym_prev, *sym_next;
  uint32_t *sym_len;
  size_t sym_cap;
  struct tok_heap_entry_s *heap; /* a binary min-heap of candidate merges */
  size_t heap_len, heap_cap;
} tok_scratch_t;

greta_status_t tok_scratch_init(tok_scratch_t *s, const greta_tokenizer_t *tok);
void tok_scratch_deinit(tok_scratch_t *s);

/* bpe.c: appends the ids of one pre-tokenized word (valid UTF-8). */
greta_status_t tok_bpe_word(const greta_tokenizer_t *tok, tok_scratch_t *s, const char *word,
                            size_t len, tok_ids_t *out);

/* normalize.c: `text` through the normalizer steps into `out` (reset first). */
greta_status_t tok_normalize(const greta_tokenizer_t *tok, const char *text, size_t len,
                             tok_buf_t *out);

/* pretokenize.c: splits `piece` into words and appends their BPE ids. */
greta_status_t tok_pretokenize_and_encode(const greta_tokenizer_t *tok, tok_scratch_t *s,
                                          const char *piece, size_t len, tok_ids_t *out);
/* Compiles a tokenizer.json regex with PCRE2 (UTF, UCP, JIT), rewritten
 * where Oniguruma's meaning differs from PCRE2's. */
greta_status_t tok_regex_compile(const char *pattern, size_t len, const char *what,
                                 pcre2_code **out);
/* Fills the tokenizer's byte <-> character tables of GPT-2's byte-level
 * encoding. */
void tok_byte_level_tables(greta_tokenizer_t *tok);

/* added.c: one piece of text split on added tokens. */
typedef struct tok_span_s {
  size_t start, end;
  int32_t id; /* the added token, or -1 for text */
} tok_span_t;
/* Splits text[0..len) on the added tokens whose `normalized` equals
 * `normalized`, skipping special ones unless `parse_special`; *out_spans
 * is malloc'd (the caller frees), empty text spans left out. */
greta_status_t tok_split_added(const greta_tokenizer_t *tok, tok_scratch_t *s, const char *text,
                               size_t len, bool normalized, bool parse_special,
                               tok_span_t **out_spans, size_t *out_count);

/* decode.c: the steps named in tokenizer.json's "decoder" are checked at
 * load to be a shape the streaming detokenizer handles. */
greta_status_t tok_decoder_check(const greta_tokenizer_t *tok);

#endif /* GRETA_TOKENIZER_H */
