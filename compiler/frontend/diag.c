#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void diag_init(diag_t *d, FILE *out, const char *filename, const char *text, size_t len) {
  memset(d, 0, sizeof *d);
  d->out = out;
  d->filename = filename ? filename : "<input>";
  d->text = text;
  d->len = len;
  d->max_errors = DIAG_MAX_ERRORS;
}

void diag_deinit(diag_t *d) {
  free(d->seen);
  d->seen = NULL;
  d->n_seen = d->cap_seen = 0;
}

/* Prints source line `line` and a caret line under columns col .. col+width-1.
 * Tabs in the source are kept in the caret line so the caret lines up. */
static void print_source(const diag_t *d, int line, int col, int width) {
  if (!d->text || line <= 0) return;
  const char *p = d->text, *end = d->text + d->len;
  for (int l = 1; l < line && p < end; p++)
    if (*p == '\n') l++;
  if (p > end) return;
  const char *eol = p;
  while (eol < end && *eol != '\n' && *eol != '\r') eol++;
  fprintf(d->out, "%.*s\n", (int)(eol - p), p);
  if (col < 1) col = 1;
  if (width < 1) width = 1;
  for (int c = 1; c < col; c++) fputc(c - 1 < eol - p && p[c - 1] == '\t' ? '\t' : ' ', d->out);
  fputc('^', d->out);
  for (int c = 1; c < width; c++) fputc('~', d->out);
  fputc('\n', d->out);
}

static void vreport(diag_t *d, const char *kind, int line, int col, int width, const char *fmt,
                    va_list ap) {
  if (!d->out) return;
  if (line > 0)
    fprintf(d->out, "%s:%d:%d: %s: ", d->filename, line, col, kind);
  else
    fprintf(d->out, "%s: %s: ", d->filename, kind);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  print_source(d, line, col, width);
}

/* True when an error at this position was already reported. */
static bool seen_before(diag_t *d, int line, int col) {
  if (line <= 0) return false;
  long key = (long)line * 65536L + (col & 0xffff);
  for (int i = 0; i < d->n_seen; i++)
    if (d->seen[i] == key) return true;
  if (d->n_seen == d->cap_seen) {
    int cap = d->cap_seen ? 2 * d->cap_seen : 16;
    d->seen = xrealloc(d->seen, (size_t)cap * sizeof *d->seen);
    d->cap_seen = cap;
  }
  d->seen[d->n_seen++] = key;
  return false;
}

void diag_error(diag_t *d, int line, int col, int width, const char *fmt, ...) {
  if (d->stopped || seen_before(d, line, col)) {
    d->last_dropped = true;
    return;
  }
  d->last_dropped = false;
  va_list ap;
  va_start(ap, fmt);
  vreport(d, "error", line, col, width, fmt, ap);
  va_end(ap);
  if (++d->n_errors >= d->max_errors) {
    d->stopped = true;
    if (d->out) fprintf(d->out, "%s: too many errors (%d), stopping\n", d->filename, d->n_errors);
  }
}

void diag_note(diag_t *d, int line, int col, int width, const char *fmt, ...) {
  if (d->last_dropped) return;
  va_list ap;
  va_start(ap, fmt);
  vreport(d, "note", line, col, width, fmt, ap);
  va_end(ap);
}

void diag_fatal(diag_t *d, int line, int col, int width, const char *fmt, ...) {
  if (d->stopped) return;
  d->last_dropped = false;
  va_list ap;
  va_start(ap, fmt);
  vreport(d, "error", line, col, width, fmt, ap);
  va_end(ap);
  d->n_errors++;
  d->stopped = true;
}
