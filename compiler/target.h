/* What gretac compiles for. */
#ifndef GRETA_TARGET_H
#define GRETA_TARGET_H

#include <stdbool.h>

#include "greta/greta.h"

typedef enum target_arch_e { TARGET_AMD, TARGET_NVIDIA, TARGET_CPU } target_arch_t;

typedef struct target_s {
  target_arch_t arch;
  char id[64];   /* full target ID: "gfx942:sramecc+:xnack-", "gfx90a", "sm_90", "cpu" */
  char chip[16]; /* "gfx942", "sm_90", "cpu" */
  int wave;      /* 64 on AMD CDNA, 32 on NVIDIA, 1 on the CPU: kernels.c sizes
                    waves, blocks and combines with it */
  int sm;        /* NVIDIA compute capability * 10 (90), else 0 */
  int compute_units; /* CUs / SMs of the largest part of the chip (MI300X 304,
                        H100 / H200 132): how many blocks fill it */
} target_t;

/* Parses --target: "gfx942" (gets MI300X's full ID gfx942:sramecc+:xnack-),
 * a full AMD target ID, "gfx90a", "sm_90", "sm_80", "cpu". On failure the
 * status's message lists the accepted targets. */
greta_status_t target_parse(const char *text, target_t *out);

/* Whether an sm_90 target is built for sm_90a, Hopper's arch-specific
 * instructions (wgmma: the prefill GEMM of templates/gemm_wgmma.h). On by
 * default; GRETA_WGMMA=0 in gretac's environment keeps the mma.sync GEMM and
 * plain sm_90 (an object that also loads on later architectures). */
bool target_wgmma(const target_t *target);

#endif /* GRETA_TARGET_H */
