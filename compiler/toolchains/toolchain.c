/* Picking a toolchain, compiling through the compile cache, and the small
 * process helpers the toolchain files share. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compile_cache.h"
#include "le.h"
#include "status.h"
#include "strbuf.h"
#include "toolchain_impl.h"
#include "xalloc.h"

static atomic_long invocations;

long toolchain_invocation_count(void) { return atomic_load(&invocations); }

const char *toolchain_name(const toolchain_t *toolchain) { return toolchain->name; }

greta_status_t toolchain_pick(const target_t *target, const char *requested,
                              const toolchain_t **out_toolchain, const char **out_version) {
  if (target->arch == TARGET_CPU)
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "target cpu runs on the CPU backend and needs no toolchain");
  if (!requested) requested = "auto";
  const toolchain_t *candidates[2] = {NULL, NULL};
  if (strcmp(requested, "auto") == 0) {
    if (target->arch == TARGET_AMD) {
      candidates[0] = &toolchain_hiprtc;
      candidates[1] = &toolchain_clang;
    } else {
      candidates[0] = &toolchain_nvrtc;
    }
  } else if (strcmp(requested, "clang") == 0) {
    candidates[0] = &toolchain_clang;
  } else if (strcmp(requested, "hiprtc") == 0) {
    candidates[0] = &toolchain_hiprtc;
  } else if (strcmp(requested, "nvrtc") == 0) {
    candidates[0] = &toolchain_nvrtc;
  } else {
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "unknown toolchain '%s' (expected auto, hiprtc, clang or nvrtc)",
                             requested);
  }
  strbuf_t tried = {0};
  for (int i = 0; i < 2 && candidates[i]; i++) {
    const toolchain_t *tc = candidates[i];
    char why[1024] = "";
    if (tc->arch != target->arch) {
      snprintf(why, sizeof why, "%s cannot compile for %s targets", tc->name,
               target->arch == TARGET_AMD ? "AMD" : "NVIDIA");
    } else {
      const char *version = NULL;
      if (tc->probe(target, &version, why, sizeof why)) {
        strbuf_free(&tried);
        *out_toolchain = tc;
        if (out_version) *out_version = version;
        return NULL;
      }
    }
    strbuf_printf(&tried, "%s%s", tried.len ? "; " : "", why);
  }
  const char *install = target->arch == TARGET_AMD
                            ? "install clang >= 17 (apt-get install clang-19 lld-19) or ROCm >= 6 "
                              "(hiprtc)"
                            : "install the CUDA toolkit's NVRTC (or set GRETA_NVRTC / CUDA_HOME)";
  greta_status_t st = greta_status_make(GRETA_UNAVAILABLE, "no toolchain can compile for %s: %s; %s",
                                        target->id, tried.data ? tried.data : "", install);
  strbuf_free(&tried);
  return st;
}

greta_status_t toolchain_compile(const toolchain_t *toolchain, const target_t *target,
                                 const char *source, int use_cache, uint8_t **out_object,
                                 size_t *out_size, char **out_log) {
  *out_object = NULL;
  *out_size = 0;
  if (out_log) *out_log = NULL;
  const char *version = NULL;
  char why[1024] = "";
  if (toolchain->arch != target->arch || !toolchain->probe(target, &version, why, sizeof why))
    return greta_status_make(GRETA_UNAVAILABLE, "%s cannot compile for %s: %s", toolchain->name,
                             target->id, why[0] ? why : "wrong architecture");
  char key[33];
  if (use_cache) {
    compile_cache_key(source, target->id, toolchain->name, version, toolchain->flags(target), key);
    if (compile_cache_load(key, out_object, out_size)) {
      if (out_log) *out_log = xstrdup("");
      return NULL;
    }
  }
  atomic_fetch_add(&invocations, 1);
  char *log = NULL;
  greta_status_t st = toolchain->compile(target, source, out_object, out_size, &log);
  if (!st && use_cache) compile_cache_store(key, *out_object, *out_size);
  if (out_log) *out_log = log ? log : xstrdup("");
  else free(log);
  return st;
}

/* ---- helpers ------------------------------------------------------------- */

int toolchain_run(char *const argv[], char **out_output) {
  *out_output = NULL;
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  strbuf_t out = {0};
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    strbuf_appendn(&out, buf, (size_t)n);
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *out_output = strbuf_take(&out);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return code == 127 ? -1 : code;
}

/* Bundle layout: "__CLANG_OFFLOAD_BUNDLE__", u64 count, then per entry
 * u64 offset, u64 size, u64 triple length, triple; all little-endian. */
bool toolchain_unbundle(const uint8_t *data, size_t size, const char *triple_prefix,
                        const uint8_t **out_data, size_t *out_size) {
  static const char magic[] = "__CLANG_OFFLOAD_BUNDLE__";
  const size_t mlen = sizeof magic - 1;
  if (size < mlen || memcmp(data, magic, mlen) != 0) {
    *out_data = data;
    *out_size = size;
    return true;
  }
  size_t p = mlen;
  if (size - p < 8) return false;
  uint64_t count = le_u64(data + p);
  p += 8;
  for (uint64_t i = 0; i < count; i++) {
    if (size - p < 24) return false;
    uint64_t off = le_u64(data + p), len = le_u64(data + p + 8), tlen = le_u64(data + p + 16);
    p += 24;
    if (tlen > size - p) return false;
    const char *triple = (const char *)data + p;
    p += tlen;
    size_t plen = strlen(triple_prefix);
    if (tlen >= plen && memcmp(triple, triple_prefix, plen) == 0 && len > 0) {
      if (off > size || len > size - off) return false;
      *out_data = data + off;
      *out_size = len;
      return true;
    }
  }
  return false;
}
