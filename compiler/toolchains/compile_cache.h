/* The compile cache (compile_cache.c): code objects on disk, keyed by
 * everything that decides their bytes. toolchain_compile goes through it;
 * it needs nothing from the toolchains. */
#ifndef GRETA_COMPILE_CACHE_H
#define GRETA_COMPILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The cache key of a compile: 32 hex digits of a 128-bit FNV-1a hash over
 * source, target ID, toolchain name, its version and its flags. */
void compile_cache_key(const char *source, const char *target_id, const char *toolchain,
                       const char *version, const char *flags, char out_key[33]);
/* The cache directory: $GRETA_CACHE_DIR, else $XDG_CACHE_HOME/greta, else
 * $HOME/.cache/greta. Writes into out (false when none can be named). */
bool compile_cache_dir(char *out, size_t size);
/* Reads an entry: true and a malloc'd copy when present and intact; a
 * missing, truncated or corrupt entry gives false (and is left for
 * compile_cache_store to overwrite). */
bool compile_cache_load(const char *key, uint8_t **out_object, size_t *out_size);
/* Writes an entry atomically (temp file + rename). Failure is silent: the
 * cache is an optimisation. */
void compile_cache_store(const char *key, const uint8_t *object, size_t size);

#endif /* GRETA_COMPILE_CACHE_H */
