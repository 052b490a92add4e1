/* Loading a shared library at run time and filling a table of function
 * pointers from it: the GPU drivers (gpu_hip.c, gpu_cuda.c) and gretac's
 * in-process compilers (toolchain_hiprtc.c, toolchain_nvrtc.c).
 *
 * Each user keeps one X-macro list of its symbols, included twice: once to
 * declare the table struct, once to build its greta_dynlib_symbol_t list
 * (name, offsetof(table, name), required). A library that is missing is a
 * GRETA_UNAVAILABLE status naming every file tried:
 * "HIP unavailable: tried libamdhip64.so, libamdhip64.so.7 (<dlerror>; ...)".
 */
#ifndef GRETA_DYNLIB_H
#define GRETA_DYNLIB_H

#include <stddef.h>

#include "greta/greta.h"

/* One entry of a symbol table: its name, where its pointer lives in the
 * table struct, and whether a missing one is an error (an optional one is
 * left NULL and its caller has a fallback). */
typedef struct greta_dynlib_symbol_s {
  const char *name;
  size_t offset;
  int required;
} greta_dynlib_symbol_t;

/* What resolving found. */
typedef struct greta_dynlib_report_s {
  char library[512];  /* path the library was loaded from */
  int required;       /* required symbols in the table (all resolved on OK) */
  int optional;       /* optional symbols in the table */
  int optional_found; /* of which resolved */
} greta_dynlib_report_t;

/* dlopen's the first of `candidates` (NULL-terminated) that loads. On failure
 * the status is GRETA_UNAVAILABLE: "<api> unavailable: tried a, b (errors)".
 * The handle is opened RTLD_NODELETE: a driver runs threads inside its
 * library, so dlclose only drops the reference. */
greta_status_t greta_dynlib_open(const char *api, const char *const *candidates,
                                 void **out_handle);

/* Fills `table` from `handle` (a missing optional symbol's slot is set to
 * NULL); a missing required symbol is GRETA_UNAVAILABLE naming it. Fills
 * `report` when non-NULL. */
greta_status_t greta_dynlib_resolve(void *handle, const char *api,
                                    const greta_dynlib_symbol_t *symbols, size_t n_symbols,
                                    void *table, greta_dynlib_report_t *report);

/* Tries `candidates` (NULL-terminated) in order until one loads and has
 * every required symbol; a candidate that lacks one is closed and the next
 * tried. On success *out_handle stays open for the caller. On failure
 * GRETA_UNAVAILABLE: "<api> unavailable: tried a, b (no sym) (errors)". */
greta_status_t greta_dynlib_load(const char *api, const char *const *candidates,
                                 const greta_dynlib_symbol_t *symbols, size_t n_symbols,
                                 void *table, void **out_handle, greta_dynlib_report_t *report);

#endif /* GRETA_DYNLIB_H */
