/* The op registry (ops.def) as data: names, operands and the attribute slots
 * of the plan file, for the reader, the writer, the verifier and messages. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "plan.h"
#include "status.h"

#define INTS(a, b, c, d, e, f, g, h, i, j)                                                  \
  {GRETA_ATTR_##a, GRETA_ATTR_##b, GRETA_ATTR_##c, GRETA_ATTR_##d, GRETA_ATTR_##e,          \
   GRETA_ATTR_##f, GRETA_ATTR_##g, GRETA_ATTR_##h, GRETA_ATTR_##i, GRETA_ATTR_##j}
#define FLOATS(a, b, c, d, e, f, g, h)                                                      \
  {GRETA_FATTR_##a, GRETA_FATTR_##b, GRETA_FATTR_##c, GRETA_FATTR_##d,                      \
   GRETA_FATTR_##e, GRETA_FATTR_##f, GRETA_FATTR_##g, GRETA_FATTR_##h}

static const greta_op_info_t op_table[GRETA_OP_COUNT_] = {
#define GRETA_OP(ENUM, value, name, family, operands, ints, floats) \
  [value] = {name, operands, ints, floats},
#include "ops.def"
};

static const char *const attr_names[GRETA_ATTR_COUNT_] = {
#define GRETA_ATTR(name, meaning) [GRETA_ATTR_##name] = #name,
#include "ops.def"
};
static const size_t attr_offsets[GRETA_ATTR_COUNT_] = {
#define GRETA_ATTR(name, meaning) [GRETA_ATTR_##name] = offsetof(greta_op_attrs_t, name),
#include "ops.def"
};
static const size_t fattr_offsets[GRETA_FATTR_COUNT_] = {
#define GRETA_FATTR(name, meaning) [GRETA_FATTR_##name] = offsetof(greta_op_attrs_t, name),
#include "ops.def"
};

const greta_op_info_t *greta_op_info(uint32_t op) {
  return op < GRETA_OP_COUNT_ && op_table[op].name ? &op_table[op] : NULL;
}

const char *greta_op_name(uint32_t op) {
  const greta_op_info_t *info = greta_op_info(op);
  return info ? info->name : "?";
}

/* Attribute `id` inside `attrs`, or NULL for 0 (an unused slot). */
static int64_t *int_attr(const greta_op_attrs_t *attrs, uint32_t id) {
  return id ? (int64_t *)((char *)attrs + attr_offsets[id]) : NULL;
}
static float *float_attr(const greta_op_attrs_t *attrs, uint32_t id) {
  return id ? (float *)((char *)attrs + fattr_offsets[id]) : NULL;
}

/* An optional operand ("residual?") is present when the integer attribute of
 * the same name is not 0. */
static bool optional_present(const greta_op_attrs_t *attrs, const char *name, size_t len) {
  for (uint32_t id = 1; id < GRETA_ATTR_COUNT_; id++)
    if (strlen(attr_names[id]) == len && strncmp(attr_names[id], name, len) == 0)
      return *int_attr(attrs, id) != 0;
  return false;
}

uint32_t greta_launch_operand_count(const greta_plan_launch_t *launch) {
  const greta_op_info_t *info = greta_op_info(launch->op);
  uint32_t count = 0;
  for (const char *p = info ? info->operands : ""; *p;) {
    size_t len = strcspn(p, " ");
    if (p[len - 1] != '?' || optional_present(&launch->attr, p, len - 1)) count++;
    p += len;
    p += strspn(p, " ");
  }
  return count;
}

bool greta_launch_pairs(const greta_plan_launch_t *launch, int64_t *out_s, int64_t *out_blocks) {
  const greta_op_attrs_t *a = &launch->attr;
  if (launch->op == GRETA_OP_MATMUL_GLU) {
    *out_s = a->n;
    *out_blocks = 1;
    return true;
  }
  if (launch->op == GRETA_OP_MATMUL_QKV) {
    *out_s = a->head_dim / 2;
    *out_blocks = a->heads + 2 * a->kv_heads;
    return true;
  }
  return false;
}

void greta_op_attrs_pack(uint32_t op, const greta_op_attrs_t *attrs,
                         int64_t out_ints[GRETA_PLAN_MAX_ATTRS],
                         float out_floats[GRETA_PLAN_MAX_FATTRS]) {
  const greta_op_info_t *info = greta_op_info(op);
  for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) {
    const int64_t *v = info ? int_attr(attrs, info->ints[i]) : NULL;
    out_ints[i] = v ? *v : 0;
  }
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) {
    const float *v = info ? float_attr(attrs, info->floats[i]) : NULL;
    out_floats[i] = v ? *v : 0.0f;
  }
}

greta_status_t greta_op_attrs_unpack(uint32_t op, const int64_t ints[GRETA_PLAN_MAX_ATTRS],
                                     const float floats[GRETA_PLAN_MAX_FATTRS],
                                     greta_op_attrs_t *out) {
  memset(out, 0, sizeof *out);
  const greta_op_info_t *info = greta_op_info(op);
  if (!info) return NULL; /* the verifier names the unknown op */
  for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) {
    int64_t *v = int_attr(out, info->ints[i]);
    if (v) *v = ints[i];
    else if (ints[i] != 0)
      return greta_status_make(GRETA_DATA_LOSS,
                               "%s: integer attribute slot %d is unused but holds %lld",
                               info->name, i, (long long)ints[i]);
  }
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) {
    float *v = float_attr(out, info->floats[i]);
    if (v) *v = floats[i];
    else if (floats[i] != 0.0f)
      return greta_status_make(GRETA_DATA_LOSS,
                               "%s: float attribute slot %d is unused but holds %g", info->name,
                               i, (double)floats[i]);
  }
  return NULL;
}
