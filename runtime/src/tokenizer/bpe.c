/* BPE on one pre-tokenized word, exactly as HF tokenizers' BPE::merge_word
 * and Word::merge_all (0.23): each character is looked up in the
 * vocabulary, else split into "<0xXX>" byte tokens (byte_fallback), else
 * the unknown token (consecutive ones fused with fuse_unk), else dropped.
 * Then the pair of lowest merge rank (leftmost among equals) is merged
 * until none is left, through a min-heap whose stale entries are skipped
 * the way HF skips them (the pair at that position must still produce the
 * entry's merged id). With ignore_merges a word that is itself in the
 * vocabulary is one token. O(n log n) in the word's length, so a long
 * word (Llama 2 has no pre-tokenizer: a whole paragraph is one word) stays
 * fast. */
#include <stdlib.h>

#include "status.h"
#include "tokenizer.h"

static greta_status_t reserve(tok_scratch_t *s, size_t n) {
  if (n <= s->sym_cap) return NULL;
  size_t cap = s->sym_cap ? s->sym_cap : 256;
  while (cap < n) cap *= 2;
  int32_t *id = realloc(s->sym_id, cap * sizeof *id);
  if (id) s->sym_id = id;
  int64_t *prev = realloc(s->sym_prev, cap * sizeof *prev);
  if (prev) s->sym_prev = prev;
  int64_t *next = realloc(s->sym_next, cap * sizeof *next);
  if (next) s->sym_next = next;
  uint32_t *len = realloc(s->sym_len, cap * sizeof *len);
  if (len) s->sym_len = len;
  tok_heap_entry_t *heap = realloc(s->heap, cap * 2 * sizeof *heap);
  if (heap) s->heap = heap;
  if (!id || !prev || !next || !len || !heap)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                             "tokenizer: cannot allocate BPE scratch for a %zu-symbol word", n);
  s->sym_cap = cap;
  s->heap_cap = cap * 2;
  return NULL;
}

static greta_status_t heap_push(tok_scratch_t *s, uint32_t rank, size_t pos, int32_t new_id) {
  if (s->heap_len == s->heap_cap) {
    size_t cap = s->heap_cap * 2;
    tok_heap_entry_t *heap = realloc(s->heap, cap * sizeof *heap);
    if (!heap)
      return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot grow the BPE heap");
    s->heap = heap;
    s->heap_cap = cap;
  }
  tok_heap_entry_t e = {(uint64_t)rank << 32 | (uint64_t)pos, new_id};
  size_t i = s->heap_len++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (s->heap[parent].key <= e.key) break;
    s->heap[i] = s->heap[parent];
    i = parent;
  }
  s->heap[i] = e;
  return NULL;
}

static tok_heap_entry_t heap_pop(tok_scratch_t *s) {
  tok_heap_entry_t top = s->heap[0], last = s->heap[--s->heap_len];
  size_t i = 0, n = s->heap_len;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && s->heap[c + 1].key < s->heap[c].key) c++;
    if (last.key <= s->heap[c].key) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (n) s->heap[i] = last;
  return top;
}

static greta_status_t merge_all(const greta_tokenizer_t *tok, tok_scratch_t *s, size_t n) {
  int32_t *id = s->sym_id;
  int64_t *prev = s->sym_prev, *next = s->sym_next;
  uint32_t *len = s->sym_len;
  s->heap_len = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    const tok_merge_slot_t *m = tok_pairmap_find(&tok->merges, id[i], id[i + 1]);
    if (m) GRETA_RETURN_IF_ERROR(heap_push(s, m->rank, i, m->new_id));
  }
  while (s->heap_len) {
    tok_heap_entry_t top = heap_pop(s);
    size_t pos = (size_t)(top.key & 0xFFFFFFFFu);
    if (len[pos] == 0 || next[pos] < 0) continue;
    size_t right = (size_t)next[pos];
    const tok_merge_slot_t *m = tok_pairmap_find(&tok->merges, id[pos], id[right]);
    if (!m || m->new_id != top.new_id) continue; /* a stale entry */
    id[pos] = top.new_id;
    len[pos] += len[right];
    next[pos] = next[right];
    len[right] = 0;
    if (next[right] >= 0) prev[next[right]] = (int64_t)pos;
    if (prev[pos] >= 0) {
      size_t p = (size_t)prev[pos];
      m = tok_pairmap_find(&tok->merges, id[p], id[pos]);
      if (m) GRETA_RETURN_IF_ERROR(heap_push(s, m->rank, p, m->new_id));
    }
    if (next[pos] >= 0) {
      m = tok_pairmap_find(&tok->merges, id[pos], id[next[pos]]);
      if (m) GRETA_RETURN_IF_ERROR(heap_push(s, m->rank, pos, m->new_id));
    }
  }
  return NULL;
}

greta_status_t tok_bpe_word(const greta_tokenizer_t *tok, tok_scratch_t *s, const char *word,
                            size_t len, tok_ids_t *out) {
  if (len == 0) return NULL;
  if (len > UINT32_MAX)
    return greta_status_make(GRETA_OUT_OF_RANGE,
                             "tokenizer: a word of %zu bytes (the largest is 4 GiB)", len);
  if (tok->ignore_merges) {
    int32_t whole = tok_strmap_find(&tok->vocab, tok, word, len);
    if (whole >= 0) return tok_ids_push(out, whole);
  }
  /* At most one symbol per byte. */
  GRETA_RETURN_IF_ERROR(reserve(s, len));
  size_t n = 0;
  int32_t unk = -1; /* a pending unknown token and its length */
  uint32_t unk_len = 0;
#define ADD(ID, LEN)             \
  do {                           \
    s->sym_id[n] = (ID);         \
    s->sym_len[n] = (LEN);       \
    s->sym_prev[n] = (int64_t)n - 1; \
    s->sym_next[n] = (int64_t)n + 1; \
    n++;                         \
  } while (0)
  const uint8_t *w = (const uint8_t *)word;
  for (size_t i = 0; i < len;) {
    size_t clen = utf8_char_len(w[i]);
    if (clen > len - i) clen = len - i;
    int32_t id = tok_strmap_find(&tok->vocab, tok, word + i, clen);
    if (id >= 0) {
      if (unk >= 0) {
        ADD(unk, unk_len);
        unk = -1;
      }
      ADD(id, (uint32_t)clen);
      i += clen;
      continue;
    }
    if (tok->byte_fallback) {
      bool all = true;
      for (size_t k = 0; k < clen; k++) all = all && tok->byte_ids[w[i + k]] >= 0;
      if (all) {
        for (size_t k = 0; k < clen; k++) ADD(tok->byte_ids[w[i + k]], 1);
        i += clen;
        continue;
      }
    }
    if (tok->has_unk) {
      if (tok->unk_id < 0)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "tokenizer: model.unk_token \"%s\" is not in the vocabulary",
                                 tok->unk_token);
      if (unk >= 0 && tok->fuse_unk) {
        unk_len += (uint32_t)clen;
      } else {
        if (unk >= 0) ADD(unk, unk_len);
        unk = tok->unk_id;
        unk_len = (uint32_t)clen;
      }
    }
    i += clen;
  }
  if (unk >= 0) ADD(unk, unk_len);
#undef ADD
  if (n == 0) return NULL;
  s->sym_next[n - 1] = -1;
  GRETA_RETURN_IF_ERROR(merge_all(tok, s, n));
  for (size_t i = 0; i < n; i++)
    if (s->sym_len[i]) GRETA_RETURN_IF_ERROR(tok_ids_push(out, s->sym_id[i]));
  return NULL;
}
