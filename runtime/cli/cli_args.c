/* Option values, read strictly: a number with anything after it, or out of
 * its range, is an error naming the option and the text. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "greta %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_status_error(const char *cmd, const char *what, greta_status_t status) {
  /* Many messages already start with what they are about (the path, or the
   * API's "generate: "): say it once. */
  const char *msg = greta_status_message(status);
  size_t cmd_len = strlen(cmd);
  if (!strncmp(msg, cmd, cmd_len) && !strncmp(msg + cmd_len, ": ", 2)) msg += cmd_len + 2;
  if (what && !(!strncmp(msg, what, strlen(what)) && msg[strlen(what)] == ':'))
    cli_error(cmd, "%s: %s", what, msg);
  else
    cli_error(cmd, "%s", msg);
  greta_status_free(status);
  return 1;
}

int cli_bad_option(const char *cmd, int c, char **argv) {
  extern int optind, optopt;
  const char *arg = argv[optind - 1];
  if (c == ':')
    return cli_error(cmd, "option '%s' needs a value (see greta %s --help)", arg, cmd);
  if (optopt && strncmp(arg, "--", 2) != 0)
    return cli_error(cmd, "unknown option '-%c' (see greta %s --help)", optopt, cmd);
  return cli_error(cmd, "unknown option '%s' (see greta %s --help)", arg, cmd);
}

bool cli_parse_int(const char *cmd, const char *opt, const char *text, long long min, long long max,
                   long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end || errno || v < min || v > max) {
    cli_error(cmd, "%s needs a whole number from %lld to %lld, got '%s'", opt, min, max, text);
    return false;
  }
  *out = v;
  return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *text, double min, double max,
                     double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end || errno || !isfinite(v) || v < min || v > max) {
    cli_error(cmd, "%s needs a number from %g to %g, got '%s'", opt, min, max, text);
    return false;
  }
  *out = v;
  return true;
}

bool cli_parse_ids(const char *cmd, const char *what, const char *text, int32_t **out_ids,
                   size_t *out_count) {
  size_t cap = 16, n = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  const char *p = text;
  while (ids) {
    while (isspace((unsigned char)*p))
      p++;
    if (!*p)
      break;
    const char *word = p;
    while (*p && !isspace((unsigned char)*p))
      p++;
    char buf[32];
    size_t len = (size_t)(p - word);
    char *end = NULL;
    long long v = -1;
    if (len < sizeof buf) {
      memcpy(buf, word, len);
      buf[len] = 0;
      errno = 0;
      v = strtoll(buf, &end, 10);
      if (*end || errno || !isdigit((unsigned char)buf[0]))
        v = -1;
    }
    if (v < 0 || v > INT32_MAX) {
      cli_error(cmd, "%s: '%.*s' is not a token id (a whole number >= 0)", what, (int)len, word);
      free(ids);
      return false;
    }
    if (n == cap) {
      int32_t *more = realloc(ids, (cap *= 2) * sizeof *ids);
      if (!more)
        break;
      ids = more;
    }
    ids[n++] = (int32_t)v;
  }
  if (!ids) {
    cli_error(cmd, "out of memory");
    return false;
  }
  *out_ids = ids;
  *out_count = n;
  return true;
}

char *cli_read_all(FILE *f, size_t *out_len) {
  size_t cap = 4096, len = 0, got;
  char *text = malloc(cap);
  while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
    len += got;
    if (len + 1 == cap) {
      char *more = realloc(text, cap *= 2);
      if (!more) {
        free(text);
        return NULL;
      }
      text = more;
    }
  }
  if (!text || ferror(f)) {
    free(text);
    return NULL;
  }
  text[len] = 0;
  *out_len = len;
  return text;
}
