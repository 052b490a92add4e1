/* Static memory planning: place buffers with known lifetimes in one arena
 * so that buffers alive at the same time never overlap. */
#ifndef GRETA_MEMPLAN_H
#define GRETA_MEMPLAN_H

#include <stdint.h>

#define MEMPLAN_ALIGN 256 /* bytes; enough for any vector load */

typedef struct memplan_buffer_s {
  uint64_t bytes;
  int first, last; /* lifetime: steps [first, last], inclusive */
  uint64_t offset; /* out */
} memplan_buffer_t;

/* Assigns each buffer an offset (first fit, in order of first use, largest
 * first among ties) and returns the arena size. */
uint64_t memplan_assign(memplan_buffer_t *buffers, int count);

#endif /* GRETA_MEMPLAN_H */
