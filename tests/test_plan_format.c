/* The plan's byte format: round trip, corruption, truncation, verification
 * messages, and finding the plan inside real AMD and NVIDIA code objects;
 * and the op registry's slots, which are the format's. Over 600 lines on
 * purpose: every test mutates the one plan its fixture builds. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greta/greta.h"
#include "plan.h"

/* ---- a small plan, valid for a GPU target --------------------------------- */

static char *kernel_names[] = {"k_rmsnorm", "k_kv_append"};
static greta_plan_io_t inputs[1];
static greta_plan_io_t outputs[1];
static greta_plan_weight_t weights[1];
static greta_plan_cache_t caches[1];
static greta_plan_launch_t decode_launches[2];
static greta_plan_launch_t prefill_launches[2];
static greta_plan_entry_t entries[3]; /* decode, prefill; a third where a test splits prefill */
static greta_plan_t plan;

enum { DIM = 8, MAX_SEQ = 16, MAX_TOKENS = 4 };
/* A marker offset that occurs once in the serialised bytes, to patch. */
#define MARKER_OFFSET 0x135790ull /* aligned for any element size */

static void fill_launches(greta_plan_launch_t *l) {
  memset(l, 0, 2 * sizeof *l);
  /* rmsnorm: x (arena 0) -> out (arena MARKER_OFFSET), weight at weights 0 */
  l[0].op = GRETA_OP_RMSNORM;
  l[0].kernel = 0;
  l[0].n_args = 3;
  l[0].args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, 0};
  l[0].args[1] = (greta_plan_buffer_t){GRETA_SPACE_WEIGHTS, 0};
  l[0].args[2] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, MARKER_OFFSET};
  l[0].attr.n = DIM;
  l[0].attr.wdtype = GRETA_F16;
  l[0].attr.eps = 1e-5f;
  l[0].rows_coeff = 1;
  l[0].rows_per_token = 1;
  l[0].grid[0] = 777;
  l[0].grid[1] = l[0].grid[2] = 1;
  l[0].block[0] = 64;
  l[0].block[1] = l[0].block[2] = 1;
  l[0].grid_t_axis = 0;
  l[0].grid_t_per_token = 1;
  l[0].grid_t_tile = 1;
  /* kv_append: the normed rows [T, 2 heads, 4] -> cache */
  l[1].op = GRETA_OP_KV_APPEND;
  l[1].kernel = 1;
  l[1].n_args = 2;
  l[1].args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, MARKER_OFFSET};
  l[1].args[1] = (greta_plan_buffer_t){GRETA_SPACE_KV, 0};
  l[1].attr.kv_heads = 2;
  l[1].attr.head_dim = 4;
  l[1].attr.max_seq = MAX_SEQ;
  for (int i = 0; i < 3; i++) l[1].grid[i] = l[1].block[i] = 1;
  l[1].block[0] = 32;
  l[1].grid_t_axis = 3;
}

static void build_plan(void) {
  memset(&plan, 0, sizeof plan);
  plan.target = "gfx942:sramecc+:xnack-";
  plan.toolchain = "clang 19.1.7";
  plan.model_name = "tiny";
  plan.max_seq = MAX_SEQ;
  plan.max_tokens = MAX_TOKENS;
  plan.arena_bytes = MARKER_OFFSET + MAX_TOKENS * DIM * 4;
  plan.weight_bytes = DIM * 2;
  plan.kv_bytes = MAX_SEQ * DIM * 4;
  plan.n_kernels = 2;
  plan.kernels = kernel_names;
  inputs[0] = (greta_plan_io_t){{"x", GRETA_F32, 2, {{1, "T"}, {DIM, NULL}}}, 0};
  outputs[0] = (greta_plan_io_t){{"y", GRETA_F32, 2, {{1, "T"}, {DIM, NULL}}}, MARKER_OFFSET};
  weights[0] = (greta_plan_weight_t){{"norm.weight", GRETA_F16, 1, {{DIM, NULL}}}, 0, DIM * 2};
  caches[0] = (greta_plan_cache_t){"k0", GRETA_F32, 0, MAX_SEQ * DIM * 4, DIM};
  plan.n_inputs = plan.n_outputs = plan.n_weights = plan.n_caches = 1;
  plan.inputs = inputs;
  plan.outputs = outputs;
  plan.weights = weights;
  plan.caches = caches;
  fill_launches(decode_launches);
  fill_launches(prefill_launches);
  entries[0] = (greta_plan_entry_t){"decode", 1, 1, 2, decode_launches};
  entries[1] = (greta_plan_entry_t){"prefill", 2, MAX_TOKENS, 2, prefill_launches};
  plan.n_entries = 2;
  plan.entries = entries;
}

static void serialize_ok(uint8_t **bytes, size_t *size) {
  greta_status_t s = greta_plan_serialize(&plan, bytes, size);
  cr_assert_null(s, "serialize: %s", greta_status_message(s));
}

/* ---- comparing plans field by field (independent of the serialiser) ------ */

static bool str_eq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static bool info_eq(const greta_tensor_info_t *a, const greta_tensor_info_t *b) {
  if (!str_eq(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d].coeff != b->dims[d].coeff || !str_eq(a->dims[d].symbol, b->dims[d].symbol))
      return false;
  return true;
}

static bool launch_eq(const greta_plan_launch_t *a, const greta_plan_launch_t *b) {
  if (a->op != b->op || a->kernel != b->kernel || a->n_args != b->n_args) return false;
  for (uint32_t i = 0; i < a->n_args; i++)
    if (a->args[i].space != b->args[i].space || a->args[i].offset != b->args[i].offset)
      return false;
  return memcmp(&a->attr, &b->attr, sizeof a->attr) == 0 &&
         a->rows_coeff == b->rows_coeff && a->rows_per_token == b->rows_per_token &&
         memcmp(a->grid, b->grid, sizeof a->grid) == 0 &&
         memcmp(a->block, b->block, sizeof a->block) == 0 && a->grid_t_axis == b->grid_t_axis &&
         a->grid_t_per_token == b->grid_t_per_token && a->grid_t_tile == b->grid_t_tile &&
         a->shared_bytes == b->shared_bytes;
}

static bool plan_eq(const greta_plan_t *a, const greta_plan_t *b) {
  if (!str_eq(a->target, b->target) || !str_eq(a->toolchain, b->toolchain) ||
      !str_eq(a->model_name, b->model_name) || a->max_seq != b->max_seq ||
      a->max_tokens != b->max_tokens || a->arena_bytes != b->arena_bytes ||
      a->weight_bytes != b->weight_bytes || a->kv_bytes != b->kv_bytes ||
      a->n_kernels != b->n_kernels || a->n_inputs != b->n_inputs ||
      a->n_outputs != b->n_outputs || a->n_weights != b->n_weights ||
      a->n_caches != b->n_caches || a->n_entries != b->n_entries)
    return false;
  for (uint32_t i = 0; i < a->n_kernels; i++)
    if (!str_eq(a->kernels[i], b->kernels[i])) return false;
  for (uint32_t i = 0; i < a->n_inputs; i++)
    if (!info_eq(&a->inputs[i].info, &b->inputs[i].info) || a->inputs[i].offset != b->inputs[i].offset)
      return false;
  for (uint32_t i = 0; i < a->n_outputs; i++)
    if (!info_eq(&a->outputs[i].info, &b->outputs[i].info) ||
        a->outputs[i].offset != b->outputs[i].offset)
      return false;
  for (uint32_t i = 0; i < a->n_weights; i++)
    if (!info_eq(&a->weights[i].info, &b->weights[i].info) ||
        a->weights[i].offset != b->weights[i].offset || a->weights[i].bytes != b->weights[i].bytes)
      return false;
  for (uint32_t i = 0; i < a->n_caches; i++)
    if (!str_eq(a->caches[i].name, b->caches[i].name) || a->caches[i].offset != b->caches[i].offset ||
        a->caches[i].bytes != b->caches[i].bytes || a->caches[i].row_elems != b->caches[i].row_elems)
      return false;
  for (uint32_t e = 0; e < a->n_entries; e++) {
    const greta_plan_entry_t *x = &a->entries[e], *y = &b->entries[e];
    if (!str_eq(x->name, y->name) || x->min_tokens != y->min_tokens ||
        x->max_tokens != y->max_tokens || x->n_launches != y->n_launches)
      return false;
    for (uint32_t i = 0; i < x->n_launches; i++)
      if (!launch_eq(&x->launches[i], &y->launches[i])) return false;
  }
  return true;
}

/* The plan serialised and parsed back, equal to itself; the caller
 * destroys what this returns. */
static greta_plan_t *parsed_again(void) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  greta_plan_t *parsed = NULL;
  greta_status_t s = greta_plan_parse(bytes, size, &parsed);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert(plan_eq(&plan, parsed));
  free(bytes);
  return parsed;
}

/* The test's own FNV-1a 64, to re-seal bytes it patched on purpose. */
static void reseal(uint8_t *bytes, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = GRETA_PLAN_HEADER_BYTES; i < size; i++) {
    h ^= bytes[i];
    h *= 0x100000001b3ull;
  }
  for (int i = 0; i < 8; i++) bytes[24 + i] = (uint8_t)(h >> (8 * i));
}

/* Replaces the one occurrence of the u64 `from` by `to` (little-endian). */
static void patch_u64(uint8_t *bytes, size_t size, uint64_t from, uint64_t to) {
  uint8_t f[8], t[8];
  for (int i = 0; i < 8; i++) {
    f[i] = (uint8_t)(from >> (8 * i));
    t[i] = (uint8_t)(to >> (8 * i));
  }
  int found = 0;
  for (size_t i = 0; i + 8 <= size; i++)
    if (memcmp(bytes + i, f, 8) == 0) {
      memcpy(bytes + i, t, 8);
      found++;
    }
  cr_assert_gt(found, 0, "marker %llx not found", (unsigned long long)from);
}

static void assert_parse_fails(const uint8_t *bytes, size_t size, const char *needle) {
  greta_plan_t *parsed = NULL;
  greta_status_t s = greta_plan_parse(bytes, size, &parsed);
  cr_assert_not_null(s, "expected a refusal containing \"%s\"", needle);
  cr_assert_null(parsed);
  cr_assert_eq(greta_status_code(s), GRETA_DATA_LOSS, "%s", greta_status_message(s));
  cr_assert(strstr(greta_status_message(s), needle), "message \"%s\" lacks \"%s\"",
            greta_status_message(s), needle);
  greta_status_free(s);
}

/* Serialising a plan mutated in memory must be refused with `needle`. */
static void assert_serialize_fails(const char *needle) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  greta_status_t s = greta_plan_serialize(&plan, &bytes, &size);
  cr_assert_not_null(s, "expected a refusal containing \"%s\"", needle);
  cr_assert_null(bytes);
  cr_assert(strstr(greta_status_message(s), needle), "message \"%s\" lacks \"%s\"",
            greta_status_message(s), needle);
  greta_status_free(s);
}

TestSuite(plan_format, .init = build_plan);

Test(plan_format, round_trip) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  cr_assert_eq(memcmp(bytes, "GRETAPLN", 8), 0);
  greta_plan_t *parsed = NULL;
  greta_status_t s = greta_plan_parse(bytes, size, &parsed);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert(plan_eq(&plan, parsed));
  cr_assert_str_eq(parsed->inputs[0].info.dims[0].symbol, "T");
  cr_assert_null(parsed->inputs[0].info.dims[1].symbol);
  /* Serialising the parsed plan gives the same bytes. */
  uint8_t *again;
  size_t again_size;
  s = greta_plan_serialize(parsed, &again, &again_size);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert_eq(again_size, size);
  cr_assert_eq(memcmp(again, bytes, size), 0);
  /* Trailing bytes after the plan (e.g. padding) are ignored. */
  uint8_t *padded = calloc(1, size + 16);
  memcpy(padded, bytes, size);
  greta_plan_t *parsed2 = NULL;
  s = greta_plan_parse(padded, size + 16, &parsed2);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert(plan_eq(&plan, parsed2));
  greta_plan_destroy(parsed2);
  free(padded);
  greta_plan_destroy(parsed);
  free(again);
  free(bytes);
}

Test(plan_format, queries) {
  cr_assert_str_eq(greta_op_name(GRETA_OP_MATMUL), "matmul");
  cr_assert_str_eq(greta_op_name(GRETA_OP_COPY), "copy");
  cr_assert_str_eq(greta_op_name(0), "?");
  cr_assert_str_eq(greta_op_name(999), "?");
  cr_assert_eq(greta_plan_entry_for(&plan, 1), &entries[0]);
  cr_assert_eq(greta_plan_entry_for(&plan, 3), &entries[1]);
  cr_assert_null(greta_plan_entry_for(&plan, 5));
  cr_assert_null(greta_plan_entry_for(&plan, 0));
  greta_plan_launch_t l = decode_launches[0];
  l.grid_t_axis = 1;
  l.grid_t_per_token = 3;
  l.grid_t_tile = 4;
  uint32_t grid[3];
  greta_plan_launch_grid(&l, 5, grid);
  cr_assert_eq(grid[0], 777);
  cr_assert_eq(grid[1], 4); /* ceil(5 * 3 / 4) */
  cr_assert_eq(grid[2], 1);
  l.grid_t_axis = 3;
  greta_plan_launch_grid(&l, 5, grid);
  cr_assert_eq(grid[1], 1);
}

Test(plan_format, every_byte_flip_is_refused_or_harmless) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  uint8_t *copy = malloc(size);
  static const uint8_t patterns[] = {0x01, 0x80, 0xff, 0x10};
  size_t refused = 0;
  for (size_t i = 0; i < size; i++)
    for (size_t p = 0; p < sizeof patterns; p++) {
      memcpy(copy, bytes, size);
      copy[i] ^= patterns[p];
      greta_plan_t *parsed = NULL;
      greta_status_t s = greta_plan_parse(copy, size, &parsed);
      if (s) {
        refused++;
        cr_assert_null(parsed);
        greta_status_free(s);
      } else {
        cr_assert(plan_eq(&plan, parsed), "flip of byte %zu by %02x parsed to another plan", i,
                  patterns[p]);
        greta_plan_destroy(parsed);
      }
    }
  /* The checksum covers everything but the file digest's 8 bytes, which are
   * the whole file's business (greta_plan_check_seal, below): every other
   * flip must in fact be refused. */
  cr_assert_eq(refused, (size - 8) * sizeof patterns);
  free(copy);
  free(bytes);
}

Test(plan_format, every_truncation_is_refused) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  for (size_t n = 0; n < size; n++) {
    uint8_t *cut = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
    memcpy(cut, bytes, n);
    greta_plan_t *parsed = NULL;
    greta_status_t s = greta_plan_parse(cut, n, &parsed);
    cr_assert_not_null(s, "a plan cut to %zu of %zu bytes was accepted", n, size);
    cr_assert_eq(greta_status_code(s), GRETA_DATA_LOSS);
    cr_assert(strstr(greta_status_message(s), "truncated"), "%zu: %s", n,
              greta_status_message(s));
    greta_status_free(s);
    free(cut);
  }
  free(bytes);
}

Test(plan_format, wrong_magic_and_version) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  bytes[0] = 'X';
  assert_parse_fails(bytes, size, "bad magic: expected \"GRETAPLN\", found \"XRETAPLN\"");
  bytes[0] = 'G';
  bytes[8] = GRETA_PLAN_VERSION + 1;
  char message[80];
  snprintf(message, sizeof message, "unsupported plan version %d: this libgreta reads version %d",
           GRETA_PLAN_VERSION + 1, GRETA_PLAN_VERSION);
  assert_parse_fails(bytes, size, message);
  /* An older plan (version 7: no split_k on matmul) is refused with the
   * advice to recompile. */
  bytes[8] = 7;
  assert_parse_fails(bytes, size,
                     "unsupported plan version 7: this libgreta reads version 10 (recompile the "
                     "model with a matching gretac)");
  bytes[8] = GRETA_PLAN_VERSION;
  bytes[40] ^= 1; /* anything after the header */
  assert_parse_fails(bytes, size, "checksum mismatch");
  free(bytes);
}

Test(plan_format, out_of_range_offsets_in_bytes) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  /* MARKER_OFFSET is the output's and both launches' arena offset. */
  patch_u64(bytes, size, MARKER_OFFSET, 1ull << 40);
  reseal(bytes, size);
  assert_parse_fails(bytes, size, "lie outside the arena");
  free(bytes);
}

/* Regression (issue 12, defect 4): an odd offset verified and gave
 * misaligned float stores. Every buffer is aligned for its elements:
 * floats to 4, the f16 weight to 2. */
Test(plan_format, misaligned_offsets_are_refused) {
  decode_launches[0].args[2].offset = MARKER_OFFSET + 2;
  assert_serialize_fails("arg 2 (out): offset 1267602 is not a multiple of its element size 4");
  decode_launches[0].args[2].offset = MARKER_OFFSET;
  decode_launches[0].args[1].offset = 1; /* the f16 norm weight */
  assert_serialize_fails("arg 1 (weight): offset 1 is not a multiple of its element size 2");
  /* On a GPU every offset is a multiple of 16 (the kernels' 16-byte loads
   * and cp.async; gretac aligns to 256); the CPU needs only the element's. */
  decode_launches[0].args[1].offset = 2;
  plan.weight_bytes += 2;
  assert_serialize_fails("arg 1 (weight): offset 2 is not a multiple of 16");
  char *gpu_target = plan.target;
  plan.target = "cpu";
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size); /* 2-byte aligned is enough for f16 on the CPU */
  free(bytes);
  plan.target = gpu_target;
}

Test(plan_format, out_of_range_launch_arg) {
  decode_launches[0].args[2].offset = plan.arena_bytes - 16;
  assert_serialize_fails("arg 2 (out): bytes [");
  decode_launches[0].args[2].offset = MARKER_OFFSET;
  prefill_launches[1].args[1].offset = 16; /* the cache would run past kv_bytes */
  assert_serialize_fails("entry prefill launch 1 (kv_append): arg 1 (cache)");
  prefill_launches[1].args[1].offset = 0;
  prefill_launches[1].args[1].space = 7;
  assert_serialize_fails("space 7 is not one of");
  prefill_launches[1].args[1].space = GRETA_SPACE_WEIGHTS;
  assert_serialize_fails("read-only weights space");
}

Test(plan_format, kernel_index_and_arg_count) {
  decode_launches[1].kernel = 2;
  assert_serialize_fails("kernel index 2 is out of range (2 kernels)");
  decode_launches[1].kernel = 1;
  decode_launches[1].n_args = 3;
  assert_serialize_fails("3 args, expected 2 for kv_append");
  decode_launches[1].n_args = 2;
  decode_launches[1].op = 99;
  assert_serialize_fails("op 99 is not one of");
}

Test(plan_format, launch_dims) {
  decode_launches[0].block[0] = 2048;
  assert_serialize_fails("2048 threads, at most 1024");
  decode_launches[0].block[0] = 64;
  decode_launches[0].grid[1] = 0;
  assert_serialize_fails("must be >= 1");
  decode_launches[0].grid[1] = 1;
  decode_launches[0].grid_t_tile = 0;
  assert_serialize_fails("grid_t_tile = 0");
  decode_launches[0].grid_t_tile = 1;
  decode_launches[0].grid_t_axis = 4;
  assert_serialize_fails("grid_t_axis is 4");
  decode_launches[0].grid_t_axis = 0;

  /* The same refusal from bytes: grid[0] = 777 patched to 0. */
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  int found = 0;
  for (size_t i = 0; i + 4 <= size; i++)
    if (bytes[i] == 0x09 && bytes[i + 1] == 0x03 && bytes[i + 2] == 0 && bytes[i + 3] == 0) {
      memset(bytes + i, 0, 4);
      found++;
    }
  cr_assert_eq(found, 2);
  reseal(bytes, size);
  assert_parse_fails(bytes, size, "launch dims grid (0, 1, 1)");
  free(bytes);
}

Test(plan_format, attrs_weights_entries) {
  decode_launches[1].attr.max_seq = MAX_SEQ - 1;
  assert_serialize_fails("max_seq is 15, expected >= 16");
  decode_launches[1].attr.max_seq = MAX_SEQ;
  decode_launches[0].attr.wdtype = 3;
  assert_serialize_fails("wdtype (weight dtype) is 3");
  decode_launches[0].attr.wdtype = GRETA_F16;
  weights[0].bytes = DIM * 4;
  assert_serialize_fails("weight norm.weight: its shape and dtype make 16 bytes, the plan says 32");
  weights[0].bytes = DIM * 2;
  entries[1].max_tokens = MAX_TOKENS + 1;
  assert_serialize_fails("expected 1 <= min <= max <= max_tokens 4");
  entries[1].max_tokens = MAX_TOKENS;
  inputs[0].info.dims[1].symbol = "T";
  assert_serialize_fails("dim 1 is symbolic");
  inputs[0].info.dims[1].symbol = NULL;
  inputs[0].info.dtype = GRETA_F16; /* every op reads activations as f32 */
  assert_serialize_fails("input x is f16: inputs are f32 or i32");
  inputs[0].info.dtype = GRETA_F32;
  outputs[0].offset = plan.arena_bytes;
  assert_serialize_fails("output y: bytes [");
  outputs[0].offset = MARKER_OFFSET;
  caches[0].bytes = 4;
  assert_serialize_fails("cache k0: 4 bytes, expected max_seq 16 * row_elems 8 * 4");
}

/* The entries give every step size T of 1 .. max_tokens exactly one
 * entry: prefill may be cut into ranges (each T then finds its own), but a
 * gap or an overlap is refused. */
Test(plan_format, every_step_size_has_one_entry) {
  entries[1].min_tokens = 3;
  assert_serialize_fails("the entries run 3 of the step sizes 1..4 (max_tokens): some T has no entry");
  entries[1].min_tokens = 1;
  assert_serialize_fails("entries decode (tokens 1..1) and prefill (1..4) overlap");
  entries[1] = (greta_plan_entry_t){"prefill_short", 2, 2, 2, prefill_launches};
  entries[2] = (greta_plan_entry_t){"prefill", 3, MAX_TOKENS, 2, prefill_launches};
  plan.n_entries = 3;
  greta_plan_t *parsed = parsed_again();
  cr_expect_str_eq(greta_plan_entry_for(parsed, 2)->name, "prefill_short");
  cr_expect_str_eq(greta_plan_entry_for(parsed, 3)->name, "prefill");
  cr_expect_str_eq(greta_plan_entry_for(parsed, MAX_TOKENS)->name, "prefill");
  greta_plan_destroy(parsed);
  entries[2].min_tokens = 2;
  assert_serialize_fails("entries prefill_short (tokens 2..2) and prefill (2..4) overlap");
}

/* attr tma (the copy engine's tensor maps) belongs to the prefill GEMMs of
 * an NVIDIA plan; anywhere else the runtime would encode maps a kernel does
 * not take. */
Test(plan_format, tma_only_on_the_prefill_gemms) {
  decode_launches[0].attr.tma = 16;
  assert_serialize_fails("tma is for the prefill GEMMs, not ");
}

/* attr tma's other refusals, on a prefill matmul_glu: tensor maps are for
 * an NVIDIA target and x in half; a paired weight's map is the
 * 5-dimensional view of pair_layout.h, so it covers all 2n rows in whole
 * runs of 16 pairs; and each map lies inside its space. */
Test(plan_format, tma_refusals_on_a_paired_gemm) {
  enum { N = 16, K = 64 };
  greta_plan_launch_t *l = &prefill_launches[0];
  plan.weight_bytes = 2 * 24 * K * 2; /* room for 24 pairs */
  plan.arena_bytes = MARKER_OFFSET + MAX_TOKENS * 24 * 2;
  l->op = GRETA_OP_MATMUL_GLU; /* x [rows, K] -> out [rows, N], B [2N, K] */
  l->args[1] = (greta_plan_buffer_t){GRETA_SPACE_WEIGHTS, 0};
  l->attr = (greta_op_attrs_t){
      .n = N, .k = K, .xdtype = GRETA_F16, .outdtype = GRETA_F16, .wdtype = GRETA_F16, .tma = 2 * N};
  assert_serialize_fails("tma on target gfx942:sramecc+:xnack-: tensor maps are NVIDIA's");
  plan.target = "sm_90";
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size); /* the launch as lowering makes it */
  free(bytes);
  l->attr.xdtype = GRETA_F32;
  assert_serialize_fails("tma needs x in a half type");
  l->attr.xdtype = GRETA_F16;
  l->attr.tma = 2 * N - 1;
  assert_serialize_fails("tma 31 on matmul_glu with pairs 16 rows apart in 1 blocks: expected tma "
                         "= all 2 x 16 x 1 rows");
  l->attr.n = 24; /* not whole runs of 16 */
  l->attr.tma = 48;
  assert_serialize_fails("tma 48 on matmul_glu with pairs 24 rows apart");
  l->attr.n = N;
  l->attr.tma = 2 * N;
  plan.weight_bytes = 2 * N * K * 2 - 2;
  assert_serialize_fails("lie outside the weights space");
}

Test(plan_format, cpu_plan_needs_no_kernels_or_geometry) {
  plan.target = "cpu";
  plan.n_kernels = 0;
  for (int i = 0; i < 2; i++) decode_launches[i].kernel = prefill_launches[i].kernel = 0;
  memset(decode_launches[0].grid, 0, sizeof decode_launches[0].grid);
  greta_plan_destroy(parsed_again());
}

/* The fused ops' extents count rows: rows_coeff must be >= 1 for them (a
 * glu with rows_coeff 0 once verified with no extent checked), and for
 * every op rows_coeff * max_tokens must fit (issue 12, defect 5). */
Test(plan_format, rows_coeff_is_bounded_for_every_op) {
  greta_plan_launch_t *l = &decode_launches[0];
  l->op = GRETA_OP_GLU; /* x [rows, 2n] -> out [rows, n] */
  l->n_args = 2;
  l->args[1] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, MARKER_OFFSET};
  l->attr = (greta_op_attrs_t){.n = DIM / 2};
  l->rows_coeff = 0;
  assert_serialize_fails("rows_coeff is 0, expected >= 1");
  l->rows_coeff = 1;
  l->attr.n = 1 << 20; /* 2n floats per row run past the arena */
  assert_serialize_fails("lie outside the arena space");
  l->attr.n = DIM / 2;
  prefill_launches[1].rows_coeff = INT64_MAX; /* kv_append: rows unused, still multiplied */
  prefill_launches[1].rows_per_token = 1;
  assert_serialize_fails("its sizes overflow");
  prefill_launches[1].rows_coeff = -1;
  assert_serialize_fails("rows_coeff is -1, expected >= 0");
}

/* Regression (issue 12, defect 1): a kernel index with no kernel table
 * passed the verifier and greta_session_profile_step read plan->kernels
 * out of bounds. */
Test(plan_format, kernel_index_without_a_kernel_table_is_refused) {
  plan.target = "cpu";
  plan.n_kernels = 0;
  for (int i = 0; i < 2; i++) decode_launches[i].kernel = prefill_launches[i].kernel = 0;
  decode_launches[1].kernel = 1;
  assert_serialize_fails("kernel index 1 in a plan without a kernel table (expected 0)");
  decode_launches[1].kernel = 0x10000000;
  assert_serialize_fails("kernel index 268435456 in a plan without a kernel table");
}

Test(plan_format, locate_bare_and_foreign) {
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  const uint8_t *found;
  size_t found_size;
  greta_status_t s = greta_plan_locate(bytes, size, &found, &found_size);
  cr_assert_null(s);
  cr_assert_eq(found, bytes);
  cr_assert_eq(found_size, size);
  static const uint8_t junk[] = "#!/bin/sh\necho hi\n";
  s = greta_plan_locate(junk, sizeof junk, &found, &found_size);
  cr_assert_eq(greta_status_code(s), GRETA_DATA_LOSS);
  cr_assert(strstr(greta_status_message(s), "not a greta model"), "%s", greta_status_message(s));
  greta_status_free(s);
  free(bytes);
}

/* ---- plans inside real code objects --------------------------------------- */

static char *read_whole(const char *path, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)n + 1);
  *out_size = fread(data, 1, (size_t)n, f);
  fclose(f);
  return data;
}

/* `prefix` + "{71, ...};\n" as a source text: bytes as signed char values,
 * since a char initialiser of 0xc0 is a narrowing error in C++. */
static char *plan_source(const char *prefix, const uint8_t *bytes, size_t size) {
  char *src = malloc(strlen(prefix) + size * 5 + 16);
  char *p = src + sprintf(src, "%s{", prefix);
  for (size_t i = 0; i < size; i++) p += sprintf(p, "%s%d", i ? "," : "", (int)(int8_t)bytes[i]);
  strcpy(p, "};\n");
  return src;
}

/* Seals the code object as gretac does, opens it, checks the plan inside
 * equals `plan`, then checks that every single-byte flip and every
 * truncation of the whole file is refused or gives the same plan, never a
 * crash, and that greta_model_open refuses every flip anywhere in the file
 * (kernels, section headers, symbol tables, the plan): the file digest. */
static void check_code_object(uint8_t *file, size_t size) {
  greta_model_t *model = NULL;
  greta_status_t s = greta_model_open_memory(file, size, &model);
  cr_assert(s && strstr(greta_status_message(s), "carries no digest"), "unsealed: %s",
            s ? greta_status_message(s) : "opened");
  greta_status_free(s);
  cr_assert_null(greta_plan_seal(file, size));
  s = greta_model_open_memory(file, size, &model);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert_str_eq(greta_model_target(model), plan.target);
  greta_model_destroy(model);

  const uint8_t *found;
  size_t found_size;
  s = greta_plan_locate(file, size, &found, &found_size);
  cr_assert_null(s, "%s", greta_status_message(s));
  uint8_t *expected;
  size_t expected_size;
  serialize_ok(&expected, &expected_size);
  cr_assert_geq(found_size, expected_size);
  /* The same bytes, but for the digest gretac's seal wrote. */
  cr_assert_eq(memcmp(found, expected, GRETA_PLAN_DIGEST_AT), 0);
  cr_assert_eq(memcmp(found + GRETA_PLAN_HEADER_BYTES, expected + GRETA_PLAN_HEADER_BYTES,
                      expected_size - GRETA_PLAN_HEADER_BYTES),
               0);
  free(expected);

  uint8_t *copy = malloc(size);
  for (size_t i = 0; i < size; i++) {
    memcpy(copy, file, size);
    copy[i] ^= 0xff;
    s = greta_plan_locate(copy, size, &found, &found_size);
    if (s) {
      greta_status_free(s);
      continue;
    }
    greta_plan_t *parsed = NULL;
    s = greta_plan_parse(found, found_size, &parsed);
    if (s) {
      greta_status_free(s);
      continue;
    }
    cr_assert(plan_eq(&plan, parsed), "ELF flip at %zu gave another plan", i);
    greta_plan_destroy(parsed);
  }
  for (size_t i = 0; i < size; i++) {
    memcpy(copy, file, size);
    copy[i] ^= 0x01;
    s = greta_model_open_memory(copy, size, &model);
    cr_assert(s, "a flip of byte %zu of %zu opened", i, size);
    cr_assert_eq(greta_status_code(s), GRETA_DATA_LOSS, "%s", greta_status_message(s));
    greta_status_free(s);
  }
  free(copy);
  for (size_t n = 0; n < size; n += (n < 256 ? 1 : 7)) {
    uint8_t *cut = malloc(n ? n : 1);
    memcpy(cut, file, n);
    s = greta_model_open_memory(cut, n, &model);
    if (s) greta_status_free(s);
    else greta_model_destroy(model); /* only if the whole plan survives the cut */
    free(cut);
  }
}

Test(plan_format, locate_in_amd_code_object) {
  if (system("command -v clang-19 > /dev/null 2>&1") != 0) {
    cr_skip_test("clang-19 is not installed: cannot build an AMD code object");
  }
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  char dir[] = "/tmp/greta_plan_elf_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char src_path[128], obj_path[128], cmd[512];
  snprintf(src_path, sizeof src_path, "%s/plan.hip", dir);
  snprintf(obj_path, sizeof obj_path, "%s/plan.hsaco", dir);
  char *src = plan_source(
      "extern \"C\" __attribute__((device)) const char greta_plan[] = ", bytes, size);
  FILE *f = fopen(src_path, "w");
  fputs(src, f);
  fclose(f);
  free(src);
  snprintf(cmd, sizeof cmd,
           "clang-19 -x hip --offload-arch=gfx942:sramecc+:xnack- --cuda-device-only "
           "--no-gpu-bundle-output -nogpulib -nogpuinc -O3 -c %s -o %s",
           src_path, obj_path);
  cr_assert_eq(system(cmd), 0, "%s failed", cmd);
  size_t obj_size;
  char *obj = read_whole(obj_path, &obj_size);
  cr_assert_not_null(obj);
  cr_assert_eq(memcmp(obj, "\x7f" "ELF", 4), 0);
  check_code_object((uint8_t *)obj, obj_size);
  FILE *sealed = fopen(obj_path, "wb");
  cr_assert(sealed && fwrite(obj, 1, obj_size, sealed) == obj_size && fclose(sealed) == 0);

  greta_model_t *model = NULL;
  greta_status_t s = greta_model_open(obj_path, &model);
  cr_assert_null(s, "%s", greta_status_message(s));
  cr_assert_eq(greta_model_input_count(model), 1);
  greta_model_destroy(model);

  free(obj);
  free(bytes);
  unlink(src_path);
  unlink(obj_path);
  rmdir(dir);
}

typedef int (*nvrtc_create_fn)(void **, const char *, const char *, int, const char *const *,
                               const char *const *);
typedef int (*nvrtc_compile_fn)(void *, int, const char *const *);
typedef int (*nvrtc_size_fn)(void *, size_t *);
typedef int (*nvrtc_get_fn)(void *, char *);
typedef int (*nvrtc_destroy_fn)(void **);

Test(plan_format, locate_in_nvidia_cubin) {
  void *lib = dlopen("/usr/local/cuda/lib64/libnvrtc.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    cr_skip_test("NVRTC is not available (%s)", dlerror());
  }
  nvrtc_create_fn create = (nvrtc_create_fn)dlsym(lib, "nvrtcCreateProgram");
  nvrtc_compile_fn compile = (nvrtc_compile_fn)dlsym(lib, "nvrtcCompileProgram");
  nvrtc_size_fn cubin_size = (nvrtc_size_fn)dlsym(lib, "nvrtcGetCUBINSize");
  nvrtc_get_fn get_cubin = (nvrtc_get_fn)dlsym(lib, "nvrtcGetCUBIN");
  nvrtc_size_fn log_size = (nvrtc_size_fn)dlsym(lib, "nvrtcGetProgramLogSize");
  nvrtc_get_fn get_log = (nvrtc_get_fn)dlsym(lib, "nvrtcGetProgramLog");
  nvrtc_destroy_fn destroy = (nvrtc_destroy_fn)dlsym(lib, "nvrtcDestroyProgram");
  cr_assert(create && compile && cubin_size && get_cubin && log_size && get_log && destroy);

  plan.target = "sm_90";
  uint8_t *bytes;
  size_t size;
  serialize_ok(&bytes, &size);
  char *src = plan_source("extern \"C\" __device__ const char greta_plan[] = ", bytes, size);
  void *prog = NULL;
  cr_assert_eq(create(&prog, src, "plan.cu", 0, NULL, NULL), 0);
  const char *opts[] = {"--gpu-architecture=sm_90"};
  int rc = compile(prog, 1, opts);
  if (rc != 0) {
    size_t n = 0;
    log_size(prog, &n);
    char *log = malloc(n + 1);
    get_log(prog, log);
    cr_assert_fail("NVRTC failed (%d): %s", rc, log);
  }
  size_t cubin_bytes = 0;
  cr_assert_eq(cubin_size(prog, &cubin_bytes), 0);
  char *cubin = malloc(cubin_bytes);
  cr_assert_eq(get_cubin(prog, cubin), 0);
  destroy(&prog);
  cr_assert_eq(memcmp(cubin, "\x7f" "ELF", 4), 0);
  check_code_object((uint8_t *)cubin, cubin_bytes);
  free(cubin);
  free(src);
  free(bytes);
  /* NVRTC stays loaded: unloading it turns its internal caches into leaks
   * that LeakSanitizer would report. */
}

/* ---- the op registry (ops.def) ------------------------------------------ */

Test(op_registry, every_op_has_a_row_named_like_its_enum) {
#define GRETA_OP(ENUM, v, nm, fam, opnds, i_slots, f_slots)                              \
  do {                                                                                   \
    const greta_op_info_t *info = greta_op_info(GRETA_OP_##ENUM);                        \
    cr_assert(info, #ENUM);                                                              \
    char lower[64] = "";                                                                 \
    for (size_t i = 0; i < sizeof #ENUM - 1 && i < sizeof lower - 1; i++)                \
      lower[i] = (char)(#ENUM[i] >= 'A' && #ENUM[i] <= 'Z' ? #ENUM[i] - 'A' + 'a' : #ENUM[i]); \
    cr_assert_str_eq(info->name, lower);                                                 \
    cr_assert_str_eq(greta_op_name(GRETA_OP_##ENUM), lower);                             \
  } while (0);
#include "ops.def"
  cr_assert_null(greta_op_info(0));
  cr_assert_null(greta_op_info(GRETA_OP_COUNT_));
  cr_assert_str_eq(greta_op_name(999), "?");
}

Test(op_registry, an_optional_operand_follows_its_attribute) {
  greta_plan_launch_t l = {.op = GRETA_OP_MATMUL};
  cr_assert_eq(greta_launch_operand_count(&l), 3);
  l.attr.residual = 1;
  cr_assert_eq(greta_launch_operand_count(&l), 4);
  l.op = GRETA_OP_SILU_MUL;
  cr_assert_eq(greta_launch_operand_count(&l), 3);
  l.op = GRETA_OP_ATTENTION_DECODE;
  cr_assert_eq(greta_launch_operand_count(&l), 6);
  l.op = 7; /* attention_split's number, retired */
  cr_assert_eq(greta_launch_operand_count(&l), 0);
  l.op = 0;
  cr_assert_eq(greta_launch_operand_count(&l), 0);
}

/* Slots are the file's business: pack then unpack gives the attributes
 * back, each named attribute lands in the slot its row gives, and a value
 * in a slot the op does not use is refused. */
Test(op_registry, slots_round_trip_and_unused_slots_are_refused) {
  for (uint32_t op = 1; op < GRETA_OP_COUNT_; op++) {
    const greta_op_info_t *info = greta_op_info(op);
    if (!info) continue; /* a retired number */
    int64_t ints[GRETA_PLAN_MAX_ATTRS] = {0}, ints_back[GRETA_PLAN_MAX_ATTRS];
    float floats[GRETA_PLAN_MAX_FATTRS] = {0}, floats_back[GRETA_PLAN_MAX_FATTRS];
    for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) ints[i] = info->ints[i] ? 100 + i : 0;
    for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) floats[i] = info->floats[i] ? 0.5f + (float)i : 0;
    greta_op_attrs_t attrs;
    cr_assert_null(greta_op_attrs_unpack(op, ints, floats, &attrs), "%s", info->name);
    greta_op_attrs_pack(op, &attrs, ints_back, floats_back);
    cr_assert(memcmp(ints, ints_back, sizeof ints) == 0, "%s", info->name);
    cr_assert(memcmp(floats, floats_back, sizeof floats) == 0, "%s", info->name);
    for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) {
      if (info->ints[i]) continue;
      ints[i] = 7;
      greta_status_t s = greta_op_attrs_unpack(op, ints, floats, &attrs);
      cr_assert(s && strstr(greta_status_message(s), "unused"), "%s slot %d", info->name, i);
      greta_status_free(s);
      ints[i] = 0;
    }
  }
  /* The slot order is the file format's: max_seq is kv_append's slot 2 and
   * attention's slot 3, as plans written before the registry have them. */
  greta_op_attrs_t a = {.max_seq = 64};
  int64_t ints[GRETA_PLAN_MAX_ATTRS];
  float floats[GRETA_PLAN_MAX_FATTRS];
  greta_op_attrs_pack(GRETA_OP_KV_APPEND, &a, ints, floats);
  cr_assert_eq(ints[2], 64);
  greta_op_attrs_pack(GRETA_OP_ATTENTION, &a, ints, floats);
  cr_assert_eq(ints[3], 64);
  /* And named attributes land in the slots their row gives. */
  greta_op_attrs_t eps = {.n = 8, .eps = 0.25f};
  greta_op_attrs_pack(GRETA_OP_RMSNORM, &eps, ints, floats);
  cr_assert(ints[0] == 8 && floats[0] == 0.25f);
}

/* docs/plan-format.md states the version it describes, in its title and in
 * the header's table: both must be this reader's (a format change that
 * forgets the document fails here). */
Test(plan_format, document_states_this_version) {
  FILE *f = fopen(GRETA_SOURCE_DIR "/docs/plan-format.md", "r");
  cr_assert_not_null(f, "docs/plan-format.md");
  static char text[1 << 16];
  const size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char title[64], row[64];
  snprintf(title, sizeof title, "# The plan's byte format (version %d)\n", GRETA_PLAN_VERSION);
  snprintf(row, sizeof row, "| 8 | u32 | version, `%d` |", GRETA_PLAN_VERSION);
  cr_expect(strncmp(text, title, strlen(title)) == 0, "the title should read: %s", title);
  cr_expect_not_null(strstr(text, row), "the header table should hold: %s", row);
}
