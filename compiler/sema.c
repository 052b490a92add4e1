/* Semantic analysis: the AST of a .gm file -> the flat, typed IR.
 *
 * The checker is an evaluator. Constants are folded as they are read;
 * a block call evaluates the block's body in a fresh scope (inlining it);
 * `repeat` evaluates its body once per index (unrolling it). Tensor
 * expressions append IR nodes, each typed by ir_infer_type on the spot, so a
 * shape error points at the expression that caused it.
 *
 * Errors never stop the walk: a failed expression yields an error value,
 * which later expressions pass along silently, so one mistake is reported
 * once. Scopes: the file scope holds constants, dimensions, blocks and the
 * model's tensors; a block's scope sees its parameters and locals and, from
 * the file scope, only constants, dimensions and blocks.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"
#include "passes.h"
#include "sema.h"
#include "strbuf.h"

#define SEMA_MAX_CALL_DEPTH 32        /* nested block calls */
#define SEMA_MAX_TRIPS 4096           /* iterations of one repeat */
#define SEMA_MAX_WORK 100000          /* statements evaluated after unrolling */
#define SEMA_MAX_NODES 100000         /* IR nodes (Llama-2-70B needs ~3500) */
#define SEMA_MAX_DIM ((int64_t)1 << 31) /* largest dimension */

/* ---- values and scopes --------------------------------------------------- */

typedef enum value_kind_e {
  V_ERROR,          /* already reported */
  V_INT,            /* i */
  V_FLOAT,          /* f */
  V_DIM,            /* dim: a multiple of a symbolic dimension */
  V_TENSOR,         /* node */
  V_BLOCK,          /* block */
  V_PENDING_OUTPUT, /* `output y: type` not yet assigned; type */
} value_kind_t;

typedef struct value_s {
  value_kind_t kind;
  int64_t i;
  double f;
  ir_dim_t dim;
  int node;
  const ast_stmt_t *block;
  ir_type_t type;
} value_t;

static const value_t error_value = {.kind = V_ERROR};

typedef struct binding_s {
  const char *name; /* borrowed from the AST */
  ast_loc_t loc;
  value_t value;
} binding_t;

typedef struct scope_s {
  struct scope_s *parent;
  bool barrier; /* a block's scope: past it, only constants, dims, blocks */
  bool loop;    /* a repeat body: names of the enclosing scope may be re-bound */
  int n, cap;
  binding_t *items;
} scope_t;

typedef struct sema_s {
  diag_t *diag;
  ir_graph_t *g;
  scope_t *file_scope;
  const ast_stmt_t *calls[SEMA_MAX_CALL_DEPTH]; /* the blocks being inlined */
  int n_calls;
  const char *instance; /* cache name prefix of the innermost call ("layers.3.") */
  int64_t work;
  bool weight_dtype_set;
  bool model_named;
  ast_loc_t model_loc;
  int *leaf_table; /* open addressing: node ids of weights and caches by name; -1 empty */
  size_t leaf_cap;
  size_t n_leaves;
} sema_t;

/* What a statement list is evaluated inside. */
typedef struct frame_s {
  const ast_stmt_t *block; /* NULL at file level */
  bool returned;
  value_t result;
  ast_loc_t return_loc;
} frame_t;

static binding_t *scope_find_local(scope_t *sc, const char *name) {
  for (int i = sc->n - 1; i >= 0; i--)
    if (strcmp(sc->items[i].name, name) == 0) return &sc->items[i];
  return NULL;
}

static bool visible_across_barrier(const value_t *v) {
  return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_DIM || v->kind == V_BLOCK ||
         v->kind == V_ERROR;
}

/* Finds `name` in sc and its parents, obeying block barriers. */
static binding_t *scope_lookup(scope_t *sc, const char *name) {
  bool crossed = false;
  for (; sc; sc = sc->parent) {
    binding_t *b = scope_find_local(sc, name);
    if (b && (!crossed || visible_across_barrier(&b->value))) return b;
    if (sc->barrier) crossed = true;
  }
  return NULL;
}

static bool scope_add(scope_t *sc, const char *name, ast_loc_t loc, value_t v) {
  if (sc->n == sc->cap) {
    int cap = sc->cap ? 2 * sc->cap : 16;
    binding_t *items = realloc(sc->items, (size_t)cap * sizeof *items);
    if (!items) return false;
    sc->items = items;
    sc->cap = cap;
  }
  sc->items[sc->n++] = (binding_t){name, loc, v};
  return true;
}

static void scope_deinit(scope_t *sc) {
  free(sc->items);
  sc->items = NULL;
  sc->n = sc->cap = 0;
}

/* ---- messages ------------------------------------------------------------ */

static value_t error_at(sema_t *s, ast_loc_t loc, const char *fmt, ...) DIAG_PRINTF(3, 4);
static value_t error_at(sema_t *s, ast_loc_t loc, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(s->diag, loc.first_line, loc.first_column, ast_loc_width(loc), "%s", msg);
  return error_value;
}

static void note_at(sema_t *s, ast_loc_t loc, const char *fmt, const char *arg) {
  diag_note(s->diag, loc.first_line, loc.first_column, ast_loc_width(loc), fmt, arg);
}

static const char *type_str(sema_t *s, const ir_type_t *t, char *buf, size_t size) {
  return ir_type_str(s->g, t, buf, size);
}

/* "an integer (3)", "a tensor f32[T, 64]", ... for "expected X, got Y". */
static const char *describe(sema_t *s, const value_t *v, char *buf, size_t size) {
  char t[160];
  switch (v->kind) {
  case V_INT: snprintf(buf, size, "the integer %lld", (long long)v->i); break;
  case V_FLOAT: snprintf(buf, size, "the number %g", v->f); break;
  case V_DIM: snprintf(buf, size, "a symbolic dimension"); break;
  case V_TENSOR: snprintf(buf, size, "a tensor %s", type_str(s, &s->g->nodes[v->node].type, t, sizeof t)); break;
  case V_BLOCK: snprintf(buf, size, "the block '%s'", v->block->name); break;
  case V_PENDING_OUTPUT: snprintf(buf, size, "an output not yet produced"); break;
  case V_ERROR: snprintf(buf, size, "an error"); break;
  }
  return buf;
}

static ir_loc_t ir_loc(sema_t *s, ast_loc_t loc) {
  return (ir_loc_t){s->g->file, loc.first_line, loc.first_column};
}

/* ---- named leaves ---------------------------------------------------------- */

/* Weights and caches are found by name through a hash table, so a model with
 * many of them stays linear. */
static size_t name_hash(ir_op_t op, const char *name) {
  size_t h = 1469598103934665603u ^ (size_t)op;
  for (; *name; name++) h = (h ^ (unsigned char)*name) * 1099511628211u;
  return h;
}

static int leaf_find(const sema_t *s, ir_op_t op, const char *name) {
  if (!s->leaf_cap) return -1;
  for (size_t i = name_hash(op, name) & (s->leaf_cap - 1);; i = (i + 1) & (s->leaf_cap - 1)) {
    int id = s->leaf_table[i];
    if (id < 0) return -1;
    if (s->g->nodes[id].op == op && strcmp(s->g->nodes[id].name, name) == 0) return id;
  }
}

static bool leaf_insert(sema_t *s, int id) {
  if (2 * (s->n_leaves + 1) > s->leaf_cap) {
    size_t cap = s->leaf_cap ? 2 * s->leaf_cap : 64;
    int *table = malloc(cap * sizeof *table);
    if (!table) return false;
    for (size_t i = 0; i < cap; i++) table[i] = -1;
    int *old = s->leaf_table;
    size_t old_cap = s->leaf_cap;
    s->leaf_table = table;
    s->leaf_cap = cap;
    s->n_leaves = 0;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i] >= 0) leaf_insert(s, old[i]);
    free(old);
  }
  const ir_node_t *n = &s->g->nodes[id];
  size_t i = name_hash(n->op, n->name) & (s->leaf_cap - 1);
  while (s->leaf_table[i] >= 0) i = (i + 1) & (s->leaf_cap - 1);
  s->leaf_table[i] = id;
  s->n_leaves++;
  return true;
}

/* ---- IR construction ----------------------------------------------------- */

static bool types_equal(const ir_type_t *a, const ir_type_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i].coeff != b->dims[i].coeff || a->dims[i].sym != b->dims[i].sym) return false;
  return true;
}

static value_t tensor(int node) { return (value_t){.kind = V_TENSOR, .node = node}; }

static bool out_of_room(sema_t *s, ast_loc_t loc) {
  if (s->g->n_nodes < SEMA_MAX_NODES) return false;
  diag_fatal(s->diag, loc.first_line, loc.first_column, 1,
             "model too large: more than %d IR nodes after inlining and unrolling", SEMA_MAX_NODES);
  return true;
}

/* Adds a compute node, infers its type, and reports a mismatch at `loc`. */
static value_t add_node(sema_t *s, ir_op_t op, int n_inputs, const int *inputs, ast_loc_t loc,
                        int64_t i0, double f0) {
  if (out_of_room(s, loc)) return error_value;
  int id = ir_add(s->g, op, n_inputs, inputs, NULL, ir_loc(s, loc));
  if (id < 0) {
    diag_fatal(s->diag, loc.first_line, loc.first_column, 1, "out of memory");
    return error_value;
  }
  s->g->nodes[id].i[0] = i0;
  s->g->nodes[id].f[0] = f0;
  char err[512];
  if (!ir_infer_type(s->g, id, err, sizeof err)) {
    s->g->nodes[id].op = IR_DEAD;
    s->g->nodes[id].n_inputs = 0;
    return error_at(s, loc, "%s", err);
  }
  return tensor(id);
}

static value_t add_leaf(sema_t *s, ir_op_t op, const char *name, const ir_type_t *type, ast_loc_t loc) {
  if (out_of_room(s, loc)) return error_value;
  int id = ir_add(s->g, op, 0, NULL, name, ir_loc(s, loc));
  if (id < 0) {
    diag_fatal(s->diag, loc.first_line, loc.first_column, 1, "out of memory");
    return error_value;
  }
  s->g->nodes[id].type = *type;
  if ((op == IR_WEIGHT || op == IR_CACHE) && !leaf_insert(s, id)) {
    diag_fatal(s->diag, loc.first_line, loc.first_column, 1, "out of memory");
    return error_value;
  }
  return tensor(id);
}

/* x * factor, folding a scale of a scale. */
static value_t add_scale(sema_t *s, value_t x, double factor, ast_loc_t loc) {
  const ir_node_t *n = &s->g->nodes[x.node];
  if (n->op == IR_SCALE) {
    factor *= n->f[0];
    x = tensor(n->inputs[0]);
  }
  if (factor == 1.0) return x;
  return add_node(s, IR_SCALE, 1, &x.node, loc, 0, factor);
}

/* ---- constants and dimensions -------------------------------------------- */

static bool is_number(const value_t *v) { return v->kind == V_INT || v->kind == V_FLOAT; }
static double number(const value_t *v) { return v->kind == V_INT ? (double)v->i : v->f; }

static value_t int_value(int64_t i) { return (value_t){.kind = V_INT, .i = i}; }
static value_t float_value(double f) { return (value_t){.kind = V_FLOAT, .f = f}; }

static value_t fold_numbers(sema_t *s, const ast_expr_t *e, value_t a, value_t b) {
  int op = e->op;
  if (op == '@') return error_at(s, e->name_loc, "'@' needs two tensors, got numbers");
  if (a.kind == V_INT && b.kind == V_INT) {
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case '+': overflow = __builtin_add_overflow(a.i, b.i, &r); break;
    case '-': overflow = __builtin_sub_overflow(a.i, b.i, &r); break;
    case '*': overflow = __builtin_mul_overflow(a.i, b.i, &r); break;
    case '/':
    case '%':
      if (b.i == 0) return error_at(s, e->name_loc, "division by zero in constant expression");
      if (a.i == INT64_MIN && b.i == -1) overflow = true;
      else r = op == '/' ? a.i / b.i : a.i % b.i;
      break;
    }
    if (overflow) return error_at(s, e->name_loc, "integer overflow in constant expression");
    return int_value(r);
  }
  double x = number(&a), y = number(&b);
  switch (op) {
  case '+': return float_value(x + y);
  case '-': return float_value(x - y);
  case '*': return float_value(x * y);
  case '/':
    if (y == 0.0) return error_at(s, e->name_loc, "division by zero in constant expression");
    return float_value(x / y);
  default: return error_at(s, e->name_loc, "'%%' needs integers, got a fractional number");
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
      if (__builtin_mul_overflow(c, b.i, &c)) return error_at(s, e->name_loc, "integer overflow in constant expression");
    } else {
      if (b.i == 0) return error_at(s, e->name_loc, "division by zero in constant expression");
      if (c % b.i != 0)
        return error_at(s, e->name_loc, "a symbolic dimension divided by %lld is not a whole multiple of it",
                        (long long)b.i);
      c /= b.i;
    }
    if (c <= 0) return error_at(s, e->name_loc, "a symbolic dimension must stay positive");
    return (value_t){.kind = V_DIM, .dim = {c, a.dim.sym}};
  }
  return error_at(s, e->name_loc,
                  "a symbolic dimension can only be multiplied or divided by an integer constant");
}

/* Checks a value used as a dimension. */
static bool as_dim(sema_t *s, value_t v, ast_loc_t loc, bool allow_symbol, ir_dim_t *out) {
  char d[160];
  switch (v.kind) {
  case V_ERROR: return false;
  case V_INT:
    if (v.i <= 0) {
      error_at(s, loc, "dimension must be positive, got %lld", (long long)v.i);
      return false;
    }
    if (v.i > SEMA_MAX_DIM) {
      error_at(s, loc, "dimension %lld is too large (the limit is %lld)", (long long)v.i, (long long)SEMA_MAX_DIM);
      return false;
    }
    *out = (ir_dim_t){v.i, -1};
    return true;
  case V_DIM:
    if (!allow_symbol) {
      error_at(s, loc, "dimension must be a constant here, got a symbolic dimension");
      return false;
    }
    if (v.dim.coeff > SEMA_MAX_DIM) {
      error_at(s, loc, "dimension is too large");
      return false;
    }
    *out = v.dim;
    return true;
  case V_FLOAT:
    error_at(s, loc, "dimension must be an integer, got %g", v.f);
    return false;
  default:
    error_at(s, loc, "dimension must be an integer, got %s", describe(s, &v, d, sizeof d));
    return false;
  }
}

static value_t eval(sema_t *s, scope_t *sc, const ast_expr_t *e);

static bool parse_dtype(const char *name, greta_dtype_t *out) {
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
static bool eval_dims(sema_t *s, scope_t *sc, const ast_expr_list_t *dims, ast_loc_t loc,
                      bool allow_symbol, ir_type_t *out) {
  if (dims->n < 1 || dims->n > GRETA_MAX_RANK) {
    error_at(s, loc, "a tensor has 1 to %d dimensions, got %d", GRETA_MAX_RANK, dims->n);
    return false;
  }
  bool ok = true;
  out->rank = dims->n;
  for (int i = 0; i < dims->n; i++)
    ok = as_dim(s, eval(s, sc, dims->items[i]), dims->items[i]->loc, allow_symbol, &out->dims[i]) && ok;
  return ok;
}

/* A tensor type as written (`f32[T, dim]`). */
static bool eval_tensor_type(sema_t *s, scope_t *sc, const ast_type_t *t, ir_type_t *out) {
  memset(out, 0, sizeof *out);
  if (!t->is_tensor || !t->dtype) {
    error_at(s, t->loc, "expected a tensor type such as f32[T, dim], got '%s'", t->dtype ? t->dtype : "[...]");
    return false;
  }
  if (!parse_dtype(t->dtype, &out->dtype)) {
    error_at(s, t->dtype_loc, "unknown dtype '%s' (expected f32, f16, bf16 or i32)", t->dtype);
    return false;
  }
  return eval_dims(s, sc, &t->dims, t->loc, true, out);
}

/* ---- expressions --------------------------------------------------------- */

static value_t eval_tensor_arg(sema_t *s, scope_t *sc, const ast_expr_t *e, bool *transposed);

static value_t eval_binary(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  bool transposed = false;
  value_t a = eval(s, sc, e->lhs);
  value_t b = e->op == '@' ? eval_tensor_arg(s, sc, e->rhs, &transposed) : eval(s, sc, e->rhs);
  if (a.kind == V_ERROR || b.kind == V_ERROR) return error_value;
  if (is_number(&a) && is_number(&b)) return fold_numbers(s, e, a, b);
  if ((a.kind == V_DIM || b.kind == V_DIM) && a.kind != V_TENSOR && b.kind != V_TENSOR)
    return fold_dims(s, e, a, b);
  char da[200], db[200];
  if (a.kind == V_TENSOR && b.kind == V_TENSOR) {
    int in[2] = {a.node, b.node};
    switch (e->op) {
    case '+': return add_node(s, IR_ADD, 2, in, e->name_loc, 0, 0);
    case '*': return add_node(s, IR_MUL, 2, in, e->name_loc, 0, 0);
    case '@': return add_node(s, IR_MATMUL, 2, in, e->name_loc, transposed, 0);
    case '-': {
      value_t nb = add_scale(s, b, -1.0, e->name_loc);
      if (nb.kind == V_ERROR) return nb;
      int in2[2] = {a.node, nb.node};
      return add_node(s, IR_ADD, 2, in2, e->name_loc, 0, 0);
    }
    default:
      return error_at(s, e->name_loc, "'%c' is not defined between two tensors (use * by a number)", e->op);
    }
  }
  if (a.kind == V_TENSOR && is_number(&b) && (e->op == '*' || e->op == '/')) {
    double f = number(&b);
    if (e->op == '/') {
      if (f == 0.0) return error_at(s, e->name_loc, "division by zero");
      f = 1.0 / f;
    }
    return add_scale(s, a, f, e->name_loc);
  }
  if (is_number(&a) && b.kind == V_TENSOR && e->op == '*') return add_scale(s, b, number(&a), e->name_loc);
  return error_at(s, e->name_loc, "'%c' cannot combine %s and %s", e->op, describe(s, &a, da, sizeof da),
                  describe(s, &b, db, sizeof db));
}

static value_t eval_name(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  binding_t *b = scope_lookup(sc, e->name);
  if (!b) {
    binding_t *hidden = NULL;
    for (scope_t *p = sc; p && !hidden; p = p->parent) hidden = scope_find_local(p, e->name);
    if (hidden)
      return error_at(s, e->loc, "'%s' is a tensor of the model's top level: a block sees only its "
                                 "parameters, its own names and constants", e->name);
    return error_at(s, e->loc, "unknown identifier '%s'", e->name);
  }
  if (b->value.kind == V_BLOCK)
    return error_at(s, e->loc, "'%s' is a block: call it, as %s(...)", e->name, e->name);
  if (b->value.kind == V_PENDING_OUTPUT)
    return error_at(s, e->loc, "output '%s' is used before it is produced", e->name);
  return b->value;
}

static value_t eval_member(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  value_t x = eval(s, sc, e->lhs);
  if (x.kind == V_ERROR) return x;
  if (strcmp(e->name, "T") != 0)
    return error_at(s, e->name_loc, "unknown member '.%s' (only .T, the transpose, exists)", e->name);
  if (x.kind != V_TENSOR) {
    char d[200];
    return error_at(s, e->name_loc, ".T needs a tensor, got %s", describe(s, &x, d, sizeof d));
  }
  return add_node(s, IR_TRANSPOSE, 1, &x.node, e->name_loc, 0, 0);
}

/* An operand that may be written `w.T`: the .T is left to the consumer (a
 * matmul reads the weight as stored) rather than made a transpose node. */
static value_t eval_tensor_arg(sema_t *s, scope_t *sc, const ast_expr_t *e, bool *transposed) {
  *transposed = false;
  if (e->kind == AST_MEMBER && strcmp(e->name, "T") == 0) {
    value_t x = eval(s, sc, e->lhs);
    if (x.kind == V_TENSOR) {
      *transposed = true;
      return x;
    }
    if (x.kind == V_ERROR) return x;
  }
  return eval(s, sc, e);
}

static value_t call_block(sema_t *s, scope_t *sc, const ast_expr_t *e, const ast_stmt_t *block);

/* The built-in ops, with their arguments: T tensor, N number, L a shape list;
 * optional arguments follow '|'. */
typedef struct builtin_s {
  const char *name;
  const char *args;
  const char *arg_names;
} builtin_t;

static const builtin_t builtins[] = {
    {"embedding", "TT", "tokens, table"},
    {"rmsnorm", "TTN", "x, weight, eps"},
    {"matmul", "TT", "a, b"},
    {"rope", "T|N", "x, theta"},
    {"append", "TT", "cache, x"},
    {"attention", "TTT|N", "q, k, v, scale"},
    {"silu", "T", "x"},
    {"softmax", "T", "x"},
    {"causal_mask", "T", "x"},
    {"add", "TT", "a, b"},
    {"mul", "TT", "a, b"},
    {"reshape", "TL", "x, shape"},
    {"transpose", "T", "x"},
    {"sqrt", "N", "x"},
};

static const builtin_t *find_builtin(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

/* The name of argument `i` of a builtin, from its arg_names list. */
static void arg_name(const builtin_t *b, int i, char *buf, size_t size) {
  const char *p = b->arg_names;
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

static value_t eval_reshape(sema_t *s, scope_t *sc, const ast_expr_t *e, value_t x) {
  const ast_expr_t *list = e->args.items[1];
  ir_type_t t = s->g->nodes[x.node].type;
  if (!eval_dims(s, sc, &list->args, list->loc, true, &t)) return error_value;
  const ir_type_t *src = &s->g->nodes[x.node].type;
  if (ir_type_elems(src, 1) != ir_type_elems(&t, 1) || ir_type_elems(src, 7) != ir_type_elems(&t, 7)) {
    char a[160], b[160];
    return error_at(s, e->name_loc, "reshape: element count differs: %s -> %s", type_str(s, src, a, sizeof a),
                    type_str(s, &t, b, sizeof b));
  }
  value_t r = add_node(s, IR_RESHAPE, 1, &x.node, e->name_loc, 0, 0);
  if (r.kind == V_TENSOR) s->g->nodes[r.node].type = t;
  return r;
}

static value_t eval_call(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  binding_t *bound = scope_lookup(sc, e->name);
  if (bound && bound->value.kind == V_BLOCK) return call_block(s, sc, e, bound->value.block);
  const builtin_t *b = find_builtin(e->name);
  if (!b) {
    if (bound) return error_at(s, e->name_loc, "'%s' is not a block or an op", e->name);
    return error_at(s, e->name_loc, "unknown op '%s'", e->name);
  }
  int required = (int)strcspn(b->args, "|");
  int most = (int)strlen(b->args) - (strchr(b->args, '|') ? 1 : 0);
  int n = e->args.n;
  if (n < required || n > most) {
    if (required == most)
      return error_at(s, e->name_loc, "wrong number of arguments: %s takes %d (%s), got %d", b->name, required,
                      b->arg_names, n);
    return error_at(s, e->name_loc, "wrong number of arguments: %s takes %d to %d (%s), got %d", b->name, required,
                    most, b->arg_names, n);
  }
  value_t v[4];
  bool transposed[4] = {false};
  bool failed = false;
  for (int i = 0, k = 0; i < n; i++, k++) {
    if (b->args[k] == '|') k++;
    char kind = b->args[k];
    const ast_expr_t *a = e->args.items[i];
    char an[32], d[200];
    arg_name(b, i, an, sizeof an);
    if (kind == 'L') {
      if (a->kind != AST_LIST) {
        error_at(s, a->loc, "%s: argument %d (%s) must be a shape list such as [T, heads, head_dim]", b->name,
                 i + 1, an);
        failed = true;
      }
      v[i] = error_value;
      continue;
    }
    v[i] = kind == 'T' ? eval_tensor_arg(s, sc, a, &transposed[i]) : eval(s, sc, a);
    if (v[i].kind == V_ERROR) {
      failed = true;
    } else if (kind == 'T' && v[i].kind != V_TENSOR) {
      error_at(s, a->loc, "%s: argument %d (%s) must be a tensor, got %s", b->name, i + 1, an,
               describe(s, &v[i], d, sizeof d));
      failed = true;
    } else if (kind == 'N' && !is_number(&v[i])) {
      error_at(s, a->loc, "%s: argument %d (%s) must be a number, got %s", b->name, i + 1, an,
               describe(s, &v[i], d, sizeof d));
      failed = true;
    }
  }
  if (failed) return error_value;
  /* A transposed operand is folded into matmul only; anywhere else it is a
   * transpose node. */
  for (int i = 0; i < n; i++) {
    if (transposed[i] && !(strcmp(b->name, "matmul") == 0 && i == 1)) {
      v[i] = add_node(s, IR_TRANSPOSE, 1, &v[i].node, e->args.items[i]->name_loc, 0, 0);
      if (v[i].kind == V_ERROR) return v[i];
    }
  }
  int in[4];
  for (int i = 0; i < n; i++) in[i] = v[i].node;
  ast_loc_t at = e->name_loc;
  const char *name = b->name;
  if (strcmp(name, "embedding") == 0) return add_node(s, IR_EMBEDDING, 2, in, at, 0, 0);
  if (strcmp(name, "rmsnorm") == 0) return add_node(s, IR_RMSNORM, 2, in, at, 0, number(&v[2]));
  if (strcmp(name, "matmul") == 0) return add_node(s, IR_MATMUL, 2, in, at, transposed[1], 0);
  if (strcmp(name, "rope") == 0) return add_node(s, IR_ROPE, 1, in, at, 0, n > 1 ? number(&v[1]) : 10000.0);
  if (strcmp(name, "append") == 0) {
    if (s->g->nodes[in[0]].op != IR_CACHE)
      return error_at(s, e->args.items[0]->loc, "append: argument 1 (cache) must be a cache declared with 'cache'");
    return add_node(s, IR_CACHE_APPEND, 2, in, at, 0, 0);
  }
  if (strcmp(name, "attention") == 0) {
    for (int i = 1; i < 3; i++)
      if (s->g->nodes[in[i]].op != IR_CACHE_APPEND)
        return error_at(s, e->args.items[i]->loc,
                        "attention: argument %d (%s) must be the result of append(cache, ...)", i + 1,
                        i == 1 ? "k" : "v");
    const ir_type_t *q = &s->g->nodes[in[0]].type;
    double scale = 0;
    if (n > 3) {
      scale = number(&v[3]);
    } else if (q->rank == 3 && q->dims[2].sym < 0) {
      scale = 1.0 / sqrt((double)q->dims[2].coeff);
    }
    return add_node(s, IR_ATTENTION, 3, in, at, 0, scale);
  }
  if (strcmp(name, "silu") == 0) return add_node(s, IR_SILU, 1, in, at, 0, 0);
  if (strcmp(name, "softmax") == 0) return add_node(s, IR_SOFTMAX, 1, in, at, 0, 0);
  if (strcmp(name, "causal_mask") == 0) return add_node(s, IR_CAUSAL_MASK, 1, in, at, 0, 0);
  if (strcmp(name, "add") == 0) return add_node(s, IR_ADD, 2, in, at, 0, 0);
  if (strcmp(name, "mul") == 0) return add_node(s, IR_MUL, 2, in, at, 0, 0);
  if (strcmp(name, "transpose") == 0) return add_node(s, IR_TRANSPOSE, 1, in, at, 0, 0);
  if (strcmp(name, "reshape") == 0) return eval_reshape(s, sc, e, v[0]);
  /* sqrt: constant arithmetic. */
  if (number(&v[0]) < 0) return error_at(s, e->args.items[0]->loc, "sqrt of a negative number");
  return float_value(sqrt(number(&v[0])));
}

static value_t eval(sema_t *s, scope_t *sc, const ast_expr_t *e) {
  if (diag_stopped(s->diag)) return error_value;
  switch (e->kind) {
  case AST_INT: return int_value(e->ival);
  case AST_FLOAT: return float_value(e->fval);
  case AST_NAME: return eval_name(s, sc, e);
  case AST_BINARY: return eval_binary(s, sc, e);
  case AST_NEG: {
    value_t v = eval(s, sc, e->lhs);
    if (v.kind == V_INT) {
      if (v.i == INT64_MIN) return error_at(s, e->loc, "integer overflow in constant expression");
      return int_value(-v.i);
    }
    if (v.kind == V_FLOAT) return float_value(-v.f);
    if (v.kind == V_TENSOR) return add_scale(s, v, -1.0, e->loc);
    if (v.kind == V_ERROR) return v;
    char d[200];
    return error_at(s, e->loc, "cannot negate %s", describe(s, &v, d, sizeof d));
  }
  case AST_CALL: return eval_call(s, sc, e);
  case AST_MEMBER: return eval_member(s, sc, e);
  case AST_LIST: return error_at(s, e->loc, "a list [...] is only allowed as the shape argument of reshape");
  }
  return error_value;
}

/* ---- statements ---------------------------------------------------------- */

static void exec_stmts(sema_t *s, scope_t *sc, const ast_stmt_list_t *stmts, frame_t *frame);

/* Binds a new name in sc; a name already bound there is a redefinition. */
static void bind_new(sema_t *s, scope_t *sc, const char *name, ast_loc_t loc, value_t v) {
  binding_t *old = scope_find_local(sc, name);
  if (old) {
    error_at(s, loc, "redefinition of '%s'", name);
    note_at(s, old->loc, "'%s' was defined here", name);
    return;
  }
  if (!scope_add(sc, name, loc, v)) diag_fatal(s->diag, loc.first_line, loc.first_column, 1, "out of memory");
}

static void exec_assign(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  value_t v = eval(s, sc, st->value);
  binding_t *old = scope_find_local(sc, st->name);
  char a[160], b[160];
  if (old && old->value.kind == V_PENDING_OUTPUT) {
    if (v.kind == V_ERROR) return;
    if (v.kind != V_TENSOR) {
      error_at(s, st->name_loc, "output '%s' must be a tensor, got %s", st->name, describe(s, &v, a, sizeof a));
      return;
    }
    const ir_type_t *t = &s->g->nodes[v.node].type;
    if (!types_equal(t, &old->value.type)) {
      error_at(s, st->value->loc, "output '%s' is declared %s but this is %s", st->name,
               type_str(s, &old->value.type, a, sizeof a), type_str(s, t, b, sizeof b));
      return;
    }
    ir_add_output(s->g, st->name, v.node);
    old->value = v;
    return;
  }
  if (!old && sc->loop) {
    /* A loop-carried value: the body re-binds a name of an enclosing scope. */
    binding_t *outer = NULL;
    for (scope_t *p = sc->parent; p && !outer; p = p->barrier ? NULL : p->parent) outer = scope_find_local(p, st->name);
    if (outer && outer->value.kind == V_TENSOR) {
      if (v.kind == V_ERROR) {
        outer->value = v;
        return;
      }
      const ir_type_t *t0 = &s->g->nodes[outer->value.node].type;
      if (v.kind != V_TENSOR || !types_equal(t0, &s->g->nodes[v.node].type)) {
        error_at(s, st->value->loc, "loop-carried '%s' must keep its type %s, got %s", st->name,
                 type_str(s, t0, a, sizeof a), describe(s, &v, b, sizeof b));
        outer->value = error_value;
        return;
      }
      outer->value = v;
      return;
    }
    if (outer) {
      error_at(s, st->name_loc, "redefinition of '%s' (only tensors may be re-bound in a repeat)", st->name);
      note_at(s, outer->loc, "'%s' was defined here", st->name);
      return;
    }
  }
  bind_new(s, sc, st->name, st->name_loc, v);
}

/* Substitutes {name} placeholders of a weight name pattern with the integer
 * values in scope. Returns an owned string, or NULL after an error. */
static char *resolve_pattern(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  strbuf_t sb = {0};
  strbuf_append(&sb, "");
  const char *p = st->pattern;
  ast_loc_t at = st->pattern_loc;
  for (const char *q = p; *q; q++) {
    if (*q != '{') {
      if (*q == '}') {
        at.first_column = st->pattern_loc.first_column + 1 + (int)(q - p);
        at.last_column = at.first_column + 1;
        error_at(s, at, "unmatched '}' in weight name pattern");
        strbuf_free(&sb);
        return NULL;
      }
      strbuf_appendn(&sb, q, 1);
      continue;
    }
    const char *close = strchr(q, '}');
    at.first_column = st->pattern_loc.first_column + 1 + (int)(q - p);
    at.last_column = at.first_column + (close ? (int)(close - q) + 1 : 1);
    if (!close) {
      error_at(s, at, "unclosed '{' in weight name pattern");
      strbuf_free(&sb);
      return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
    binding_t *b = (size_t)(close - q - 1) < sizeof name ? scope_lookup(sc, name) : NULL;
    if (!b || b->value.kind != V_INT) {
      if (b && b->value.kind == V_ERROR) {
        strbuf_free(&sb);
        return NULL;
      }
      error_at(s, at, "weight name pattern names unknown placeholder '{%s}' (placeholders are integer "
                      "parameters or repeat indices, such as {layer})", name);
      strbuf_free(&sb);
      return NULL;
    }
    strbuf_printf(&sb, "%lld", (long long)b->value.i);
    q = close;
  }
  if (!sb.data || !sb.data[0]) {
    error_at(s, st->pattern_loc, "empty weight name");
    strbuf_free(&sb);
    return NULL;
  }
  return strbuf_take(&sb);
}

static void exec_weight(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  ir_type_t t = {0};
  if (st->type->dtype) {
    error_at(s, st->type->dtype_loc, "a weight's dtype is the model's weight_dtype: write only its shape, [...]");
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  bool ok = eval_dims(s, sc, &st->type->dims, st->type->loc, false, &t);
  char *name = resolve_pattern(s, sc, st);
  if (!ok || !name) {
    free(name);
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  t.dtype = s->g->weight_dtype;
  value_t v = error_value;
  int found = leaf_find(s, IR_WEIGHT, name);
  if (found >= 0) {
    int id = found;
    ir_node_t *n = &s->g->nodes[id];
    n->type.dtype = t.dtype;
    if (!types_equal(&n->type, &t)) {
      char a[160], b[160];
      error_at(s, st->type->loc, "weight \"%s\" is declared again with a different shape: %s, earlier %s", name,
               type_str(s, &t, a, sizeof a), type_str(s, &n->type, b, sizeof b));
    } else {
      v = tensor(id);
    }
    free(name);
    bind_new(s, sc, st->name, st->name_loc, v);
    return;
  }
  v = add_leaf(s, IR_WEIGHT, name, &t, st->name_loc);
  free(name);
  bind_new(s, sc, st->name, st->name_loc, v);
}

static void exec_cache(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  ir_type_t t = {0};
  greta_dtype_t dt = GRETA_F32;
  if (st->type->dtype && (!parse_dtype(st->type->dtype, &dt) || dt != GRETA_F32)) {
    error_at(s, st->type->dtype_loc, "a cache holds f32, got '%s'", st->type->dtype);
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  if (!eval_dims(s, sc, &st->type->dims, st->type->loc, false, &t)) {
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  if (t.rank != 3) {
    error_at(s, st->type->loc, "a cache has shape [max_seq, kv_heads, head_dim], got %d dimensions", t.rank);
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  t.dtype = GRETA_F32;
  if (s->g->max_seq && s->g->max_seq != t.dims[0].coeff) {
    error_at(s, st->type->dims.items[0]->loc, "cache '%s' holds %lld positions but an earlier cache holds %lld "
             "(all caches must agree on max_seq)", st->name, (long long)t.dims[0].coeff, (long long)s->g->max_seq);
    bind_new(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  s->g->max_seq = t.dims[0].coeff;
  /* One cache per block instance: "layers.3.k_cache", made unique. */
  char name[256];
  snprintf(name, sizeof name, "%s%s", s->instance ? s->instance : "", st->name);
  for (int k = 2;; k++) {
    if (leaf_find(s, IR_CACHE, name) < 0) break;
    snprintf(name, sizeof name, "%s%s.%d", s->instance ? s->instance : "", st->name, k);
  }
  bind_new(s, sc, st->name, st->name_loc, add_leaf(s, IR_CACHE, name, &t, st->name_loc));
}

static void exec_repeat(sema_t *s, scope_t *sc, const ast_stmt_t *st, frame_t *frame) {
  value_t lo = eval(s, sc, st->value), hi = eval(s, sc, st->hi);
  if (lo.kind == V_ERROR || hi.kind == V_ERROR) return;
  if (lo.kind != V_INT || hi.kind != V_INT) {
    error_at(s, lo.kind != V_INT ? st->value->loc : st->hi->loc, "repeat bounds must be integer constants");
    return;
  }
  if (hi.i < lo.i) {
    error_at(s, st->hi->loc, "repeat range %lld .. %lld is backwards", (long long)lo.i, (long long)hi.i);
    return;
  }
  if (hi.i - lo.i > SEMA_MAX_TRIPS) {
    error_at(s, st->hi->loc, "repeat runs %lld times; the limit is %d", (long long)(hi.i - lo.i), SEMA_MAX_TRIPS);
    return;
  }
  for (int64_t i = lo.i; i < hi.i && !diag_stopped(s->diag); i++) {
    scope_t body = {.parent = sc, .loop = true};
    if (!scope_add(&body, st->name, st->name_loc, int_value(i))) {
      diag_fatal(s->diag, st->loc.first_line, st->loc.first_column, 1, "out of memory");
      return;
    }
    frame_t inner = {.block = frame->block};
    exec_stmts(s, &body, &st->body, &inner);
    scope_deinit(&body);
    if (inner.returned) {
      error_at(s, inner.return_loc, "'return' inside a repeat");
      return;
    }
  }
}

static value_t call_block(sema_t *s, scope_t *sc, const ast_expr_t *e, const ast_stmt_t *block) {
  (void)sc;
  for (int i = 0; i < s->n_calls; i++) {
    if (s->calls[i] == block) {
      error_at(s, e->name_loc, "recursive call: block '%s' calls itself%s%s (blocks cannot recurse)", block->name,
               s->calls[s->n_calls - 1] != block ? " through " : "",
               s->calls[s->n_calls - 1] != block ? s->calls[s->n_calls - 1]->name : "");
      return error_value;
    }
  }
  if (s->n_calls >= SEMA_MAX_CALL_DEPTH)
    return error_at(s, e->name_loc, "block calls nested more than %d deep", SEMA_MAX_CALL_DEPTH);
  if (e->args.n != block->params.n)
    return error_at(s, e->name_loc, "wrong number of arguments: block '%s' takes %d, got %d", block->name,
                    block->params.n, e->args.n);
  scope_t scope = {.parent = s->file_scope, .barrier = true};
  bool failed = false;
  char instance[64] = "";
  for (int i = 0; i < block->params.n; i++) {
    const ast_param_t *p = &block->params.items[i];
    const ast_expr_t *a = e->args.items[i];
    value_t v = eval(s, sc, a);
    char d[200], t0[160];
    if (p->type->is_tensor) {
      ir_type_t want;
      if (!eval_tensor_type(s, s->file_scope, p->type, &want) || v.kind == V_ERROR) {
        failed = true;
      } else if (v.kind != V_TENSOR) {
        error_at(s, a->loc, "argument %d ('%s') of '%s' must be a tensor %s, got %s", i + 1, p->name, block->name,
                 type_str(s, &want, t0, sizeof t0), describe(s, &v, d, sizeof d));
        failed = true;
      } else {
        const ir_type_t *got = &s->g->nodes[v.node].type;
        if (got->dtype != want.dtype || !types_equal(got, &want)) {
          error_at(s, a->loc, "%s: argument %d ('%s') of '%s' expects %s, got %s",
                   got->dtype != want.dtype ? "dtype mismatch" : "shape mismatch", i + 1, p->name, block->name,
                   type_str(s, &want, t0, sizeof t0), type_str(s, got, d, sizeof d));
          failed = true;
        }
      }
    } else if (strcmp(p->type->dtype, "int") == 0) {
      if (v.kind == V_ERROR) {
        failed = true;
      } else if (v.kind != V_INT) {
        error_at(s, a->loc, "argument %d ('%s') of '%s' must be an integer, got %s", i + 1, p->name, block->name,
                 describe(s, &v, d, sizeof d));
        failed = true;
      } else if (!instance[0]) {
        snprintf(instance, sizeof instance, "layers.%lld.", (long long)v.i);
      }
    } else if (strcmp(p->type->dtype, "float") == 0) {
      if (v.kind == V_ERROR) {
        failed = true;
      } else if (!is_number(&v)) {
        error_at(s, a->loc, "argument %d ('%s') of '%s' must be a number, got %s", i + 1, p->name, block->name,
                 describe(s, &v, d, sizeof d));
        failed = true;
      } else {
        v = float_value(number(&v));
      }
    } else {
      error_at(s, p->type->loc, "unknown parameter type '%s' (expected int, float or a tensor type like f32[T, dim])",
               p->type->dtype);
      failed = true;
    }
    if (!failed) bind_new(s, &scope, p->name, p->loc, v);
  }
  if (failed) {
    scope_deinit(&scope);
    return error_value;
  }
  const char *saved_instance = s->instance;
  if (instance[0]) s->instance = instance;
  s->calls[s->n_calls++] = block;
  frame_t frame = {.block = block};
  exec_stmts(s, &scope, &block->body, &frame);
  s->n_calls--;
  s->instance = saved_instance;
  scope_deinit(&scope);
  if (!frame.returned) {
    if (!diag_stopped(s->diag))
      error_at(s, block->name_loc, "block '%s' never produces its result: it has no 'return'", block->name);
    return error_value;
  }
  value_t r = frame.result;
  if (r.kind == V_ERROR) return r;
  ir_type_t want;
  if (!eval_tensor_type(s, s->file_scope, block->type, &want)) return error_value;
  char a[200], b[160];
  if (r.kind != V_TENSOR || !types_equal(&s->g->nodes[r.node].type, &want))
    return error_at(s, frame.return_loc, "block '%s' returns %s but is declared to return %s", block->name,
                    r.kind == V_TENSOR ? type_str(s, &s->g->nodes[r.node].type, a, sizeof a)
                                       : describe(s, &r, a, sizeof a),
                    type_str(s, &want, b, sizeof b));
  return r;
}

static const char *stmt_keyword(ast_stmt_kind_t k) {
  switch (k) {
  case AST_MODEL: return "model";
  case AST_SET: return "set";
  case AST_DIM: return "dim";
  case AST_BLOCK: return "block";
  case AST_INPUT: return "input";
  case AST_OUTPUT: return "output";
  default: return "?";
  }
}

static void exec_top_only(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  char a[160];
  switch (st->kind) {
  case AST_MODEL:
    if (s->model_named) {
      error_at(s, st->name_loc, "redefinition of the model name");
      break;
    }
    s->model_named = true;
    s->model_loc = st->loc;
    free(s->g->model_name);
    s->g->model_name = strdup(st->name);
    break;
  case AST_SET:
    if (strcmp(st->name, "weight_dtype") != 0) {
      error_at(s, st->name_loc, "unknown setting '%s' (known: weight_dtype)", st->name);
      break;
    }
    if (s->weight_dtype_set) {
      error_at(s, st->name_loc, "redefinition of 'weight_dtype'");
      break;
    }
    greta_dtype_t dt;
    if (st->value->kind != AST_NAME || !parse_dtype(st->value->name, &dt) || dt == GRETA_I32) {
      error_at(s, st->value->loc, "weight_dtype must be f32, f16 or bf16");
      break;
    }
    s->weight_dtype_set = true;
    s->g->weight_dtype = dt;
    break;
  case AST_DIM:
    for (int i = 0; i < st->names.n; i++) {
      const ast_expr_t *n = st->names.items[i];
      int sym = ir_symbol(s->g, n->name);
      if (sym < 0) {
        error_at(s, n->loc, "too many symbolic dimensions (at most 8)");
        continue;
      }
      bind_new(s, sc, n->name, n->loc, (value_t){.kind = V_DIM, .dim = {1, sym}});
    }
    break;
  case AST_BLOCK: /* bound before the walk */
    break;
  case AST_INPUT: {
    ir_type_t t;
    value_t v = error_value;
    if (eval_tensor_type(s, sc, st->type, &t)) v = add_leaf(s, IR_INPUT, st->name, &t, st->name_loc);
    bind_new(s, sc, st->name, st->name_loc, v);
    break;
  }
  case AST_OUTPUT: {
    ir_type_t t = {0};
    bool typed = st->type != NULL;
    if (typed && !eval_tensor_type(s, sc, st->type, &t)) {
      bind_new(s, sc, st->name, st->name_loc, error_value);
      break;
    }
    if (!st->value) {
      bind_new(s, sc, st->name, st->name_loc, (value_t){.kind = V_PENDING_OUTPUT, .type = t});
      break;
    }
    value_t v = eval(s, sc, st->value);
    if (v.kind != V_TENSOR) {
      if (v.kind != V_ERROR)
        error_at(s, st->value->loc, "output '%s' must be a tensor, got %s", st->name, describe(s, &v, a, sizeof a));
      bind_new(s, sc, st->name, st->name_loc, error_value);
      break;
    }
    char b[160];
    if (typed && !types_equal(&t, &s->g->nodes[v.node].type)) {
      error_at(s, st->value->loc, "output '%s' is declared %s but this is %s", st->name, type_str(s, &t, a, sizeof a),
               type_str(s, &s->g->nodes[v.node].type, b, sizeof b));
      break;
    }
    if (scope_find_local(sc, st->name)) {
      bind_new(s, sc, st->name, st->name_loc, v); /* reports the redefinition */
      break;
    }
    ir_add_output(s->g, st->name, v.node);
    bind_new(s, sc, st->name, st->name_loc, v);
    break;
  }
  default:
    break;
  }
}

static void exec_stmts(sema_t *s, scope_t *sc, const ast_stmt_list_t *stmts, frame_t *frame) {
  for (int i = 0; i < stmts->n && !diag_stopped(s->diag); i++) {
    const ast_stmt_t *st = stmts->items[i];
    if (++s->work > SEMA_MAX_WORK) {
      diag_fatal(s->diag, st->loc.first_line, st->loc.first_column, 1,
                 "model too large: more than %d statements after inlining and unrolling", SEMA_MAX_WORK);
      return;
    }
    if (frame->returned) {
      error_at(s, st->loc, "statement after 'return'");
      return;
    }
    switch (st->kind) {
    case AST_MODEL:
    case AST_SET:
    case AST_DIM:
    case AST_BLOCK:
    case AST_INPUT:
    case AST_OUTPUT:
      if (sc != s->file_scope) {
        error_at(s, st->loc, "'%s' is only allowed at the top level of the file", stmt_keyword(st->kind));
        break;
      }
      exec_top_only(s, sc, st);
      break;
    case AST_CONST: {
      value_t v = eval(s, sc, st->value);
      char d[200];
      if (v.kind != V_ERROR && !is_number(&v) && v.kind != V_DIM) {
        error_at(s, st->value->loc, "a constant must be a number, got %s", describe(s, &v, d, sizeof d));
        v = error_value;
      }
      bind_new(s, sc, st->name, st->name_loc, v);
      break;
    }
    case AST_WEIGHT: exec_weight(s, sc, st); break;
    case AST_CACHE: exec_cache(s, sc, st); break;
    case AST_ASSIGN: exec_assign(s, sc, st); break;
    case AST_REPEAT: exec_repeat(s, sc, st, frame); break;
    case AST_RETURN:
      if (!frame->block) {
        error_at(s, st->loc, "'return' outside a block");
        break;
      }
      frame->result = eval(s, sc, st->value);
      frame->return_loc = st->value->loc;
      frame->returned = true;
      break;
    }
  }
}

/* ---- the whole model ----------------------------------------------------- */

static void check_model(sema_t *s, const ast_program_t *prog) {
  ir_graph_t *g = s->g;
  /* Outputs declared and never assigned. */
  for (int i = 0; i < s->file_scope->n; i++) {
    binding_t *b = &s->file_scope->items[i];
    if (b->value.kind == V_PENDING_OUTPUT)
      error_at(s, b->loc, "output '%s' is declared but never produced", b->name);
  }
  if (g->n_outputs == 0 && s->diag->n_errors == 0) {
    ast_loc_t at = s->model_named ? s->model_loc : (ast_loc_t){1, 1, 1, 2};
    if (!s->model_named && prog->stmts.n) at = prog->stmts.items[0]->loc;
    error_at(s, at, "the model has no outputs (write: output name = expression)");
  }
  /* Inputs nothing reads (after other errors, a cascade: skipped). */
  if (s->diag->n_errors) return;
  char *used = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
  if (!used) return;
  for (int id = 0; id < g->n_nodes; id++)
    for (int k = 0; k < g->nodes[id].n_inputs; k++) used[g->nodes[id].inputs[k]] = 1;
  for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i].node] = 1;
  for (int id = 0; id < g->n_nodes; id++) {
    const ir_node_t *n = &g->nodes[id];
    if (n->op == IR_INPUT && !used[id]) {
      ast_loc_t at = {n->loc.line, n->loc.col, n->loc.line, n->loc.col + (int)strlen(n->name)};
      error_at(s, at, "input '%s' is never used", n->name);
    }
  }
  free(used);
}

static char *model_name_from_file(const char *filename) {
  const char *base = strrchr(filename, '/');
  base = base ? base + 1 : filename;
  size_t n = strcspn(base, ".");
  if (n == 0) return strdup("model");
  return strndup(base, n);
}

ir_graph_t *sema_run(diag_t *diag, const ast_program_t *prog) {
  char *name = model_name_from_file(diag->filename);
  ir_graph_t *g = ir_graph_create(name ? name : "model");
  free(name);
  if (!g || !(g->file = strdup(diag->filename))) {
    ir_graph_destroy(g);
    diag_fatal(diag, 0, 0, 0, "out of memory");
    return NULL;
  }
  scope_t file_scope = {0};
  sema_t s = {.diag = diag, .g = g, .file_scope = &file_scope};
  /* Blocks first, so a block may call one defined below it. */
  for (int i = 0; i < prog->stmts.n; i++) {
    const ast_stmt_t *st = prog->stmts.items[i];
    if (st->kind != AST_BLOCK) continue;
    if (find_builtin(st->name)) {
      error_at(&s, st->name_loc, "block '%s' has the name of a built-in op", st->name);
      continue;
    }
    bind_new(&s, &file_scope, st->name, st->name_loc, (value_t){.kind = V_BLOCK, .block = st});
  }
  frame_t frame = {0};
  exec_stmts(&s, &file_scope, &prog->stmts, &frame);
  if (!diag_stopped(diag)) check_model(&s, prog);
  scope_deinit(&file_scope);
  free(s.leaf_table);
  for (int id = 0; id < g->n_nodes; id++)
    if (g->nodes[id].op == IR_WEIGHT) g->nodes[id].type.dtype = g->weight_dtype;
  if (diag->n_errors) {
    ir_graph_destroy(g);
    return NULL;
  }
  /* What no output needs goes, but cache appends stay: their writes
   * outlive the step even when nothing in it reads them. */
  pass_dce(g);
  ir_compact(g);
  return g;
}
