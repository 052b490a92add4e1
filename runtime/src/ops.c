/* The op registry (ops.def) as data: names, operands and the attribute slots
 * of the plan file, for the reader, the writer, the verifier and messages. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "status.h"

#define INTS(a, b, c, d, e, f, g, h)                                                        \
  {GRETA_ATTR_##a, GRETA_ATTR_##b, GRETA_ATTR_##c, GRETA_ATTR_##d,                          \
   GRETA_ATTR_##e, GRETA_ATTR_##f, GRETA_ATTR_##g, GRETA_ATTR_##h}
#define FLOATS(a, b, c, d) {GRETA_FATTR_##a, GRETA_FATTR_##b, GRETA_FATTR_##c, GRETA_FATTR_##d}

static const greta_op_info_t op_table[GRETA_OP_COUNT_] = {
#define GRETA_OP(ENUM, value, name, family, operands, ints, floats) \
  [value] = {name, #family, operands, ints, floats},
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
static const char *const fattr_names[GRETA_FATTR_COUNT_] = {
#define GRETA_FATTR(name, meaning) [GRETA_FATTR_##name] = #name,
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

const char *greta_attr_name(uint32_t id) {
  return id > 0 && id < GRETA_ATTR_COUNT_ ? attr_names[id] : "?";
}

const char *greta_fattr_name(uint32_t id) {
  return id > 0 && id < GRETA_FATTR_COUNT_ ? fattr_names[id] : "?";
}

int64_t *greta_attr_int(greta_op_attrs_t *attrs, uint32_t id) {
  if (id == 0 || id >= GRETA_ATTR_COUNT_) return NULL;
  return (int64_t *)((char *)attrs + attr_offsets[id]);
}

float *greta_attr_float(greta_op_attrs_t *attrs, uint32_t id) {
  if (id == 0 || id >= GRETA_FATTR_COUNT_) return NULL;
  return (float *)((char *)attrs + fattr_offsets[id]);
}

void greta_op_operand_count(uint32_t op, uint32_t *out_min, uint32_t *out_max) {
  const greta_op_info_t *info = greta_op_info(op);
  uint32_t min = 0, max = 0;
  for (const char *p = info ? info->operands : ""; *p;) {
    size_t len = strcspn(p, " ");
    max++;
    if (p[len - 1] != '?') min++;
    p += len;
    p += strspn(p, " ");
  }
  *out_min = min;
  *out_max = max;
}

const char *greta_op_operand_name(uint32_t op, uint32_t index, char *buf, size_t size) {
  const greta_op_info_t *info = greta_op_info(op);
  snprintf(buf, size, "?");
  uint32_t i = 0;
  for (const char *p = info ? info->operands : ""; *p; i++) {
    size_t len = strcspn(p, " ");
    if (i == index) {
      size_t n = len - (p[len - 1] == '?');
      snprintf(buf, size, "%.*s", (int)n, p);
      break;
    }
    p += len;
    p += strspn(p, " ");
  }
  return buf;
}

void greta_op_attrs_pack(uint32_t op, const greta_op_attrs_t *attrs,
                         int64_t out_ints[GRETA_PLAN_MAX_ATTRS],
                         float out_floats[GRETA_PLAN_MAX_FATTRS]) {
  const greta_op_info_t *info = greta_op_info(op);
  greta_op_attrs_t copy = *attrs;
  for (int i = 0; i < GRETA_PLAN_MAX_ATTRS; i++) {
    int64_t *v = info ? greta_attr_int(&copy, info->ints[i]) : NULL;
    out_ints[i] = v ? *v : 0;
  }
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) {
    float *v = info ? greta_attr_float(&copy, info->floats[i]) : NULL;
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
    int64_t *v = greta_attr_int(out, info->ints[i]);
    if (v) *v = ints[i];
    else if (ints[i] != 0)
      return greta_status_make(GRETA_DATA_LOSS,
                               "%s: integer attribute slot %d is unused but holds %lld",
                               info->name, i, (long long)ints[i]);
  }
  for (int i = 0; i < GRETA_PLAN_MAX_FATTRS; i++) {
    float *v = greta_attr_float(out, info->floats[i]);
    if (v) *v = floats[i];
    else if (floats[i] != 0.0f)
      return greta_status_make(GRETA_DATA_LOSS,
                               "%s: float attribute slot %d is unused but holds %g", info->name,
                               i, (double)floats[i]);
  }
  return NULL;
}
