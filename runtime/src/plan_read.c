/* The plan reader: greta_plan_parse() decodes untrusted plan bytes into a
 * greta_plan_t with a bounds-checked cursor (every count is checked against
 * the bytes left before anything is allocated), then hands the result to
 * greta_plan_verify() (plan_verify.c) for the checks of its meaning.
 * greta_plan_locate() finds those bytes in a compiled file, through elf.c's
 * symbol reader. Decoding is kept apart from verification: it knows the byte
 * layout, the verifier knows what the fields mean.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "elf.h"
#include "hash.h"
#include "le.h"
#include "plan.h"
#include "status.h"

enum { MAX_STRING = 4096 };

static const char *const section_names[GRETA_PLAN_SECTION_COUNT_] = {
    "?", "meta", "kernels", "inputs", "outputs", "weights", "caches", "entries"};

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
  *out = le_u32(r->base + r->pos);
  r->pos += 4;
  return NULL;
}

/* Two checked u32 reads rather than one le_u64, so that a u64 cut short
 * reports the same byte position and count as before. */
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
  MIN_LAUNCH = 12 + 8 * GRETA_PLAN_MAX_ATTRS + 4 * GRETA_PLAN_MAX_FATTRS + 12 + 24 + 16,
  MIN_ENTRY = MIN_STRING + 20,
};

static greta_status_t decode_section(reader_t *r, uint32_t tag, greta_plan_t *plan) {
  switch (tag) {
    case GRETA_PLAN_SECTION_META:
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->target, "target"));
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->toolchain, "toolchain"));
      GRETA_RETURN_IF_ERROR(get_string(r, &plan->model_name, "model name"));
      GRETA_RETURN_IF_ERROR(get_i64(r, &plan->max_seq, "max_seq"));
      GRETA_RETURN_IF_ERROR(get_i64(r, &plan->max_tokens, "max_tokens"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->arena_bytes, "arena_bytes"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weight_bytes, "weight_bytes"));
      GRETA_RETURN_IF_ERROR(get_u64(r, &plan->kv_bytes, "kv_bytes"));
      return NULL;
    case GRETA_PLAN_SECTION_KERNELS:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_kernels, MIN_STRING, "kernel count"));
      if (!(plan->kernels = alloc_array(plan->n_kernels, sizeof *plan->kernels))) return OOM();
      for (uint32_t i = 0; i < plan->n_kernels; i++)
        GRETA_RETURN_IF_ERROR(get_string(r, &plan->kernels[i], "kernel name"));
      return NULL;
    case GRETA_PLAN_SECTION_INPUTS:
    case GRETA_PLAN_SECTION_OUTPUTS: {
      uint32_t *count = tag == GRETA_PLAN_SECTION_INPUTS ? &plan->n_inputs : &plan->n_outputs;
      greta_plan_io_t **ios = tag == GRETA_PLAN_SECTION_INPUTS ? &plan->inputs : &plan->outputs;
      GRETA_RETURN_IF_ERROR(get_count(r, count, MIN_TENSOR_INFO + 8, "input/output count"));
      if (!(*ios = alloc_array(*count, sizeof **ios))) return OOM();
      for (uint32_t i = 0; i < *count; i++) {
        GRETA_RETURN_IF_ERROR(get_tensor_info(r, &(*ios)[i].info));
        GRETA_RETURN_IF_ERROR(get_u64(r, &(*ios)[i].offset, "input/output offset"));
      }
      return NULL;
    }
    case GRETA_PLAN_SECTION_WEIGHTS:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_weights, MIN_TENSOR_INFO + 16, "weight count"));
      if (!(plan->weights = alloc_array(plan->n_weights, sizeof *plan->weights))) return OOM();
      for (uint32_t i = 0; i < plan->n_weights; i++) {
        GRETA_RETURN_IF_ERROR(get_tensor_info(r, &plan->weights[i].info));
        GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weights[i].offset, "weight offset"));
        GRETA_RETURN_IF_ERROR(get_u64(r, &plan->weights[i].bytes, "weight bytes"));
      }
      return NULL;
    case GRETA_PLAN_SECTION_CACHES:
      GRETA_RETURN_IF_ERROR(get_count(r, &plan->n_caches, MIN_STRING + 28, "cache count"));
      if (!(plan->caches = alloc_array(plan->n_caches, sizeof *plan->caches))) return OOM();
      for (uint32_t i = 0; i < plan->n_caches; i++) {
        greta_plan_cache_t *c = &plan->caches[i];
        uint32_t dtype;
        GRETA_RETURN_IF_ERROR(get_string(r, &c->name, "cache name"));
        GRETA_RETURN_IF_ERROR(get_u32(r, &dtype, "cache dtype"));
        c->dtype = (greta_dtype_t)dtype; /* range-checked by the verifier */
        GRETA_RETURN_IF_ERROR(get_u64(r, &c->offset, "cache offset"));
        GRETA_RETURN_IF_ERROR(get_u64(r, &c->bytes, "cache bytes"));
        GRETA_RETURN_IF_ERROR(get_i64(r, &c->row_elems, "cache row_elems"));
      }
      return NULL;
    case GRETA_PLAN_SECTION_ENTRIES:
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
  if (size < GRETA_PLAN_HEADER_BYTES)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: a plan header is %d bytes, found %zu bytes",
                             GRETA_PLAN_HEADER_BYTES, size);
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
  reader_t r = {bytes, 8, GRETA_PLAN_HEADER_BYTES};
  uint32_t version, header_bytes;
  uint64_t total, checksum;
  GRETA_RETURN_IF_ERROR(get_u32(&r, &version, "version"));
  GRETA_RETURN_IF_ERROR(get_u32(&r, &header_bytes, "header size"));
  GRETA_RETURN_IF_ERROR(get_u64(&r, &total, "total size"));
  GRETA_RETURN_IF_ERROR(get_u64(&r, &checksum, "checksum"));
  /* The file digest (bytes 32..39) is greta_plan_check_seal's: a plan read
   * on its own has no file around it. */
  uint64_t file_digest;
  GRETA_RETURN_IF_ERROR(get_u64(&r, &file_digest, "file digest"));
  if (version != GRETA_PLAN_VERSION)
    return greta_status_make(GRETA_DATA_LOSS,
                             "unsupported plan version %u: this libgreta reads version %d "
                             "(recompile the model with a matching gretac)",
                             version, GRETA_PLAN_VERSION);
  if (header_bytes != GRETA_PLAN_HEADER_BYTES)
    return greta_status_make(GRETA_DATA_LOSS, "header size is %u, expected %d", header_bytes,
                             GRETA_PLAN_HEADER_BYTES);
  if (total < GRETA_PLAN_HEADER_BYTES || total > size)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: the header says the plan is %llu bytes, found %zu",
                             (unsigned long long)total, size);
  uint64_t actual =
      fnv1a64(bytes + GRETA_PLAN_HEADER_BYTES, (size_t)total - GRETA_PLAN_HEADER_BYTES);
  if (actual != checksum)
    return greta_status_make(GRETA_DATA_LOSS,
                             "checksum mismatch: the header says %016llx, the bytes hash to "
                             "%016llx (FNV-1a 64); the file is corrupt",
                             (unsigned long long)checksum, (unsigned long long)actual);

  r.end = (size_t)total;
  for (uint32_t expected = GRETA_PLAN_SECTION_META; expected < GRETA_PLAN_SECTION_COUNT_;
       expected++) {
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
  if (!status) status = greta_plan_verify(plan);
  if (status) {
    greta_plan_destroy(plan);
    return greta_status_annotate(status, "plan");
  }
  *out_plan = plan;
  return NULL;
}

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
