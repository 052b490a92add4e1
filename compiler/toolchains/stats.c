/* Code-object statistics: registers, LDS, spills and estimated occupancy per
 * kernel, read with no GPU and no vendor tool.
 *
 * AMD: the NT_AMDGPU_METADATA note (type 32, owner "AMDGPU") holds a
 * msgpack map whose "amdhsa.kernels" array has one map per kernel
 * (.name, .vgpr_count, .sgpr_count, .agpr_count, .vgpr_spill_count,
 * .sgpr_spill_count, .group_segment_fixed_size, .private_segment_fixed_size,
 * .max_flat_workgroup_size); read with the small bounded msgpack reader below.
 * NVIDIA: the cubin's .nv.info section holds EIATTR_REGCOUNT (0x2f) and
 * EIATTR_FRAME_SIZE (0x11) records keyed by symbol index, each kernel's
 * .nv.info.<name> its EIATTR_MAX_THREADS (0x05); .nv.shared.<name>'s size is
 * its static shared memory, .text.<name>'s its code (on AMD the kernel
 * symbol's size). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "elf.h"
#include "le.h"
#include "status.h"
#include "xalloc.h"

/* ---- msgpack, bounded ---------------------------------------------------- */

typedef struct mp_s {
  const uint8_t *p;
  size_t n, at;
  bool bad;
} mp_t;

static bool mp_need(mp_t *m, size_t k) {
  if (m->bad || m->n - m->at < k) {
    m->bad = true;
    return false;
  }
  return true;
}
static uint64_t mp_be(mp_t *m, int bytes) {
  if (!mp_need(m, (size_t)bytes)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | m->p[m->at + i];
  m->at += (size_t)bytes;
  return v;
}

enum { MP_INT, MP_STR, MP_MAP, MP_ARRAY, MP_OTHER };

/* Reads one item's head: kind, and its integer value / length / count.
 * Strings are skipped over by the caller through *str. */
static int mp_head(mp_t *m, int64_t *val, const char **str) {
  if (!mp_need(m, 1)) return MP_OTHER;
  uint8_t b = m->p[m->at++];
  uint64_t len = 0;
  if (b <= 0x7f) return *val = b, MP_INT;
  if (b >= 0xe0) return *val = (int8_t)b, MP_INT;
  if ((b & 0xf0) == 0x80) return *val = b & 0x0f, MP_MAP;
  if ((b & 0xf0) == 0x90) return *val = b & 0x0f, MP_ARRAY;
  if ((b & 0xe0) == 0xa0) {
    len = b & 0x1f;
    goto string;
  }
  switch (b) {
    case 0xcc: return *val = (int64_t)mp_be(m, 1), MP_INT;
    case 0xcd: return *val = (int64_t)mp_be(m, 2), MP_INT;
    case 0xce: return *val = (int64_t)mp_be(m, 4), MP_INT;
    case 0xcf: return *val = (int64_t)mp_be(m, 8), MP_INT;
    case 0xd0: return *val = (int8_t)mp_be(m, 1), MP_INT;
    case 0xd1: return *val = (int16_t)mp_be(m, 2), MP_INT;
    case 0xd2: return *val = (int32_t)mp_be(m, 4), MP_INT;
    case 0xd3: return *val = (int64_t)mp_be(m, 8), MP_INT;
    case 0xd9: len = mp_be(m, 1); goto string;
    case 0xda: len = mp_be(m, 2); goto string;
    case 0xdb: len = mp_be(m, 4); goto string;
    case 0xdc: return *val = (int64_t)mp_be(m, 2), MP_ARRAY;
    case 0xdd: return *val = (int64_t)mp_be(m, 4), MP_ARRAY;
    case 0xde: return *val = (int64_t)mp_be(m, 2), MP_MAP;
    case 0xdf: return *val = (int64_t)mp_be(m, 4), MP_MAP;
    case 0xc0: case 0xc2: case 0xc3: return MP_OTHER;
    case 0xca: len = 4; break; /* float32 */
    case 0xcb: len = 8; break; /* float64 */
    case 0xc4: len = mp_be(m, 1); break;
    case 0xc5: len = mp_be(m, 2); break;
    case 0xc6: len = mp_be(m, 4); break;
    case 0xd4: len = 2; break;
    case 0xd5: len = 3; break;
    case 0xd6: len = 5; break;
    case 0xd7: len = 9; break;
    case 0xd8: len = 17; break;
    case 0xc7: len = mp_be(m, 1) + 1; break;
    case 0xc8: len = mp_be(m, 2) + 1; break;
    case 0xc9: len = mp_be(m, 4) + 1; break;
    default: m->bad = true; return MP_OTHER;
  }
  /* float / bin / ext payload */
  if (mp_need(m, len)) m->at += len;
  return MP_OTHER;
string:
  if (!mp_need(m, len)) return MP_OTHER;
  *str = (const char *)m->p + m->at;
  *val = (int64_t)len;
  m->at += len;
  return MP_STR;
}

/* Skips one whole item (depth-limited). */
static void mp_skip(mp_t *m, int depth) {
  int64_t v = 0;
  const char *s = NULL;
  if (depth > 32) {
    m->bad = true;
    return;
  }
  int k = mp_head(m, &v, &s);
  if (k == MP_MAP || k == MP_ARRAY) {
    if (v < 0 || (uint64_t)v > m->n) {
      m->bad = true;
      return;
    }
    for (int64_t i = 0; i < v * (k == MP_MAP ? 2 : 1) && !m->bad; i++) mp_skip(m, depth + 1);
  }
}

static bool mp_key_is(const char *s, int64_t len, const char *want) {
  return (size_t)len == strlen(want) && memcmp(s, want, (size_t)len) == 0;
}

static void stats_init(kernel_stats_t *k) {
  memset(k, 0, sizeof *k);
  k->vgprs = k->sgprs = k->agprs = k->regs = k->vgpr_spills = k->sgpr_spills = -1;
  k->block_threads = k->code_bytes = -1;
}

/* One kernel's map from amdhsa.kernels. */
static void amd_kernel(mp_t *m, int64_t pairs, kernel_stats_t *k) {
  for (int64_t i = 0; i < pairs && !m->bad; i++) {
    int64_t klen = 0, v = 0;
    const char *key = NULL, *s = NULL;
    if (mp_head(m, &klen, &key) != MP_STR) {
      m->bad = true;
      return;
    }
    size_t at = m->at;
    int kind = mp_head(m, &v, &s);
    if (kind == MP_STR && mp_key_is(key, klen, ".name")) {
      snprintf(k->name, sizeof k->name, "%.*s", (int)v, s);
      continue;
    }
    if (kind != MP_INT) {
      m->at = at;
      mp_skip(m, 1);
      continue;
    }
    if (mp_key_is(key, klen, ".vgpr_count")) k->vgprs = v;
    else if (mp_key_is(key, klen, ".sgpr_count")) k->sgprs = v;
    else if (mp_key_is(key, klen, ".agpr_count")) k->agprs = v;
    else if (mp_key_is(key, klen, ".vgpr_spill_count")) k->vgpr_spills = v;
    else if (mp_key_is(key, klen, ".sgpr_spill_count")) k->sgpr_spills = v;
    else if (mp_key_is(key, klen, ".group_segment_fixed_size")) k->lds_bytes = v;
    else if (mp_key_is(key, klen, ".private_segment_fixed_size")) k->private_bytes = v;
    else if (mp_key_is(key, klen, ".max_flat_workgroup_size")) k->block_threads = v;
  }
}

static int64_t round_up(int64_t v, int64_t g) { return (v + g - 1) / g * g; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* CDNA2 / CDNA3 (gfx90a, gfx94x): per SIMD 512 VGPRs per lane (arch VGPRs and
 * AGPRs from one file, granule 8) and 800 SGPRs, at most 8 waves; per CU 4
 * SIMDs and 64 KiB of LDS. gfx908: 256 arch VGPRs + 256 AGPRs, 10 waves. */
static void amd_occupancy(const target_t *t, kernel_stats_t *k) {
  bool unified = strcmp(t->chip, "gfx908") != 0;
  int64_t max_waves = unified ? 8 : 10;
  int64_t occ = max_waves;
  int64_t v = k->vgprs > 0 ? k->vgprs : 1;
  if (unified) occ = min64(occ, 512 / round_up(v, 8));
  else occ = min64(occ, 256 / round_up(v, 4));
  if (k->sgprs > 0) occ = min64(occ, 800 / round_up(k->sgprs, 16));
  int64_t threads = k->block_threads > 0 ? k->block_threads : 256;
  if (k->lds_bytes > 0) {
    int64_t groups = 65536 / k->lds_bytes;
    int64_t waves_per_group = (threads + 63) / 64;
    int64_t by_lds = groups * waves_per_group / 4;
    /* Fewer waves than SIMDs per CU: the busiest SIMD still runs one. */
    occ = min64(occ, by_lds > 0 ? by_lds : groups > 0 ? 1 : 0);
  }
  k->occupancy = occ;
  k->occupancy_max = max_waves;
}

/* The size of the kernel's function symbol (`name`; its descriptor is
 * `name.kd`). */
static void amd_code_bytes(const greta_elf_t *e, kernel_stats_t *k) {
  const uint8_t *bytes;
  size_t size;
  greta_status_t st = greta_elf_find_symbol(e->file, e->size, k->name, &bytes, &size);
  if (!st) k->code_bytes = (int64_t)size;
  greta_status_free(st);
}

static bool collect_amd(const target_t *t, const greta_elf_t *e, kernel_stats_t **out,
                        size_t *count, char *err, size_t err_size) {
  for (uint32_t i = 0; i < e->shnum; i++) {
    greta_elf_section_t s = greta_elf_section(e, i);
    if (s.type != GRETA_ELF_SHT_NOTE || !s.data) continue;
    size_t at = 0;
    greta_elf_note_t note;
    while (greta_elf_next_note(&s, &at, &note)) {
      if (note.type != 32 || note.name_size < 6 || memcmp(note.name, "AMDGPU", 6) != 0) continue;
      uint64_t descsz = note.desc_size;
      mp_t m = {note.desc, descsz, 0, false};
      int64_t pairs = 0;
      const char *str = NULL;
      if (mp_head(&m, &pairs, &str) != MP_MAP) break;
      for (int64_t p = 0; p < pairs && !m.bad; p++) {
        int64_t klen = 0, n = 0;
        const char *key = NULL;
        if (mp_head(&m, &klen, &key) != MP_STR) break;
        if (!mp_key_is(key, klen, "amdhsa.kernels")) {
          mp_skip(&m, 0);
          continue;
        }
        if (mp_head(&m, &n, &str) != MP_ARRAY || n < 0 || (uint64_t)n > descsz) break;
        kernel_stats_t *ks = xcalloc((size_t)n + 1, sizeof *ks);
        size_t got = 0;
        for (int64_t j = 0; j < n && !m.bad; j++) {
          int64_t kp = 0;
          if (mp_head(&m, &kp, &str) != MP_MAP) {
            m.bad = true;
            break;
          }
          stats_init(&ks[got]);
          amd_kernel(&m, kp, &ks[got]);
          amd_occupancy(t, &ks[got]);
          amd_code_bytes(e, &ks[got]);
          got++;
        }
        if (m.bad) {
          free(ks);
          break;
        }
        *out = ks;
        *count = got;
        return true;
      }
      snprintf(err, err_size, "malformed AMDGPU metadata note");
      return false;
    }
  }
  snprintf(err, err_size, "no NT_AMDGPU_METADATA note: not an AMD code object");
  return false;
}

/* sm_80 / sm_90: 64K registers per SM (per warp granule 256), 64 warps per
 * SM (48 on sm_86 / sm_89), 32 blocks (16 / 24); shared memory per SM
 * 164 KiB (sm_80), 100 KiB (sm_86, sm_89), 228 KiB (sm_90), 1 KiB of it
 * reserved per block. */
static void nv_occupancy(const target_t *t, kernel_stats_t *k) {
  int64_t max_warps = (t->sm == 86 || t->sm == 89) ? 48 : 64;
  int64_t max_blocks = t->sm == 86 ? 16 : t->sm == 89 ? 24 : 32;
  int64_t smem = t->sm == 90 ? 233472 : t->sm == 80 ? 167936 : 102400;
  int64_t threads = k->block_threads > 0 ? k->block_threads : 256;
  int64_t warps_per_block = (threads + 31) / 32;
  int64_t blocks = max_blocks;
  if (k->regs > 0) {
    int64_t per_warp = round_up(k->regs * 32, 256);
    blocks = min64(blocks, (65536 / per_warp) / warps_per_block);
  }
  blocks = min64(blocks, smem / (k->lds_bytes + 1024));
  blocks = min64(blocks, max_warps / warps_per_block);
  k->occupancy = blocks * warps_per_block;
  k->occupancy_max = max_warps;
}

static bool collect_nvidia(const target_t *t, const greta_elf_t *e, kernel_stats_t **out,
                           size_t *count, char *err, size_t err_size) {
  kernel_stats_t *ks = xcalloc(e->shnum + 1u, sizeof *ks);
  uint32_t *text_sym = xcalloc(e->shnum + 1u, sizeof *text_sym);
  size_t n = 0;
  /* Kernels: the .text.<name> sections; sh_info is the kernel's symbol. */
  for (uint32_t i = 0; i < e->shnum; i++) {
    greta_elf_section_t s = greta_elf_section(e, i);
    if (!s.name || strncmp(s.name, ".text.", 6) != 0) continue;
    stats_init(&ks[n]);
    snprintf(ks[n].name, sizeof ks[n].name, "%s", s.name + 6);
    ks[n].code_bytes = (int64_t)s.size;
    text_sym[n] = s.info & 0xffffffu;
    n++;
  }
  for (uint32_t i = 0; i < e->shnum; i++) {
    greta_elf_section_t s = greta_elf_section(e, i);
    if (!s.name) continue;
    if (strncmp(s.name, ".nv.shared.", 11) == 0) {
      for (size_t k = 0; k < n; k++)
        if (strcmp(ks[k].name, s.name + 11) == 0) ks[k].lds_bytes = (int64_t)s.size;
      continue;
    }
    bool global = strcmp(s.name, ".nv.info") == 0;
    bool per_kernel = strncmp(s.name, ".nv.info.", 9) == 0;
    if ((!global && !per_kernel) || !s.data) continue;
    kernel_stats_t *owner = NULL;
    for (size_t k = 0; per_kernel && k < n; k++)
      if (strcmp(ks[k].name, s.name + 9) == 0) owner = &ks[k];
    /* Records: u8 format, u8 attribute, then a u16: the value for formats
     * 1..3, for format 4 the size of the bytes that follow. */
    size_t at = 0;
    while (s.size - at >= 2) {
      uint8_t fmt = s.data[at], attr = s.data[at + 1];
      at += 2;
      size_t len = 2;
      if (fmt == 4) {
        if (s.size - at < 2) break;
        len = le_u16(s.data + at);
        at += 2;
      } else if (fmt < 1 || fmt > 4) {
        break;
      }
      if (len > s.size - at) break;
      const uint8_t *v = s.data + at;
      at += len;
      if (global && fmt == 4 && len == 8 && (attr == 0x2f || attr == 0x11)) {
        uint32_t sym = le_u32(v);
        int64_t value = (int64_t)le_u32(v + 4);
        for (size_t k = 0; k < n; k++)
          if (text_sym[k] == sym) {
            if (attr == 0x2f) ks[k].regs = value;
            else ks[k].private_bytes = value;
          }
      }
      if (owner && fmt == 4 && attr == 0x05 && len >= 12)
        owner->block_threads = (int64_t)((uint64_t)le_u32(v) * le_u32(v + 4) * le_u32(v + 8));
    }
  }
  free(text_sym);
  if (!n) {
    free(ks);
    snprintf(err, err_size, "no kernels (.text.<name> sections) in the cubin");
    return false;
  }
  for (size_t k = 0; k < n; k++) nv_occupancy(t, &ks[k]);
  *out = ks;
  *count = n;
  return true;
}

/* The collectors write their message into err; stats_collect makes it a status. */
static bool collect(const target_t *target, const uint8_t *object, size_t size,
                    kernel_stats_t **out_stats, size_t *out_count, char *err, size_t err_size) {
  *out_stats = NULL;
  *out_count = 0;
  greta_elf_t e;
  greta_status_t st = object ? greta_elf_open(object, size, &e) : NULL;
  bool readable = object && !st && e.shstrndx < e.shnum;
  greta_status_free(st);
  if (!readable) {
    snprintf(err, err_size, "not a 64-bit little-endian ELF code object");
    return false;
  }
  if (target->arch == TARGET_AMD) return collect_amd(target, &e, out_stats, out_count, err, err_size);
  if (target->arch == TARGET_NVIDIA)
    return collect_nvidia(target, &e, out_stats, out_count, err, err_size);
  snprintf(err, err_size, "target %s has no code object", target->id);
  return false;
}

greta_status_t stats_collect(const target_t *target, const uint8_t *object, size_t size,
                             kernel_stats_t **out_stats, size_t *out_count) {
  char err[256] = "";
  if (!collect(target, object, size, out_stats, out_count, err, sizeof err))
    return greta_status_make(GRETA_INVALID_ARGUMENT, "%s", err);
  return NULL;
}

void stats_print(const target_t *target, const uint8_t *object, size_t size, FILE *out) {
  kernel_stats_t *ks = NULL;
  size_t n = 0;
  greta_status_t status = stats_collect(target, object, size, &ks, &n);
  if (status) {
    fprintf(out, "stats: %s\n", greta_status_message(status));
    greta_status_free(status);
    return;
  }
  if (target->arch == TARGET_AMD) {
    fprintf(out, "%-40s %5s %5s %5s %7s %7s %7s %6s %10s %7s\n", "kernel", "vgpr", "sgpr", "agpr",
            "lds", "scratch", "spills", "block", "waves/SIMD", "code");
    for (size_t i = 0; i < n; i++)
      fprintf(out, "%-40s %5lld %5lld %5lld %7lld %7lld %3lld/%-3lld %6lld %5lld/%-4lld %7lld\n",
              ks[i].name, (long long)ks[i].vgprs, (long long)ks[i].sgprs, (long long)ks[i].agprs,
              (long long)ks[i].lds_bytes, (long long)ks[i].private_bytes,
              (long long)ks[i].vgpr_spills, (long long)ks[i].sgpr_spills,
              (long long)ks[i].block_threads, (long long)ks[i].occupancy,
              (long long)ks[i].occupancy_max, (long long)ks[i].code_bytes);
  } else {
    fprintf(out, "%-40s %5s %7s %7s %6s %8s %7s\n", "kernel", "regs", "shared", "stack", "block",
            "warps/SM", "code");
    for (size_t i = 0; i < n; i++)
      fprintf(out, "%-40s %5lld %7lld %7lld %6lld %4lld/%-3lld %7lld\n", ks[i].name,
              (long long)ks[i].regs, (long long)ks[i].lds_bytes, (long long)ks[i].private_bytes,
              (long long)ks[i].block_threads, (long long)ks[i].occupancy,
              (long long)ks[i].occupancy_max, (long long)ks[i].code_bytes);
  }
  free(ks);
}
