/* The file digest: one hash over every byte of a compiled file, so that a
 * byte flipped anywhere (a kernel's code, a section header, the symbol
 * tables, the plan) is refused at open instead of loaded. The plan's own
 * checksum covers only the plan's bytes; this covers the rest of the code
 * object too. The digest sits in the plan header (GRETA_PLAN_DIGEST_AT),
 * which is plain data inside the code object: writing it leaves a file the
 * vendor loaders accept unchanged. */
#include <string.h>

#include "hash.h"
#include "le.h"
#include "plan.h"
#include "status.h"

/* FNV-1a 64 over `file` with the 8 digest bytes at `at` read as zeros. */
static uint64_t file_digest(const uint8_t *file, size_t size, size_t at) {
  static const uint8_t zeros[8];
  uint64_t h = fnv1a64_update(GRETA_FNV1A64_SEED, file, at);
  h = fnv1a64_update(h, zeros, 8);
  return fnv1a64_update(h, file + at + 8, size - at - 8);
}

/* Where the digest field lies in `file`. */
static greta_status_t digest_offset(const uint8_t *file, size_t size, size_t *out_at) {
  const uint8_t *plan;
  size_t plan_size;
  GRETA_RETURN_IF_ERROR(greta_plan_locate(file, size, &plan, &plan_size));
  if (plan_size < GRETA_PLAN_HEADER_BYTES)
    return greta_status_make(GRETA_DATA_LOSS,
                             "truncated: a plan header is %d bytes, found %zu bytes",
                             GRETA_PLAN_HEADER_BYTES, plan_size);
  *out_at = (size_t)(plan - file) + GRETA_PLAN_DIGEST_AT;
  return NULL;
}

greta_status_t greta_plan_seal(uint8_t *file, size_t size) {
  size_t at = 0; /* set by digest_offset; GCC -O3 cannot see it */
  GRETA_RETURN_IF_ERROR(digest_offset(file, size, &at));
  le_put_u64(file + at, file_digest(file, size, at));
  return NULL;
}

greta_status_t greta_plan_check_seal(const uint8_t *file, size_t size) {
  size_t at = 0; /* set by digest_offset; GCC -O3 cannot see it */
  GRETA_RETURN_IF_ERROR(digest_offset(file, size, &at));
  uint64_t stored = le_u64(file + at), actual = file_digest(file, size, at);
  if (stored == 0)
    return greta_status_make(GRETA_DATA_LOSS,
                             "the file carries no digest: it was not written by gretac (or was "
                             "rebuilt without sealing)");
  if (stored != actual)
    return greta_status_make(GRETA_DATA_LOSS,
                             "file digest mismatch: gretac recorded %016llx, the %zu bytes hash "
                             "to %016llx (FNV-1a 64): the file changed after it was written (a "
                             "flipped byte, an edit or a truncation somewhere in it)",
                             (unsigned long long)stored, size, (unsigned long long)actual);
  return NULL;
}
