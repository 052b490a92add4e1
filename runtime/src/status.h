/* Internal helpers to make and propagate greta_status_t values. */
#ifndef GRETA_STATUS_H
#define GRETA_STATUS_H

#include "greta/greta.h"

#if defined(__GNUC__)
#define GRETA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GRETA_PRINTF(a, b)
#endif

/* A new status with a printf-formatted message. GRETA_OK gives NULL. */
greta_status_t greta_status_make(greta_status_code_t code, const char *fmt, ...)
    GRETA_PRINTF(2, 3);
/* Prefixes `status`'s message with "context: " (and returns it). */
greta_status_t greta_status_annotate(greta_status_t status, const char *fmt, ...)
    GRETA_PRINTF(2, 3);

#define GRETA_RETURN_IF_ERROR(expr)        \
  do {                                     \
    greta_status_t status_ = (expr);       \
    if (status_) return status_;           \
  } while (0)

#endif /* GRETA_STATUS_H */
