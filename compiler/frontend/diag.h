/* Compiler diagnostics in GCC's form:
 *
 *   file:line:col: error: message
 *   <the source line>
 *       ^~~~
 *
 * One diag_t per compiled file. It counts errors, drops a second report at
 * the same position (a block inlined 32 times reports its error once), and
 * stops accepting errors after `max_errors`: callers check diag_stopped()
 * and unwind. The source text is borrowed, never copied.
 */
#ifndef GRETA_DIAG_H
#define GRETA_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define DIAG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DIAG_PRINTF(a, b)
#endif

#define DIAG_MAX_ERRORS 20

typedef struct diag_s {
  FILE *out;            /* where messages go (may be NULL: count only); borrowed */
  const char *filename; /* borrowed */
  const char *text;     /* the source; borrowed; may be NULL */
  size_t len;
  int n_errors;
  int max_errors;
  bool stopped;         /* max_errors reached, or a fatal error */
  bool last_dropped;    /* the previous error was not printed: drop its notes */
  int n_seen, cap_seen; /* positions already reported */
  long *seen;
} diag_t;

void diag_init(diag_t *d, FILE *out, const char *filename, const char *text, size_t len);
void diag_deinit(diag_t *d);

/* Reports an error at line:col (1-based) with a caret `width` columns wide
 * (at least 1). line 0 means "the whole file" (no position, no caret). */
void diag_error(diag_t *d, int line, int col, int width, const char *fmt, ...) DIAG_PRINTF(5, 6);
/* A note attached to the previous error (not counted); printed only when
 * that error was. */
void diag_note(diag_t *d, int line, int col, int width, const char *fmt, ...) DIAG_PRINTF(5, 6);
/* A fatal error: reported (even past the limit) and diag_stopped() after. */
void diag_fatal(diag_t *d, int line, int col, int width, const char *fmt, ...) DIAG_PRINTF(5, 6);

static inline bool diag_stopped(const diag_t *d) { return d->stopped; }

#endif /* GRETA_DIAG_H */
