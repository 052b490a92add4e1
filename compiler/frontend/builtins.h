/* The built-in ops of .gm, one row each in builtins.c: the name a model
 * writes, the arguments it takes, and the IR node it makes. Sema (the
 * generic path in sema_eval.c) checks a call against its row; a row's
 * builder runs only when the op needs more than one plain node. */
#ifndef GRETA_BUILTINS_H
#define GRETA_BUILTINS_H

#include "sema_impl.h"

#define BUILTIN_MAX_ARGS 4

/* A call whose arguments have been checked against its row. */
typedef struct builtin_call_s {
  const ast_expr_t *expr;               /* the call: locations, shape lists */
  int n;                                /* arguments given */
  value_t args[BUILTIN_MAX_ARGS];       /* tensors and numbers; a shape list is left in expr */
  bool transposed[BUILTIN_MAX_ARGS];    /* written `w.T`, left for the node to fold */
} builtin_call_t;

typedef struct builtin_s builtin_t;

/* Makes the value of a checked call; reports its own errors. */
typedef value_t (*builtin_build_fn)(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);

struct builtin_s {
  const char *name;       /* as written in .gm */
  const char *args;       /* one letter per argument: T tensor, N number (a
                             constant), L shape list; optional ones after '|'.
                             Tensors come first: they are the node's inputs. */
  const char *arg_names;  /* "x, weight, eps", for messages */
  ir_op_t op;             /* the node made; IR_DEAD: none (folded to a number) */
  int attr_arg;           /* the number argument stored as the node's f[0]
                             (eps, theta, scale); -1: none */
  double attr_default;    /* f[0] when that argument is optional and absent */
  int transpose_arg;      /* the tensor argument whose `.T` the node folds
                             into i[0] (matmul's b); -1: none */
  builtin_build_fn build; /* NULL: builtin_build_node */
};

/* The row for `name`, or NULL. */
const builtin_t *builtin_find(const char *name);

/* Argument `i`'s letter in op->args ('T', 'N' or 'L'). */
char builtin_arg_kind(const builtin_t *op, int i);

/* Argument `i`'s name, from op->arg_names, into buf ("?" past the end). */
void builtin_arg_name(const builtin_t *op, int i, char *buf, size_t size);

/* The generic builder: one op->op node on the call's leading tensors, with
 * f[0] from attr_arg and i[0] from transpose_arg. */
value_t builtin_build_node(sema_t *s, scope_t *sc, const builtin_t *op, const builtin_call_t *call);

#endif /* GRETA_BUILTINS_H */
