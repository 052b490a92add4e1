/* Private: what each toolchain file (toolchain_clang.c, toolchain_hiprtc.c,
 * toolchain_nvrtc.c) provides to toolchain.c, and the helpers they share. */
#ifndef GRETA_TOOLCHAIN_IMPL_H
#define GRETA_TOOLCHAIN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toolchain.h"

struct toolchain_s {
  const char *name; /* "clang", "hiprtc", "nvrtc" */
  target_arch_t arch;
  /* Finds the toolchain and checks it can compile for `target`. On success
   * returns true and *out_version is e.g. "clang 19.1.7" (static storage of
   * the toolchain file); else writes why not (what was tried, what to
   * install) into why. */
  bool (*probe)(const target_t *target, const char **out_version, char *why, size_t why_size);
  /* The flags a compile for `target` uses (part of the cache key). Static
   * storage or a string literal. */
  const char *(*flags)(const target_t *target);
  /* Compiles; the object and log are malloc'd. Called after probe succeeded. */
  greta_status_t (*compile)(const target_t *target, const char *source, uint8_t **out_object,
                            size_t *out_size, char **out_log);
};

extern const toolchain_t toolchain_clang;
extern const toolchain_t toolchain_hiprtc;
extern const toolchain_t toolchain_nvrtc;

/* How many times this process ran a toolchain (cache misses); for tests. */
long toolchain_invocation_count(void);

/* ---- helpers shared by the toolchain files (toolchain.c) ----------------- */

/* Runs argv (argv[0] looked up on PATH), capturing stdout and stderr
 * together into *out_output (malloc'd). Returns the exit status, or -1 when
 * it could not run, 128 + signal when killed. */
int toolchain_run(char *const argv[], char **out_output);
/* The raw code object inside a clang offload bundle (or the input when it
 * is not one): *out_data points into `data`. */
bool toolchain_unbundle(const uint8_t *data, size_t size, const char *triple_prefix,
                        const uint8_t **out_data, size_t *out_size);

#endif /* GRETA_TOOLCHAIN_IMPL_H */
