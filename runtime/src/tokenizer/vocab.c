/* The tokenizer's two hash tables: token text -> id (the vocabulary) and
 * (left id, right id) -> (rank, merged id) (the BPE merges). Open
 * addressing with linear probing, at most 2/3 full, so a 128k vocabulary
 * and 280k merges load in one pass and every lookup is O(1). */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "status.h"
#include "tokenizer.h"

static uint64_t table_size(uint64_t expected) {
  uint64_t cap = 16;
  while (cap < expected + expected / 2 + 1) cap *= 2;
  return cap;
}

greta_status_t tok_strmap_init(tok_strmap_t *m, uint64_t expected) {
  m->cap = table_size(expected);
  m->count = 0;
  m->slots = malloc(m->cap * sizeof *m->slots);
  if (!m->slots)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                             "tokenizer: cannot allocate a vocabulary table of %llu entries",
                             (unsigned long long)m->cap);
  memset(m->slots, 0xFF, m->cap * sizeof *m->slots); /* -1 everywhere */
  return NULL;
}

void tok_strmap_deinit(tok_strmap_t *m) {
  free(m->slots);
  *m = (tok_strmap_t){0};
}

void tok_strmap_insert(tok_strmap_t *m, const greta_tokenizer_t *tok, int32_t id) {
  const char *text = tok->model_text[id];
  size_t len = tok->model_len[id];
  uint64_t i = fnv1a64(text, len) & (m->cap - 1);
  for (;; i = (i + 1) & (m->cap - 1)) {
    int32_t other = m->slots[i];
    if (other < 0) {
      m->slots[i] = id;
      m->count++;
      return;
    }
    if (tok->model_len[other] == len && memcmp(tok->model_text[other], text, len) == 0) {
      m->slots[i] = id;
      return;
    }
  }
}

int32_t tok_strmap_find(const tok_strmap_t *m, const greta_tokenizer_t *tok, const char *text,
                        size_t len) {
  uint64_t i = fnv1a64(text, len) & (m->cap - 1);
  for (;; i = (i + 1) & (m->cap - 1)) {
    int32_t id = m->slots[i];
    if (id < 0) return -1;
    if (tok->model_len[id] == len && memcmp(tok->model_text[id], text, len) == 0) return id;
  }
}

static uint64_t pair_hash(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  return key ^ (key >> 33);
}

greta_status_t tok_pairmap_init(tok_pairmap_t *m, uint64_t expected) {
  m->cap = table_size(expected);
  m->count = 0;
  m->slots = malloc(m->cap * sizeof *m->slots);
  if (!m->slots)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED,
                             "tokenizer: cannot allocate a merge table of %llu entries",
                             (unsigned long long)m->cap);
  memset(m->slots, 0xFF, m->cap * sizeof *m->slots); /* every key UINT64_MAX: empty */
  return NULL;
}

void tok_pairmap_deinit(tok_pairmap_t *m) {
  free(m->slots);
  *m = (tok_pairmap_t){0};
}

void tok_pairmap_insert(tok_pairmap_t *m, int32_t left, int32_t right, uint32_t rank,
                        int32_t new_id) {
  uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
  uint64_t i = pair_hash(key) & (m->cap - 1);
  for (;; i = (i + 1) & (m->cap - 1)) {
    tok_merge_slot_t *s = &m->slots[i];
    if (s->key == UINT64_MAX || s->key == key) {
      /* A pair listed twice keeps its later rank, as HF's map does. */
      if (s->key == UINT64_MAX) m->count++;
      *s = (tok_merge_slot_t){.key = key, .rank = rank, .new_id = new_id};
      return;
    }
  }
}

const tok_merge_slot_t *tok_pairmap_find(const tok_pairmap_t *m, int32_t left, int32_t right) {
  uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
  uint64_t i = pair_hash(key) & (m->cap - 1);
  for (;; i = (i + 1) & (m->cap - 1)) {
    const tok_merge_slot_t *s = &m->slots[i];
    if (s->key == key) return s;
    if (s->key == UINT64_MAX) return NULL;
  }
}
