/* The compile cache: code objects on disk, keyed by everything that decides
 * their bytes (source, target ID, toolchain, its version, flags).
 *
 * Entry file <dir>/<key>.co: "GRETACO1", u64 payload size, u64 FNV-1a of
 * the payload, payload (all little-endian). Written to a temp file in the
 * same directory and renamed, so a reader never sees half an entry; an entry
 * whose header or checksum does not match is ignored (and overwritten by the
 * next store). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toolchain_impl.h"

#define ENTRY_MAGIC "GRETACO1"

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* 128-bit FNV-1a (offset basis and prime from the FNV specification). */
typedef unsigned __int128 u128;
static void fnv128_update(u128 *h, const void *data, size_t n) {
  const u128 prime = ((u128)0x0000000001000000ull << 64) | 0x000000000000013Bull;
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) *h = (*h ^ p[i]) * prime;
}

void compile_cache_key(const char *source, const char *target_id, const char *toolchain,
                       const char *version, const char *flags, char out_key[33]) {
  u128 h = ((u128)0x6c62272e07bb0142ull << 64) | 0x62b821756295c58dull;
  const char *parts[] = {source, target_id, toolchain, version, flags};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    const char *s = parts[i] ? parts[i] : "";
    /* Length-prefixed, so ("ab", "c") and ("a", "bc") differ. */
    uint64_t len = strlen(s);
    fnv128_update(&h, &len, sizeof len);
    fnv128_update(&h, s, len);
  }
  snprintf(out_key, 33, "%016llx%016llx", (unsigned long long)(uint64_t)(h >> 64),
           (unsigned long long)(uint64_t)h);
}

bool compile_cache_dir(char *out, size_t size) {
  const char *dir = getenv("GRETA_CACHE_DIR");
  if (dir && *dir) return (size_t)snprintf(out, size, "%s", dir) < size;
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (size_t)snprintf(out, size, "%s/greta", xdg) < size;
  const char *home = getenv("HOME");
  if (home && *home) return (size_t)snprintf(out, size, "%s/.cache/greta", home) < size;
  return false;
}

/* mkdir -p. */
static bool make_dirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return false;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
    *p = '/';
  }
  return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

static bool entry_path(const char *key, char *out, size_t size) {
  char dir[4096];
  if (!compile_cache_dir(dir, sizeof dir)) return false;
  return (size_t)snprintf(out, size, "%s/%s.co", dir, key) < size;
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

bool compile_cache_load(const char *key, uint8_t **out_object, size_t *out_size) {
  char path[4200];
  if (!entry_path(key, path, sizeof path)) return false;
  uint8_t *data = NULL;
  size_t size = 0;
  if (!toolchain_read_file(path, &data, &size)) {
    free(data);
    return false;
  }
  bool ok = size >= 24 && memcmp(data, ENTRY_MAGIC, 8) == 0 && get_u64(data + 8) == size - 24 &&
            get_u64(data + 16) == fnv1a64(data + 24, size - 24) && size > 24;
  if (!ok) {
    free(data);
    return false;
  }
  memmove(data, data + 24, size - 24);
  *out_object = data;
  *out_size = size - 24;
  return true;
}

void compile_cache_store(const char *key, const uint8_t *object, size_t size) {
  char dir[4096], path[4200], tmp[4300];
  if (!compile_cache_dir(dir, sizeof dir) || !make_dirs(dir)) return;
  if (!entry_path(key, path, sizeof path)) return;
  snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) return;
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return;
  }
  uint8_t head[24];
  memcpy(head, ENTRY_MAGIC, 8);
  put_u64(head + 8, size);
  put_u64(head + 16, fnv1a64(object, size));
  bool ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(object, 1, size, f) == size;
  ok = (fflush(f) == 0) && ok;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}
