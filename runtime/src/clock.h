/* Monotonic wall time, for timing host work (compile stages, benchmark
 * repeats). CLOCK_MONOTONIC never jumps when the system clock is set.
 *
 * clock_gettime is POSIX: a file that includes this header defines
 * _POSIX_C_SOURCE (or _GNU_SOURCE) before its first system header. */
#ifndef GRETA_CLOCK_H
#define GRETA_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary fixed point; only differences mean anything. */
static inline double clock_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The same clock in milliseconds. */
static inline double clock_ms(void) { return clock_seconds() * 1e3; }

#endif /* GRETA_CLOCK_H */
