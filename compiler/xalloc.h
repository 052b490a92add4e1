/* The compiler's one out-of-memory policy: allocation never returns NULL.
 * gretac is a batch tool whose inputs are small next to memory; on the rare
 * failure it says so and aborts, so no caller carries an OOM branch (jq's
 * allocator makes the same trade, and its grammar actions fit on a line). */
#ifndef GRETA_XALLOC_H
#define GRETA_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t size);
/* Grows `array` of `elem`-byte items to hold count + 1 of them. */
void *xgrow(void *array, size_t elem, size_t count);
char *xstrdup(const char *s); /* NULL is copied as "" */

#endif /* GRETA_XALLOC_H */
