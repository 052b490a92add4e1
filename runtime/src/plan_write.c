/* The plan writer: greta_plan_serialize() turns a greta_plan_t into the
 * bytes of docs/plan-format.md (header, seven sections, FNV-1a checksum).
 * Only gretac writes plans, so this is kept apart from the reader that
 * libgreta runs on untrusted bytes. It runs greta_plan_verify() first, so
 * the compiler cannot write a plan the runtime would refuse.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "le.h"
#include "plan.h"
#include "status.h"

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
  le_put_u32(b, v);
  put_bytes(w, b, 4);
}

static void put_u64(writer_t *w, uint64_t v) {
  uint8_t b[8];
  le_put_u64(b, v);
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
  le_put_u64(w->data + at, v);
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

greta_status_t greta_plan_serialize(const greta_plan_t *plan, uint8_t **out_bytes,
                                    size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  GRETA_RETURN_IF_ERROR(greta_status_annotate(greta_plan_verify(plan), "plan serialize"));

  writer_t w = {0};
  put_bytes(&w, GRETA_PLAN_MAGIC, 8);
  put_u32(&w, GRETA_PLAN_VERSION);
  put_u32(&w, GRETA_PLAN_HEADER_BYTES);
  put_u64(&w, 0); /* total size, patched below */
  put_u64(&w, 0); /* checksum, patched below */
  put_u64(&w, 0); /* the file's digest: greta_plan_seal, once the file exists */

  size_t at = begin_section(&w, GRETA_PLAN_SECTION_META);
  put_string(&w, plan->target);
  put_string(&w, plan->toolchain);
  put_string(&w, plan->model_name);
  put_i64(&w, plan->max_seq);
  put_i64(&w, plan->max_tokens);
  put_u64(&w, plan->arena_bytes);
  put_u64(&w, plan->weight_bytes);
  put_u64(&w, plan->kv_bytes);
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_KERNELS);
  put_u32(&w, plan->n_kernels);
  for (uint32_t i = 0; i < plan->n_kernels; i++) put_string(&w, plan->kernels[i]);
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_INPUTS);
  put_u32(&w, plan->n_inputs);
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    put_tensor_info(&w, &plan->inputs[i].info);
    put_u64(&w, plan->inputs[i].offset);
  }
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_OUTPUTS);
  put_u32(&w, plan->n_outputs);
  for (uint32_t i = 0; i < plan->n_outputs; i++) {
    put_tensor_info(&w, &plan->outputs[i].info);
    put_u64(&w, plan->outputs[i].offset);
  }
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_WEIGHTS);
  put_u32(&w, plan->n_weights);
  for (uint32_t i = 0; i < plan->n_weights; i++) {
    put_tensor_info(&w, &plan->weights[i].info);
    put_u64(&w, plan->weights[i].offset);
    put_u64(&w, plan->weights[i].bytes);
  }
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_CACHES);
  put_u32(&w, plan->n_caches);
  for (uint32_t i = 0; i < plan->n_caches; i++) {
    put_string(&w, plan->caches[i].name);
    put_u32(&w, (uint32_t)plan->caches[i].dtype);
    put_u64(&w, plan->caches[i].offset);
    put_u64(&w, plan->caches[i].bytes);
    put_i64(&w, plan->caches[i].row_elems);
  }
  end_section(&w, at);

  at = begin_section(&w, GRETA_PLAN_SECTION_ENTRIES);
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
  patch_u64(&w, 24, fnv1a64(w.data + GRETA_PLAN_HEADER_BYTES, w.size - GRETA_PLAN_HEADER_BYTES));
  *out_bytes = w.data;
  *out_size = w.size;
  return NULL;
}
