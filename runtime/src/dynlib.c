/* Loading a shared library and filling a symbol table from it (dynlib.h). */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

/* A list that grows by "sep item", truncated at its buffer's end. */
typedef struct list_s {
  char text[1024];
  size_t len;
} list_t;

static void list_add(list_t *list, const char *sep, const char *fmt, const char *a,
                     const char *b) {
  if (list->len >= sizeof list->text - 1) return;
  size_t room = sizeof list->text - list->len;
  int n = snprintf(list->text + list->len, room, "%s", list->len ? sep : "");
  list->len += n > 0 ? (size_t)n : 0;
  if (list->len >= sizeof list->text - 1) return;
  room = sizeof list->text - list->len;
  n = snprintf(list->text + list->len, room, fmt, a, b);
  list->len += n > 0 ? (size_t)n : 0;
  if (list->len >= sizeof list->text) list->len = sizeof list->text - 1;
}

static void *open_one(const char *name) {
  /* RTLD_NODELETE: once initialized, a driver runs threads inside its
   * library, so unloading it under them would crash at exit; dlclose then
   * only drops our reference. */
  return dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

greta_status_t greta_dynlib_open(const char *api, const char *const *candidates,
                                 void **out_handle) {
  /* With no symbols to find, the first candidate that loads is the one. */
  return greta_dynlib_load(api, candidates, NULL, 0, NULL, out_handle, NULL);
}

/* Resolves every symbol; returns the index of the first missing required
 * one, or n_symbols when none is missing. */
static size_t resolve(void *handle, const greta_dynlib_symbol_t *symbols, size_t n_symbols,
                      void *table, greta_dynlib_report_t *report) {
  greta_dynlib_report_t local = {0};
  for (size_t i = 0; i < n_symbols; ++i) {
    dlerror();
    void *address = dlsym(handle, symbols[i].name);
    if (symbols[i].required) {
      ++local.required;
    } else {
      ++local.optional;
    }
    /* POSIX guarantees a dlsym'ed object pointer converts to a function
     * pointer of the same size; memcpy avoids the ISO C cast warning. */
    memcpy((char *)table + symbols[i].offset, &address, sizeof address);
    if (!address) {
      if (symbols[i].required) return i;
      continue;
    }
    if (!symbols[i].required) ++local.optional_found;
    if (i == 0) {
      Dl_info info;
      if (dladdr(address, &info) && info.dli_fname) {
        snprintf(local.library, sizeof local.library, "%s", info.dli_fname);
      }
    }
  }
  if (report) *report = local;
  return n_symbols;
}

greta_status_t greta_dynlib_resolve(void *handle, const char *api,
                                    const greta_dynlib_symbol_t *symbols, size_t n_symbols,
                                    void *table, greta_dynlib_report_t *report) {
  size_t missing = resolve(handle, symbols, n_symbols, table, report);
  if (missing < n_symbols)
    return greta_status_make(GRETA_UNAVAILABLE,
                             "%s unavailable: the driver library has no %s (too old?)", api,
                             symbols[missing].name);
  return NULL;
}

greta_status_t greta_dynlib_load(const char *api, const char *const *candidates,
                                 const greta_dynlib_symbol_t *symbols, size_t n_symbols,
                                 void *table, void **out_handle, greta_dynlib_report_t *report) {
  *out_handle = NULL;
  list_t tried = {.len = 0}, errors = {.len = 0};
  for (const char *const *name = candidates; *name; ++name) {
    void *handle = open_one(*name);
    if (!handle) {
      const char *why = dlerror();
      list_add(&tried, ", ", "%s%s", *name, "");
      list_add(&errors, "; ", "%s%s", why ? why : "?", "");
      continue;
    }
    size_t missing = resolve(handle, symbols, n_symbols, table, report);
    if (missing == n_symbols) {
      *out_handle = handle;
      return NULL;
    }
    list_add(&tried, ", ", "%s (no %s)", *name, symbols[missing].name);
    dlclose(handle);
  }
  for (size_t i = 0; i < n_symbols; ++i) memset((char *)table + symbols[i].offset, 0, sizeof(void *));
  if (errors.len)
    return greta_status_make(GRETA_UNAVAILABLE, "%s unavailable: tried %s (%s)", api, tried.text,
                             errors.text);
  return greta_status_make(GRETA_UNAVAILABLE, "%s unavailable: tried %s", api, tried.text);
}
