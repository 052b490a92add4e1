/* Binding weights from a .safetensors file.
 *
 * The file: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]},
 * ..., optional "__metadata__": {...}}), then the data. The JSON is parsed by
 * the small strict parser below: every read bounds-checked, nesting limited,
 * nothing but what the format needs. The file is mapped, not read.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"
#include "le.h"
#include "session.h"
#include "status.h"

enum { MAX_DEPTH = 32, MAX_RANK = 16, MAX_HEADER = 100 * 1024 * 1024 };

typedef struct tensor_s {
  char *name;
  char dtype[16];
  int rank;
  int64_t shape[MAX_RANK];
  uint64_t begin, end; /* data_offsets, relative to the data section */
} tensor_t;

/* ---- a strict JSON reader over [pos, end) -------------------------------- */

typedef struct json_s {
  const char *text;
  size_t pos, end;
} json_t;

static greta_status_t json_error(const json_t *j, const char *expected) {
  if (j->pos >= j->end)
    return greta_status_make(GRETA_DATA_LOSS, "header byte %zu: expected %s, found the end",
                             j->pos, expected);
  unsigned char c = (unsigned char)j->text[j->pos];
  if (c >= 0x20 && c < 0x7f)
    return greta_status_make(GRETA_DATA_LOSS, "header byte %zu: expected %s, found '%c'", j->pos,
                             expected, c);
  return greta_status_make(GRETA_DATA_LOSS, "header byte %zu: expected %s, found byte 0x%02x",
                           j->pos, expected, c);
}

static void skip_space(json_t *j) {
  while (j->pos < j->end && (j->text[j->pos] == ' ' || j->text[j->pos] == '\t' ||
                             j->text[j->pos] == '\n' || j->text[j->pos] == '\r'))
    j->pos++;
}

/* Consumes `c` (after whitespace) if it is next. */
static bool accept(json_t *j, char c) {
  skip_space(j);
  if (j->pos < j->end && j->text[j->pos] == c) {
    j->pos++;
    return true;
  }
  return false;
}

static greta_status_t expect(json_t *j, char c, const char *what) {
  return accept(j, c) ? NULL : json_error(j, what);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static greta_status_t read_hex4(json_t *j, uint32_t *out) {
  if (j->end - j->pos < 4) return json_error(j, "four hex digits");
  *out = 0;
  for (int i = 0; i < 4; i++) {
    int v = hex_value(j->text[j->pos]);
    if (v < 0) return json_error(j, "a hex digit");
    *out = *out << 4 | (uint32_t)v;
    j->pos++;
  }
  return NULL;
}

/* Appends code point `cp` as UTF-8. `out` has room for 4 more bytes. */
static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A string, unescaped into malloc'd memory (*out NULL to just skip it). */
/* The length of the well-formed UTF-8 sequence at p (at most `avail`
 * bytes), or 0: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_length(const unsigned char *p, size_t avail) {
  size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : p[0] >= 0xe0 && p[0] < 0xf0 ? 3
                             : p[0] >= 0xf0 && p[0] < 0xf5 ? 4 : 0;
  if (n == 0 || n > avail) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
  if (n == 3 && p[0] == 0xed && p[1] >= 0xa0) return 0; /* a surrogate */
  if (n == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0; /* overlong */
  if (n == 4 && p[0] == 0xf4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
  return n;
}

static greta_status_t read_string(json_t *j, char **out) {
  if (out) *out = NULL;
  GRETA_RETURN_IF_ERROR(expect(j, '"', "a string"));
  /* Unescaped text is never longer than the escaped text (\uXXXX, 6 bytes,
   * gives at most 3; a surrogate pair, 12, gives 4). */
  size_t start = j->pos;
  while (j->pos < j->end && j->text[j->pos] != '"') j->pos += j->text[j->pos] == '\\' ? 2 : 1;
  if (j->pos >= j->end) return json_error(j, "the end of a string");
  size_t limit = j->pos - start;
  j->pos = start;
  char *s = malloc(limit + 1);
  if (!s) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  size_t n = 0;
  greta_status_t status = NULL;
  while (!status) {
    unsigned char c = (unsigned char)j->text[j->pos];
    if (c == '"') {
      j->pos++;
      break;
    }
    if (c < 0x20) {
      status = json_error(j, "a printable string character");
      break;
    }
    if (c >= 0x80) { /* JSON text is UTF-8: a name must be too */
      size_t len = utf8_length((const unsigned char *)j->text + j->pos, j->end - j->pos);
      if (len == 0) {
        status = json_error(j, "UTF-8 text");
        break;
      }
      memcpy(s + n, j->text + j->pos, len);
      n += len;
      j->pos += len;
      continue;
    }
    j->pos++;
    if (c != '\\') {
      s[n++] = (char)c;
      continue;
    }
    char e = j->text[j->pos++];
    switch (e) {
      case '"': s[n++] = '"'; break;
      case '\\': s[n++] = '\\'; break;
      case '/': s[n++] = '/'; break;
      case 'b': s[n++] = '\b'; break;
      case 'f': s[n++] = '\f'; break;
      case 'n': s[n++] = '\n'; break;
      case 'r': s[n++] = '\r'; break;
      case 't': s[n++] = '\t'; break;
      case 'u': {
        uint32_t cp;
        status = read_hex4(j, &cp);
        if (status) break;
        if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
          uint32_t low;
          if (j->end - j->pos < 2 || j->text[j->pos] != '\\' || j->text[j->pos + 1] != 'u') {
            status = json_error(j, "the low half of a surrogate pair");
            break;
          }
          j->pos += 2;
          status = read_hex4(j, &low);
          if (status) break;
          if (low < 0xdc00 || low >= 0xe000) {
            status = json_error(j, "a low surrogate");
            break;
          }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp == 0 || (cp >= 0xdc00 && cp < 0xe000)) {
          j->pos -= 4;
          status = json_error(j, "a code point other than NUL or a lone surrogate");
          break;
        }
        n += put_utf8(s + n, cp);
        break;
      }
      default:
        j->pos--;
        status = json_error(j, "a JSON escape");
    }
  }
  if (status || !out) {
    free(s);
    return status;
  }
  s[n] = '\0';
  *out = s;
  return NULL;
}

/* A non-negative integer without sign, fraction or exponent. */
static greta_status_t read_uint(json_t *j, uint64_t *out) {
  skip_space(j);
  size_t start = j->pos;
  uint64_t v = 0;
  while (j->pos < j->end && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') {
    if (j->pos > start && j->text[start] == '0') return json_error(j, "no leading zero");
    if (__builtin_mul_overflow(v, 10u, &v) ||
        __builtin_add_overflow(v, (uint64_t)(j->text[j->pos] - '0'), &v))
      return greta_status_make(GRETA_DATA_LOSS, "header byte %zu: integer overflows 64 bits",
                               start);
    j->pos++;
  }
  if (j->pos == start) return json_error(j, "a non-negative integer");
  *out = v;
  return NULL;
}

/* Skips any JSON value (used for __metadata__ and unknown keys). */
static greta_status_t skip_value(json_t *j, int depth) {
  if (depth > MAX_DEPTH)
    return greta_status_make(GRETA_DATA_LOSS, "header byte %zu: nesting deeper than %d", j->pos,
                             MAX_DEPTH);
  skip_space(j);
  if (j->pos >= j->end) return json_error(j, "a value");
  char c = j->text[j->pos];
  if (c == '"') return read_string(j, NULL);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->pos++;
    if (accept(j, close)) return NULL;
    do {
      if (c == '{') {
        GRETA_RETURN_IF_ERROR(read_string(j, NULL));
        GRETA_RETURN_IF_ERROR(expect(j, ':', "':'"));
      }
      GRETA_RETURN_IF_ERROR(skip_value(j, depth + 1));
    } while (accept(j, ','));
    return expect(j, close, c == '{' ? "',' or '}'" : "',' or ']'");
  }
  static const char *const words[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if (j->end - j->pos >= n && memcmp(j->text + j->pos, words[i], n) == 0) {
      j->pos += n;
      return NULL;
    }
  }
  /* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
  size_t start = j->pos;
  if (j->text[j->pos] == '-') j->pos++;
  size_t digits = j->pos;
  while (j->pos < j->end && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') j->pos++;
  if (j->pos == digits) {
    j->pos = start;
    return json_error(j, "a value");
  }
  if (j->pos < j->end && j->text[j->pos] == '.') {
    size_t frac = ++j->pos;
    while (j->pos < j->end && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') j->pos++;
    if (j->pos == frac) return json_error(j, "a digit");
  }
  if (j->pos < j->end && (j->text[j->pos] == 'e' || j->text[j->pos] == 'E')) {
    j->pos++;
    if (j->pos < j->end && (j->text[j->pos] == '+' || j->text[j->pos] == '-')) j->pos++;
    size_t exp = j->pos;
    while (j->pos < j->end && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') j->pos++;
    if (j->pos == exp) return json_error(j, "a digit");
  }
  return NULL;
}

/* One tensor's object: {"dtype": .., "shape": [..], "data_offsets": [b, e]}. */
static greta_status_t read_tensor(json_t *j, tensor_t *t) {
  bool have_dtype = false, have_shape = false, have_offsets = false;
  GRETA_RETURN_IF_ERROR(expect(j, '{', "'{' opening a tensor"));
  /* An empty object has consumed its '}' here; otherwise members, then '}'. */
  if (!accept(j, '}')) {
    do {
      char *key;
      GRETA_RETURN_IF_ERROR(read_string(j, &key));
      greta_status_t status = expect(j, ':', "':'");
      bool repeated = (strcmp(key, "dtype") == 0 && have_dtype) ||
                      (strcmp(key, "shape") == 0 && have_shape) ||
                      (strcmp(key, "data_offsets") == 0 && have_offsets);
      if (!status && repeated)
        status = greta_status_make(GRETA_DATA_LOSS, "tensor %s: key \"%s\" appears twice",
                                   t->name, key);
      if (!status && strcmp(key, "dtype") == 0) {
        char *dtype;
        status = read_string(j, &dtype);
        if (!status) {
          snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
          free(dtype);
          have_dtype = true;
        }
      } else if (!status && strcmp(key, "shape") == 0) {
        status = expect(j, '[', "'[' opening a shape");
        if (!status && !accept(j, ']')) {
          do {
            uint64_t dim;
            if (t->rank == MAX_RANK) {
              status = greta_status_make(GRETA_DATA_LOSS, "tensor %s: rank above %d", t->name,
                                         MAX_RANK);
              break;
            }
            status = read_uint(j, &dim);
            if (!status && dim > INT64_MAX)
              status = greta_status_make(GRETA_DATA_LOSS, "tensor %s: dimension too large",
                                         t->name);
            if (!status) t->shape[t->rank++] = (int64_t)dim;
          } while (!status && accept(j, ','));
          if (!status) status = expect(j, ']', "',' or ']' in a shape");
        }
        have_shape = !status;
      } else if (!status && strcmp(key, "data_offsets") == 0) {
        status = expect(j, '[', "'[' opening data_offsets");
        if (!status) status = read_uint(j, &t->begin);
        if (!status) status = expect(j, ',', "',' in data_offsets");
        if (!status) status = read_uint(j, &t->end);
        if (!status) status = expect(j, ']', "']' closing data_offsets (two numbers)");
        have_offsets = !status;
      } else if (!status) {
        status = skip_value(j, 2);
      }
      free(key);
      GRETA_RETURN_IF_ERROR(status);
    } while (accept(j, ','));
    GRETA_RETURN_IF_ERROR(expect(j, '}', "',' or '}' in a tensor"));
  }
  if (!have_dtype || !have_shape || !have_offsets)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: expected \"dtype\", \"shape\" and \"data_offsets\", "
                             "missing \"%s\"",
                             t->name, !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
  return NULL;
}

static int compare_names(const void *a, const void *b) {
  return strcmp((*(const tensor_t *const *)a)->name, (*(const tensor_t *const *)b)->name);
}

static int compare_begins(const void *a, const void *b) {
  uint64_t x = (*(const tensor_t *const *)a)->begin, y = (*(const tensor_t *const *)b)->begin;
  return x < y ? -1 : x > y;
}

/* The tensors sorted by name (the caller frees the array), after checking
 * each name appears once and no two tensors' data ranges overlap: sorting
 * keeps both n log n (a header may hold a million names). */
static greta_status_t index_tensors(tensor_t *tensors, size_t count, tensor_t ***out_sorted) {
  tensor_t **sorted = malloc((count ? count : 1) * sizeof *sorted);
  if (!sorted) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < count; i++) sorted[i] = &tensors[i];
  greta_status_t status = NULL;
  qsort(sorted, count, sizeof *sorted, compare_begins);
  for (size_t i = 1; i < count && !status; i++)
    if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->begin < sorted[i]->end)
      status = greta_status_make(GRETA_DATA_LOSS,
                                 "tensors %s and %s overlap in the data section ([%llu, %llu) "
                                 "and [%llu, %llu))",
                                 sorted[i - 1]->name, sorted[i]->name,
                                 (unsigned long long)sorted[i - 1]->begin,
                                 (unsigned long long)sorted[i - 1]->end,
                                 (unsigned long long)sorted[i]->begin,
                                 (unsigned long long)sorted[i]->end);
  qsort(sorted, count, sizeof *sorted, compare_names);
  for (size_t i = 1; i < count && !status; i++)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
      status = greta_status_make(GRETA_DATA_LOSS, "tensor %s appears twice", sorted[i]->name);
  if (status) {
    free(sorted);
    return status;
  }
  *out_sorted = sorted;
  return NULL;
}

static void free_tensors(tensor_t *tensors, size_t count) {
  for (size_t i = 0; i < count; i++) free(tensors[i].name);
  free(tensors);
}

/* The whole header: a JSON object of tensors (and "__metadata__"). */
static greta_status_t read_header(json_t *j, tensor_t **out_tensors, size_t *out_count) {
  tensor_t *tensors = NULL;
  size_t count = 0, capacity = 0;
  greta_status_t status = expect(j, '{', "'{' opening the header");
  bool empty = !status && accept(j, '}');
  if (!status && !empty) do {
      char *name;
      status = read_string(j, &name);
      if (status) break;
      status = expect(j, ':', "':'");
      if (!status && strcmp(name, "__metadata__") == 0) {
        free(name);
        status = skip_value(j, 1);
        continue;
      }
      if (count == capacity) {
        capacity = capacity ? 2 * capacity : 64;
        tensor_t *grown = realloc(tensors, capacity * sizeof *tensors);
        if (!grown) status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
        else tensors = grown;
      }
      if (status) {
        free(name);
        break;
      }
      tensor_t *t = &tensors[count++];
      memset(t, 0, sizeof *t);
      t->name = name;
      status = read_tensor(j, t);
    } while (!status && accept(j, ','));
  if (!status && !empty) status = expect(j, '}', "',' or '}' closing the header");
  if (!status) {
    skip_space(j);
    if (j->pos != j->end) status = json_error(j, "the end of the header after its object");
  }
  if (status) {
    free_tensors(tensors, count);
    return status;
  }
  *out_tensors = tensors;
  *out_count = count;
  return NULL;
}

/* ---- checking and binding --------------------------------------------------- */

static bool dtype_from_name(const char *name, greta_dtype_t *out) {
  static const struct {
    const char *name;
    greta_dtype_t dtype;
  } table[] = {{"F32", GRETA_F32}, {"F16", GRETA_F16}, {"BF16", GRETA_BF16}, {"I32", GRETA_I32}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(name, table[i].name) == 0) {
      *out = table[i].dtype;
      return true;
    }
  return false;
}

static void format_shape(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < rank && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)dims[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

/* Checks tensor `t` against plan weight `index`: dtype, shape, and that its
 * bytes lie inside the file. *out_dtype is the tensor's dtype. */
static greta_status_t check_one(const greta_session_t *session, uint32_t index, const tensor_t *t,
                                uint64_t data_size, greta_dtype_t *out_dtype) {
  const greta_plan_weight_t *w = &greta_session_plan(session)->weights[index];
  greta_dtype_t dtype;
  bool float_storage = w->info.dtype != GRETA_I32;
  if (!dtype_from_name(t->dtype, &dtype) || (float_storage && dtype == GRETA_I32) ||
      (!float_storage && dtype != GRETA_I32))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "tensor %s: wrong dtype: expected %s (the plan stores %s), found %s",
                             t->name, float_storage ? "F32, F16 or BF16" : "I32",
                             greta_dtype_name(w->info.dtype), t->dtype);
  bool same_shape = t->rank == w->info.rank;
  for (int d = 0; same_shape && d < t->rank; d++) same_shape = t->shape[d] == w->info.dims[d].coeff;
  if (!same_shape) {
    int64_t expected[GRETA_MAX_RANK];
    for (int d = 0; d < w->info.rank; d++) expected[d] = w->info.dims[d].coeff;
    char want[128], got[256];
    format_shape(expected, w->info.rank, want, sizeof want);
    format_shape(t->shape, t->rank, got, sizeof got);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "tensor %s: wrong shape: expected %s, found %s", t->name, want, got);
  }
  uint64_t count = w->bytes / greta_dtype_size(w->info.dtype);
  uint64_t bytes = count * greta_dtype_size(dtype);
  if (t->begin > t->end || t->end > data_size || t->end - t->begin != bytes)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: data_offsets [%llu, %llu) must span %llu bytes inside "
                             "the %llu data bytes; the file is corrupt",
                             t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                             (unsigned long long)bytes, (unsigned long long)data_size);
  *out_dtype = dtype;
  return NULL;
}

/* Converts and uploads a tensor check_one accepted. */
static greta_status_t bind_one(greta_session_t *session, uint32_t index, const tensor_t *t,
                               greta_dtype_t dtype, const uint8_t *data) {
  const greta_plan_weight_t *w = &greta_session_plan(session)->weights[index];
  uint64_t count = w->bytes / greta_dtype_size(w->info.dtype);
  uint64_t bytes = count * greta_dtype_size(dtype);
  const uint8_t *src = data + t->begin;
  /* The conversion reads typed elements: give it aligned memory. */
  if ((uintptr_t)src % greta_dtype_size(dtype) != 0) {
    void *aligned = malloc(bytes ? (size_t)bytes : 1);
    if (!aligned) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(aligned, src, (size_t)bytes);
    greta_status_t status = greta_session_bind_index(session, index, dtype, aligned, (size_t)count);
    free(aligned);
    return status;
  }
  return greta_session_bind_index(session, index, dtype, src, (size_t)count);
}

static greta_status_t bind_mapped(greta_session_t *session, const uint8_t *file, size_t size) {
  if (size < 8)
    return greta_status_make(GRETA_DATA_LOSS,
                             "expected at least an 8-byte header length, found %zu bytes", size);
  uint64_t header = le_u64(file);
  if (header > size - 8 || header > MAX_HEADER)
    return greta_status_make(GRETA_DATA_LOSS,
                             "the header length %llu exceeds the file (%zu bytes) or the limit %d",
                             (unsigned long long)header, size, MAX_HEADER);
  json_t j = {(const char *)file + 8, 0, (size_t)header};
  tensor_t *tensors, **by_name = NULL;
  size_t count;
  GRETA_RETURN_IF_ERROR(read_header(&j, &tensors, &count));
  greta_status_t indexed = index_tensors(tensors, count, &by_name);
  if (indexed) {
    free_tensors(tensors, count);
    return indexed;
  }

  const greta_plan_t *plan = greta_session_plan(session);
  const uint8_t *data = file + 8 + header;
  uint64_t data_size = size - 8 - header;
  /* Check every weight before binding any: a bad file binds nothing. */
  const tensor_t **found = calloc(plan->n_weights + 1u, sizeof *found);
  greta_dtype_t *dtypes = calloc(plan->n_weights + 1u, sizeof *dtypes);
  greta_status_t status =
      found && dtypes ? NULL : greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  for (uint32_t w = 0; !status && w < plan->n_weights; w++) {
    const char *name = plan->weights[w].info.name;
    tensor_t key = {.name = (char *)name}, *key_ptr = &key;
    tensor_t **hit = count ? bsearch(&key_ptr, by_name, count, sizeof *by_name, compare_names) : NULL;
    if (hit) found[w] = *hit;
    if (!found[w])
      status = greta_status_make(GRETA_NOT_FOUND,
                                 "missing tensor \"%s\" (weight %u of the model's %u; the file "
                                 "has %zu tensors)",
                                 name, w, plan->n_weights, count);
    else
      status = check_one(session, w, found[w], data_size, &dtypes[w]);
  }
  for (uint32_t w = 0; !status && w < plan->n_weights; w++)
    status = bind_one(session, w, found[w], dtypes[w], data);
  free(found);
  free(dtypes);
  free(by_name);
  free_tensors(tensors, count);
  return status;
}

greta_status_t greta_session_bind_safetensors(greta_session_t *session, const char *path) {
  int fd;
  uint64_t file_size;
  GRETA_RETURN_IF_ERROR(
      greta_status_annotate(greta_file_open_regular(path, &fd, &file_size), "safetensors"));
  if (file_size > SIZE_MAX) {
    close(fd);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "safetensors %s: %llu bytes do not fit in memory",
                             path, (unsigned long long)file_size);
  }
  size_t size = (size_t)file_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      greta_status_t s = greta_status_make(GRETA_INTERNAL, "safetensors %s: mmap failed: %s",
                                           path, strerror(errno));
      close(fd);
      return s;
    }
  }
  close(fd);
  greta_status_t status = bind_mapped(session, map ? map : (const void *)"", size);
  if (map) munmap(map, size);
  return greta_status_annotate(status, "safetensors %s", path);
}
