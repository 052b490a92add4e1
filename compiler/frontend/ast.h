/* The .gm syntax tree, as the parser (grammar/parser.y) builds it.
 *
 * Every node owns its children and strings; ast_program_destroy frees the
 * lot. Locations are 1-based; last_column is one past the last character.
 */
#ifndef GRETA_AST_H
#define GRETA_AST_H

#include <stdint.h>

/* Bison's location type (api.location.type). */
typedef struct ast_loc_s {
  int first_line, first_column;
  int last_line, last_column;
} ast_loc_t;

/* Width of a location on its first line, for the caret (at least 1). */
int ast_loc_width(ast_loc_t loc);

typedef struct ast_expr_s ast_expr_t;

typedef struct ast_expr_list_s {
  int n, cap;
  ast_expr_t **items; /* owned */
} ast_expr_list_t;

typedef enum ast_expr_kind_e {
  AST_INT,    /* ival */
  AST_FLOAT,  /* fval */
  AST_NAME,   /* name */
  AST_BINARY, /* lhs op rhs; op is one of + - * / % @ */
  AST_NEG,    /* -lhs */
  AST_CALL,   /* name(args) */
  AST_MEMBER, /* lhs.name (only .T means something) */
  AST_LIST,   /* [args] */
} ast_expr_kind_t;

struct ast_expr_s {
  ast_expr_kind_t kind;
  ast_loc_t loc;      /* the whole expression */
  ast_loc_t name_loc; /* AST_CALL / AST_MEMBER: the name; AST_BINARY: the operator */
  int depth;          /* nesting depth: 1 for a leaf */
  int op;
  int64_t ival;
  double fval;
  char *name;
  ast_expr_t *lhs, *rhs;
  ast_expr_list_t args;
};

/* A type as written: `f32[T, dim]` (dtype + dims), `[dim]` (weight/cache
 * shape: dtype NULL), or a scalar `int` / `float` (is_tensor false). */
typedef struct ast_type_s {
  ast_loc_t loc;
  char *dtype; /* NULL: none written */
  ast_loc_t dtype_loc;
  int is_tensor;
  ast_expr_list_t dims;
} ast_type_t;

typedef struct ast_param_s {
  char *name;
  ast_loc_t loc;
  ast_type_t *type;
} ast_param_t;

typedef struct ast_param_list_s {
  int n, cap;
  ast_param_t *items;
} ast_param_list_t;

typedef struct ast_stmt_s ast_stmt_t;

typedef struct ast_stmt_list_s {
  int n, cap;
  ast_stmt_t **items; /* owned */
} ast_stmt_list_t;

typedef enum ast_stmt_kind_e {
  AST_MODEL,  /* model name */
  AST_CONST,  /* const name = value */
  AST_SET,    /* set name = value */
  AST_DIM,    /* dim names (in names) */
  AST_BLOCK,  /* block name(params) -> type { body } */
  AST_WEIGHT, /* weight name: type = "pattern" */
  AST_CACHE,  /* cache name: type */
  AST_INPUT,  /* input name: type */
  AST_OUTPUT, /* output name [: type] [= value] */
  AST_ASSIGN, /* name = value */
  AST_RETURN, /* return value */
  AST_REPEAT, /* repeat name in value .. hi { body } */
} ast_stmt_kind_t;

struct ast_stmt_s {
  ast_stmt_kind_t kind;
  ast_loc_t loc;      /* the keyword (or the name of an assignment) */
  char *name;
  ast_loc_t name_loc;
  ast_expr_t *value;
  ast_expr_t *hi;
  ast_type_t *type;
  char *pattern;
  ast_loc_t pattern_loc; /* includes the quotes */
  ast_expr_list_t names; /* AST_DIM: AST_NAME expressions */
  ast_param_list_t params;
  ast_stmt_list_t body;
};

typedef struct ast_program_s {
  ast_stmt_list_t stmts;
} ast_program_t;

/* Constructors: take ownership of every pointer argument; never NULL. */
ast_expr_t *ast_expr_int(ast_loc_t loc, int64_t v);
ast_expr_t *ast_expr_float(ast_loc_t loc, double v);
ast_expr_t *ast_expr_name(ast_loc_t loc, char *name);
ast_expr_t *ast_expr_binary(ast_loc_t loc, ast_loc_t op_loc, int op, ast_expr_t *lhs,
                            ast_expr_t *rhs);
ast_expr_t *ast_expr_neg(ast_loc_t loc, ast_expr_t *operand);
ast_expr_t *ast_expr_call(ast_loc_t loc, ast_loc_t name_loc, char *name, ast_expr_list_t *args);
ast_expr_t *ast_expr_member(ast_loc_t loc, ast_loc_t name_loc, ast_expr_t *object, char *name);
ast_expr_t *ast_expr_list(ast_loc_t loc, ast_expr_list_t *items);
void ast_expr_destroy(ast_expr_t *e);

ast_expr_list_t *ast_expr_list_create(void);
/* Appends e (owned). */
void ast_expr_list_push(ast_expr_list_t *list, ast_expr_t *e);
void ast_expr_list_destroy(ast_expr_list_t *list);

ast_type_t *ast_type_create(ast_loc_t loc, char *dtype, ast_loc_t dtype_loc, int is_tensor,
                            ast_expr_list_t *dims);
void ast_type_destroy(ast_type_t *t);

ast_param_list_t *ast_param_list_create(void);
void ast_param_list_push(ast_param_list_t *list, char *name, ast_loc_t loc, ast_type_t *type);
void ast_param_list_destroy(ast_param_list_t *list);

ast_stmt_t *ast_stmt_create(ast_stmt_kind_t kind, ast_loc_t loc);
void ast_stmt_destroy(ast_stmt_t *s);

ast_stmt_list_t *ast_stmt_list_create(void);
void ast_stmt_list_push(ast_stmt_list_t *list, ast_stmt_t *s);
void ast_stmt_list_destroy(ast_stmt_list_t *list);
/* Moves the items of *from into *to (to is empty); frees from. */
void ast_stmt_list_move(ast_stmt_list_t *to, ast_stmt_list_t *from);

void ast_program_destroy(ast_program_t *p);

/* Parses diag->text (diag->len bytes) into a program, reporting syntax
 * errors to `diag`. Returns NULL when there were errors.
 * Implemented by the scanner, grammar/lexer.l. */
struct diag_s;
ast_program_t *grammar_parse(struct diag_s *diag);

#endif /* GRETA_AST_H */
