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

#include "compile_cache.h"
#include "file_io.h"
#include "hash.h"
#include "le.h"
#include "xalloc.h"

#define ENTRY_MAGIC "GRETACO1"

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

bool compile_cache_load(const char *key, uint8_t **out_object, size_t *out_size) {
  char path[4200];
  if (!entry_path(key, path, sizeof path)) return false;
  uint8_t *data = NULL;
  size_t size = 0;
  greta_status_t st = greta_file_read_whole(path, 0, &data, &size);
  if (st) {
    greta_status_free(st);
    return false;
  }
  bool ok = size >= 24 && memcmp(data, ENTRY_MAGIC, 8) == 0 && le_u64(data + 8) == size - 24 &&
            le_u64(data + 16) == fnv1a64(data + 24, size - 24) && size > 24;
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
  char dir[4096], path[4200];
  if (!compile_cache_dir(dir, sizeof dir) || !make_dirs(dir)) return;
  if (!entry_path(key, path, sizeof path)) return;
  /* Owner-only, as the cache has always been written (it was mkstemp). */
  uint8_t *entry = xmalloc(24 + size);
  memcpy(entry, ENTRY_MAGIC, 8);
  le_put_u64(entry + 8, size);
  le_put_u64(entry + 16, fnv1a64(object, size));
  memcpy(entry + 24, object, size);
  greta_status_free(greta_file_write_atomic(path, entry, 24 + size, 0600));
  free(entry);
}
