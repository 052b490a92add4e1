/* Little-endian loads and stores of fixed-width integers, byte by byte, so
 * they are correct on any host and at any alignment. Every file format GRETA
 * reads or writes (plans, ELF, safetensors, the compile cache) is
 * little-endian. */
#ifndef GRETA_LE_H
#define GRETA_LE_H

#include <stdint.h>

static inline uint64_t le_load(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static inline uint16_t le_u16(const uint8_t *p) { return (uint16_t)le_load(p, 2); }
static inline uint32_t le_u32(const uint8_t *p) { return (uint32_t)le_load(p, 4); }
static inline uint64_t le_u64(const uint8_t *p) { return le_load(p, 8); }

static inline void le_store(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le_put_u32(uint8_t *p, uint32_t v) { le_store(p, v, 4); }
static inline void le_put_u64(uint8_t *p, uint64_t v) { le_store(p, v, 8); }

#endif /* GRETA_LE_H */
