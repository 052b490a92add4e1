#include "ast.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int ast_loc_width(ast_loc_t loc) {
  if (loc.last_line != loc.first_line) return 1;
  int w = loc.last_column - loc.first_column;
  return w < 1 ? 1 : w;
}

static ast_expr_t *expr_new(ast_expr_kind_t kind, ast_loc_t loc) {
  ast_expr_t *e = xcalloc(1, sizeof *e);
  e->kind = kind;
  e->loc = loc;
  e->name_loc = loc;
  e->depth = 1;
  return e;
}

ast_expr_t *ast_expr_int(ast_loc_t loc, int64_t v) {
  ast_expr_t *e = expr_new(AST_INT, loc);
  e->ival = v;
  return e;
}

ast_expr_t *ast_expr_float(ast_loc_t loc, double v) {
  ast_expr_t *e = expr_new(AST_FLOAT, loc);
  e->fval = v;
  return e;
}

ast_expr_t *ast_expr_name(ast_loc_t loc, char *name) {
  ast_expr_t *e = expr_new(AST_NAME, loc);
  e->name = name;
  return e;
}

static int max_depth(const ast_expr_t *a, const ast_expr_t *b) {
  int da = a ? a->depth : 0, db = b ? b->depth : 0;
  return 1 + (da > db ? da : db);
}

ast_expr_t *ast_expr_binary(ast_loc_t loc, ast_loc_t op_loc, int op, ast_expr_t *lhs,
                            ast_expr_t *rhs) {
  ast_expr_t *e = expr_new(AST_BINARY, loc);
  e->name_loc = op_loc;
  e->op = op;
  e->lhs = lhs;
  e->rhs = rhs;
  e->depth = max_depth(lhs, rhs);
  return e;
}

ast_expr_t *ast_expr_neg(ast_loc_t loc, ast_expr_t *operand) {
  ast_expr_t *e = expr_new(AST_NEG, loc);
  e->lhs = operand;
  e->depth = max_depth(operand, NULL);
  return e;
}

static void take_list(ast_expr_t *e, ast_expr_list_t *items) {
  if (!items) return;
  e->args = *items;
  free(items);
  for (int i = 0; i < e->args.n; i++)
    if (e->args.items[i]->depth + 1 > e->depth) e->depth = e->args.items[i]->depth + 1;
}

ast_expr_t *ast_expr_call(ast_loc_t loc, ast_loc_t name_loc, char *name, ast_expr_list_t *args) {
  ast_expr_t *e = expr_new(AST_CALL, loc);
  e->name_loc = name_loc;
  e->name = name;
  take_list(e, args);
  return e;
}

ast_expr_t *ast_expr_member(ast_loc_t loc, ast_loc_t name_loc, ast_expr_t *object, char *name) {
  ast_expr_t *e = expr_new(AST_MEMBER, loc);
  e->name_loc = name_loc;
  e->lhs = object;
  e->name = name;
  e->depth = max_depth(object, NULL);
  return e;
}

ast_expr_t *ast_expr_list(ast_loc_t loc, ast_expr_list_t *items) {
  ast_expr_t *e = expr_new(AST_LIST, loc);
  take_list(e, items);
  return e;
}

static void expr_list_deinit(ast_expr_list_t *list) {
  for (int i = 0; i < list->n; i++) ast_expr_destroy(list->items[i]);
  free(list->items);
  list->items = NULL;
  list->n = list->cap = 0;
}

void ast_expr_destroy(ast_expr_t *e) {
  if (!e) return;
  free(e->name);
  ast_expr_destroy(e->lhs);
  ast_expr_destroy(e->rhs);
  expr_list_deinit(&e->args);
  free(e);
}

ast_expr_list_t *ast_expr_list_create(void) { return xcalloc(1, sizeof(ast_expr_list_t)); }

/* Grows a vector of `size`-byte items to hold one more. */
static void grow(void **items, int *cap, int n, size_t size) {
  if (n < *cap) return;
  int c = *cap ? 2 * *cap : 4;
  *items = xrealloc(*items, (size_t)c * size);
  *cap = c;
}

void ast_expr_list_push(ast_expr_list_t *list, ast_expr_t *e) {
  grow((void **)&list->items, &list->cap, list->n, sizeof *list->items);
  list->items[list->n++] = e;
}

void ast_expr_list_destroy(ast_expr_list_t *list) {
  if (!list) return;
  expr_list_deinit(list);
  free(list);
}

ast_type_t *ast_type_create(ast_loc_t loc, char *dtype, ast_loc_t dtype_loc, int is_tensor,
                            ast_expr_list_t *dims) {
  ast_type_t *t = xcalloc(1, sizeof *t);
  t->loc = loc;
  t->dtype = dtype;
  t->dtype_loc = dtype_loc;
  t->is_tensor = is_tensor;
  if (dims) {
    t->dims = *dims;
    free(dims);
  }
  return t;
}

void ast_type_destroy(ast_type_t *t) {
  if (!t) return;
  free(t->dtype);
  expr_list_deinit(&t->dims);
  free(t);
}

ast_param_list_t *ast_param_list_create(void) { return xcalloc(1, sizeof(ast_param_list_t)); }

void ast_param_list_push(ast_param_list_t *list, char *name, ast_loc_t loc, ast_type_t *type) {
  grow((void **)&list->items, &list->cap, list->n, sizeof *list->items);
  list->items[list->n++] = (ast_param_t){name, loc, type};
}

static void param_list_deinit(ast_param_list_t *list) {
  for (int i = 0; i < list->n; i++) {
    free(list->items[i].name);
    ast_type_destroy(list->items[i].type);
  }
  free(list->items);
  list->items = NULL;
  list->n = list->cap = 0;
}

void ast_param_list_destroy(ast_param_list_t *list) {
  if (!list) return;
  param_list_deinit(list);
  free(list);
}

ast_stmt_t *ast_stmt_create(ast_stmt_kind_t kind, ast_loc_t loc) {
  ast_stmt_t *s = xcalloc(1, sizeof *s);
  s->kind = kind;
  s->loc = loc;
  s->name_loc = loc;
  return s;
}

static void stmt_list_deinit(ast_stmt_list_t *list) {
  for (int i = 0; i < list->n; i++) ast_stmt_destroy(list->items[i]);
  free(list->items);
  list->items = NULL;
  list->n = list->cap = 0;
}

void ast_stmt_destroy(ast_stmt_t *s) {
  if (!s) return;
  free(s->name);
  ast_expr_destroy(s->value);
  ast_expr_destroy(s->hi);
  ast_type_destroy(s->type);
  free(s->pattern);
  expr_list_deinit(&s->names);
  param_list_deinit(&s->params);
  stmt_list_deinit(&s->body);
  free(s);
}

ast_stmt_list_t *ast_stmt_list_create(void) { return xcalloc(1, sizeof(ast_stmt_list_t)); }

void ast_stmt_list_push(ast_stmt_list_t *list, ast_stmt_t *s) {
  grow((void **)&list->items, &list->cap, list->n, sizeof *list->items);
  list->items[list->n++] = s;
}

void ast_stmt_list_destroy(ast_stmt_list_t *list) {
  if (!list) return;
  stmt_list_deinit(list);
  free(list);
}

void ast_stmt_list_move(ast_stmt_list_t *to, ast_stmt_list_t *from) {
  if (!from) return;
  stmt_list_deinit(to);
  *to = *from;
  free(from);
}

void ast_program_destroy(ast_program_t *p) {
  if (!p) return;
  stmt_list_deinit(&p->stmts);
  free(p);
}
