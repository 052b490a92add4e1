/* Semantic analysis: the AST of a .gm file -> the flat, typed IR, as
 * written (nothing removed: dead-code elimination is a pass). */
#ifndef GRETA_SEMA_H
#define GRETA_SEMA_H

#include "ast.h"
#include "diag.h"
#include "ir.h"

/* Checks `prog` and builds its IR (blocks inlined, repeats unrolled, shapes
 * inferred, constants folded). Errors go to `diag`; on any error returns
 * NULL. The caller owns the graph (ir_graph_destroy); `prog` stays the
 * caller's. */
ir_graph_t *sema_run(diag_t *diag, const ast_program_t *prog);

#endif /* GRETA_SEMA_H */
