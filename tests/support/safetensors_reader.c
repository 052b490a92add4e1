/* A minimal safetensors reader for test fixtures: one tensor's bytes and
 * the metadata, written independently of the runtime's loader. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "support.h"

void support_st_open(support_st_t *f, const char *path) {
  size_t size;
  f->bytes = support_read_file(path, &size);
  f->size = size;
  cr_assert_gt(size, 8, "%s: too short for a safetensors file", path);
  uint64_t n = le_u64((const uint8_t *)f->bytes);
  cr_assert_leq(n, size - 8, "%s: header length %llu beyond the file", path,
                (unsigned long long)n);
  f->header = malloc(n + 1);
  memcpy(f->header, f->bytes + 8, n);
  f->header[n] = 0;
  f->data = f->bytes + 8 + n;
  f->data_size = size - 8 - n;
}

void support_st_close(support_st_t *f) {
  free(f->bytes);
  free(f->header);
}

/* The text after `"key"` and its colon inside [from, end), or NULL. A quoted
 * key cannot match inside a JSON string, whose quotes are escaped. */
static const char *find_key(const char *from, const char *end, const char *key) {
  char quoted[128];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  for (const char *p = strstr(from, quoted); p && p < end; p = strstr(p + 1, quoted)) {
    const char *q = p + strlen(quoted);
    while (*q == ' ') q++;
    if (*q == ':') {
      q++;
      while (*q == ' ') q++;
      return q;
    }
  }
  return NULL;
}

/* The closing brace of the object opening at `p`; braces inside strings (the
 * metadata holds JSON text as strings) do not count. */
static const char *object_end(const char *p) {
  cr_assert_eq(*p, '{', "expected an object in the header");
  int depth = 0, in_string = 0;
  for (; *p; p++) {
    if (in_string) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_string = 0;
    } else if (*p == '"') {
      in_string = 1;
    } else if (*p == '{') {
      depth++;
    } else if (*p == '}' && --depth == 0) {
      return p;
    }
  }
  cr_assert_fail("an object in the header is not closed");
  return NULL;
}

/* A list of integers "[a, b, ...]" at `p`; returns how many (at most max). */
static int read_ints(const char *p, long long *out, int max) {
  cr_assert_eq(*p, '[', "expected a list in the header");
  int n = 0;
  p++;
  while (*p && *p != ']') {
    char *next;
    long long v = strtoll(p, &next, 10);
    cr_assert(next != p, "expected an integer in the header at \"%.20s\"", p);
    cr_assert_lt(n, max);
    out[n++] = v;
    p = next;
    while (*p == ' ' || *p == ',') p++;
  }
  return n;
}

/* Tensor `name` of safetensors dtype `dtype` ("F32", "I32": 4-byte elements)
 * and rank `rank`: a malloc'd copy of its data; its shape into `shape`. */
void *support_st_tensor(const support_st_t *f, const char *name, const char *dtype, int rank,
                       long long *shape) {
  const char *end = f->header + strlen(f->header);
  const char *obj = find_key(f->header, end, name);
  cr_assert(obj && *obj == '{', "the fixture has no tensor %s", name);
  const char *close = object_end(obj);
  char quoted[16];
  snprintf(quoted, sizeof quoted, "\"%s\"", dtype);
  const char *d = find_key(obj, close, "dtype");
  cr_assert(d && !strncmp(d, quoted, strlen(quoted)), "%s: expected dtype %s", name, dtype);
  long long offsets[2];
  const char *s = find_key(obj, close, "shape");
  const char *o = find_key(obj, close, "data_offsets");
  cr_assert(s && o, "%s: no shape or data_offsets", name);
  cr_assert_eq(read_ints(s, shape, 4), rank, "%s: expected rank %d", name, rank);
  cr_assert_eq(read_ints(o, offsets, 2), 2, "%s: expected two data_offsets", name);
  long long count = 1;
  for (int i = 0; i < rank; i++) count *= shape[i];
  size_t bytes = (size_t)count * 4;
  cr_assert(offsets[0] >= 0 && offsets[1] - offsets[0] == (long long)bytes &&
                (size_t)offsets[1] <= f->data_size,
            "%s: data_offsets [%lld, %lld) do not hold %zu bytes", name, offsets[0], offsets[1],
            bytes);
  void *out = malloc(bytes);
  memcpy(out, f->data + offsets[0], bytes); /* the file is little-endian, as is this host */
  return out;
}

/* The integer value of a metadata entry (stored as a string, "5"). */
long long support_st_meta_int(const support_st_t *f, const char *key) {
  const char *meta = find_key(f->header, f->header + strlen(f->header), "__metadata__");
  cr_assert(meta && *meta == '{', "the fixture has no __metadata__");
  const char *v = find_key(meta, object_end(meta), key);
  cr_assert(v && *v == '"', "the fixture's metadata has no \"%s\"", key);
  return strtoll(v + 1, NULL, 10);
}

