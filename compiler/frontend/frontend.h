/* The front end: .gm text -> AST (grammar/) -> checked, flat IR (sema.c).
 *
 * Diagnostics go to `diag` in GCC's form (file:line:col: error: ..., the
 * source line, a caret); at most DIAG_MAX_ERRORS are reported. */
#ifndef GRETA_FRONTEND_H
#define GRETA_FRONTEND_H

#include <stddef.h>
#include <stdio.h>

#include "ir.h"

/* Parses and checks a .gm file; returns the flat IR as written (blocks
 * inlined, repeats unrolled, shapes inferred, constants folded; dead code
 * still there: passes_prune or passes_run removes it) or NULL after printing
 * diagnostics to `diag`; *out_errors = number of errors. The caller owns the
 * graph (ir_graph_destroy). `diag` may be NULL (count only). */
ir_graph_t *frontend_compile_file(const char *path, FILE *diag, int *out_errors);
/* The same for `len` bytes of `text` (need not be NUL-terminated), reported
 * under `filename`. */
ir_graph_t *frontend_compile_string(const char *filename, const char *text, size_t len,
                                    FILE *diag, int *out_errors);

#endif /* GRETA_FRONTEND_H */
