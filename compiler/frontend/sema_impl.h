/* What sema's files (sema.c, sema_eval.c, sema_stmt.c, builtins.c) share:
 * values, scopes, the checker's state, and the helpers that report errors
 * and add IR nodes. Private to the front end. */
#ifndef GRETA_SEMA_IMPL_H
#define GRETA_SEMA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ast.h"
#include "diag.h"
#include "ir.h"
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
  strbuf_t instance; /* the block instance path of the innermost call, which
                        prefixes its cache names: each enclosing call's block
                        name and int arguments ("decoder.3."); empty at the
                        top level */
  int64_t work;
  bool weight_dtype_set;
  bool kv_dtype_set;
  bool rope_scaling_set;
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

static inline value_t tensor(int node) { return (value_t){.kind = V_TENSOR, .node = node}; }
static inline bool is_number(const value_t *v) { return v->kind == V_INT || v->kind == V_FLOAT; }
static inline double number(const value_t *v) { return v->kind == V_INT ? (double)v->i : v->f; }
static inline value_t int_value(int64_t i) { return (value_t){.kind = V_INT, .i = i}; }
static inline value_t float_value(double f) { return (value_t){.kind = V_FLOAT, .f = f}; }

/* ---- scopes (sema.c) ----------------------------------------------------- */

/* The binding of `name` in sc itself, or NULL. */
binding_t *scope_find_local(scope_t *sc, const char *name);
/* Finds `name` in sc and its parents, obeying block barriers. */
binding_t *scope_lookup(scope_t *sc, const char *name);
/* Appends a binding. */
void scope_add(scope_t *sc, const char *name, ast_loc_t loc, value_t v);
void scope_deinit(scope_t *sc);
/* Binds a new name in sc; a name already bound there is a redefinition. */
void sema_bind(sema_t *s, scope_t *sc, const char *name, ast_loc_t loc, value_t v);

/* ---- messages (sema.c) --------------------------------------------------- */

/* Reports an error at `loc`; returns the error value. */
value_t sema_error(sema_t *s, ast_loc_t loc, const char *fmt, ...) DIAG_PRINTF(3, 4);
void sema_note(sema_t *s, ast_loc_t loc, const char *fmt, const char *arg);
const char *sema_type_str(sema_t *s, const ir_type_t *t, char *buf, size_t size);
/* "the integer 3", "a tensor f32[T, 64]", ... for "expected X, got Y". */
const char *sema_describe(sema_t *s, const value_t *v, char *buf, size_t size);

/* ---- IR construction (sema.c) -------------------------------------------- */

/* The weight or cache node named `name`, or -1. */
int sema_leaf_find(const sema_t *s, ir_op_t op, const char *name);
bool sema_types_equal(const ir_type_t *a, const ir_type_t *b);
/* Adds a compute node with i[0] = i0, f[0] = f0, infers its type, and
 * reports a mismatch at `loc`. */
value_t sema_add_node(sema_t *s, ir_op_t op, int n_inputs, const int *inputs, ast_loc_t loc, int64_t i0,
                      double f0);
/* Adds an input, weight or cache of type `type`. */
value_t sema_add_leaf(sema_t *s, ir_op_t op, const char *name, const ir_type_t *type, ast_loc_t loc);
/* x * factor, folding a scale of a scale. */
value_t sema_add_scale(sema_t *s, value_t x, double factor, ast_loc_t loc);

/* ---- expressions (sema_eval.c) ------------------------------------------- */

value_t sema_eval(sema_t *s, scope_t *sc, const ast_expr_t *e);
/* An operand that may be written `w.T`: *transposed says so, and the .T is
 * left to the consumer. */
value_t sema_eval_tensor_arg(sema_t *s, scope_t *sc, const ast_expr_t *e, bool *transposed);
/* Evaluates a list of dimension expressions into a type's rank and dims. */
bool sema_eval_dims(sema_t *s, scope_t *sc, const ast_expr_list_t *dims, ast_loc_t loc, bool allow_symbol,
                    ir_type_t *out);
/* A tensor type as written (`f32[T, dim]`). */
bool sema_eval_tensor_type(sema_t *s, scope_t *sc, const ast_type_t *t, ir_type_t *out);
bool sema_parse_dtype(const char *name, greta_dtype_t *out);

/* ---- statements (sema_stmt.c) -------------------------------------------- */

void sema_exec_stmts(sema_t *s, scope_t *sc, const ast_stmt_list_t *stmts, frame_t *frame);
/* Inlines a call of `block`: evaluates its body in a fresh scope. */
value_t sema_call_block(sema_t *s, scope_t *sc, const ast_expr_t *e, const ast_stmt_t *block);

#endif /* GRETA_SEMA_IMPL_H */
