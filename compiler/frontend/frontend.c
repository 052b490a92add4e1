/* The front end's entry points: read a .gm file, check that it is text
 * (no NUL bytes, valid UTF-8), parse it (grammar/) and check it (sema.c). */
#define _POSIX_C_SOURCE 200809L
#include "frontend.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ast.h"
#include "diag.h"
#include "file_io.h"
#include "sema.h"

#define FRONTEND_MAX_FILE ((size_t)16 << 20)

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not valid. */
static int utf8_sequence(const unsigned char *p, size_t left) {
  if (p[0] < 0x80) return 1;
  int n;
  uint32_t cp;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) n = 2, cp = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef) n = 3, cp = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) n = 4, cp = p[0] & 0x07;
  else return 0;
  if ((size_t)n > left) return 0;
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

/* Text means no NUL bytes and valid UTF-8. */
static bool check_text(diag_t *d, const char *text, size_t len) {
  int line = 1, col = 1;
  for (size_t i = 0; i < len;) {
    const unsigned char *p = (const unsigned char *)text + i;
    if (p[0] == 0) {
      diag_fatal(d, line, col, 1, "file is not text: it contains a NUL byte (offset %zu)", i);
      return false;
    }
    int n = utf8_sequence(p, len - i);
    if (n == 0) {
      diag_fatal(d, line, col, 1, "file is not text: invalid UTF-8 byte 0x%02x (offset %zu)", p[0], i);
      return false;
    }
    if (p[0] == '\n') line++, col = 1;
    else col += n;
    i += (size_t)n;
  }
  return true;
}

ir_graph_t *frontend_compile_string(const char *filename, const char *text, size_t len, FILE *diag_out,
                                    int *out_errors) {
  diag_t d;
  diag_init(&d, diag_out, filename, NULL, 0);
  ir_graph_t *g = NULL;
  if (!text || len == 0) {
    diag_fatal(&d, 0, 0, 0, "file is empty");
  } else if (len > FRONTEND_MAX_FILE) {
    diag_fatal(&d, 0, 0, 0, "file is too large (%zu bytes; the limit is %zu)", len, FRONTEND_MAX_FILE);
  } else if (check_text(&d, text, len)) {
    d.text = text;
    d.len = len;
    ast_program_t *prog = grammar_parse(&d);
    if (prog) g = sema_run(&d, prog);
    ast_program_destroy(prog);
  } else {
    /* Show the line of the bad byte only as far as it is text. */
  }
  if (!g && d.n_errors == 0) diag_fatal(&d, 0, 0, 0, "compilation failed");
  if (out_errors) *out_errors = d.n_errors;
  diag_deinit(&d);
  return g;
}

ir_graph_t *frontend_compile_file(const char *path, FILE *diag_out, int *out_errors) {
  uint8_t *data = NULL;
  size_t size = 0;
  greta_status_t status = greta_file_read_whole(path, FRONTEND_MAX_FILE, &data, &size);
  if (status) {
    /* The message names the file: report it as gretac's, not at a position in it. */
    diag_t d;
    diag_init(&d, diag_out, "gretac", NULL, 0);
    diag_fatal(&d, 0, 0, 0, "%s", greta_status_message(status));
    greta_status_free(status);
    if (out_errors) *out_errors = d.n_errors;
    diag_deinit(&d);
    return NULL;
  }
  ir_graph_t *g = frontend_compile_string(path, (const char *)data, size, diag_out, out_errors);
  free(data);
  return g;
}
