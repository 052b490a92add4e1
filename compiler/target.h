/* What gretac compiles for. */
#ifndef GRETA_TARGET_H
#define GRETA_TARGET_H

#include <stdbool.h>
#include <stddef.h>

typedef enum target_arch_e { TARGET_AMD, TARGET_NVIDIA, TARGET_CPU } target_arch_t;

typedef struct target_s {
  target_arch_t arch;
  char id[64];   /* full target ID: "gfx942:sramecc+:xnack-", "gfx90a", "sm_90", "cpu" */
  char chip[16]; /* "gfx942", "sm_90", "cpu" */
  int wave;      /* 64 on AMD CDNA, 32 on NVIDIA, 1 on the CPU */
  int sm;        /* NVIDIA compute capability * 10 (90), else 0 */
} target_t;

/* Parses --target: "gfx942" (gets MI300X's full ID gfx942:sramecc+:xnack-),
 * a full AMD target ID, "gfx90a", "sm_90", "sm_80", "cpu". On failure writes
 * a message listing the accepted targets into err. */
bool target_parse(const char *text, target_t *out, char *err, size_t err_size);

#endif /* GRETA_TARGET_H */
