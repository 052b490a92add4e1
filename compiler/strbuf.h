/* A growable string, for generated source and messages. */
#ifndef GRETA_STRBUF_H
#define GRETA_STRBUF_H

#include <stddef.h>

#if defined(__GNUC__)
#define STRBUF_PRINTF __attribute__((format(printf, 2, 3)))
#else
#define STRBUF_PRINTF
#endif

typedef struct strbuf_s {
  char *data; /* NUL-terminated; NULL until the first append */
  size_t len, cap;
} strbuf_t;

void strbuf_append(strbuf_t *sb, const char *text);
void strbuf_appendn(strbuf_t *sb, const char *text, size_t n);
void strbuf_printf(strbuf_t *sb, const char *fmt, ...) STRBUF_PRINTF;
/* Hands the string to the caller (who frees it) and empties sb. */
char *strbuf_take(strbuf_t *sb);
void strbuf_free(strbuf_t *sb);

#endif /* GRETA_STRBUF_H */
