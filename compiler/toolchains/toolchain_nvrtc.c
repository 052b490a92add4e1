/* The NVRTC toolchain: libnvrtc loaded with dlopen (never linked), source
 * compiled in memory to a cubin (nvrtcGetCUBIN) that cuModuleLoadData
 * accepts. Library search: $GRETA_NVRTC, $CUDA_HOME/lib64,
 * /usr/local/cuda/lib64, then the loader path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynlib.h"
#include "status.h"
#include "strbuf.h"
#include "toolchain_impl.h"
#include "xalloc.h"

typedef int nvrtc_result_t; /* nvrtcResult; 0 = NVRTC_SUCCESS */
typedef struct nvrtc_program_s *nvrtc_program_t;

/* Required symbols, (name, return type, parameters). */
#define NVRTC_SYMBOLS(X)                                                                     \
  X(nvrtcVersion, nvrtc_result_t, (int *major, int *minor))                                  \
  X(nvrtcGetErrorString, const char *, (nvrtc_result_t result))                              \
  X(nvrtcCreateProgram, nvrtc_result_t,                                                      \
    (nvrtc_program_t * prog, const char *src, const char *name, int num_headers,             \
     const char *const *headers, const char *const *include_names))                         \
  X(nvrtcDestroyProgram, nvrtc_result_t, (nvrtc_program_t * prog))                           \
  X(nvrtcCompileProgram, nvrtc_result_t,                                                     \
    (nvrtc_program_t prog, int num_options, const char *const *options))                    \
  X(nvrtcGetProgramLogSize, nvrtc_result_t, (nvrtc_program_t prog, size_t *size))            \
  X(nvrtcGetProgramLog, nvrtc_result_t, (nvrtc_program_t prog, char *log))                   \
  X(nvrtcGetCUBINSize, nvrtc_result_t, (nvrtc_program_t prog, size_t *size))                 \
  X(nvrtcGetCUBIN, nvrtc_result_t, (nvrtc_program_t prog, char *cubin))

typedef struct nv_table_s {
#define DECLARE(name, ret, params) ret(*name) params;
  NVRTC_SYMBOLS(DECLARE)
#undef DECLARE
} nv_table_t;
static nv_table_t nv;

static int nv_loaded; /* 0 not yet, 1 ok, -1 failed */
static char nv_version[64];
static char nv_why[1024];

static const greta_dynlib_symbol_t nv_symbols[] = {
#define SYMBOL(name, ret, params) {#name, offsetof(nv_table_t, name), 1},
    NVRTC_SYMBOLS(SYMBOL)
#undef SYMBOL
};

static bool nv_load(void) {
  if (nv_loaded) return nv_loaded > 0;
  /* $GRETA_NVRTC alone when set; else each soname under $CUDA_HOME/lib64,
   * /usr/local/cuda/lib64, then on the loader path. */
  static const char *const sonames[] = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"};
  char paths[6][1024];
  const char *candidates[10];
  size_t n = 0;
  const char *env = getenv("GRETA_NVRTC");
  if (env && *env) {
    candidates[n++] = env;
  } else {
    const char *home = getenv("CUDA_HOME");
    const char *dirs[] = {home && *home ? home : NULL, "/usr/local/cuda"};
    for (size_t d = 0; d < 2; d++) {
      if (!dirs[d]) continue;
      for (size_t i = 0; i < 3; i++) {
        snprintf(paths[d * 3 + i], sizeof paths[0], "%s/lib64/%s", dirs[d], sonames[i]);
        candidates[n++] = paths[d * 3 + i];
      }
    }
    for (size_t i = 0; i < 3; i++) candidates[n++] = sonames[i];
  }
  candidates[n] = NULL;
  void *handle = NULL;
  greta_status_t st = greta_dynlib_load("nvrtc", candidates, nv_symbols,
                                        sizeof nv_symbols / sizeof nv_symbols[0], &nv, &handle,
                                        NULL);
  bool ok = !st;
  if (ok) {
    int major = 0, minor = 0;
    nv.nvrtcVersion(&major, &minor);
    snprintf(nv_version, sizeof nv_version, "nvrtc %d.%d", major, minor);
  } else {
    snprintf(nv_why, sizeof nv_why, "%s", greta_status_message(st));
  }
  greta_status_free(st);
  nv_loaded = ok ? 1 : -1;
  return ok;
}

static bool nv_probe(const target_t *target, const char **out_version, char *why, size_t why_size) {
  (void)target;
  if (!nv_load()) {
    snprintf(why, why_size, "%s", nv_why);
    return false;
  }
  *out_version = nv_version;
  return true;
}

/* Options; [0] is the architecture, filled per target. -default-device:
 * a generic lambda in device code (gemm_wgmma.h's persistent GEMM) is
 * otherwise a host function to NVRTC; every other function the kernels
 * use says __device__ itself. */
#define NV_FLAGS "--std=c++17 --fmad=true -default-device"

/* The flags as the compile cache keys them: sm_90 built as sm_90a
 * (target_wgmma) is another object for the same source and target. */
static const char *nv_flags(const target_t *target) {
  return target_wgmma(target) ? NV_FLAGS " --gpu-architecture=sm_90a" : NV_FLAGS;
}

static greta_status_t nv_compile(const target_t *target, const char *source, uint8_t **out_object,
                                 size_t *out_size, char **out_log) {
  nvrtc_program_t prog = NULL;
  nvrtc_result_t r = nv.nvrtcCreateProgram(&prog, source, "greta_kernels.cu", 0, NULL, NULL);
  if (r != 0)
    return greta_status_make(GRETA_INTERNAL, "nvrtcCreateProgram: %s", nv.nvrtcGetErrorString(r));
  char arch[96];
  snprintf(arch, sizeof arch, "--gpu-architecture=%s%s", target->id, target_wgmma(target) ? "a" : "");
  const char *opts[] = {arch, "--std=c++17", "--fmad=true", "-default-device"};
  nvrtc_result_t cr = nv.nvrtcCompileProgram(prog, 4, opts);
  size_t log_size = 0;
  char *log = NULL;
  if (nv.nvrtcGetProgramLogSize(prog, &log_size) == 0 && log_size > 0) {
    log = xcalloc(1, log_size + 1);
    if (nv.nvrtcGetProgramLog(prog, log) != 0) log[0] = '\0';
  }
  *out_log = log;
  greta_status_t st = NULL;
  if (cr != 0) {
    st = greta_status_make(GRETA_INTERNAL, "nvrtc (%s) failed for %s: %s\n%s", nv_version, target->id,
                           nv.nvrtcGetErrorString(cr), log ? log : "");
  } else {
    size_t size = 0;
    if (nv.nvrtcGetCUBINSize(prog, &size) != 0 || size == 0 || !(*out_object = xmalloc(size)) ||
        nv.nvrtcGetCUBIN(prog, (char *)*out_object) != 0) {
      free(*out_object);
      *out_object = NULL;
      st = greta_status_make(GRETA_INTERNAL, "nvrtc gave no cubin for %s", target->id);
    } else {
      *out_size = size;
    }
  }
  nv.nvrtcDestroyProgram(&prog);
  return st;
}

const toolchain_t toolchain_nvrtc = {
    .name = "nvrtc",
    .arch = TARGET_NVIDIA,
    .probe = nv_probe,
    .flags = nv_flags,
    .compile = nv_compile,
};
