/* Growable byte and id arrays for the tokenizer's outputs and scratch. */
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tokenizer.h"

static greta_status_t grow(void **data, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return NULL;
  size_t cap2 = *cap ? *cap : 64;
  while (cap2 < need) cap2 *= 2;
  void *p = realloc(*data, cap2 * elem);
  if (!p)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "tokenizer: cannot allocate %zu bytes",
                             cap2 * elem);
  *data = p;
  *cap = cap2;
  return NULL;
}

greta_status_t tok_buf_append(tok_buf_t *b, const void *bytes, size_t n) {
  /* One byte more, so that the text can always be NUL-terminated. */
  GRETA_RETURN_IF_ERROR(grow((void **)&b->data, &b->cap, b->len + n + 1, 1));
  if (n) memcpy(b->data + b->len, bytes, n);
  b->len += n;
  b->data[b->len] = '\0';
  return NULL;
}

void tok_buf_free(tok_buf_t *b) {
  free(b->data);
  *b = (tok_buf_t){0};
}

greta_status_t tok_ids_push(tok_ids_t *v, int32_t id) {
  GRETA_RETURN_IF_ERROR(grow((void **)&v->data, &v->cap, v->len + 1, sizeof(int32_t)));
  v->data[v->len++] = id;
  return NULL;
}
