/* The clang toolchain: any clang >= 17 compiles the HIP-dialect templates for
 * amdgcn with no ROCm installed (-nogpuinc -nogpulib; the prelude supplies
 * what HIP's headers would). Run as a child process; source through a temp
 * file. Output: the raw ELF code object, which hipModuleLoadData accepts. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_io.h"
#include "status.h"
#include "strbuf.h"
#include "toolchain_impl.h"

/* -cuid: clang otherwise names a symbol after a hash of the (temp) source
 * path, and identical sources would give different bytes. */
#define CLANG_FLAGS \
  "-x hip --cuda-device-only --no-gpu-bundle-output -nogpulib -nogpuinc -O3 -cuid=greta -c"

/* Found once per process: the executable and its "clang X.Y.Z". */
static char clang_path[512];
static char clang_version[64];
static int clang_probed; /* 0 not yet, 1 found, -1 missing */
static char clang_why[768];

/* "clang version 19.1.7 ..." -> major and "clang 19.1.7". */
static int parse_version(const char *text, char *out, size_t size) {
  const char *p = strstr(text, "clang version ");
  if (!p) return -1;
  p += strlen("clang version ");
  int major = atoi(p);
  size_t n = strcspn(p, " \n(-~");
  snprintf(out, size, "clang %.*s", (int)n, p);
  return major;
}

static bool try_clang(const char *exe, strbuf_t *tried) {
  char *argv[] = {(char *)exe, "--version", NULL};
  char *out = NULL;
  int rc = toolchain_run(argv, &out);
  char version[64] = "";
  int major = rc == 0 && out ? parse_version(out, version, sizeof version) : -1;
  free(out);
  if (rc != 0 || major < 0) {
    strbuf_printf(tried, "%s%s (not found)", tried->len ? ", " : "", exe);
    return false;
  }
  if (major < 17) {
    strbuf_printf(tried, "%s%s (%s, need >= 17)", tried->len ? ", " : "", exe, version);
    return false;
  }
  snprintf(clang_path, sizeof clang_path, "%s", exe);
  snprintf(clang_version, sizeof clang_version, "%s", version);
  return true;
}

static bool clang_probe(const target_t *target, const char **out_version, char *why,
                        size_t why_size) {
  (void)target;
  if (!clang_probed) {
    strbuf_t tried = {0};
    const char *env = getenv("GRETA_CLANG");
    bool found = false;
    if (env && *env) {
      found = try_clang(env, &tried);
    } else {
      static const char *const names[] = {"clang-19", "clang-20", "clang-21", "clang-18",
                                          "clang-17", "clang"};
      for (size_t i = 0; i < sizeof names / sizeof names[0] && !found; i++)
        found = try_clang(names[i], &tried);
    }
    snprintf(clang_why, sizeof clang_why, "clang: tried %s%s", tried.data ? tried.data : "",
             env && *env ? " (from GRETA_CLANG)" : "");
    strbuf_free(&tried);
    clang_probed = found ? 1 : -1;
  }
  if (clang_probed < 0) {
    snprintf(why, why_size, "%s", clang_why);
    return false;
  }
  *out_version = clang_version;
  return true;
}

static const char *clang_flags(const target_t *target) {
  (void)target;
  return CLANG_FLAGS;
}

static greta_status_t clang_compile(const target_t *target, const char *source,
                                    uint8_t **out_object, size_t *out_size, char **out_log) {
  const char *tmpdir = getenv("TMPDIR");
  if (!tmpdir || !*tmpdir) tmpdir = "/tmp";
  char src_path[512], obj_path[540];
  snprintf(src_path, sizeof src_path, "%s/greta-XXXXXX.hip", tmpdir);
  int fd = mkstemps(src_path, 4);
  if (fd < 0)
    return greta_status_make(GRETA_INTERNAL, "clang: cannot create a temp file in %s", tmpdir);
  size_t len = strlen(source);
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, source + done, len - done);
    if (n <= 0) break;
    done += (size_t)n;
  }
  close(fd);
  if (done < len) {
    unlink(src_path);
    return greta_status_make(GRETA_INTERNAL, "clang: cannot write %s", src_path);
  }
  snprintf(obj_path, sizeof obj_path, "%.*s.hsaco", (int)(strlen(src_path) - 4), src_path);
  char arch[96];
  snprintf(arch, sizeof arch, "--offload-arch=%s", target->id);
  char *argv[] = {clang_path, "-x", "hip", arch, "--cuda-device-only", "--no-gpu-bundle-output",
                  "-nogpulib", "-nogpuinc", "-O3", "-cuid=greta", "-c", src_path, "-o", obj_path,
                  NULL};
  char *log = NULL;
  int rc = toolchain_run(argv, &log);
  unlink(src_path);
  *out_log = log;
  if (rc != 0) {
    unlink(obj_path);
    return greta_status_make(GRETA_INTERNAL, "%s (%s) failed for %s (exit %d):\n%s", clang_path,
                             clang_version, target->id, rc, log ? log : "");
  }
  greta_status_t read = greta_file_read_whole(obj_path, 0, out_object, out_size);
  unlink(obj_path);
  bool ok = !read;
  greta_status_free(read);
  if (!ok || *out_size < 4 || memcmp(*out_object, "\177ELF", 4) != 0) {
    free(*out_object);
    *out_object = NULL;
    *out_size = 0;
    return greta_status_make(GRETA_INTERNAL, "clang produced no ELF code object for %s", target->id);
  }
  return NULL;
}

const toolchain_t toolchain_clang = {
    .name = "clang",
    .arch = TARGET_AMD,
    .probe = clang_probe,
    .flags = clang_flags,
    .compile = clang_compile,
};
