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
 *
 * This file: scopes, messages, IR construction and the whole-model checks.
 * Expressions and constant folding are in sema_eval.c, statements (repeat
 * unrolling, block inlining, weights, caches) in sema_stmt.c, the built-in
 * ops' table in builtins.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "sema.h"
#include "sema_impl.h"
#include "xalloc.h"

binding_t *scope_find_local(scope_t *sc, const char *name) {
  for (int i = sc->n - 1; i >= 0; i--)
    if (strcmp(sc->items[i].name, name) == 0) return &sc->items[i];
  return NULL;
}

static bool visible_across_barrier(const value_t *v) {
  return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_DIM || v->kind == V_BLOCK ||
         v->kind == V_ERROR;
}

/* Finds `name` in sc and its parents, obeying block barriers. */
binding_t *scope_lookup(scope_t *sc, const char *name) {
  bool crossed = false;
  for (; sc; sc = sc->parent) {
    binding_t *b = scope_find_local(sc, name);
    if (b && (!crossed || visible_across_barrier(&b->value))) return b;
    if (sc->barrier) crossed = true;
  }
  return NULL;
}

void scope_add(scope_t *sc, const char *name, ast_loc_t loc, value_t v) {
  if (sc->n == sc->cap) {
    int cap = sc->cap ? 2 * sc->cap : 16;
    sc->items = xrealloc(sc->items, (size_t)cap * sizeof *sc->items);
    sc->cap = cap;
  }
  sc->items[sc->n++] = (binding_t){name, loc, v};
}

void scope_deinit(scope_t *sc) {
  free(sc->items);
  sc->items = NULL;
  sc->n = sc->cap = 0;
}

/* ---- messages ------------------------------------------------------------ */

value_t sema_error(sema_t *s, ast_loc_t loc, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(s->diag, loc.first_line, loc.first_column, ast_loc_width(loc), "%s", msg);
  return error_value;
}

void sema_note(sema_t *s, ast_loc_t loc, const char *fmt, const char *arg) {
  diag_note(s->diag, loc.first_line, loc.first_column, ast_loc_width(loc), fmt, arg);
}

const char *sema_type_str(sema_t *s, const ir_type_t *t, char *buf, size_t size) {
  return ir_type_str(s->g, t, buf, size);
}

/* "an integer (3)", "a tensor f32[T, 64]", ... for "expected X, got Y". */
const char *sema_describe(sema_t *s, const value_t *v, char *buf, size_t size) {
  char t[160];
  switch (v->kind) {
  case V_INT: snprintf(buf, size, "the integer %lld", (long long)v->i); break;
  case V_FLOAT: snprintf(buf, size, "the number %g", v->f); break;
  case V_DIM: snprintf(buf, size, "a symbolic dimension"); break;
  case V_TENSOR: snprintf(buf, size, "a tensor %s", sema_type_str(s, &s->g->nodes[v->node].type, t, sizeof t)); break;
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

int sema_leaf_find(const sema_t *s, ir_op_t op, const char *name) {
  if (!s->leaf_cap) return -1;
  for (size_t i = name_hash(op, name) & (s->leaf_cap - 1);; i = (i + 1) & (s->leaf_cap - 1)) {
    int id = s->leaf_table[i];
    if (id < 0) return -1;
    if (s->g->nodes[id].op == op && strcmp(s->g->nodes[id].name, name) == 0) return id;
  }
}

static void leaf_insert(sema_t *s, int id) {
  if (2 * (s->n_leaves + 1) > s->leaf_cap) {
    size_t cap = s->leaf_cap ? 2 * s->leaf_cap : 64;
    int *table = xmalloc(cap * sizeof *table);
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
}

/* ---- IR construction ----------------------------------------------------- */

bool sema_types_equal(const ir_type_t *a, const ir_type_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i].coeff != b->dims[i].coeff || a->dims[i].sym != b->dims[i].sym) return false;
  return true;
}

static bool out_of_room(sema_t *s, ast_loc_t loc) {
  if (s->g->n_nodes < SEMA_MAX_NODES) return false;
  diag_fatal(s->diag, loc.first_line, loc.first_column, 1,
             "model too large: more than %d IR nodes after inlining and unrolling", SEMA_MAX_NODES);
  return true;
}

/* Adds a compute node, infers its type, and reports a mismatch at `loc`. */
value_t sema_add_node(sema_t *s, ir_op_t op, int n_inputs, const int *inputs, ast_loc_t loc,
                        int64_t i0, double f0) {
  if (out_of_room(s, loc)) return error_value;
  int id = ir_add(s->g, op, n_inputs, inputs, NULL, ir_loc(s, loc));
  s->g->nodes[id].i[0] = i0;
  s->g->nodes[id].f[0] = f0;
  greta_status_t status = ir_infer_type(s->g, id);
  if (status) {
    s->g->nodes[id].op = IR_DEAD;
    s->g->nodes[id].n_inputs = 0;
    value_t v = sema_error(s, loc, "%s", greta_status_message(status));
    greta_status_free(status);
    return v;
  }
  return tensor(id);
}

value_t sema_add_leaf(sema_t *s, ir_op_t op, const char *name, const ir_type_t *type, ast_loc_t loc) {
  if (out_of_room(s, loc)) return error_value;
  int id = ir_add(s->g, op, 0, NULL, name, ir_loc(s, loc));
  s->g->nodes[id].type = *type;
  if (op == IR_WEIGHT || op == IR_CACHE) leaf_insert(s, id);
  return tensor(id);
}

/* x * factor, folding a scale of a scale. */
value_t sema_add_scale(sema_t *s, value_t x, double factor, ast_loc_t loc) {
  const ir_node_t *n = &s->g->nodes[x.node];
  if (n->op == IR_SCALE) {
    factor *= n->f[0];
    x = tensor(n->inputs[0]);
  }
  if (factor == 1.0) return x;
  return sema_add_node(s, IR_SCALE, 1, &x.node, loc, 0, factor);
}

/* Binds a new name in sc; a name already bound there is a redefinition. */
void sema_bind(sema_t *s, scope_t *sc, const char *name, ast_loc_t loc, value_t v) {
  binding_t *old = scope_find_local(sc, name);
  if (old) {
    sema_error(s, loc, "redefinition of '%s'", name);
    sema_note(s, old->loc, "'%s' was defined here", name);
    return;
  }
  scope_add(sc, name, loc, v);
}

static void check_model(sema_t *s, const ast_program_t *prog) {
  ir_graph_t *g = s->g;
  /* Outputs declared and never assigned. */
  for (int i = 0; i < s->file_scope->n; i++) {
    binding_t *b = &s->file_scope->items[i];
    if (b->value.kind == V_PENDING_OUTPUT)
      sema_error(s, b->loc, "output '%s' is declared but never produced", b->name);
  }
  if (g->n_outputs == 0 && s->diag->n_errors == 0) {
    ast_loc_t at = s->model_named ? s->model_loc : (ast_loc_t){1, 1, 1, 2};
    if (!s->model_named && prog->stmts.n) at = prog->stmts.items[0]->loc;
    sema_error(s, at, "the model has no outputs (write: output name = expression)");
  }
  /* Inputs nothing reads (after other errors, a cascade: skipped). */
  if (s->diag->n_errors) return;
  char *used = xcalloc((size_t)g->n_nodes, 1);
  for (int id = 0; id < g->n_nodes; id++)
    for (int k = 0; k < g->nodes[id].n_inputs; k++) used[g->nodes[id].inputs[k]] = 1;
  for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i].node] = 1;
  for (int id = 0; id < g->n_nodes; id++) {
    const ir_node_t *n = &g->nodes[id];
    if (n->op == IR_INPUT && !used[id]) {
      ast_loc_t at = {n->loc.line, n->loc.col, n->loc.line, n->loc.col + (int)strlen(n->name)};
      sema_error(s, at, "input '%s' is never used", n->name);
    }
  }
  free(used);
}

static char *model_name_from_file(const char *filename) {
  const char *base = strrchr(filename, '/');
  base = base ? base + 1 : filename;
  size_t n = strcspn(base, ".");
  if (n == 0) return xstrdup("model");
  char *name = xmalloc(n + 1);
  memcpy(name, base, n);
  name[n] = '\0';
  return name;
}

ir_graph_t *sema_run(diag_t *diag, const ast_program_t *prog) {
  char *name = model_name_from_file(diag->filename);
  ir_graph_t *g = ir_graph_create(name);
  free(name);
  g->file = xstrdup(diag->filename);
  scope_t file_scope = {0};
  sema_t s = {.diag = diag, .g = g, .file_scope = &file_scope};
  /* Blocks first, so a block may call one defined below it. */
  for (int i = 0; i < prog->stmts.n; i++) {
    const ast_stmt_t *st = prog->stmts.items[i];
    if (st->kind != AST_BLOCK) continue;
    if (builtin_find(st->name)) {
      sema_error(&s, st->name_loc, "block '%s' has the name of a built-in op", st->name);
      continue;
    }
    sema_bind(&s, &file_scope, st->name, st->name_loc, (value_t){.kind = V_BLOCK, .block = st});
  }
  frame_t frame = {0};
  sema_exec_stmts(&s, &file_scope, &prog->stmts, &frame);
  if (!diag_stopped(diag)) check_model(&s, prog);
  scope_deinit(&file_scope);
  free(s.leaf_table);
  strbuf_free(&s.instance);
  /* Settings may follow the declarations they govern: types are final here.
   * The KV cache defaults to the weights' dtype when that is a half type
   * (the cache then costs what the weights' precision warrants), else f32. */
  if (!s.kv_dtype_set) g->kv_dtype = g->weight_dtype == GRETA_F32 ? GRETA_F32 : g->weight_dtype;
  for (int id = 0; id < g->n_nodes; id++) {
    if (g->nodes[id].op == IR_WEIGHT) g->nodes[id].type.dtype = g->weight_dtype;
    if (g->nodes[id].op == IR_CACHE) g->nodes[id].type.dtype = g->kv_dtype;
    /* An append's value is the cache: it takes the cache's final dtype. */
    if (g->nodes[id].op == IR_CACHE_APPEND)
      g->nodes[id].type.dtype = g->nodes[g->nodes[id].inputs[0]].type.dtype;
  }
  if (diag->n_errors) {
    ir_graph_destroy(g);
    return NULL;
  }
  return g;
}
