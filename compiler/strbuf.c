#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void strbuf_reserve(strbuf_t *sb, size_t extra) {
  if (sb->len + extra + 1 <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + extra + 1) cap *= 2;
  sb->data = xrealloc(sb->data, cap);
  sb->cap = cap;
}

void strbuf_appendn(strbuf_t *sb, const char *text, size_t n) {
  strbuf_reserve(sb, n);
  memcpy(sb->data + sb->len, text, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void strbuf_append(strbuf_t *sb, const char *text) { strbuf_appendn(sb, text, strlen(text)); }

void strbuf_printf(strbuf_t *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  strbuf_reserve(sb, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

char *strbuf_take(strbuf_t *sb) {
  char *data = sb->data;
  if (!data) data = xcalloc(1, 1);
  sb->data = NULL;
  sb->len = sb->cap = 0;
  return data;
}

void strbuf_free(strbuf_t *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}
