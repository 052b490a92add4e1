/* The built-in ops: one row each, and the builders of the ops that need
 * more than the generic path (a check of an operand, a computed default, a
 * shape list, constant arithmetic). */
#define _POSIX_C_SOURCE 200809L
#include "builtins.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static value_t build_append(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);
static value_t build_attention(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);
static value_t build_reshape(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);
static value_t build_sqrt(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);

/* clang-format off */
static const builtin_t builtins[] = {
  {.name = "embedding",   .args = "TT",    .arg_names = "tokens, table",  .op = IR_EMBEDDING,    .attr_arg = -1, .transpose_arg = -1},
  {.name = "rmsnorm",     .args = "TTN",   .arg_names = "x, weight, eps", .op = IR_RMSNORM,      .attr_arg = 2,  .transpose_arg = -1},
  {.name = "matmul",      .args = "TT",    .arg_names = "a, b",           .op = IR_MATMUL,       .attr_arg = -1, .transpose_arg = 1},
  {.name = "rope",        .args = "T|N",   .arg_names = "x, theta",       .op = IR_ROPE,         .attr_arg = 1,  .transpose_arg = -1,
   .attr_default = 10000.0},
  {.name = "append",      .args = "TT",    .arg_names = "cache, x",       .op = IR_CACHE_APPEND, .attr_arg = -1, .transpose_arg = -1,
   .build = build_append},
  {.name = "attention",   .args = "TTT|N", .arg_names = "q, k, v, scale", .op = IR_ATTENTION,    .attr_arg = 3,  .transpose_arg = -1,
   .build = build_attention},
  {.name = "silu",        .args = "T",     .arg_names = "x",              .op = IR_SILU,         .attr_arg = -1, .transpose_arg = -1},
  {.name = "softmax",     .args = "T",     .arg_names = "x",              .op = IR_SOFTMAX,      .attr_arg = -1, .transpose_arg = -1},
  {.name = "causal_mask", .args = "T",     .arg_names = "x",              .op = IR_CAUSAL_MASK,  .attr_arg = -1, .transpose_arg = -1},
  {.name = "add",         .args = "TT",    .arg_names = "a, b",           .op = IR_ADD,          .attr_arg = -1, .transpose_arg = -1},
  {.name = "mul",         .args = "TT",    .arg_names = "a, b",           .op = IR_MUL,          .attr_arg = -1, .transpose_arg = -1},
  {.name = "reshape",     .args = "TL",    .arg_names = "x, shape",       .op = IR_RESHAPE,      .attr_arg = -1, .transpose_arg = -1,
   .build = build_reshape},
  {.name = "last",        .args = "T",     .arg_names = "x",              .op = IR_LAST,         .attr_arg = -1, .transpose_arg = -1},
  {.name = "transpose",   .args = "T",     .arg_names = "x",              .op = IR_TRANSPOSE,    .attr_arg = -1, .transpose_arg = -1},
  {.name = "sqrt",        .args = "N",     .arg_names = "x",              .op = IR_DEAD,         .attr_arg = -1, .transpose_arg = -1,
   .build = build_sqrt},
};
/* clang-format on */

const builtin_t *builtin_find(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

char builtin_arg_kind(const builtin_t *op, int i) {
  for (const char *p = op->args; *p; p++) {
    if (*p == '|') continue;
    if (i-- == 0) return *p;
  }
  return 0;
}

void builtin_arg_name(const builtin_t *op, int i, char *buf, size_t size) {
  const char *p = op->arg_names;
  for (int k = 0; k < i && p; k++) {
    p = strchr(p, ',');
    if (p) p += 2;
  }
  if (!p) {
    snprintf(buf, size, "?");
    return;
  }
  size_t n = strcspn(p, ",");
  snprintf(buf, size, "%.*s", (int)n, p);
}

/* One node of op->op with inputs `in` (the call's leading tensors). */
static value_t add_op_node(sema_t *s, const builtin_t *op, const builtin_call_t *call, int n_inputs,
                           const int *in, double attr) {
  int64_t i0 = op->transpose_arg >= 0 && call->transposed[op->transpose_arg];
  return sema_add_node(s, op->op, n_inputs, in, call->expr->name_loc, i0, attr);
}

/* The call's leading tensor arguments as node ids; returns how many. */
static int tensor_inputs(const builtin_t *op, const builtin_call_t *call, int *in) {
  int n = 0;
  while (n < call->n && builtin_arg_kind(op, n) == 'T') {
    in[n] = call->args[n].node;
    n++;
  }
  return n;
}

value_t builtin_build_node(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call) {
  (void)sc;
  int in[BUILTIN_MAX_ARGS];
  int n_inputs = tensor_inputs(op, call, in);
  double attr = op->attr_default;
  if (op->attr_arg >= 0 && op->attr_arg < call->n) attr = number(&call->args[op->attr_arg]);
  return add_op_node(s, op, call, n_inputs, in, attr);
}

/* append(cache, x): the first operand must be a declared cache. */
static value_t build_append(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call) {
  if (s->g->nodes[call->args[0].node].op != IR_CACHE)
    return sema_error(s, call->expr->args.items[0]->loc,
                      "append: argument 1 (cache) must be a cache declared with 'cache'");
  return builtin_build_node(s, sc, op, call);
}

/* attention(q, k, v[, scale]): k and v must be cache appends; the scale
 * defaults to 1/sqrt(head_dim) when head_dim is a constant. */
static value_t build_attention(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call) {
  (void)sc;
  int in[BUILTIN_MAX_ARGS];
  int n_inputs = tensor_inputs(op, call, in);
  for (int i = 1; i < 3; i++)
    if (s->g->nodes[in[i]].op != IR_CACHE_APPEND)
      return sema_error(s, call->expr->args.items[i]->loc,
                        "attention: argument %d (%s) must be the result of append(cache, ...)", i + 1,
                        i == 1 ? "k" : "v");
  const ir_type_t *q = &s->g->nodes[in[0]].type;
  double scale = 0;
  if (call->n > op->attr_arg) {
    scale = number(&call->args[op->attr_arg]);
  } else if (q->rank == 3 && q->dims[2].sym < 0) {
    scale = 1.0 / sqrt((double)q->dims[2].coeff);
  }
  return add_op_node(s, op, call, n_inputs, in, scale);
}

/* reshape(x, [d0, d1, ...]): the same elements in a new shape. */
static value_t build_reshape(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call) {
  const ast_expr_t *e = call->expr;
  const ast_expr_t *list = e->args.items[1];
  value_t x = call->args[0];
  ir_type_t t = s->g->nodes[x.node].type;
  if (!sema_eval_dims(s, sc, &list->args, list->loc, true, &t)) return error_value;
  const ir_type_t *src = &s->g->nodes[x.node].type;
  if (ir_type_elems(src, 1) != ir_type_elems(&t, 1) || ir_type_elems(src, 7) != ir_type_elems(&t, 7)) {
    char a[160], b[160];
    return sema_error(s, e->name_loc, "reshape: element count differs: %s -> %s", sema_type_str(s, src, a, sizeof a),
                      sema_type_str(s, &t, b, sizeof b));
  }
  value_t r = sema_add_node(s, op->op, 1, &x.node, e->name_loc, 0, 0);
  if (r.kind == V_TENSOR) s->g->nodes[r.node].type = t;
  return r;
}

/* sqrt(x): constant arithmetic, no node. */
static value_t build_sqrt(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call) {
  (void)sc;
  (void)op;
  double x = number(&call->args[0]);
  if (x < 0) return sema_error(s, call->expr->args.items[0]->loc, "sqrt of a negative number");
  return float_value(sqrt(x));
}
