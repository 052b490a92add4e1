/* Loading a GPU driver library and filling a symbol table from it. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "gpu_api.h"
#include "status.h"

greta_status_t greta_gpu_library_open(const char *api, const char *const *candidates,
                                      void **out_handle) {
  *out_handle = NULL;
  char tried[1024] = "";
  char errors[2048] = "";
  size_t tried_len = 0, errors_len = 0;
  for (const char *const *name = candidates; *name; ++name) {
    /* RTLD_NODELETE: once initialized, a driver runs threads inside its
     * library, so unloading it under them would crash at exit; dlclose then
     * only drops our reference. */
    void *handle = dlopen(*name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle) {
      *out_handle = handle;
      return NULL;
    }
    const char *why = dlerror();
    tried_len += (size_t)snprintf(tried + tried_len, sizeof tried - tried_len, "%s%s",
                                  name == candidates ? "" : ", ", *name);
    if (tried_len >= sizeof tried) tried_len = sizeof tried - 1;
    errors_len += (size_t)snprintf(errors + errors_len, sizeof errors - errors_len, "%s%s",
                                   name == candidates ? "" : "; ", why ? why : "?");
    if (errors_len >= sizeof errors) errors_len = sizeof errors - 1;
  }
  return greta_status_make(GRETA_UNAVAILABLE, "%s unavailable: tried %s (%s)", api, tried,
                           errors);
}

greta_status_t greta_gpu_library_resolve(void *handle, const char *api,
                                         const greta_gpu_symbol_t *symbols, size_t n_symbols,
                                         void *table, greta_gpu_symbols_report_t *report) {
  greta_gpu_symbols_report_t local = {0};
  for (size_t i = 0; i < n_symbols; ++i) {
    dlerror();
    void *address = dlsym(handle, symbols[i].name);
    if (symbols[i].required) {
      ++local.required;
    } else {
      ++local.optional;
    }
    if (!address) {
      if (symbols[i].required) {
        return greta_status_make(GRETA_UNAVAILABLE,
                                 "%s unavailable: the driver library has no %s (too old?)",
                                 api, symbols[i].name);
      }
      continue;
    }
    if (!symbols[i].required) ++local.optional_found;
    /* POSIX guarantees a dlsym'ed object pointer converts to a function
     * pointer of the same size; memcpy avoids the ISO C cast warning. */
    memcpy((char *)table + symbols[i].offset, &address, sizeof address);
    if (i == 0) {
      Dl_info info;
      if (dladdr(address, &info) && info.dli_fname) {
        snprintf(local.library, sizeof local.library, "%s", info.dli_fname);
      }
    }
  }
  if (report) *report = local;
  return NULL;
}
