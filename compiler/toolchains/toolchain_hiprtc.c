/* The hiprtc toolchain: hiprtc* from libhiprtc.so or libamdhip64.so, loaded
 * with dlopen (never linked).
 *
 * ROCm before 6 cannot compile for gfx940 / gfx941 / gfx942 (Debian's 5.2
 * aborts the process on gfx942), so those targets are refused without
 * trying. The compile itself runs in a forked child that sends the result
 * back through a pipe: a toolchain crash becomes a diagnostic ("hiprtc
 * crashed with signal 6 while compiling for gfx90a"), never a dead gretac.
 * ROCm 5 returns a clang offload bundle; it is unbundled to the raw ELF so
 * hipModuleLoadData accepts the file unchanged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dynlib.h"
#include "status.h"
#include "strbuf.h"
#include "toolchain_impl.h"
#include "xalloc.h"

typedef int hiprtc_result_t; /* hiprtcResult; 0 = HIPRTC_SUCCESS */
typedef struct hiprtc_program_s *hiprtc_program_t;

#define HIPRTC_SYMBOLS(X)                                                                    \
  X(hiprtcVersion, hiprtc_result_t, (int *major, int *minor))                                \
  X(hiprtcGetErrorString, const char *, (hiprtc_result_t result))                            \
  X(hiprtcCreateProgram, hiprtc_result_t,                                                    \
    (hiprtc_program_t * prog, const char *src, const char *name, int num_headers,            \
     const char **headers, const char **include_names))                                     \
  X(hiprtcDestroyProgram, hiprtc_result_t, (hiprtc_program_t * prog))                        \
  X(hiprtcCompileProgram, hiprtc_result_t,                                                   \
    (hiprtc_program_t prog, int num_options, const char **options))                         \
  X(hiprtcGetProgramLogSize, hiprtc_result_t, (hiprtc_program_t prog, size_t *size))         \
  X(hiprtcGetProgramLog, hiprtc_result_t, (hiprtc_program_t prog, char *log))                \
  X(hiprtcGetCodeSize, hiprtc_result_t, (hiprtc_program_t prog, size_t *size))               \
  X(hiprtcGetCode, hiprtc_result_t, (hiprtc_program_t prog, char *code))

typedef struct hr_table_s {
#define DECLARE(name, ret, params) ret(*name) params;
  HIPRTC_SYMBOLS(DECLARE)
#undef DECLARE
} hr_table_t;
static hr_table_t hr;

static int hr_loaded; /* 0 not yet, 1 ok, -1 failed */
static int hr_major, hr_minor;
static char hr_version[160];
static char hr_why[1024];

static const greta_dynlib_symbol_t hr_symbols[] = {
#define SYMBOL(name, ret, params) {#name, offsetof(hr_table_t, name), 1},
    HIPRTC_SYMBOLS(SYMBOL)
#undef SYMBOL
};

static bool hr_load(void) {
  if (hr_loaded) return hr_loaded > 0;
  static const char *const libs[] = {"libhiprtc.so",    "libhiprtc.so.6",    "libhiprtc.so.7",
                                     "libamdhip64.so",  "libamdhip64.so.6",  "libamdhip64.so.7",
                                     "libamdhip64.so.5", NULL};
  const char *env = getenv("GRETA_HIPRTC");
  const char *const from_env[] = {env, NULL};
  void *handle = NULL;
  greta_status_t st = greta_dynlib_load("hiprtc", env && *env ? from_env : libs, hr_symbols,
                                        sizeof hr_symbols / sizeof hr_symbols[0], &hr, &handle,
                                        NULL);
  bool ok = !st;
  if (ok) {
    /* ROCm 5's hiprtcVersion answers a fixed 9.0 (NVRTC's number), so the
     * ROCm release comes from the library's file name when it has one
     * (libamdhip64.so.5.2.21153); from hiprtcVersion otherwise. */
    int major = 0, minor = 0;
    hr.hiprtcVersion(&major, &minor);
    char release[32] = "";
    Dl_info info;
    char *real = NULL;
    if (dladdr((void *)hr.hiprtcVersion, &info) && info.dli_fname &&
        (real = realpath(info.dli_fname, NULL))) {
      const char *so = strstr(real, ".so.");
      if (so) snprintf(release, sizeof release, "%s", so + 4);
    }
    free(real);
    if (release[0] >= '0' && release[0] <= '9') {
      hr_major = atoi(release);
      const char *dot = strchr(release, '.');
      hr_minor = dot ? atoi(dot + 1) : 0;
    } else {
      hr_major = major >= 9 ? 5 : major; /* 9.0: a ROCm 5 library */
      hr_minor = major >= 9 ? 0 : minor;
    }
    snprintf(hr_version, sizeof hr_version, "hiprtc %d.%d (ROCm %s)", hr_major, hr_minor,
             release[0] ? release : "unknown");
  } else {
    snprintf(hr_why, sizeof hr_why, "%s", greta_status_message(st));
  }
  greta_status_free(st);
  hr_loaded = ok ? 1 : -1;
  return ok;
}

static bool is_mi300(const target_t *target) {
  return strcmp(target->chip, "gfx940") == 0 || strcmp(target->chip, "gfx941") == 0 ||
         strcmp(target->chip, "gfx942") == 0;
}

static bool hr_probe(const target_t *target, const char **out_version, char *why, size_t why_size) {
  if (!hr_load()) {
    snprintf(why, why_size, "%s", hr_why);
    return false;
  }
  if (hr_major < 6 && is_mi300(target)) {
    snprintf(why, why_size, "%s cannot compile for %s (it needs ROCm >= 6; ROCm 5 aborts on it)",
             hr_version, target->chip);
    return false;
  }
  *out_version = hr_version;
  return true;
}

#define HR_FLAGS "-O3"

static const char *hr_flags(const target_t *target) {
  (void)target;
  return HR_FLAGS;
}

/* Child: compile and write [i32 ok][u64 log size][log][u64 code size][code]. */
static void hr_child(int fd, const target_t *target, const char *source) {
  strbuf_t msg = {0};
  int32_t ok = 0;
  char *log = NULL, *code = NULL;
  size_t log_size = 0, code_size = 0;
  hiprtc_program_t prog = NULL;
  char arch[96];
  snprintf(arch, sizeof arch, "--offload-arch=%s", target->id);
  const char *opts[] = {arch, HR_FLAGS};
  hiprtc_result_t r = hr.hiprtcCreateProgram(&prog, source, "greta_kernels.hip", 0, NULL, NULL);
  if (r == 0) {
    hiprtc_result_t cr = hr.hiprtcCompileProgram(prog, 2, opts);
    if (hr.hiprtcGetProgramLogSize(prog, &log_size) == 0 && log_size > 0) {
      log = xcalloc(1, log_size + 1);
      if (hr.hiprtcGetProgramLog(prog, log) != 0) log_size = 0;
    }
    if (cr != 0) {
      strbuf_printf(&msg, "hiprtcCompileProgram: %s\n", hr.hiprtcGetErrorString(cr));
    } else if (hr.hiprtcGetCodeSize(prog, &code_size) == 0 && code_size > 0 &&
               (code = xmalloc(code_size)) && hr.hiprtcGetCode(prog, code) == 0) {
      ok = 1;
    } else {
      strbuf_append(&msg, "hiprtc gave no code object\n");
      code_size = 0;
    }
  } else {
    strbuf_printf(&msg, "hiprtcCreateProgram: %s\n", hr.hiprtcGetErrorString(r));
  }
  if (log_size && log) strbuf_appendn(&msg, log, strlen(log));
  uint64_t ls = msg.len, cs = ok ? code_size : 0;
  FILE *f = fdopen(fd, "wb");
  if (f) {
    fwrite(&ok, sizeof ok, 1, f);
    fwrite(&ls, sizeof ls, 1, f);
    if (ls) fwrite(msg.data, 1, ls, f);
    fwrite(&cs, sizeof cs, 1, f);
    if (cs) fwrite(code, 1, cs, f);
    fclose(f);
  }
  _exit(0);
}

static greta_status_t hr_compile(const target_t *target, const char *source, uint8_t **out_object,
                                 size_t *out_size, char **out_log) {
  int fds[2];
  if (pipe(fds) != 0) return greta_status_make(GRETA_INTERNAL, "hiprtc: pipe failed");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return greta_status_make(GRETA_INTERNAL, "hiprtc: fork failed");
  }
  if (pid == 0) {
    close(fds[0]);
    hr_child(fds[1], target, source);
  }
  close(fds[1]);
  strbuf_t data = {0};
  char buf[65536];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    strbuf_appendn(&data, buf, (size_t)n);
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    strbuf_free(&data);
    return greta_status_make(GRETA_INTERNAL, "hiprtc crashed with signal %d while compiling for %s",
                             WTERMSIG(status), target->id);
  }
  /* Parse the child's reply, bounds-checked. */
  const uint8_t *p = (const uint8_t *)data.data;
  size_t n = data.len, at = 0;
  int32_t ok = 0;
  uint64_t ls = 0, cs = 0;
  bool well_formed = n >= 12;
  if (well_formed) {
    memcpy(&ok, p, 4);
    memcpy(&ls, p + 4, 8);
    at = 12;
    well_formed = ls <= n - at && n - at - ls >= 8;
  }
  if (well_formed) {
    *out_log = xmalloc(ls + 1);
    memcpy(*out_log, (const char *)p + at, ls);
    (*out_log)[ls] = '\0';
    at += ls;
    memcpy(&cs, p + at, 8);
    at += 8;
    well_formed = cs <= n - at;
  }
  if (!well_formed) {
    strbuf_free(&data);
    return greta_status_make(GRETA_INTERNAL, "hiprtc child exited (status %d) without a result for %s",
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1, target->id);
  }
  greta_status_t st = NULL;
  if (!ok) {
    st = greta_status_make(GRETA_INTERNAL, "%s failed for %s:\n%s", hr_version, target->id,
                           *out_log ? *out_log : "");
  } else {
    const uint8_t *elf = NULL;
    size_t elf_size = 0;
    if (!toolchain_unbundle(p + at, cs, "hip", &elf, &elf_size) || elf_size < 4 ||
        memcmp(elf, "\177ELF", 4) != 0) {
      st = greta_status_make(GRETA_INTERNAL, "hiprtc returned no ELF code object for %s", target->id);
    } else {
      *out_object = xmalloc(elf_size);
      memcpy(*out_object, elf, elf_size);
      *out_size = elf_size;
    }
  }
  strbuf_free(&data);
  return st;
}

const toolchain_t toolchain_hiprtc = {
    .name = "hiprtc",
    .arch = TARGET_AMD,
    .probe = hr_probe,
    .flags = hr_flags,
    .compile = hr_compile,
};
