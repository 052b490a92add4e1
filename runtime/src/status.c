#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct greta_status_s {
  greta_status_code_t code;
  char message[]; /* NUL-terminated */
};

/* Used when even the status cannot be allocated. Never freed. */
static struct {
  greta_status_code_t code;
  char message[16];
} out_of_memory = {GRETA_RESOURCE_EXHAUSTED, "out of memory"};

static greta_status_t status_vmake(greta_status_code_t code, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  struct greta_status_s *s = malloc(sizeof *s + (size_t)n + 1);
  if (!s) return (greta_status_t)&out_of_memory;
  s->code = code;
  vsnprintf(s->message, (size_t)n + 1, fmt, ap);
  return s;
}

greta_status_t greta_status_make(greta_status_code_t code, const char *fmt, ...) {
  if (code == GRETA_OK) return NULL;
  va_list ap;
  va_start(ap, fmt);
  greta_status_t s = status_vmake(code, fmt, ap);
  va_end(ap);
  return s;
}

greta_status_t greta_status_annotate(greta_status_t status, const char *fmt, ...) {
  if (!status || status == (greta_status_t)&out_of_memory) return status;
  char context[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(context, sizeof context, fmt, ap);
  va_end(ap);
  greta_status_t s = greta_status_make(status->code, "%s: %s", context, status->message);
  greta_status_free(status);
  return s;
}

greta_status_code_t greta_status_code(greta_status_t status) {
  return status ? status->code : GRETA_OK;
}

const char *greta_status_message(greta_status_t status) {
  return status ? status->message : "OK";
}

void greta_status_free(greta_status_t status) {
  if (status && status != (greta_status_t)&out_of_memory) free(status);
}
