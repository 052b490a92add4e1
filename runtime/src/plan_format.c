/* The plan's byte format (docs/plan-format.md): serialise, parse, verify,
 * and find the plan inside a compiled file.
 *
 * Parsing is two passes over untrusted bytes: decode() reads the structure
 * with a bounds-checked cursor (every count is checked against the bytes
 * left before anything is allocated), then verify() checks the meaning:
 * every buffer a launch touches, at the largest T of its entry, lies inside
 * its memory space; every kernel index, arg count, attribute and launch
 * dimension is in range. greta_plan_serialize() runs the same verify(), so
 * the compiler cannot write a plan the runtime would refuse.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "elf.h"
#include "plan.h"
#include "status.h"

enum {
  HEADER_BYTES = 32,
  MAX_STRING = 4096,
  SECTION_META = 1,
  SECTION_KERNELS = 2,
  SECTION_INPUTS = 3,
  SECTION_OUTPUTS = 4,
  SECTION_WEIGHTS = 5,
  SECTION_CACHES = 6,
  SECTION_ENTRIES = 7,
  SECTION_COUNT_ = 8,
  MAX_BLOCK_THREADS = 1024,
};

static const char *const section_names[SECTION_COUNT_] = {
    "?", "meta", "kernels", "inputs", "outputs", "weights", "caches", "entries"};

/* FNV-1a, 64-bit: the checksum over everything after the header. */
static uint64_t fnv1a64(const uint8_t *bytes, size_t size) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; i++) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct writer_s {
  uint8_t *data;
  size_t size, capacity;
  bool failed; /* out of memory */
} writer_t;

static void put_bytes(writer_t *w, const void *bytes, size_t n) {
  if (w->failed) return;
  if (w->capacity - w->size < n) {
    size_t capacity = w->capacity ? w->capacity : 256;
    while (capacity - w->size < n) capacity *= 2;
    uint8_t *data = realloc(w->data, capacity);
    if (!data) {
      w->failed = true;
      return;
    }
    w->data = data;
    w->capacity = capacity;
  }
  if (n) memcpy(w->data + w->size, bytes, n);
  w->size += n;
}

static void put_u32(writer_t *w, uint32_t v) {
  uint8_t b[4];
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
  put_bytes(w, b, 4);
}

static void put_u64(writer_t *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  put_bytes(w, b, 8);
}

static void put_i64(writer_t *w, int64_t v) { put_u64(w, (uint64_t)v); }

static void put_f32(writer_t *w, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_u32(w, bits);
}

static void put_string(writer_t *w, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_u32(w, (uint32_t)n);
  put_bytes(w, s, n);
}

/* Patches a u64 written earlier at `at`. */
static void patch_u64(writer_t *w, size_t at, uint64_t v) {
  if (w->failed) return;
  for (int i = 0; i < 8; i++) w->data[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static size_t begin_section(writer_t *w, uint32_t tag) {
  put_u32(w, tag);
  put_u32(w, 0);
  size_t at = w->size;
  put_u64(w, 0); /* length, patched by end_section */
  return at;
}

static void end_section(writer_t *w, size_t at) { patch_u64(w, at, w->size - at - 8); }

static void put_tensor_info(writer_t *w, const greta_tensor_info_t *info) {
  put_string(w, info->name);
  put_u32(w, (uint32_t)info->dtype);
  put_u32(w, (uint32_t)info->rank);
  for (int d = 0; d < info->rank && d < GRETA_MAX_RANK; d++) {
    put_i64(w, info->dims[d].coeff);
    put_string(w, info->dims[d].symbol);
  }
}

static void put_launch(writer_t *w, const greta_plan_launch_t *l) {
  put_u32(w, l->op);
  put_u32(w, l->kernel);
  put_u32(w, l->n_args);
  for (uint32_t i = 0; i < l->n_args; i++) {
    put_u32(w, l->args[i].space);
    put_u64(w, l->args[i].offset);
  }
  int64_t ints[GRETA_PLAN_MAX_ATTRS];
  float floats[GRETA_PLAN_MAX_FATTRS];
  greta_op_attrs_pack(l->op, &l->attr, ints, floats);
  for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) put_i64(w, ints[i]);
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) put_f32(w, floats[i]);
  put_i64(w, l->rows_coeff);
  put_u32(w, l->rows_per_token);
  for (int i = 0; i < 3; i++) put_u32(w, l->grid[i]);
  for (int i = 0; i < 3; i++) put_u32(w, l->block[i]);
  put_u32(w, l->grid_t_axis);
  put_u32(w, l->grid_t_per_token);
  put_u32(w, l->grid_t_tile);
  put_u32(w, l->shared_bytes);
}

static greta_status_t verify(const greta_plan_t *plan);

greta_status_t greta_plan_serialize(const greta_plan_t *plan, uint8_t **out_bytes,
                                    size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  GRETA_RETURN_IF_ERROR(greta_status_annotate(verify(plan), "plan serialize"));

  writer_t w = {0};
  put_bytes(&w, GRETA_PLAN_MAGIC, 8);
  put_u32(&w, GRETA_PLAN_VERSION);
  put_u32(&w, HEADER_BYTES);
  put_u64(&w, 0); /* total size, patched below */
  put_u64(&w, 0); /* checksum, patched below */

  size_t at = begin_section(&w, SECTION_META);
  put_string(&w, plan->target);
  put_string(&w, plan->toolchain);
  put_string(&w, plan->model_name);
  put_i64(&w, plan->max_seq);
  put_i64(&w, plan->max_tokens);
  put_u64(&w, plan->arena_bytes);
  put_u64(&w, plan->weight_bytes);
  put_u64(&w, plan->kv_bytes);
  end_section(&w, at);

  at = begin_section(&w, SECTION_KERNELS);
  put_u32(&w, plan->n_kernels);
  for (uint32_t i = 0; i < plan->n_kernels; i++) put_string(&w, plan->kernels[i]);
  end_section(&w, at);

  at = begin_section(&w, SECTION_INPUTS);
  put_u32(&w, plan->n_inputs);
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    put_tensor_info(&w, &plan->inputs[i].info);
    put_u64(&w, plan->inputs[i].offset);
  }
  end_section(&w, at);

  at = begin_section(&w, SECTION_OUTPUTS);
  put_u32(&w, plan->n_outputs);
  for (uint32_t i = 0; i < plan->n_outputs; i++) {
    put_tensor_info(&w, &plan->outputs[i].info);
    put_u64(&w, plan->outputs[i].offset);
  }
  end_section(&w, at);

  at = begin_section(&w, SECTION_WEIGHTS);
  put_u32(&w, plan->n_weights);
  for (uint32_t i = 0; i < plan->n_weights; i++) {
    put_tensor_info(&w, &plan->weights[i].info);
    put_u64(&w, plan->weights[i].offset);
    put_u64(&w, plan->weights[i].bytes);
  }
  end_section(&w, at);

  at = begin_section(&w, SECTION_CACHES);
  put_u32(&w, plan->n_caches);
  for (uint32_t i = 0; i < plan->n_caches; i++) {
    put_string(&w, plan->caches[i].name);
    put_u64(&w, plan->caches[i].offset);
    put_u64(&w, plan->caches[i].bytes);
    put_i64(&w, plan->caches[i].row_elems);
  }
  end_section(&w, at);

  at = begin_section(&w, SECTION_ENTRIES);
  put_u32(&w, plan->n_entries);
  for (uint32_t e = 0; e < plan->n_entries; e++) {
    const greta_plan_entry_t *entry = &plan->entries[e];
    put_string(&w, entry->name);
    put_i64(&w, entry->min_tokens);
    put_i64(&w, entry->max_tokens);
    put_u32(&w, entry->n_launches);
    for (uint32_t i = 0; i < entry->n_launches; i++) put_launch(&w, &entry->launches[i]);
  }
  end_section(&w, at);

  if (w.failed) {
    free(w.data);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "plan serialize: out of memory");
  }
  patch_u64(&w, 16, w.size);
  patch_u64(&w, 24, fnv1a64(w.data + HEADER_BYTES, w.size - HEADER_BYTES));
  *out_bytes = w.data;
  *out_size = w.size;
  return NULL;
}

/* ---- reading ------------------------------------------------------------ */

/* A bounds-checked cursor over [pos, end) of `base`. */
typedef struct reader_s {
  const uint8_t *base;
  size_t pos, end;
} reader_t;

static greta_status_t need(reader_t *r, size_t n, const char *what) {
  if (r->end - r->pos < n)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: %s at byte %zu needs %zu bytes, %zu are left", what,
                             r->pos, n, r->end - r->pos);
  return NULL;
}

static greta_status_t get_u32(reader_t *r, uint32_t *out, const char *what) {
  GRETA_RETURN_IF_ERROR(need(r, 4, what));
  const uint8_t *p = r->base + r->pos;
  *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  r->pos += 4;
  return NULL;
}

static greta_status_t get_u64(reader_t *r, uint64_t *out, const char *what) {
  uint32_t lo, hi;
  GRETA_RETURN_IF_ERROR(get_u32(r, &lo, what));
  GRETA_RETURN_IF_ERROR(get_u32(r, &hi, what));
  *out = (uint64_t)lo | (uint64_t)hi << 32;
  return NULL;
}

static greta_status_t get_i64(reader_t *r, int64_t *out, const char *what) {
  uint64_t v;
  GRETA_RETURN_IF_ERROR(get_u64(r, &v, what));
  *out = (int64_t)v;
  return NULL;
}

static greta_status_t get_f32(reader_t *r, float *out, const char *what) {
  uint32_t bits;
  GRETA_RETURN_IF_ERROR(get_u32(r, &bits, what));
  memcpy(out, &bits, sizeof *out);
  return NULL;
}

/* A length-prefixed string, returned NUL-terminated in malloc'd memory. */
static greta_status_t get_string(reader_t *r, char **out, const char *what) {
  *out = NULL;
  uint32_t n;
  GRETA_RETURN_IF_ERROR(get_u32(r, &n, what));
  if (n > MAX_STRING)
    return greta_status_make(GRETA_DATA_LOSS, "%s at byte %zu: length %u exceeds the limit %d",
                             what, r->pos - 4, n, MAX_STRING);
  GRETA_RETURN_IF_ERROR(need(r, n, what));
  if (memchr(r->base + r->pos, 0, n))
    return greta_status_make(GRETA_DATA_LOSS, "%s at byte %zu holds a NUL byte", what, r->pos);
  char *s = malloc((size_t)n + 1);
  if (!s) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  memcpy(s, r->base + r->pos, n);
  s[n] = '\0';
  r->pos += n;
  *out = s;
  return NULL;
}

/* Reads a count and checks that `count` records of at least `min_record`
 * bytes fit in what is left, before anything is allocated for them. */
static greta_status_t get_count(reader_t *r, uint32_t *out, size_t min_record, const char *what) {
  GRETA_RETURN_IF_ERROR(get_u32(r, out, what));
  if ((uint64_t)*out * min_record > r->end - r->pos)
    return greta_status_make(GRETA_DATA_LOSS,
                             "%s = %u needs at least %llu bytes, the section has %zu left", what,
                             *out, (unsigned long long)*out * min_record, r->end - r->pos);
  return NULL;
}

static void *alloc_array(size_t count, size_t size) { return calloc(count ? count : 1, size); }

#define OOM() greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory")

static greta_status_t get_tensor_info(reader_t *r, greta_tensor_info_t *info) {
  char *name;
  GRETA_RETURN_IF_ERROR(get_string(r, &name, "tensor name"));
  info->name = name;
  uint32_t dtype, rank;
  GRETA_RETURN_IF_ERROR(get_u32(r, &dtype, "tensor dtype"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &rank, "tensor rank"));
  if (dtype > GRETA_I32)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: dtype %u is not one of 0..%d", name,
                             dtype, GRETA_I32);
  if (rank > GRETA_MAX_RANK)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: rank %u exceeds %d", name, rank,
                             GRETA_MAX_RANK);
  info->dtype = (greta_dtype_t)dtype;
  info->rank = (int)rank;
  for (uint32_t d = 0; d < rank; d++) {
    GRETA_RETURN_IF_ERROR(get_i64(r, &info->dims[d].coeff, "tensor dim"));
    char *symbol;
    GRETA_RETURN_IF_ERROR(get_string(r, &symbol, "tensor dim symbol"));
    if (symbol[0] == '\0') {
      free(symbol);
      symbol = NULL;
    }
    info->dims[d].symbol = symbol;
  }
  return NULL;
}

static greta_status_t get_launch(reader_t *r, greta_plan_launch_t *l) {
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->op, "launch op"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->kernel, "launch kernel"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->n_args, "launch arg count"));
  if (l->n_args > GRETA_PLAN_MAX_ARGS)
    return greta_status_make(GRETA_DATA_LOSS, "launch at byte %zu: %u args, at most %d allowed",
                             r->pos - 4, l->n_args, GRETA_PLAN_MAX_ARGS);
  for (uint32_t i = 0; i < l->n_args; i++) {
    GRETA_RETURN_IF_ERROR(get_u32(r, &l->args[i].space, "launch arg space"));
    GRETA_RETURN_IF_ERROR(get_u64(r, &l->args[i].offset, "launch arg offset"));
  }
  int64_t ints[GRETA_PLAN_MAX_ATTRS];
  float floats[GRETA_PLAN_MAX_FATTRS];
  for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++)
    GRETA_RETURN_IF_ERROR(get_i64(r, &ints[i], "launch attr"));
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++)
    GRETA_RETURN_IF_ERROR(get_f32(r, &floats[i], "launch float attr"));
  GRETA_RETURN_IF_ERROR(greta_op_attrs_unpack(l->op, ints, floats, &l->attr));
  GRETA_RETURN_IF_ERROR(get_i64(r, &l->rows_coeff, "launch rows_coeff"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->rows_per_token, "launch rows_per_token"));
  for (int i = 0; i < 3; i++) GRETA_RETURN_IF_ERROR(get_u32(r, &l->grid[i], "launch grid"));
  for (int i = 0; i < 3; i++) GRETA_RETURN_IF_ERROR(get_u32(r, &l->block[i], "launch block"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->grid_t_axis, "launch grid_t_axis"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->grid_t_per_token, "launch grid_t_per_token"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->grid_t_tile, "launch grid_t_tile"));
  GRETA_RETURN_IF_ERROR(get_u32(r, &l->shared_bytes, "launch shared_bytes"));
  return NULL;
}

/* Smallest encodings, used to bound counts before allocating. */
enum {
  MIN_STRING = 4,
  MIN_TENSOR_INFO = MIN_STRING + 8,
  MIN_LAUNCH = 12 + 8 * GRETA_PLAN_MAX_ATTRS + 16 + 12 + 24 + 16,
  MIN_ENTRY = MIN_STRING + 20,
};

static greta_status_t decode_section(reader_t *r, uint32_t tag, greta_plan_t *plan) {
  switch (tag) {
    case SECTION_META:
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->target, "target"));
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->toolchain, "toolchain"));
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->model_name, "model name"));
      GRETA_RETURN_IF_ERROR(get_i64(r, &plan->max_seq, "max_seq"));
      GRETA_RETURN_IF_ERROR(get_i64(r, &plan->max_tokens, "max_tokens"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->arena_bytes, "arena_bytes"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weight_bytes, "weight_bytes"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->kv_bytes, "kv_bytes"));
      return NULL;
    case SECTION_KERNELS:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_kernels, MIN_STRING, "kernel count"));
      if (!(plan->kernels = alloc_array(plan->n_kernels, sizeof *plan->kernels))) return OOM();
      for (uint32_t i = 0; i < plan->n_kernels; i++)
        GRETA_RETURN_IF_ERROR(get_string(r, &plan->kernels[i], "kernel name"));
      return NULL;
    case SECTION_INPUTS:
    case SECTION_OUTPUTS: {
      uint32_t *count = tag == SECTION_INPUTS ? &plan->n_inputs : &plan->n_outputs;
      greta_plan_io_t **ios = tag == SECTION_INPUTS ? &plan->inputs : &plan->outputs;
      GRETA_RETURN_IF_ERROR(get_count(r, count, MIN_TENSOR_INFO + 8, "input/output count"));
      if (!(*ios = alloc_array(*count, sizeof **ios))) return OOM();
      for (uint32_t i = 0; i < *count; i++) {
        GRETA_RETURN_IF_ERROR(get_tensor_info(r, &(*ios)[i].info));
        GRETA_RETURN_IF_ERROR(get_u64(r, &(*ios)[i].offset, "input/output offset"));
      }
      return NULL;
    }
    case SECTION_WEIGHTS:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_weights, MIN_TENSOR_INFO + 16, "weight count"));
      if (!(plan->weights = alloc_array(plan->n_weights, sizeof *plan->weights))) return OOM();
      for (uint32_t i = 0; i < plan->n_weights; i++) {
        GRETA_RETURN_IF_ERROR(get_tensor_info(r, &plan->weights[i].info));
        GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weights[i].offset, "weight offset"));
        GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weights[i].bytes, "weight bytes"));
      }
      return NULL;
    case SECTION_CACHES:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_caches, MIN_STRING + 24, "cache count"));
      if (!(plan->caches = alloc_array(plan->n_caches, sizeof *plan->caches))) return OOM();
      for (uint32_t i = 0; i < plan->n_caches; i++) {
        greta_plan_cache_t *c = &plan->caches[i];
        GRETA_RETURN_IF_ERROR(get_string(r, &c->name, "cache name"));
        GRETA_RETURN_IF_ERROR(get_u64(r, &c->offset, "cache offset"));
        GRETA_RETURN_IF_ERROR(get_u64(r, &c->bytes, "cache bytes"));
        GRETA_RETURN_IF_ERROR(get_i64(r, &c->row_elems, "cache row_elems"));
      }
      return NULL;
    case SECTION_ENTRIES:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_entries, MIN_ENTRY, "entry count"));
      if (!(plan->entries = alloc_array(plan->n_entries, sizeof *plan->entries))) return OOM();
      for (uint32_t e = 0; e < plan->n_entries; e++) {
        greta_plan_entry_t *entry = &plan->entries[e];
        GRETA_RETURN_IF_ERROR(get_string(r, &entry->name, "entry name"));
        GRETA_RETURN_IF_ERROR(get_i64(r, &entry->min_tokens, "entry min_tokens"));
        GRETA_RETURN_IF_ERROR(get_i64(r, &entry->max_tokens, "entry max_tokens"));
        GRETA_RETURN_IF_ERROR(get_count(r, &entry->n_launches, MIN_LAUNCH, "launch count"));
        if (!(entry->launches = alloc_array(entry->n_launches, sizeof *entry->launches)))
          return OOM();
        for (uint32_t i = 0; i < entry->n_launches; i++)
          GRETA_RETURN_IF_ERROR(greta_status_annotate(get_launch(r, &entry->launches[i]),
                                                      "entry %u launch %u", e, i));
      }
      return NULL;
  }
  return greta_status_make(GRETA_DATA_LOSS, "unknown section tag %u", tag);
}

static greta_status_t decode(const uint8_t *bytes, size_t size, greta_plan_t *plan) {
  if (size < HEADER_BYTES)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: a plan header is %d bytes, found %zu bytes",
                             HEADER_BYTES, size);
  if (memcmp(bytes, GRETA_PLAN_MAGIC, 8) != 0) {
    char found[8 * 4 + 1];
    for (int i = 0; i < 8; i++) {
      unsigned char c = bytes[i];
      found[i] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    found[8] = '\0';
    return greta_status_make(GRETA_DATA_LOSS, "bad magic: expected \"%s\", found \"%s\"",
                             GRETA_PLAN_MAGIC, found);
  }
  reader_t r = {bytes, 8, HEADER_BYTES};
  uint32_t version, header_bytes;
  uint64_t total, checksum;
  GRETA_RETURN_IF_ERROR(get_u32(&r, &version, "version"));
  GRETA_RETURN_IF_ERROR(get_u32(&r, &header_bytes, "header size"));
  GRETA_RETURN_IF_ERROR(get_u64(&r, &total, "total size"));
  GRETA_RETURN_IF_ERROR(get_u64(&r, &checksum, "checksum"));
  if (version != GRETA_PLAN_VERSION)
    return greta_status_make(GRETA_DATA_LOSS,
                             "unsupported plan version %u: this libgreta reads version %d "
                             "(recompile the model with a matching gretac)",
                             version, GRETA_PLAN_VERSION);
  if (header_bytes != HEADER_BYTES)
    return greta_status_make(GRETA_DATA_LOSS, "header size is %u, expected %d", header_bytes,
                             HEADER_BYTES);
  if (total < HEADER_BYTES || total > size)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: the header says the plan is %llu bytes, found %zu",
                             (unsigned long long)total, size);
  uint64_t actual = fnv1a64(bytes + HEADER_BYTES, (size_t)total - HEADER_BYTES);
  if (actual != checksum)
    return greta_status_make(GRETA_DATA_LOSS,
                             "checksum mismatch: the header says %016llx, the bytes hash to "
                             "%016llx (FNV-1a 64); the file is corrupt",
                             (unsigned long long)checksum, (unsigned long long)actual);

  r.end = (size_t)total;
  for (uint32_t expected = SECTION_META; expected < SECTION_COUNT_; expected++) {
    uint32_t tag, reserved;
    uint64_t length;
    GRETA_RETURN_IF_ERROR(get_u32(&r, &tag, "section tag"));
    GRETA_RETURN_IF_ERROR(get_u32(&r, &reserved, "section reserved word"));
    GRETA_RETURN_IF_ERROR(get_u64(&r, &length, "section length"));
    if (tag != expected || reserved != 0)
      return greta_status_make(GRETA_DATA_LOSS,
                               "section at byte %zu: expected tag %u (%s) and reserved 0, found "
                               "tag %u and reserved %u",
                               r.pos - 16, expected, section_names[expected], tag, reserved);
    if (length > r.end - r.pos)
      return greta_status_make(GRETA_DATA_LOSS,
                               "section %s: length %llu runs past the plan's end (%zu bytes left)",
                               section_names[tag], (unsigned long long)length, r.end - r.pos);
    reader_t section = {bytes, r.pos, r.pos + (size_t)length};
    GRETA_RETURN_IF_ERROR(greta_status_annotate(decode_section(&section, tag, plan),
                                                "section %s", section_names[tag]));
    if (section.pos != section.end)
      return greta_status_make(GRETA_DATA_LOSS,
                               "section %s: %zu bytes are left over after its contents",
                               section_names[tag], section.end - section.pos);
    r.pos = section.end;
  }
  if (r.pos != r.end)
    return greta_status_make(GRETA_DATA_LOSS,
                             "%zu bytes follow the last section, expected none", r.end - r.pos);
  return NULL;
}

greta_status_t greta_plan_parse(const uint8_t *bytes, size_t size, greta_plan_t **out_plan) {
  *out_plan = NULL;
  greta_plan_t *plan = calloc(1, sizeof *plan);
  if (!plan) return OOM();
  greta_status_t status = decode(bytes, size, plan);
  if (!status) status = verify(plan);
  if (status) {
    greta_plan_destroy(plan);
    return greta_status_annotate(status, "plan");
  }
  *out_plan = plan;
  return NULL;
}

static void tensor_info_deinit(greta_tensor_info_t *info) {
  free((char *)info->name);
  for (int d = 0; d < GRETA_MAX_RANK; d++) free((char *)info->dims[d].symbol);
}

void greta_plan_destroy(greta_plan_t *plan) {
  if (!plan) return;
  free(plan->target);
  free(plan->toolchain);
  free(plan->model_name);
  if (plan->kernels)
    for (uint32_t i = 0; i < plan->n_kernels; i++) free(plan->kernels[i]);
  free(plan->kernels);
  if (plan->inputs)
    for (uint32_t i = 0; i < plan->n_inputs; i++) tensor_info_deinit(&plan->inputs[i].info);
  free(plan->inputs);
  if (plan->outputs)
    for (uint32_t i = 0; i < plan->n_outputs; i++) tensor_info_deinit(&plan->outputs[i].info);
  free(plan->outputs);
  if (plan->weights)
    for (uint32_t i = 0; i < plan->n_weights; i++) tensor_info_deinit(&plan->weights[i].info);
  free(plan->weights);
  if (plan->caches)
    for (uint32_t i = 0; i < plan->n_caches; i++) free(plan->caches[i].name);
  free(plan->caches);
  if (plan->entries)
    for (uint32_t e = 0; e < plan->n_entries; e++) {
      free(plan->entries[e].name);
      free(plan->entries[e].launches);
    }
  free(plan->entries);
  free(plan);
}

/* ---- verification --------------------------------------------------------- */

/* a * b into *acc; false on a negative factor or overflow. */
static bool mul_into(uint64_t *acc, int64_t factor) {
  if (factor < 0) return false;
  return !__builtin_mul_overflow(*acc, (uint64_t)factor, acc);
}

/* The product of up to four factors (pass 1 for unused ones). */
static bool product(uint64_t *out, int64_t a, int64_t b, int64_t c, int64_t d) {
  *out = 1;
  return mul_into(out, a) && mul_into(out, b) && mul_into(out, c) && mul_into(out, d);
}

static bool is_identifier(const char *s) {
  if (!s || !s[0] || strlen(s) > 255) return false;
  for (const char *p = s; *p; p++) {
    bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
              (p != s && *p >= '0' && *p <= '9');
    if (!ok) return false;
  }
  return true;
}

static const char *space_name(uint32_t space) {
  switch (space) {
    case GRETA_SPACE_ARENA: return "arena";
    case GRETA_SPACE_WEIGHTS: return "weights";
    case GRETA_SPACE_KV: return "kv";
  }
  return "?";
}

static uint64_t space_bytes(const greta_plan_t *plan, uint32_t space) {
  switch (space) {
    case GRETA_SPACE_ARENA: return plan->arena_bytes;
    case GRETA_SPACE_WEIGHTS: return plan->weight_bytes;
    case GRETA_SPACE_KV: return plan->kv_bytes;
  }
  return 0;
}

/* Checks one tensor of the interface. `symbolic_ok`: dims[0] may be T. */
static greta_status_t verify_tensor(const greta_tensor_info_t *info, bool symbolic_ok,
                                    int64_t max_tokens, uint64_t *out_bytes) {
  if (!info->name || !info->name[0])
    return greta_status_make(GRETA_DATA_LOSS, "a tensor has an empty name");
  if ((unsigned)info->dtype > GRETA_I32)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: dtype %d is not one of 0..%d",
                             info->name, (int)info->dtype, GRETA_I32);
  if (info->rank < 1 || info->rank > GRETA_MAX_RANK)
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: rank %d, expected 1..%d", info->name,
                             info->rank, GRETA_MAX_RANK);
  uint64_t elems = 1;
  for (int d = 0; d < info->rank; d++) {
    const greta_dim_t *dim = &info->dims[d];
    if (dim->symbol && (d != 0 || !symbolic_ok || strcmp(dim->symbol, "T") != 0))
      return greta_status_make(GRETA_DATA_LOSS,
                               "tensor %s: dim %d is symbolic \"%s\"; only dim 0 of an input "
                               "or output may be, and only as \"T\"",
                               info->name, d, dim->symbol);
    if (dim->coeff < 1)
      return greta_status_make(GRETA_DATA_LOSS, "tensor %s: dim %d is %lld, expected >= 1",
                               info->name, d, (long long)dim->coeff);
    if (!mul_into(&elems, dim->coeff) || (dim->symbol && !mul_into(&elems, max_tokens)))
      return greta_status_make(GRETA_DATA_LOSS, "tensor %s: its size overflows", info->name);
  }
  if (!mul_into(&elems, (int64_t)greta_dtype_size(info->dtype)))
    return greta_status_make(GRETA_DATA_LOSS, "tensor %s: its size overflows", info->name);
  *out_bytes = elems;
  return NULL;
}

static greta_status_t verify_range(const char *what, const char *name, uint64_t offset,
                                   uint64_t bytes, uint64_t space, const char *space_label) {
  if (offset > space || bytes > space - offset)
    return greta_status_make(GRETA_DATA_LOSS,
                             "%s %s: bytes [%llu, %llu + %llu) lie outside the %s of %llu bytes",
                             what, name, (unsigned long long)offset, (unsigned long long)offset,
                             (unsigned long long)bytes, space_label, (unsigned long long)space);
  return NULL;
}

/* What verify_launch knows about the launch it checks. */
typedef struct launch_ctx_s {
  const greta_plan_t *plan;
  const greta_plan_launch_t *launch;
  int64_t tokens; /* the entry's max_tokens: every extent grows with T */
  int64_t rows;   /* "rows" at that T */
} launch_ctx_t;

/* Attribute `name` (= value) must be >= min. */
static greta_status_t need_attr(const char *name, int64_t value, int64_t min) {
  if (value < min)
    return greta_status_make(GRETA_DATA_LOSS, "%s is %lld, expected >= %lld", name,
                             (long long)value, (long long)min);
  return NULL;
}
#define NEED(attr, min) need_attr(#attr, a->attr, (min))

/* Arg `index` touches `elems` elements of `elem_bytes`; `writes` when the op
 * stores to it. The whole extent must lie inside the arg's space. */
static greta_status_t need_arg(const launch_ctx_t *c, int index, const char *meaning,
                               uint64_t elems, size_t elem_bytes, bool writes) {
  const greta_plan_buffer_t *arg = &c->launch->args[index];
  if (arg->space > GRETA_SPACE_KV)
    return greta_status_make(GRETA_DATA_LOSS, "arg %d (%s): space %u is not one of 0..%d", index,
                             meaning, arg->space, GRETA_SPACE_KV);
  if (writes && arg->space == GRETA_SPACE_WEIGHTS)
    return greta_status_make(GRETA_DATA_LOSS,
                             "arg %d (%s) is written but lies in the read-only weights space",
                             index, meaning);
  uint64_t bytes = elems;
  if (!mul_into(&bytes, (int64_t)elem_bytes))
    return greta_status_make(GRETA_DATA_LOSS, "arg %d (%s): its size overflows", index, meaning);
  uint64_t space = space_bytes(c->plan, arg->space);
  if (arg->offset > space || bytes > space - arg->offset)
    return greta_status_make(
        GRETA_DATA_LOSS,
        "arg %d (%s): bytes [%llu, %llu + %llu) at T = %lld lie outside the %s space of %llu "
        "bytes",
        index, meaning, (unsigned long long)arg->offset, (unsigned long long)arg->offset,
        (unsigned long long)bytes, (long long)c->tokens, space_name(arg->space),
        (unsigned long long)space);
  return NULL;
}

#define OVERFLOW() greta_status_make(GRETA_DATA_LOSS, "its sizes overflow")

/* The op-specific part: attrs, then every arg's extent. */
static greta_status_t verify_op(const launch_ctx_t *c) {
  const greta_plan_launch_t *l = c->launch;
  const greta_op_attrs_t *a = &l->attr;
  const int64_t T = c->tokens, R = c->rows;
  size_t wsize = 0;
  uint64_t n1, n2, n3;
  if (l->op == GRETA_OP_EMBEDDING || l->op == GRETA_OP_RMSNORM || l->op == GRETA_OP_MATMUL) {
    if (a->wdtype < GRETA_F32 || a->wdtype > GRETA_BF16)
      return greta_status_make(GRETA_DATA_LOSS, "wdtype (weight dtype) is %lld, expected 0..2",
                               (long long)a->wdtype);
    wsize = greta_dtype_size((greta_dtype_t)a->wdtype);
  }
  switch ((greta_op_t)l->op) {
    case GRETA_OP_EMBEDDING:
      GRETA_RETURN_IF_ERROR(NEED(vocab, 1));
      GRETA_RETURN_IF_ERROR(NEED(dim, 1));
      if (!product(&n1, a->vocab, a->dim, 1, 1) || !product(&n2, T, a->dim, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "tokens", (uint64_t)T, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "table", n1, wsize, false));
      return need_arg(c, 2, "out", n2, 4, true);
    case GRETA_OP_RMSNORM:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "weight", (uint64_t)a->n, wsize, false));
      return need_arg(c, 2, "out", n1, 4, true);
    case GRETA_OP_MATMUL:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      GRETA_RETURN_IF_ERROR(NEED(k, 1));
      if (a->transpose_b != 0 && a->transpose_b != 1)
        return greta_status_make(GRETA_DATA_LOSS, "transpose_b is %lld, expected 0 or 1",
                                 (long long)a->transpose_b);
      if (a->residual != 0 && a->residual != 1)
        return greta_status_make(GRETA_DATA_LOSS, "residual is %lld, expected 0 or 1",
                                 (long long)a->residual);
      if (!product(&n1, R, a->k, 1, 1) || !product(&n2, a->n, a->k, 1, 1) ||
          !product(&n3, R, a->n, 1, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "B", n2, wsize, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 2, "out", n3, 4, true));
      return a->residual ? need_arg(c, 3, "residual", n3, 4, false) : NULL;
    case GRETA_OP_ROPE:
      GRETA_RETURN_IF_ERROR(NEED(heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 2));
      if (a->head_dim % 2 != 0)
        return greta_status_make(GRETA_DATA_LOSS, "head_dim is %lld, expected an even number",
                                 (long long)a->head_dim);
      if (!product(&n1, T, a->heads, a->head_dim, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_KV_APPEND:
      GRETA_RETURN_IF_ERROR(NEED(kv_heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 1));
      GRETA_RETURN_IF_ERROR(NEED(max_seq, c->plan->max_seq));
      if (!product(&n1, T, a->kv_heads, a->head_dim, 1) ||
          !product(&n2, a->max_seq, a->kv_heads, a->head_dim, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "src", n1, 4, false));
      return need_arg(c, 1, "cache", n2, 4, true);
    case GRETA_OP_ATTENTION:
    case GRETA_OP_ATTENTION_SPLIT: {
      GRETA_RETURN_IF_ERROR(NEED(heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(kv_heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 1));
      GRETA_RETURN_IF_ERROR(NEED(max_seq, c->plan->max_seq));
      if (a->heads % a->kv_heads != 0)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "heads = %lld is not a multiple of kv_heads = %lld",
                                 (long long)a->heads, (long long)a->kv_heads);
      if (!product(&n1, T, a->heads, a->head_dim, 1) ||
          !product(&n2, a->max_seq, a->kv_heads, a->head_dim, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "q", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "k cache", n2, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 2, "v cache", n2, 4, false));
      if (l->op == GRETA_OP_ATTENTION) return need_arg(c, 3, "out", n1, 4, true);
      GRETA_RETURN_IF_ERROR(NEED(splits, 1));
      GRETA_RETURN_IF_ERROR(NEED(split_rows, 1));
      if (!product(&n3, T, a->heads, a->splits, a->head_dim + 2)) return OVERFLOW();
      return need_arg(c, 3, "partial", n3, 4, true);
    }
    case GRETA_OP_ATTENTION_COMBINE:
      GRETA_RETURN_IF_ERROR(NEED(heads, 1));
      GRETA_RETURN_IF_ERROR(NEED(head_dim, 1));
      GRETA_RETURN_IF_ERROR(NEED(splits, 1));
      if (a->head_dim > INT64_MAX - 2 || !product(&n1, T, a->heads, a->splits, a->head_dim + 2) ||
          !product(&n2, T, a->heads, a->head_dim, 1))
        return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "partial", n1, 4, false));
      return need_arg(c, 1, "out", n2, 4, true);
    case GRETA_OP_SILU:
    case GRETA_OP_SCALE:
    case GRETA_OP_SOFTMAX:
    case GRETA_OP_COPY:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_SILU_MUL:
    case GRETA_OP_ADD:
    case GRETA_OP_MUL:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      if (!product(&n1, R, a->n, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "a", n1, 4, false));
      GRETA_RETURN_IF_ERROR(need_arg(c, 1, "b", n1, 4, false));
      return need_arg(c, 2, "out", n1, 4, true);
    case GRETA_OP_CAUSAL_MASK:
    case GRETA_OP_MASKED_SOFTMAX:
      GRETA_RETURN_IF_ERROR(NEED(n, 1));
      GRETA_RETURN_IF_ERROR(NEED(inner, 1));
      if (!product(&n1, T, a->inner, a->n, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_TRANSPOSE:
      GRETA_RETURN_IF_ERROR(NEED(in_rows, 1));
      GRETA_RETURN_IF_ERROR(NEED(in_cols, 1));
      /* batch = rows / in_rows at run time, so in_rows must divide rows at every T. */
      if (l->rows_coeff % a->in_rows != 0)
        return greta_status_make(GRETA_DATA_LOSS,
                                 "in_rows = %lld does not divide rows_coeff = %lld",
                                 (long long)a->in_rows, (long long)l->rows_coeff);
      if (!product(&n1, R, a->in_cols, 1, 1)) return OVERFLOW();
      GRETA_RETURN_IF_ERROR(need_arg(c, 0, "x", n1, 4, false));
      return need_arg(c, 1, "out", n1, 4, true);
    case GRETA_OP_COUNT_: break;
  }
  return greta_status_make(GRETA_DATA_LOSS, "unknown op %u", l->op);
}

/* ops.def's operands: the optional one (matmul's residual) when its attribute says so. */
static uint32_t expected_args(const greta_plan_launch_t *l) {
  uint32_t min, max;
  greta_op_operand_count(l->op, &min, &max);
  return l->op == GRETA_OP_MATMUL && l->attr.residual == 1 ? max : min;
}

static bool is_cpu_target(const greta_plan_t *plan) { return strcmp(plan->target, "cpu") == 0; }

/* Launch geometry, checked for GPU targets only (the CPU ignores it). */
static greta_status_t verify_geometry(const greta_plan_launch_t *l, int64_t max_tokens) {
  uint64_t threads = 1;
  for (int i = 0; i < 3; i++) {
    if (l->grid[i] < 1 || l->block[i] < 1)
      return greta_status_make(GRETA_DATA_LOSS,
                               "launch dims grid (%u, %u, %u) block (%u, %u, %u): every one "
                               "must be >= 1",
                               l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1],
                               l->block[2]);
    threads *= l->block[i];
  }
  if (threads > MAX_BLOCK_THREADS)
    return greta_status_make(GRETA_DATA_LOSS,
                             "block (%u, %u, %u) has %llu threads, at most %d allowed",
                             l->block[0], l->block[1], l->block[2], (unsigned long long)threads,
                             MAX_BLOCK_THREADS);
  if (l->grid_t_axis > 3)
    return greta_status_make(GRETA_DATA_LOSS, "grid_t_axis is %u, expected 0..2 or 3 (none)",
                             l->grid_t_axis);
  if (l->grid_t_axis < 3) {
    if (l->grid_t_per_token < 1 || l->grid_t_tile < 1)
      return greta_status_make(GRETA_DATA_LOSS,
                               "grid_t_per_token = %u and grid_t_tile = %u, expected both >= 1",
                               l->grid_t_per_token, l->grid_t_tile);
    uint64_t blocks = ((uint64_t)max_tokens * l->grid_t_per_token + l->grid_t_tile - 1) /
                      l->grid_t_tile;
    uint64_t limit = l->grid_t_axis == 0 ? INT32_MAX : 65535;
    if (blocks > limit)
      return greta_status_make(GRETA_DATA_LOSS,
                               "grid axis %u grows to %llu blocks at T = %lld, at most %llu "
                               "allowed",
                               l->grid_t_axis, (unsigned long long)blocks, (long long)max_tokens,
                               (unsigned long long)limit);
  }
  if (l->grid[1] > 65535 || l->grid[2] > 65535 || l->grid[0] > INT32_MAX)
    return greta_status_make(GRETA_DATA_LOSS, "grid (%u, %u, %u) exceeds (2^31-1, 65535, 65535)",
                             l->grid[0], l->grid[1], l->grid[2]);
  return NULL;
}

static greta_status_t verify_launch(const greta_plan_t *plan, const greta_plan_entry_t *entry,
                                    const greta_plan_launch_t *l) {
  if (l->op < 1 || l->op >= GRETA_OP_COUNT_)
    return greta_status_make(GRETA_DATA_LOSS, "op %u is not one of 1..%d", l->op,
                             GRETA_OP_COUNT_ - 1);
  /* A CPU plan may have no kernel table at all. */
  if ((plan->n_kernels > 0 || !is_cpu_target(plan)) && l->kernel >= plan->n_kernels)
    return greta_status_make(GRETA_DATA_LOSS, "kernel index %u is out of range (%u kernels)",
                             l->kernel, plan->n_kernels);
  uint32_t n_args = expected_args(l);
  if (l->n_args != n_args)
    return greta_status_make(GRETA_DATA_LOSS, "%u args, expected %u for %s", l->n_args, n_args,
                             greta_op_name(l->op));
  if (l->rows_per_token > 1)
    return greta_status_make(GRETA_DATA_LOSS, "rows_per_token is %u, expected 0 or 1",
                             l->rows_per_token);
  launch_ctx_t c = {plan, l, entry->max_tokens, 0};
  bool uses_rows = l->op == GRETA_OP_RMSNORM || l->op == GRETA_OP_MATMUL ||
                   l->op == GRETA_OP_SILU || l->op == GRETA_OP_SILU_MUL || l->op == GRETA_OP_ADD ||
                   l->op == GRETA_OP_MUL || l->op == GRETA_OP_SCALE || l->op == GRETA_OP_SOFTMAX ||
                   l->op == GRETA_OP_TRANSPOSE || l->op == GRETA_OP_COPY;
  if (uses_rows) {
    if (l->rows_coeff < 1)
      return greta_status_make(GRETA_DATA_LOSS, "rows_coeff is %lld, expected >= 1",
                               (long long)l->rows_coeff);
    if (__builtin_mul_overflow(l->rows_coeff, l->rows_per_token ? entry->max_tokens : 1,
                               &c.rows))
      return OVERFLOW();
  }
  GRETA_RETURN_IF_ERROR(verify_op(&c));
  if (!is_cpu_target(plan)) GRETA_RETURN_IF_ERROR(verify_geometry(l, entry->max_tokens));
  return NULL;
}

static greta_status_t verify_ios(const greta_plan_t *plan, const greta_plan_io_t *ios,
                                 uint32_t count, const char *what) {
  for (uint32_t i = 0; i < count; i++) {
    uint64_t bytes;
    GRETA_RETURN_IF_ERROR(greta_status_annotate(
        verify_tensor(&ios[i].info, true, plan->max_tokens, &bytes), "%s %u", what, i));
    GRETA_RETURN_IF_ERROR(verify_range(what, ios[i].info.name, ios[i].offset, bytes,
                                       plan->arena_bytes, "arena"));
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(ios[i].info.name, ios[j].info.name) == 0)
        return greta_status_make(GRETA_DATA_LOSS, "%s %u and %u are both named %s", what, j, i,
                                 ios[i].info.name);
  }
  return NULL;
}

static greta_status_t verify(const greta_plan_t *plan) {
  if (!plan->target || !plan->target[0] || strlen(plan->target) >= 64)
    return greta_status_make(GRETA_DATA_LOSS, "the target ID must be 1..63 characters");
  if (!plan->toolchain || !plan->model_name)
    return greta_status_make(GRETA_DATA_LOSS, "toolchain and model name must be set");
  if (plan->max_seq < 1 || plan->max_tokens < 1 || plan->max_tokens > plan->max_seq)
    return greta_status_make(GRETA_DATA_LOSS,
                             "max_seq = %lld and max_tokens = %lld, expected "
                             "1 <= max_tokens <= max_seq",
                             (long long)plan->max_seq, (long long)plan->max_tokens);
  if (plan->max_seq > INT32_MAX)
    return greta_status_make(GRETA_DATA_LOSS, "max_seq = %lld exceeds 2^31-1 (positions are i32)",
                             (long long)plan->max_seq);
  for (uint32_t i = 0; i < plan->n_kernels; i++)
    if (!is_identifier(plan->kernels[i]))
      return greta_status_make(GRETA_DATA_LOSS,
                               "kernel %u: name \"%s\" is not a C identifier of 1..255 chars", i,
                               plan->kernels[i] ? plan->kernels[i] : "");
  GRETA_RETURN_IF_ERROR(verify_ios(plan, plan->inputs, plan->n_inputs, "input"));
  GRETA_RETURN_IF_ERROR(verify_ios(plan, plan->outputs, plan->n_outputs, "output"));

  for (uint32_t i = 0; i < plan->n_weights; i++) {
    const greta_plan_weight_t *w = &plan->weights[i];
    uint64_t bytes;
    GRETA_RETURN_IF_ERROR(greta_status_annotate(verify_tensor(&w->info, false, 1, &bytes),
                                                "weight %u", i));
    if (bytes != w->bytes)
      return greta_status_make(GRETA_DATA_LOSS,
                               "weight %s: its shape and dtype make %llu bytes, the plan says %llu",
                               w->info.name, (unsigned long long)bytes,
                               (unsigned long long)w->bytes);
    GRETA_RETURN_IF_ERROR(
        verify_range("weight", w->info.name, w->offset, w->bytes, plan->weight_bytes, "weights"));
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(w->info.name, plan->weights[j].info.name) == 0)
        return greta_status_make(GRETA_DATA_LOSS, "weights %u and %u are both named %s", j, i,
                                 w->info.name);
  }

  for (uint32_t i = 0; i < plan->n_caches; i++) {
    const greta_plan_cache_t *cache = &plan->caches[i];
    uint64_t bytes;
    if (!cache->name || !cache->name[0])
      return greta_status_make(GRETA_DATA_LOSS, "cache %u has an empty name", i);
    if (cache->row_elems < 1 || !product(&bytes, plan->max_seq, cache->row_elems, 4, 1) ||
        bytes != cache->bytes)
      return greta_status_make(GRETA_DATA_LOSS,
                               "cache %s: %llu bytes, expected max_seq %lld * row_elems %lld * 4",
                               cache->name, (unsigned long long)cache->bytes,
                               (long long)plan->max_seq, (long long)cache->row_elems);
    GRETA_RETURN_IF_ERROR(
        verify_range("cache", cache->name, cache->offset, cache->bytes, plan->kv_bytes, "kv space"));
  }

  if (plan->n_entries < 1)
    return greta_status_make(GRETA_DATA_LOSS, "the plan has no entry (expected decode/prefill)");
  for (uint32_t e = 0; e < plan->n_entries; e++) {
    const greta_plan_entry_t *entry = &plan->entries[e];
    if (!entry->name || !entry->name[0])
      return greta_status_make(GRETA_DATA_LOSS, "entry %u has an empty name", e);
    if (entry->min_tokens < 1 || entry->min_tokens > entry->max_tokens ||
        entry->max_tokens > plan->max_tokens)
      return greta_status_make(GRETA_DATA_LOSS,
                               "entry %s: tokens %lld..%lld, expected 1 <= min <= max <= "
                               "max_tokens %lld",
                               entry->name, (long long)entry->min_tokens,
                               (long long)entry->max_tokens, (long long)plan->max_tokens);
    if (entry->n_launches > 0 && !entry->launches)
      return greta_status_make(GRETA_DATA_LOSS, "entry %s has no launch array", entry->name);
    for (uint32_t i = 0; i < entry->n_launches; i++)
      GRETA_RETURN_IF_ERROR(
          greta_status_annotate(verify_launch(plan, entry, &entry->launches[i]),
                                "entry %s launch %u (%s)", entry->name, i,
                                greta_op_name(entry->launches[i].op)));
  }
  return NULL;
}

/* ---- queries ------------------------------------------------------------ */

greta_status_t greta_plan_locate(const uint8_t *file, size_t size, const uint8_t **out_plan,
                                 size_t *out_plan_size) {
  *out_plan = NULL;
  *out_plan_size = 0;
  if (size >= 8 && memcmp(file, GRETA_PLAN_MAGIC, 8) == 0) {
    *out_plan = file;
    *out_plan_size = size;
    return NULL;
  }
  if (greta_elf_is_elf(file, size)) {
    greta_status_t status =
        greta_elf_find_symbol(file, size, GRETA_PLAN_SYMBOL, out_plan, out_plan_size);
    if (greta_status_code(status) == GRETA_NOT_FOUND) {
      greta_status_free(status);
      return greta_status_make(GRETA_DATA_LOSS,
                               "the code object holds no %s symbol: it was not written by "
                               "gretac",
                               GRETA_PLAN_SYMBOL);
    }
    return status;
  }
  return greta_status_make(GRETA_DATA_LOSS,
                           "not a greta model: expected an ELF code object or a plan starting "
                           "with \"%s\" (%zu bytes read)",
                           GRETA_PLAN_MAGIC, size);
}

const greta_plan_entry_t *greta_plan_entry_for(const greta_plan_t *plan, int64_t tokens) {
  for (uint32_t e = 0; e < plan->n_entries; e++)
    if (plan->entries[e].min_tokens <= tokens && tokens <= plan->entries[e].max_tokens)
      return &plan->entries[e];
  return NULL;
}

void greta_plan_launch_grid(const greta_plan_launch_t *launch, int64_t tokens,
                            uint32_t out_grid[3]) {
  for (int i = 0; i < 3; i++) out_grid[i] = launch->grid[i];
  if (launch->grid_t_axis < 3) {
    uint64_t tile = launch->grid_t_tile ? launch->grid_t_tile : 1;
    uint64_t t = tokens > 0 ? (uint64_t)tokens : 0;
    uint64_t blocks = (t * launch->grid_t_per_token + tile - 1) / tile;
    out_grid[launch->grid_t_axis] = blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks;
  }
}
