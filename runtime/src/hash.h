/* FNV-1a, 64-bit: the checksum of plan bytes and of compile-cache entries.
 * It catches accidents (a truncated or bit-flipped file), not tampering. */
#ifndef GRETA_HASH_H
#define GRETA_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GRETA_FNV1A64_SEED 0xcbf29ce484222325ull

/* Continues a hash `h` (start with GRETA_FNV1A64_SEED) over `size` bytes. */
static inline uint64_t fnv1a64_update(uint64_t h, const void *bytes, size_t size) {
  const uint8_t *p = bytes;
  for (size_t i = 0; i < size; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
static inline uint64_t fnv1a64(const void *bytes, size_t size) {
  return fnv1a64_update(GRETA_FNV1A64_SEED, bytes, size);
}

#endif /* GRETA_HASH_H */
