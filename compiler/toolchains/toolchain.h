/* Toolchains turn the generated translation unit into a code object.
 * Each lives in its own file (toolchain_clang.c, toolchain_hiprtc.c,
 * toolchain_nvrtc.c) and is found at run time (exec or dlopen), never
 * linked. */
#ifndef GRETA_TOOLCHAIN_H
#define GRETA_TOOLCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"
#include "target.h"

typedef struct toolchain_s toolchain_t;

/* Picks the toolchain: `requested` is "auto", "hiprtc", "clang" or "nvrtc".
 * auto: hiprtc when it supports the target, else clang, for AMD; nvrtc for
 * NVIDIA. On failure the status says what was tried and what to install.
 * *out_version is e.g. "clang 19.1.7" (static storage of the toolchain). */
greta_status_t toolchain_pick(const target_t *target, const char *requested,
                              const toolchain_t **out_toolchain, const char **out_version);

/* The toolchain's name ("clang"). */
const char *toolchain_name(const toolchain_t *toolchain);

/* Compiles `source` for `target`, through the compile cache unless
 * use_cache is false. *out_object is malloc'd (caller frees); *out_log, when
 * not NULL, receives the toolchain's log (malloc'd, may be empty). */
greta_status_t toolchain_compile(const toolchain_t *toolchain, const target_t *target,
                                 const char *source, int use_cache, uint8_t **out_object,
                                 size_t *out_size, char **out_log);

#endif /* GRETA_TOOLCHAIN_H */
