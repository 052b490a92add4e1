#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *checked(void *p) {
  if (!p) {
    fputs("gretac: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *xmalloc(size_t size) { return checked(malloc(size ? size : 1)); }
void *xcalloc(size_t count, size_t size) { return checked(calloc(count ? count : 1, size ? size : 1)); }
void *xrealloc(void *p, size_t size) { return checked(realloc(p, size ? size : 1)); }
void *xgrow(void *array, size_t elem, size_t count) { return xrealloc(array, elem * (count + 1)); }
char *xstrdup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}
