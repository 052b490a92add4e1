/* Sema's expressions: constants and dimensions folded as they are read,
 * tensor expressions turned into typed IR nodes, and calls (of blocks, which
 * sema_stmt.c inlines, and of built-in ops). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "builtins.h"
#include "sema_impl.h"

/* ---- constants and dimensions -------------------------------------------- */

static value_t fold_numbers(sema_t *s, const ast_expr_t *e, value_t a, value_t b) {
  int op = e->op;
  if (op == '@') return sema_error(s, e->name_loc, "'@' needs two tensors, got numbers");
  if (a.kind == V_INT && b.kind == V_INT) {
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case '+': overflow = __builtin_add_overflow(a.i, b.i, &r); break;
    case '-': overflow = __builtin_sub_overflow(a.i, b.i, &r); break;
    case '*': overflow = __builtin_mul_overflow(a.i, b.i, &r); break;
    case '/':
    case '%':
      if (b.i == 0) return sema_error(s, e->name_loc, "division by zero in constant expression");
      if (a.i == INT64_MIN && b.i == -1) overflow = true;
      else r = op == '/' ? a.i / b.i : a.i % b.i;
      break;
    }
    if (overflow) return sema_error(s, e->name_loc, "integer overflow in constant expression");
    return int_value(r);
  }
  double x = number(&a), y = number(&b);
  switch (op) {
  case '+': return float_value(x + y);
  case '-': return float_value(x - y);
  case '*': return float_value(x * y);
  case '/':
    if (y == 0.0) return sema_error(s, e->name_loc, "division by zero in constant expression");
    return float_value(x / y);
  default: return sema_error(s, e->name_loc, "'%%' needs integers, got a fractional number");
  }
}

/* A symbolic dimension times or divided by an integer. */
static value_t fold_dims(sema_t *s, const ast_expr_t *e, value_t a, value_t b) {
  if (a.kind == V_INT && b.kind == V_DIM && e->op == '*') {
    value_t t = a;
    a = b;
    b = t;
  }
  if (a.kind == V_DIM && b.kind == V_INT && (e->op == '*' || e->op == '/')) {
    int64_t c = a.dim.coeff;
    if (e->op == '*') {
      if (__builtin_mul_overflow(c, b.i, &c)) return sema_error(s, e->name_loc, "integer overflow in constant expression");
    } else {
      if (b.i == 0) return sema_error(s, e->name_loc, "division by zero in constant expression");
      if (c % b.i != 0)
        return sema_error(s, e->name_loc, "a symbolic dimension divided by %lld is not a whole multiple of it",
                          (long long)b.i);
      c /= b.i;
    }
    if (c <= 0) return sema_error(s, e->name_loc, "a symbolic dimension must stay positive");
    return (value_t){.kind = V_DIM, .dim = {c, a.dim.sym}};
  }
  return sema_error(s, e->name_loc,
                    "a symbolic dimension can only be multiplied or divided by an integer constant");
}

/* Checks a value used as a dimension. */
static bool as_dim(sema_t *s, value_t v, ast_loc_t loc, bool allow_symbol, ir_dim_t *out) {
  char d[160];
  switch (v.kind) {
  case V_ERROR: return false;
  case V_INT:
    if (v.i <= 0) {
      sema_error(s, loc, "dimension must be positive, got %lld", (long long)v.i);
      return false;
    }
    if (v.i > SEMA_MAX_DIM) {
      sema_error(s, loc, "dimension %lld is too large (the limit is %lld)", (long long)v.i, (long long)SEMA_MAX_DIM);
      return false;
    }
    *out = (ir_dim_t){v.i, -1};
    return true;
  case V_DIM:
    if (!allow_symbol) {
      sema_error(s, loc, "dimension must be a constant here, got a symbolic dimension");
      return false;
    }
    if (v.dim.coeff > SEMA_MAX_DIM) {
      sema_error(s, loc, "dimension is too large");
      return false;
    }
    *out = v.dim;
    return true;
  case V_FLOAT:
    sema_error(s, loc, "dimension must be an integer, got %g", v.f);
    return false;
  default:
    sema_error(s, loc, "dimension must be an integer, got %s", sema_describe(s, &v, d, sizeof d));
    return false;
  }
}

bool sema_parse_dtype(const char *name, greta_dtype_t *out) {
  static const struct { const char *name; greta_dtype_t dtype; } dtypes[] = {
      {"f32", GRETA_F32}, {"f16", GRETA_F16}, {"bf16", GRETA_BF16}, {"i32", GRETA_I32}};
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(name, dtypes[i].name) == 0) {
      *out = dtypes[i].dtype;
      return true;
    }
  return false;
}

/* Evaluates a list of dimension expressions into a type's dims. */
bool sema_eval_dims(sema_t *s, scope_t *sc, const ast_expr_list_t *dims, ast_loc_t loc,
                      bool allow_symbol, ir_type_t *out) {
  if (dims->n < 1 || dims->n > GRETA_MAX_RANK) {
    sema_error(s, loc, "a tensor has 1 to %d dimensions, got %d", GRETA_MAX_RANK, dims->n);
    return false;
  }
  bool ok = true;
  out->rank = dims->n;
  for (int i = 0; i < dims->n; i++)
    ok = as_dim(s, sema_eval(s, sc, dims->items[i]), dims->items[i]->loc, allow_symbol, &out->dims[i]) && ok;
  return ok;
}

/* A tensor type as written (`f32[T, dim]`). */
bool sema_eval_tensor_type(sema_t *s, scope_t *sc, const ast_type_t *t, ir_type_t *out) {
  memset(out, 0, sizeof *out);
  if (!t->is_tensor || !t->dtype) {
    sema_error(s, t->loc, "expected a tensor type such as f32[T, dim], got '%s'", t->dtype ? t->dtype : "[...]");
    return false;
  }
  if (!sema_parse_dtype(t->dtype, &out->dtype)) {
    sema_error(s, t->dtype_loc, "unknown dtype '%s' (expected f32, f16, bf16 or i32)", t->dtype);
    return false;
  }
  return sema_eval_dims(s, sc, &t->dims, t->loc, true, out);
}

/* ---- expressions --------------------------------------------------------- */

static value_t eval_binary(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  bool transposed = false;
  value_t a = sema_eval(s, sc, e->lhs);
  value_t b = e->op == '@' ? sema_eval_tensor_arg(s, sc, e->rhs, &transposed) : sema_eval(s, sc, e->rhs);
  if (a.kind == V_ERROR || b.kind == V_ERROR) return error_value;
  if (is_number(&a) && is_number(&b)) return fold_numbers(s, e, a, b);
  if ((a.kind == V_DIM || b.kind == V_DIM) && a.kind != V_TENSOR && b.kind != V_TENSOR)
    return fold_dims(s, e, a, b);
  char da[200], db[200];
  if (a.kind == V_TENSOR && b.kind == V_TENSOR) {
    int in[2] = {a.node, b.node};
    /* A vector added to a matrix: a bias, broadcast over the rows. */
    const ir_type_t *ta = &s->g->nodes[a.node].type, *tb = &s->g->nodes[b.node].type;
    if ((e->op == '+' || e->op == '-') && ta->rank != tb->rank && (ta->rank == 1 || tb->rank == 1)) {
      if (e->op == '-' && tb->rank != 1)
        return sema_error(s, e->name_loc, "a vector minus a matrix is not defined (write -m + v)");
      int x = ta->rank == 1 ? b.node : a.node, bias = ta->rank == 1 ? a.node : b.node;
      if (e->op == '-') {
        value_t nb = sema_add_scale(s, b, -1.0, e->name_loc);
        if (nb.kind == V_ERROR) return nb;
        bias = nb.node;
      }
      return sema_add_node(s, IR_BIAS_ADD, 2, (int[2]){x, bias}, e->name_loc, 0, 0);
    }
    switch (e->op) {
    case '+': return sema_add_node(s, IR_ADD, 2, in, e->name_loc, 0, 0);
    case '*': return sema_add_node(s, IR_MUL, 2, in, e->name_loc, 0, 0);
    case '@': return sema_add_node(s, IR_MATMUL, 2, in, e->name_loc, transposed, 0);
    case '-': {
      value_t nb = sema_add_scale(s, b, -1.0, e->name_loc);
      if (nb.kind == V_ERROR) return nb;
      int in2[2] = {a.node, nb.node};
      return sema_add_node(s, IR_ADD, 2, in2, e->name_loc, 0, 0);
    }
    default:
      return sema_error(s, e->name_loc, "'%c' is not defined between two tensors (use * by a number)", e->op);
    }
  }
  if (a.kind == V_TENSOR && is_number(&b) && (e->op == '*' || e->op == '/')) {
    double f = number(&b);
    if (e->op == '/') {
      if (f == 0.0) return sema_error(s, e->name_loc, "division by zero");
      f = 1.0 / f;
    }
    return sema_add_scale(s, a, f, e->name_loc);
  }
  if (is_number(&a) && b.kind == V_TENSOR && e->op == '*') return sema_add_scale(s, b, number(&a), e->name_loc);
  return sema_error(s, e->name_loc, "'%c' cannot combine %s and %s", e->op, sema_describe(s, &a, da, sizeof da),
                    sema_describe(s, &b, db, sizeof db));
}

static value_t eval_name(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  binding_t *b = scope_lookup(sc, e->name);
  if (!b) {
    binding_t *hidden = NULL;
    for (scope_t *p = sc; p && !hidden; p = p->parent) hidden = scope_find_local(p, e->name);
    if (hidden)
      return sema_error(s, e->loc, "'%s' is a tensor of the model's top level: a block sees only its "
                                 "parameters, its own names and constants", e->name);
    return sema_error(s, e->loc, "unknown identifier '%s'", e->name);
  }
  if (b->value.kind == V_BLOCK)
    return sema_error(s, e->loc, "'%s' is a block: call it, as %s(...)", e->name, e->name);
  if (b->value.kind == V_PENDING_OUTPUT)
    return sema_error(s, e->loc, "output '%s' is used before it is produced", e->name);
  return b->value;
}

static value_t eval_member(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  value_t x = sema_eval(s, sc, e->lhs);
  if (x.kind == V_ERROR) return x;
  if (strcmp(e->name, "T") != 0)
    return sema_error(s, e->name_loc, "unknown member '.%s' (only .T, the transpose, exists)", e->name);
  if (x.kind != V_TENSOR) {
    char d[200];
    return sema_error(s, e->name_loc, ".T needs a tensor, got %s", sema_describe(s, &x, d, sizeof d));
  }
  return sema_add_node(s, IR_TRANSPOSE, 1, &x.node, e->name_loc, 0, 0);
}

/* An operand that may be written `w.T`: the .T is left to the consumer (a
 * matmul reads the weight as stored) rather than made a transpose node. */
value_t sema_eval_tensor_arg(sema_t *s, scope_t *sc, const ast_expr_t *e, bool *transposed) {
  *transposed = false;
  if (e->kind == AST_MEMBER && strcmp(e->name, "T") == 0) {
    value_t x = sema_eval(s, sc, e->lhs);
    if (x.kind == V_TENSOR) {
      *transposed = true;
      return x;
    }
    if (x.kind == V_ERROR) return x;
  }
  return sema_eval(s, sc, e);
}

/* A call: of a block (inlined by sema_call_block) or of a built-in op,
 * whose arguments are checked against its row in builtins.c. */
static value_t eval_call(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  binding_t *bound = scope_lookup(sc, e->name);
  if (bound && bound->value.kind == V_BLOCK) return sema_call_block(s, sc, e, bound->value.block);
  const builtin_t *b = builtin_find(e->name);
  if (!b) {
    if (bound) return sema_error(s, e->name_loc, "'%s' is not a block or an op", e->name);
    return sema_error(s, e->name_loc, "unknown op '%s'", e->name);
  }
  int required = (int)strcspn(b->args, "|");
  int most = (int)strlen(b->args) - (strchr(b->args, '|') ? 1 : 0);
  int n = e->args.n;
  if (n < required || n > most) {
    if (required == most)
      return sema_error(s, e->name_loc, "wrong number of arguments: %s takes %d (%s), got %d", b->name, required,
                        b->arg_names, n);
    return sema_error(s, e->name_loc, "wrong number of arguments: %s takes %d to %d (%s), got %d", b->name,
                      required, most, b->arg_names, n);
  }
  builtin_call_t call = {.expr = e, .n = n};
  bool failed = false;
  for (int i = 0; i < n; i++) {
    char kind = builtin_arg_kind(b, i);
    const ast_expr_t *a = e->args.items[i];
    char an[32], d[200];
    builtin_arg_name(b, i, an, sizeof an);
    if (kind == 'L') {
      if (a->kind != AST_LIST) {
        sema_error(s, a->loc, "%s: argument %d (%s) must be a shape list such as [T, heads, head_dim]", b->name,
                   i + 1, an);
        failed = true;
      }
      call.args[i] = error_value;
      continue;
    }
    value_t *v = &call.args[i];
    *v = kind == 'T' ? sema_eval_tensor_arg(s, sc, a, &call.transposed[i]) : sema_eval(s, sc, a);
    if (v->kind == V_ERROR) {
      failed = true;
    } else if (kind == 'T' && v->kind != V_TENSOR) {
      sema_error(s, a->loc, "%s: argument %d (%s) must be a tensor, got %s", b->name, i + 1, an,
                 sema_describe(s, v, d, sizeof d));
      failed = true;
    } else if (kind == 'N' && !is_number(v)) {
      sema_error(s, a->loc, "%s: argument %d (%s) must be a number, got %s", b->name, i + 1, an,
                 sema_describe(s, v, d, sizeof d));
      failed = true;
    }
  }
  if (failed) return error_value;
  /* A transposed operand is folded only where the op's row says so (matmul's
   * b); anywhere else it is a transpose node. */
  for (int i = 0; i < n; i++) {
    if (call.transposed[i] && i != b->transpose_arg) {
      call.transposed[i] = false;
      call.args[i] = sema_add_node(s, IR_TRANSPOSE, 1, &call.args[i].node, e->args.items[i]->name_loc, 0, 0);
      if (call.args[i].kind == V_ERROR) return call.args[i];
    }
  }
  return (b->build ? b->build : builtin_build_node)(s, sc, b, &call);
}

value_t sema_eval(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  if (diag_stopped(s->diag)) return error_value;
  switch (e->kind) {
  case AST_INT: return int_value(e->ival);
  case AST_FLOAT: return float_value(e->fval);
  case AST_NAME: return eval_name(s, sc, e);
  case AST_BINARY: return eval_binary(s, sc, e);
  case AST_NEG: {
    value_t v = sema_eval(s, sc, e->lhs);
    if (v.kind == V_INT) {
      if (v.i == INT64_MIN) return sema_error(s, e->loc, "integer overflow in constant expression");
      return int_value(-v.i);
    }
    if (v.kind == V_FLOAT) return float_value(-v.f);
    if (v.kind == V_TENSOR) return sema_add_scale(s, v, -1.0, e->loc);
    if (v.kind == V_ERROR) return v;
    char d[200];
    return sema_error(s, e->loc, "cannot negate %s", sema_describe(s, &v, d, sizeof d));
  }
  case AST_CALL: return eval_call(s, sc, e);
  case AST_MEMBER: return eval_member(s, sc, e);
  case AST_LIST: return sema_error(s, e->loc, "a list [...] is only allowed as the shape argument of reshape");
  }
  return error_value;
}
