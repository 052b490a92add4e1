/* Per-kernel resource use of a code object, read from the object itself:
 * AMD code objects from the NT_AMDGPU_METADATA note (msgpack), NVIDIA cubins
 * from their .nv.info attributes and per-kernel sections. */
#ifndef GRETA_STATS_H
#define GRETA_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "target.h"

typedef struct kernel_stats_s {
  char name[128];
  int64_t vgprs, sgprs, agprs;  /* AMD; -1 when the object does not say */
  int64_t regs;                 /* NVIDIA registers per thread; -1 on AMD */
  int64_t lds_bytes;            /* static LDS / shared memory per block */
  int64_t vgpr_spills, sgpr_spills; /* AMD; -1 on NVIDIA */
  int64_t private_bytes;        /* scratch (AMD) / stack frame (NVIDIA) per thread;
                                 * on NVIDIA spills land here */
  int64_t block_threads;        /* launch bound: max work-group / block size */
  int64_t code_bytes;           /* its machine code: the kernel symbol's size (AMD), its
                                 * .text.<name> section's (NVIDIA); -1 when unknown */
  /* Estimated occupancy: waves per SIMD (AMD) or warps per SM (NVIDIA),
   * the minimum of what registers, LDS and the hardware limit allow. */
  int64_t occupancy;
  int64_t occupancy_max;        /* the hardware limit of that figure */
} kernel_stats_t;

/* Reads the stats of every kernel in `object` (a raw ELF code object for
 * `target`). *out_stats is malloc'd (caller frees). INVALID_ARGUMENT, saying
 * why, for something that is not a readable code object. */
greta_status_t stats_collect(const target_t *target, const uint8_t *object, size_t size,
                             kernel_stats_t **out_stats, size_t *out_count);

/* Prints a table of stats_collect's figures to `out`. */
void stats_print(const target_t *target, const uint8_t *object, size_t size, FILE *out);

#endif /* GRETA_STATS_H */
