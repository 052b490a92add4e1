/* Reading a .safetensors file (safetensors.h).
 *
 * The file: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]},
 * ..., optional "__metadata__": {...}}), then the data. The JSON is read by
 * jansson, the project's one JSON reader: it checks the syntax, that the
 * text is UTF-8, that no string holds a NUL, and (JSON_REJECT_DUPLICATES)
 * that no object repeats a key, so a tensor name appears once and a tensor
 * has one "shape". What the format needs on top is checked here. The file
 * is mapped, not read.
 */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file_io.h"
#include "le.h"
#include "status.h"

/* "an array", "a string"... for messages. */
static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
  }
  return "an unknown value";
}

/* jansson's refusal as a status; `position` is the byte of the header. */
static greta_status_t json_failure(const json_error_t *err) {
  switch (json_error_code(err)) {
    case json_error_invalid_utf8:
      return greta_status_make(GRETA_DATA_LOSS, "header byte %d: expected UTF-8 text (%s)",
                               err->position, err->text);
    case json_error_duplicate_key:
      return greta_status_make(GRETA_DATA_LOSS,
                               "header byte %d: a key appears twice in one object (%s)",
                               err->position, err->text);
    case json_error_out_of_memory:
      return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "header: out of memory");
    default:
      return greta_status_make(GRETA_DATA_LOSS, "header byte %d: expected JSON: %s",
                               err->position, err->text);
  }
}

/* `v` as a non-negative integer into *out, or false. */
static bool read_uint(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

/* One tensor's object: {"dtype": .., "shape": [..], "data_offsets": [b, e]};
 * other keys are ignored. */
static greta_status_t read_tensor(const char *name, const json_t *v, greta_st_tensor_t *t) {
  memset(t, 0, sizeof *t);
  t->name = strdup(name);
  if (!t->name) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  if (!json_is_object(v))
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: expected an object with \"dtype\", \"shape\" and "
                             "\"data_offsets\", found %s",
                             name, json_kind(v));
  const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
               *offsets = json_object_get(v, "data_offsets");
  if (!dtype || !shape || !offsets)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: expected \"dtype\", \"shape\" and \"data_offsets\", "
                             "missing \"%s\"",
                             name, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
  if (!json_is_string(dtype))
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: expected \"dtype\" to be a string, found %s",
                             name, json_kind(dtype));
  snprintf(t->dtype, sizeof t->dtype, "%s", json_string_value(dtype));

  if (!json_is_array(shape))
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: expected \"shape\" to be an array, found %s",
                             name, json_kind(shape));
  if (json_array_size(shape) > GRETA_ST_MAX_RANK)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: rank %zu is above %d", name,
                             json_array_size(shape), GRETA_ST_MAX_RANK);
  t->rank = (int)json_array_size(shape);
  for (int d = 0; d < t->rank; d++) {
    uint64_t dim;
    const json_t *e = json_array_get(shape, (size_t)d);
    if (!read_uint(e, &dim)) /* jansson refuses integers beyond int64 */
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensor %s: expected shape[%d] to be a non-negative integer, found "
                               "%s%s",
                               name, d, json_kind(e), json_is_integer(e) ? " below zero" : "");
    t->shape[d] = (int64_t)dim;
  }

  if (!json_is_array(offsets))
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: expected \"data_offsets\" to be [begin, end], found %s",
                             name, json_kind(offsets));
  if (json_array_size(offsets) != 2)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: expected \"data_offsets\" to be [begin, end], found an "
                             "array of %zu values",
                             name, json_array_size(offsets));
  for (int i = 0; i < 2; i++) {
    const json_t *e = json_array_get(offsets, (size_t)i);
    if (!read_uint(e, i ? &t->end : &t->begin))
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensor %s: expected data_offsets[%d] to be a non-negative "
                               "integer, found %s%s",
                               name, i, json_kind(e),
                               json_is_integer(e) ? " below zero" : "");
  }
  return NULL;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(((const greta_st_tensor_t *)a)->name, ((const greta_st_tensor_t *)b)->name);
}

static int compare_begins(const void *a, const void *b) {
  uint64_t x = ((const greta_st_tensor_t *)a)->begin, y = ((const greta_st_tensor_t *)b)->begin;
  return x < y ? -1 : x > y;
}

/* Checks each tensor's range lies inside the data and no two overlap (an
 * empty range overlaps nothing), then sorts the tensors by name for
 * greta_st_find. Sorting keeps it n log n: a header may hold a million. */
static greta_status_t check_ranges(greta_st_tensor_t *t, size_t count, uint64_t data_size) {
  for (size_t i = 0; i < count; i++)
    if (t[i].begin > t[i].end || t[i].end > data_size)
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensor %s: data_offsets [%llu, %llu) must lie inside the %llu "
                               "data bytes; the file is corrupt",
                               t[i].name, (unsigned long long)t[i].begin,
                               (unsigned long long)t[i].end, (unsigned long long)data_size);
  qsort(t, count, sizeof *t, compare_begins);
  for (size_t i = 1; i < count; i++)
    if (t[i].begin < t[i - 1].end && t[i].begin < t[i].end)
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensors %s and %s overlap in the data section ([%llu, %llu) and "
                               "[%llu, %llu))",
                               t[i - 1].name, t[i].name, (unsigned long long)t[i - 1].begin,
                               (unsigned long long)t[i - 1].end, (unsigned long long)t[i].begin,
                               (unsigned long long)t[i].end);
  qsort(t, count, sizeof *t, compare_names);
  return NULL;
}

greta_status_t greta_st_parse(const uint8_t *bytes, size_t size, greta_st_file_t *out) {
  memset(out, 0, sizeof *out);
  if (size < 8)
    return greta_status_make(GRETA_DATA_LOSS,
                             "expected at least an 8-byte header length, found %zu bytes", size);
  uint64_t header = le_u64(bytes);
  if (header > size - 8 || header > GRETA_ST_MAX_HEADER)
    return greta_status_make(GRETA_DATA_LOSS,
                             "the header length %llu exceeds the file (%zu bytes) or the limit %d",
                             (unsigned long long)header, size, GRETA_ST_MAX_HEADER);
  json_error_t err;
  json_t *root = json_loadb((const char *)bytes + 8, (size_t)header, JSON_REJECT_DUPLICATES, &err);
  if (!root) return json_failure(&err);
  greta_status_t status = NULL;
  greta_st_tensor_t *tensors = NULL;
  size_t count = 0;
  if (!json_is_object(root)) {
    status = greta_status_make(GRETA_DATA_LOSS, "expected the header to be a JSON object, found %s",
                               json_kind(root));
  } else {
    tensors = calloc(json_object_size(root) + 1, sizeof *tensors);
    if (!tensors) status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
    const char *name;
    json_t *value;
    json_object_foreach(root, name, value) {
      if (status) break;
      if (strcmp(name, "__metadata__") == 0) continue; /* free-form: not read */
      status = read_tensor(name, value, &tensors[count++]);
    }
  }
  json_decref(root);
  if (!status) status = check_ranges(tensors, count, size - 8 - header);
  if (status) {
    for (size_t i = 0; i < count; i++) free(tensors[i].name);
    free(tensors);
    return status;
  }
  out->tensors = tensors;
  out->count = count;
  out->data = bytes + 8 + header;
  out->data_size = size - 8 - header;
  return NULL;
}

greta_status_t greta_st_open(const char *path, greta_st_file_t *out) {
  memset(out, 0, sizeof *out);
  int fd;
  uint64_t file_size;
  GRETA_RETURN_IF_ERROR(greta_file_open_regular(path, &fd, &file_size));
  if (file_size > SIZE_MAX) {
    close(fd);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "%llu bytes do not fit in memory",
                             (unsigned long long)file_size);
  }
  size_t size = (size_t)file_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      greta_status_t s = greta_status_make(GRETA_INTERNAL, "mmap failed: %s", strerror(errno));
      close(fd);
      return s;
    }
  }
  close(fd); /* the mapping stays valid */
  greta_status_t status = greta_st_parse(map ? map : (const void *)"", size, out);
  if (status) {
    if (map) munmap(map, size);
    return status;
  }
  out->map = map;
  out->map_size = size;
  return NULL;
}

void greta_st_close(greta_st_file_t *file) {
  for (size_t i = 0; i < file->count; i++) free(file->tensors[i].name);
  free(file->tensors);
  if (file->map) munmap(file->map, file->map_size);
  memset(file, 0, sizeof *file);
}

const greta_st_tensor_t *greta_st_find(const greta_st_file_t *file, const char *name) {
  if (file->count == 0) return NULL;
  greta_st_tensor_t key = {.name = (char *)name};
  return bsearch(&key, file->tensors, file->count, sizeof key, compare_names);
}
