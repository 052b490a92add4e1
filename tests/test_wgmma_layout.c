/* The Hopper wgmma layout functions of templates/wgmma_layout.h (used by
 * templates/gemm_wgmma.h), checked on the CPU.
 *
 * The instruction wgmma.mma_async.sync.aligned.m64nNk16.f32.f16.f16 with A
 * and B from shared memory is emulated from the PTX ISA's text:
 *   - Matrix descriptor: start address = bits 0-13 << 4, leading byte
 *     offset = bits 16-29 << 4, stride byte offset = bits 32-45 << 4, base
 *     offset = bits 49-51, swizzle mode = bits 62-63 (1 = 128-byte).
 *   - K-major operand, 128-byte swizzle: each row (m or n) of the k16 slice
 *     is 16 halves inside a 128-byte row; 8 rows form a 1024-byte swizzle
 *     atom, rows 128 bytes apart; atoms are "stride byte offset" apart along
 *     m / n. The unswizzled byte address of (row r, k) is
 *       start + (r / 8) SBO + (r % 8) 128 + 2 k,
 *     and the 128-byte swizzle permutes its 16-byte units inside each
 *     128-byte row by the row's position in the 1024-byte pattern: address
 *     bits [4:6] are XORed with bits [7:9] (base offset 0: the pattern is
 *     anchored at 1024-byte boundaries).
 *   - D (f32, m64nN): thread t of the warpgroup is warp t / 32, lane t % 32;
 *     warp w holds rows 16 w .. 16 w + 15; its registers go in blocks of 4
 *     per 8 columns, laid out as mma.m16n8's C: d0, d1 at row lane / 4,
 *     columns 2 (lane % 4) + 0, 1; d2, d3 the same columns 8 rows down.
 * The emulator below is written from those sentences (it does not use the
 * header). The test writes a 64 x 64 A tile and an N x 64 B tile into a
 * byte array through greta_wgmma_swz (the kernel's writer), runs the four
 * k16 steps with the descriptors greta_wgmma_desc(base + 32 s), scatters
 * the emulated registers through greta_wgmma_d_row / _col, and compares
 * with a plain matmul. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "../templates/launch_constants.h"
#include "../templates/wgmma_layout.h"

enum { SMEM = 1 << 18, TILE_K = 64 };

/* Shared memory as an array of values, one per 2-byte half address. */
static float smem[SMEM / 2];

/* ---- instruction emulation --------------------------------------------- */

struct desc {
  unsigned start, lbo, sbo, base_offset, swizzle;
};
static struct desc decode(unsigned long long d) {
  struct desc r;
  r.start = (unsigned)(d & 0x3FFF) << 4;
  r.lbo = (unsigned)((d >> 16) & 0x3FFF) << 4;
  r.sbo = (unsigned)((d >> 32) & 0x3FFF) << 4;
  r.base_offset = (unsigned)((d >> 49) & 7);
  r.swizzle = (unsigned)((d >> 62) & 3);
  return r;
}

/* Byte address of element (r, k), k < 16, of a K-major 128B-swizzled operand. */
static unsigned operand_addr(struct desc d, int r, int k) {
  cr_assert_eq(d.swizzle, 1u, "expected the 128-byte swizzle, found mode %u", d.swizzle);
  cr_assert_eq(d.base_offset, 0u);
  unsigned a = d.start + (unsigned)(r / 8) * d.sbo + (unsigned)(r % 8) * 128 + 2u * (unsigned)k;
  return a ^ (((a >> 7) & 7u) << 4);
}

/* d[t][i] += A (64 x 16) B^T (N x 16) for the warpgroup's 128 threads. */
static void emulate_wgmma(int n, unsigned long long a_desc, unsigned long long b_desc, float d[128][128]) {
  struct desc da = decode(a_desc), db = decode(b_desc);
  for (int t = 0; t < 128; t++) {
    int w = t / 32, lane = t % 32;
    for (int i = 0; i < n / 2; i++) {
      int row = 16 * w + lane / 4 + ((i % 4) >= 2 ? 8 : 0);
      int col = 8 * (i / 4) + 2 * (lane % 4) + (i % 2);
      float s = 0;
      for (int k = 0; k < 16; k++)
        s += smem[operand_addr(da, row, k) / 2] * smem[operand_addr(db, col, k) / 2];
      d[t][i] += s;
    }
  }
}

/* ---- the kernel's use of the header -------------------------------------- */

static float value(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (float)((int)((*state >> 16) % 17) - 8); /* small integers: exact sums */
}

static void check_tile(int n, unsigned a_base, unsigned b_base) {
  static float a[64][TILE_K], b[256][TILE_K], d[128][128], c[64][256];
  unsigned state = 7u + (unsigned)n;
  for (int i = 0; i < SMEM / 2; i++) smem[i] = 1e30f; /* poison: an unwritten read shows */
  for (int r = 0; r < 64; r++)
    for (int k = 0; k < TILE_K; k++) {
      a[r][k] = value(&state);
      smem[(a_base + greta_wgmma_swz(r, k)) / 2] = a[r][k];
    }
  for (int r = 0; r < n; r++)
    for (int k = 0; k < TILE_K; k++) {
      b[r][k] = value(&state);
      smem[(b_base + greta_wgmma_swz(r, k)) / 2] = b[r][k];
    }
  memset(d, 0, sizeof d);
  for (int s = 0; s < TILE_K / 16; s++)
    emulate_wgmma(n, greta_wgmma_desc(a_base + 32u * s), greta_wgmma_desc(b_base + 32u * s), d);
  for (int r = 0; r < 64; r++)
    for (int col = 0; col < n; col++) c[r][col] = 1e30f;
  for (int t = 0; t < 128; t++)
    for (int i = 0; i < n / 2; i++) c[greta_wgmma_d_row(t, i)][greta_wgmma_d_col(t, i)] = d[t][i];
  for (int r = 0; r < 64; r++)
    for (int col = 0; col < n; col++) {
      float want = 0;
      for (int k = 0; k < TILE_K; k++) want += a[r][k] * b[col][k];
      cr_assert_eq(c[r][col], want, "n %d: c[%d][%d] = %g, expected %g", n, r, col, c[r][col], want);
    }
}

/* ---- MN-major B (greta_wgmma_desc_mn: the prefill attention's V) -----------
 * With the transpose bit, B of the k16 slice is read MN-major: the ISA's
 * canonical 128-byte-swizzle layout in 16-byte units T of 8 halves is
 * ((T, 8, m), (8, k)) : ((1, T, LBO), (8 T, SBO)): 64 consecutive n in one
 * 128-byte row, successive runs of 64 n "leading byte offset" apart, the
 * slice's k rows 128 bytes apart, 8 rows an atom, atoms "stride byte
 * offset" apart; then the same XOR of address bits [4:6] with [7:9]. So
 * (k, n) is unswizzled at start + (n / 64) LBO + (k / 8) SBO + (k % 8) 128
 * + 2 (n % 64). The test writes V [128 keys][128 d] as the kernel's
 * producer does (two [keys][64 d] halves through greta_wgmma_swz, as a K
 * tile), multiplies a 64 x 128 P (K-major A, as above) by it in eight
 * 16-key slices with greta_wgmma_desc_mn(base + 2048 s, half), and compares
 * with a plain P V. */
static unsigned operand_addr_mn(struct desc d, int k, int n) {
  cr_assert_eq(d.swizzle, 1u, "expected the 128-byte swizzle, found mode %u", d.swizzle);
  cr_assert_eq(d.base_offset, 0u);
  unsigned a = d.start + (unsigned)(n / 64) * d.lbo + (unsigned)(k / 8) * d.sbo + (unsigned)(k % 8) * 128 +
               2u * (unsigned)(n % 64);
  return a ^ (((a >> 7) & 7u) << 4);
}

static void check_pv(unsigned p_base, unsigned v_base) {
  enum { KEYS = 128, DIM = 128, HALF = KEYS * 128 };
  static float p[64][KEYS], v[KEYS][DIM], d[128][128];
  unsigned state = 11u;
  for (int i = 0; i < SMEM / 2; i++) smem[i] = 1e30f;
  for (int r = 0; r < 64; r++) /* P as two K-major [64][64 keys] halves */
    for (int j = 0; j < KEYS; j++) {
      p[r][j] = value(&state);
      smem[(p_base + (unsigned)(j / 64) * 8192u + greta_wgmma_swz(r, j % 64)) / 2] = p[r][j];
    }
  for (int j = 0; j < KEYS; j++)
    for (int c = 0; c < DIM; c++) {
      v[j][c] = value(&state);
      smem[(v_base + (unsigned)(c / 64) * HALF + greta_wgmma_swz(j, c % 64)) / 2] = v[j][c];
    }
  memset(d, 0, sizeof d);
  for (int s = 0; s < KEYS / 16; s++) {
    struct desc da = decode(greta_wgmma_desc(p_base + (unsigned)(s / 4) * 8192u + 32u * (unsigned)(s % 4)));
    struct desc db = decode(greta_wgmma_desc_mn(v_base + 2048u * (unsigned)s, HALF));
    for (int t = 0; t < 128; t++)
      for (int i = 0; i < DIM / 2; i++) {
        const int row = greta_wgmma_d_row(t, i), col = greta_wgmma_d_col(t, i);
        float sum = 0;
        for (int k = 0; k < 16; k++)
          sum += smem[operand_addr(da, row, k) / 2] * smem[operand_addr_mn(db, k, col) / 2];
        d[t][i] += sum;
      }
  }
  for (int t = 0; t < 128; t++)
    for (int i = 0; i < DIM / 2; i++) {
      const int row = greta_wgmma_d_row(t, i), col = greta_wgmma_d_col(t, i);
      float want = 0;
      for (int j = 0; j < KEYS; j++) want += p[row][j] * v[j][col];
      cr_assert_eq(d[t][i], want, "o[%d][%d] = %g, expected %g", row, col, d[t][i], want);
    }
}

/* The kernel's slots: V after Q (32 KiB) and three K tiles; P anywhere. */
Test(wgmma_layout, mn_major_pv) { check_pv(0u, 32768u + 3u * 32768u); }
Test(wgmma_layout, mn_major_pv_slot_1) { check_pv(8192u * 3u, 32768u + 4u * 32768u); }

Test(wgmma_layout, mn_major_descriptor_fields) {
  const unsigned long long d = greta_wgmma_desc_mn(0x1C800u, 16384u);
  cr_assert_eq(d & 0x3FFF, 0x1C800u >> 4);
  cr_assert_eq((d >> 16) & 0x3FFF, 16384u >> 4, "leading byte offset: one 64-d half to the next");
  cr_assert_eq((d >> 32) & 0x3FFF, 1024u >> 4, "stride byte offset: 8 keys to the next 8");
  cr_assert_eq(d >> 62, 1u, "128-byte swizzle");
}

/* ---- tf32 (greta_gemm_wgmma_tf32) ------------------------------------------
 * wgmma .m64n128k8 .tf32, K-major, 128-byte swizzle: each row of the k8 slice
 * is 8 four-byte elements inside a 128-byte row, (row r, k) unswizzled at
 * start + (r / 8) SBO + (r % 8) 128 + 4 k, then the same XOR of bits [4:6]
 * with [7:9]; D as above. The tile is 64 (x) / 128 (W) rows by 32 k, written
 * through greta_wgmma_swz_f32, read by four k8 steps 32 bytes apart. */
static float smem32[SMEM / 4];

static unsigned operand_addr_tf32(struct desc d, int r, int k) {
  cr_assert_eq(d.swizzle, 1u);
  cr_assert_eq(d.base_offset, 0u);
  unsigned a = d.start + (unsigned)(r / 8) * d.sbo + (unsigned)(r % 8) * 128 + 4u * (unsigned)k;
  return a ^ (((a >> 7) & 7u) << 4);
}

static void check_tile_tf32(unsigned a_base, unsigned b_base) {
  enum { N = 128, KS = 32 };
  static float a[64][KS], b[N][KS], d[128][64];
  unsigned state = 11u;
  for (int i = 0; i < SMEM / 4; i++) smem32[i] = 1e30f;
  for (int r = 0; r < 64; r++)
    for (int k = 0; k < KS; k++) smem32[(a_base + greta_wgmma_swz_f32(r, k)) / 4] = a[r][k] = value(&state);
  for (int r = 0; r < N; r++)
    for (int k = 0; k < KS; k++) smem32[(b_base + greta_wgmma_swz_f32(r, k)) / 4] = b[r][k] = value(&state);
  memset(d, 0, sizeof d);
  for (int s = 0; s < KS / 8; s++) {
    struct desc da = decode(greta_wgmma_desc(a_base + 32u * s)), db = decode(greta_wgmma_desc(b_base + 32u * s));
    for (int t = 0; t < 128; t++)
      for (int i = 0; i < N / 2; i++) {
        const int row = greta_wgmma_d_row(t, i), col = greta_wgmma_d_col(t, i);
        for (int k = 0; k < 8; k++)
          d[t][i] += smem32[operand_addr_tf32(da, row, k) / 4] * smem32[operand_addr_tf32(db, col, k) / 4];
      }
  }
  for (int t = 0; t < 128; t++)
    for (int i = 0; i < N / 2; i++) {
      const int row = greta_wgmma_d_row(t, i), col = greta_wgmma_d_col(t, i);
      float want = 0;
      for (int k = 0; k < KS; k++) want += a[row][k] * b[col][k];
      cr_assert_eq(d[t][i], want, "tf32: c[%d][%d] = %g, expected %g", row, col, d[t][i], want);
    }
}

/* greta_gemm_wgmma_tf32's stages: warpgroup 1's x big at 8192, W big at
 * 32768 (after x big and x small); in stage 1 (65536 on) x small at 16384,
 * W small at 49152. */
Test(wgmma_layout, tile_tf32) { check_tile_tf32(8192u, 32768u); }
Test(wgmma_layout, tile_tf32_stage_1) { check_tile_tf32(65536u + 16384u, 65536u + 49152u); }

/* The writer's layout is one-to-one on a 1024-byte atom and stays inside it. */
Test(wgmma_layout, swizzle_is_a_permutation) {
  unsigned char seen[1024] = {0};
  for (int r = 0; r < 8; r++)
    for (int k = 0; k < TILE_K; k++) {
      unsigned o = greta_wgmma_swz(r, k);
      cr_assert_lt(o, 1024u);
      cr_assert_eq(o % 2, 0u);
      cr_assert_eq(seen[o], 0, "(%d, %d) lands on a byte already used", r, k);
      seen[o] = 1;
    }
}

/* Descriptor fields, by hand: address 0x1C400 -> start 0x1C40, LBO 1, SBO 64, mode 1. */
Test(wgmma_layout, descriptor_fields) {
  unsigned long long d = greta_wgmma_desc(0x1C400u);
  cr_assert_eq(d & 0x3FFF, 0x1C40ull);
  cr_assert_eq((d >> 16) & 0x3FFF, 1ull);
  cr_assert_eq((d >> 32) & 0x3FFF, 64ull);
  cr_assert_eq((d >> 49) & 7, 0ull);
  cr_assert_eq(d >> 62, 1ull);
}

/* Stepping a descriptor equals building it, from every 1024-aligned base a
 * block's shared memory (232 448 bytes at most) can hold, in steps of
 * 16 * 97 bytes (97 odd: the offsets meet every 16-byte position of the
 * swizzle atom), and to the last 16 bytes. */
Test(wgmma_layout, descriptor_add) {
  for (unsigned int base = 0; base < 232448u; base += 1024u)
    for (unsigned int bytes = 0; base + bytes < 232448u; bytes += 16u * 97u)
      cr_assert_eq(greta_wgmma_desc_add(greta_wgmma_desc(base), bytes), greta_wgmma_desc(base + bytes),
                   "base %u + %u bytes", base, bytes);
  cr_assert_eq(greta_wgmma_desc_add(greta_wgmma_desc(0), 232432u), greta_wgmma_desc(232432u));
}

/* Hand-read points of the ISA's D figure. */
Test(wgmma_layout, accumulator_points) {
  cr_assert_eq(greta_wgmma_d_row(0, 0), 0);
  cr_assert_eq(greta_wgmma_d_col(0, 1), 1);
  cr_assert_eq(greta_wgmma_d_row(0, 2), 8);
  cr_assert_eq(greta_wgmma_d_col(0, 4), 8);
  cr_assert_eq(greta_wgmma_d_row(37, 2), 25); /* warp 1, lane 5 */
  cr_assert_eq(greta_wgmma_d_col(37, 2), 2);
  cr_assert_eq(greta_wgmma_d_row(127, 127), 63);
  cr_assert_eq(greta_wgmma_d_col(127, 127), 255);
}

/* The paired epilogue's output stage (greta_wgmma_epilogue_bulk), each
 * width: the 256 consumer threads' writes, as the kernel makes them (the
 * pair of columns col, col + 16 of a 32-column group at pair col / 32 16 +
 * col % 16, two pairs packed in 4 bytes), fill every row's run of bn / 2
 * outputs once; rows are 16-byte aligned, disjoint and inside the stage;
 * the 32 lanes of each store touch 32 different banks; and the stage fits
 * beside the largest ring in a block's shared memory. */
Test(wgmma_layout, output_stage) {
  for (int bn = 128; bn <= 256; bn += 64) {
    static unsigned char hits[128][128];
    memset(hits, 0, sizeof hits);
    for (int r = 0; r < 128; r++) {
      const unsigned int at = greta_wgmma_out_row(bn, r);
      cr_assert_eq(at % 16, 0u, "bn %d row %d at %u", bn, r, at);
      cr_assert_leq(at + (unsigned int)bn, (unsigned int)GRETA_WGMMA_OUT_STAGE_BYTES);
      if (r > 0) cr_assert_geq(at, greta_wgmma_out_row(bn, r - 1) + (unsigned int)bn, "bn %d row %d", bn, r);
    }
    for (int wg = 0; wg < 2; wg++)
      for (int warp = 0; warp < 4; warp++)
        for (int j = 0; j < bn / 8; j++) {
          if (j % 4 >= 2) continue;
          for (int h = 0; h < 2; h++) {
            unsigned int banks = 0;
            for (int lane = 0; lane < 32; lane++) {
              const int wt = 32 * warp + lane, i = 4 * j + 2 * h;
              const int row = 64 * wg + greta_wgmma_d_row(wt, i), col = greta_wgmma_d_col(wt, i);
              const int p = col / 32 * 16 + col % 16;
              cr_assert_eq(col % 2, 0);
              cr_assert_lt(p + 1, bn / 2);
              hits[row][p]++, hits[row][p + 1]++;
              const unsigned int bank = (greta_wgmma_out_row(bn, row) + 2u * (unsigned int)p) / 4 % 32;
              cr_assert_eq(banks >> bank & 1u, 0u, "bn %d wg %d warp %d j %d h %d: bank %u twice", bn, wg,
                           warp, j, h, bank);
              banks |= 1u << bank;
            }
          }
        }
    for (int r = 0; r < 128; r++)
      for (int p = 0; p < bn / 2; p++) cr_assert_eq(hits[r][p], 1, "bn %d row %d pair %d", bn, r, p);
    cr_assert_leq(GRETA_WGMMA_SMEM_BYTES(bn) + GRETA_WGMMA_TMA_BARRIER_BYTES + GRETA_WGMMA_OUT_STAGE_BYTES,
                  232448, "sm_90's shared memory a block");
  }
}

/* The kernel's tiles: A of warpgroup 1 at 8192 bytes into a stage, B at 16384. */
Test(wgmma_layout, tile_n128) { check_tile(128, 8192u, 16384u); }
Test(wgmma_layout, tile_n192) { check_tile(192, 0u, 16384u); }
/* Stage 1 of the 192-wide ring: stages are (128 + 192) x 128 = 40 KiB apart,
 * a multiple of the 1024-byte swizzle atom. */
Test(wgmma_layout, tile_n192_stage_1) { check_tile(192, 40960u + 8192u, 40960u + 16384u); }
Test(wgmma_layout, tile_n256) { check_tile(256, 0u, 16384u); }
Test(wgmma_layout, tile_n256_stage_1) { check_tile(256, 49152u + 8192u, 49152u + 16384u); }

/* greta_gemm_mma's grid (ceil(N / 32) x ceil(M / 64) blocks) handed to
 * wgmma tiles of 128 x wg: every output element lies in exactly one
 * block's tile, the grid has a block for every tile, and each tile is
 * whole or ragged only at M / N. Shapes: the 7B's at T = 64 .. 2048, and
 * ragged ones. */
Test(wgmma_layout, grid_blocks_cover_the_tiles_once) {
  static const long long shapes[][2] = {{64, 4096},   {65, 688},    {77, 200},   {128, 256},
                                        {300, 520},   {512, 4096},  {512, 12288}, {2048, 22016},
                                        {2047, 4096}, {513, 11008}, {64, 1}};
  static unsigned char seen[2048 * 22016];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    for (int wg = 128; wg <= 256; wg *= 2) {
      const long long M = shapes[s][0], N = shapes[s][1];
      const long long blocks = ((N + 31) / 32) * ((M + 63) / 64);
      memset(seen, 0, (size_t)(M * N));
      long long tiles = 0;
      for (long long blk = 0; blk < blocks; blk++) {
        long long m0 = -1, n0 = -1;
        if (!greta_wgmma_tile_of_block(blk, M, N, wg, &m0, &n0)) continue;
        tiles++;
        cr_assert(m0 >= 0 && m0 < M && m0 % 128 == 0 && n0 >= 0 && n0 < N && n0 % wg == 0,
                  "M %lld N %lld wg %d: block %lld got tile (%lld, %lld)", M, N, wg, blk, m0, n0);
        for (long long r = m0; r < m0 + 128 && r < M; r++)
          for (long long c = n0; c < n0 + wg && c < N; c++) seen[r * N + c]++;
      }
      cr_assert_eq(tiles, ((M + 127) / 128) * ((N + wg - 1) / wg),
                   "M %lld N %lld wg %d: %lld tiles from %lld blocks", M, N, wg, tiles, blocks);
      for (long long i = 0; i < M * N; i++)
        cr_assert_eq(seen[i], 1, "M %lld N %lld wg %d: element (%lld, %lld) in %d tiles", M, N, wg,
                     i / N, i % N, seen[i]);
    }
  }
}

/* The widths of greta_wgmma_allowed(with_192) up to wg. */
static int widths(int wg, int with_192) {
  int set = 0;
  for (int bn = 128; bn <= wg; bn += 64) set |= greta_wgmma_allowed(with_192) & GRETA_WGMMA_WIDTH_BIT(bn);
  return set;
}

/* The run-time tile width: the width whose whole waves of tiles cost least
 * (GRETA_WGMMA_WAVE_COST), never wider than the kernel was compiled for;
 * 192 only where the kernel has it (with_192). The 7B's shapes on the H200's 132 SMs
 * (docs/gemm.md, "Tile width at run time"): tiles of 128 / 192 / 256 and
 * the waves they take. Without 192 the rule is "256 once its tiles fill
 * half the SMs", which the first column of cases also checks. */
Test(wgmma_layout, step_width) {
  static const struct {
    long long M, N;
    int wg, without_192, with_192;
  } cases[] = {
      {128, 12288, 256, 128, 128},  /* q/k/v, T = 128: 96 / 64 / 48 tiles, one wave each */
      {256, 12288, 256, 256, 192},  /* 192 / 128 / 96: two waves of 128, one of 192 or 256 */
      {512, 12288, 256, 256, 192},  /* 384 / 256 / 192: 3 / 2 / 2 waves */
      {2048, 12288, 256, 256, 256}, /* 1536 / 1024 / 768: 12 / 8 / 6 */
      {128, 22016, 256, 256, 192},  /* gate/up, T = 128: 172 / 115 / 86 */
      {512, 22016, 256, 256, 256},  /* 688 / 460 / 344: 6 / 4 / 3 */
      {1024, 22016, 256, 256, 192}, /* 1376 / 920 / 688: 11 / 7 / 6 waves, 7 x 84 < 6 x 100
                                       (measured: 301 / 305 us for 192 / 256) */
      {512, 4096, 256, 128, 128},   /* o, down at T = 512: 128 / 88 / 64, one wave each */
      {640, 4096, 256, 256, 192},   /* 160 / 110 / 80: 256-wide tiles fill half the SMs */
      {1024, 4096, 256, 256, 256},  /* 256 / 176 / 128: 2 / 2 / 1 */
      {512, 12288, 128, 128, 128},  /* compiled for 128 only */
      {512, 12288, 192, 128, 192},
      {64, 1, 256, 128, 128},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const long long M = cases[i].M, N = cases[i].N;
    const int wg = cases[i].wg;
    cr_expect_eq(greta_wgmma_step_width(M, N, 4096, widths(wg, 0), 132, 0, 0), cases[i].without_192,
                 "M %lld N %lld wg %d, without 192", M, N, wg);
    cr_expect_eq(greta_wgmma_step_width(M, N, 4096, widths(wg, 1), 132, 0, 0), cases[i].with_192,
                 "M %lld N %lld wg %d, with 192", M, N, wg);
    if (wg == 256) /* N a multiple of 256: the half-the-SMs rule */
      cr_expect_eq(greta_wgmma_step_width(M, N, 4096, widths(wg, 0), 132, 0, 0),
                   2 * ((M + 127) / 128) * ((N + 255) / 256) >= 132 ? 256 : 128, "M %lld N %lld", M, N);
  }
}

/* The same rule for a launch that splits its tail's K (o, K = 4096, and
 * down, 11008, N = 4096): the tail's tiles in p = min(4, 132 / tail) parts
 * cost a wave / p (a wave of 128 / 192 / 256-wide tiles counting 72 / 84 /
 * 100), plus the parts' sum: 72 * 832 / K * (width / 128) * (6 + p) / 8,
 * at K = 4096 14.6 for 128 wide in 2 parts, at 11008 5.4. */
Test(wgmma_layout, step_width_with_split) {
  static const struct {
    long long M, K;
    int without_192, with_192;
  } cases[] = {
      /* 32 / 22 / 16 tiles, 4 parts each: 18 + 18.3 / 21 + 27.4 / 25 + 36.6 */
      {128, 4096, 128, 128},
      /* 64 / 44 / 32: 2 / 3 / 4 parts: 36 + 14.6 / 28 + 24.7 / 25 + 36.6 */
      {256, 4096, 128, 128},
      /* 96 / 66 / 48: 1 / 2 / 2 parts: 72 / 42 + 21.9 / 50 + 29.2 */
      {384, 4096, 128, 192},
      /* 128 / 88 / 64: 1 / 1 / 2 parts: 72 / 84 / 50 + 29.2: o stays unsplit */
      {512, 4096, 128, 128},
      /* 256 / 176 / 128: 72 + 72 / 84 + 28 + 24.7 / 100 */
      {1024, 4096, 256, 256},
      /* 512 / 352 / 256: 4 x 72 / 3 x 84 / 2 x 100, no tail splits */
      {2048, 4096, 256, 256},
      /* down: 36 + 5.4 / 28 + 9.2 / 25 + 13.6 */
      {256, 11008, 256, 192},
      /* 72 / 84 / 50 + 10.9: down splits 256-wide tiles in 2 */
      {512, 11008, 256, 256},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const long long M = cases[i].M, K = cases[i].K;
    cr_expect_eq(greta_wgmma_step_width(M, 4096, K, widths(256, 0), 132, 1, 0), cases[i].without_192,
                 "M %lld K %lld, without 192", M, K);
    cr_expect_eq(greta_wgmma_step_width(M, 4096, K, widths(256, 1), 132, 1, 0), cases[i].with_192,
                 "M %lld K %lld, with 192", M, K);
  }
  cr_expect_eq(greta_wgmma_step_width(512, 4096, 11008, widths(128, 1), 132, 1, 0), 128, "compiled for 128 only");
}

/* Split-K's blocks: over the grid's blocks, every tile's parts 0 .. p - 1
 * appear exactly once with one p per tile, whole-wave tiles unsplit, the
 * tail's slots distinct and within the workspace (tail tiles x p <= SMs,
 * tail tiles <= the counters), and never more blocks than the grid. */
static void check_split(long long tiles, int sms, long long blocks, int want_parts) {
  static int seen[4096][GRETA_GEMM_SPLIT_K_PARTS], tile_parts[4096];
  static long long tile_slot[4096];
  cr_assert(tiles <= 4096);
  memset(seen, 0, sizeof seen);
  memset(tile_parts, 0, sizeof tile_parts);
  int max_parts = 0;
  long long slots = 0;
  for (long long blk = 0; blk < blocks; blk++) {
    long long tile = -1, slot = -1;
    int part = -1, parts = 0;
    if (!greta_wgmma_split_of_block(blk, tiles, sms, blocks, &tile, &part, &parts, &slot)) continue;
    cr_assert(tile >= 0 && tile < tiles && parts >= 1 && parts <= GRETA_GEMM_SPLIT_K_PARTS &&
                  part >= 0 && part < parts,
              "tiles %lld blocks %lld: block %lld -> tile %lld part %d of %d", tiles, blocks, blk,
              tile, part, parts);
    cr_assert(!tile_parts[tile] || tile_parts[tile] == parts, "tile %lld split two ways", tile);
    if (parts > 1 && tile_parts[tile])
      cr_assert_eq(tile_slot[tile], slot, "tile %lld: one slot for its parts", tile);
    tile_parts[tile] = parts;
    tile_slot[tile] = slot;
    seen[tile][part]++;
    if (parts > 1) {
      cr_assert(slot >= 0 && (slot + 1) * parts <= sms && slot < GRETA_GEMM_SPLIT_K_COUNTERS,
                "tile %lld: slot %lld of %d parts", tile, slot, parts);
      if (slot + 1 > slots) slots = slot + 1;
    }
    if (parts > max_parts) max_parts = parts;
  }
  for (long long t = 0; t < tiles; t++) {
    cr_assert(tile_parts[t], "tiles %lld blocks %lld: tile %lld has no block", tiles, blocks, t);
    for (int q = 0; q < tile_parts[t]; q++)
      cr_assert_eq(seen[t][q], 1, "tile %lld part %d seen %d times", t, q, seen[t][q]);
    if (t < tiles - tiles % sms) cr_assert_eq(tile_parts[t], 1, "whole-wave tile %lld split", t);
  }
  cr_expect_eq(max_parts, want_parts, "tiles %lld on %d SMs, %lld blocks", tiles, sms, blocks);
}

Test(wgmma_layout, split_blocks_cover_each_tile_once) {
  /* The 7B's o / down at T = 128, 256, 512 (32, 64, 128 tiles of 128 x 128 on
   * the 1024 .. 128 x 8 blocks of greta_gemm_mma's grid). */
  check_split(32, 132, 128 * 2, 4);
  check_split(64, 132, 128 * 4, 2);
  check_split(128, 132, 128 * 8, 1);
  /* q/k/v at T = 128 (96 tiles), gate/up at 256 in 128-wide tiles (344):
   * the tail of 80 leaves p = 1. */
  check_split(96, 132, 384 * 2, 1);
  check_split(344, 132, 688 * 4, 1);
  /* 2 whole waves and a tail of 20 tiles in 4 parts; a tail of 60 in 2. */
  check_split(284, 132, 4096, 4);
  check_split(192, 132, 4096, 2);
  /* A grid smaller than tiles x 4: N = 136 at T = 64 is 2 tiles on 5 blocks. */
  check_split(2, 132, 5, 2);
  check_split(2, 132, 3, 1);
  check_split(33, 132, 132, 4);
  check_split(48, 132, 192, 2);
  check_split(1, 132, 1, 1);
}

/* A persistent launch's units (greta_wgmma_unit, greta_gemm_wgmma_ws): the
 * same tiles, parts and slots as greta_wgmma_split_of_block over a grid of
 * tiles - tail + sms blocks, in 32 bits, so check_split's coverage holds;
 * units run from 0 without a gap and end (a block's loop stops at its first
 * unit past the last); the split units are the last round's (whole waves
 * come first, so each of the sms blocks has at most one, its last).
 * Without split, unit u is tile u. */
static void check_units(int tiles, int sms, int want_parts) {
  const int whole_waves = tiles - tiles % sms;
  int units = 0;
  for (int u = 0; u < tiles * GRETA_GEMM_SPLIT_K_PARTS + 2 * sms; u++) {
    int tile, part, parts, slot;
    long long t64 = -1, s64 = -1;
    int p64 = -1, ps64 = -1;
    const int got = greta_wgmma_unit(u, tiles, sms, 1, &tile, &part, &parts, &slot);
    const int want = greta_wgmma_split_of_block(u, tiles, sms, whole_waves + sms, &t64, &p64, &ps64, &s64);
    cr_assert_eq(got, want, "tiles %d sms %d: unit %d", tiles, sms, u);
    if (got) {
      cr_assert_eq(u, units++, "tiles %d: units from 0 without a gap", tiles);
      cr_assert(tile == t64 && part == p64 && parts == ps64 && slot == s64,
                "tiles %d sms %d unit %d: %d %d/%d slot %d against %lld %d/%d slot %lld", tiles,
                sms, u, tile, part, parts, slot, t64, p64, ps64, s64);
      if (parts > 1)
        cr_assert(u >= whole_waves && u < whole_waves + sms, "tiles %d: split unit %d not in the last round",
                  tiles, u);
    }
    const int plain = greta_wgmma_unit(u, tiles, sms, 0, &tile, &part, &parts, &slot);
    cr_assert(plain == (u < tiles) && (!plain || (tile == u && part == 0 && parts == 1)),
              "without split, unit %d is tile %d", u, u);
  }
  check_split(tiles, sms, whole_waves + sms, want_parts);
}

Test(wgmma_layout, persistent_units) {
  check_units(32, 132, 4);   /* o / down at T = 128 in 128-wide tiles */
  check_units(64, 132, 2);   /* 256-wide at T = 512 */
  check_units(128, 132, 1);  /* 128-wide at T = 512: one round, unsplit */
  check_units(284, 132, 4);  /* 2 whole rounds, a tail of 20 in 4 parts */
  check_units(192, 132, 2);  /* a tail of 60 in 2 */
  check_units(1536, 132, 1); /* q/k/v at T = 2048, 128-wide: a tail of 84, p = 1 */
  check_units(2, 132, 4);
  check_units(1, 132, 4);
  check_units(7, 16, 2);
}

/* The persistent kernel's width rule (GRETA_WGMMA_WS_WAVE_COST: a 128- /
 * 192- / 256-wide tile costing 58 / 76 / 100) at the 7B's shapes on 132
 * SMs, against what its bench measured fastest on the H200 (docs/gemm.md,
 * "Persistent and warp-specialised"; no split). */
Test(wgmma_layout, step_width_persistent) {
  static const struct {
    long long M, N, K;
    int want;
  } cases[] = {
      {128, 12288, 4096, 128},  /* q/k/v: 96 / 64 / 48 tiles, one round each */
      {512, 12288, 4096, 192},  /* 384 / 256 / 192: 3 / 2 / 2 rounds */
      {2048, 12288, 4096, 256}, /* 12 / 8 / 6 */
      {128, 22016, 4096, 192},  /* gate/up: 172 / 115 / 86: 2 / 1 / 1 */
      {512, 22016, 4096, 256},  /* 6 / 4 / 3: 348 / 304 / 300 */
      {2048, 22016, 4096, 192}, /* 21 / 14 / 11: 1218 / 1064 / 1100 */
      {512, 4096, 4096, 128},   /* o: 128 / 88 / 64, one round each */
      {2048, 4096, 11008, 256}, /* down: 4 / 3 / 2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    cr_expect_eq(greta_wgmma_step_width(cases[i].M, cases[i].N, cases[i].K, widths(256, 1), 132, 0, 1), cases[i].want,
                 "M %lld N %lld K %lld", cases[i].M, cases[i].N, cases[i].K);
}

/* The widths a kernel compiles (greta_wgmma_widths_taken): every step's
 * width among them is its width among all the allowed ones, and is one of
 * them. Persistent, costs of 128 / 192 / 256 wide at 128, 256, 384 and 512
 * rows: gate/up 116 / 76 / 100, 174 / 152 / 200, 232 / 228 / 200, 348 /
 * 304 / 300: 192 and 256, no 128-wide path; q/k/v (12288 wide) 58 / 76 /
 * 100, 116 / 76 / 100, 174 / 152 / 200, 174 / 152 / 200: 128 and 192. */
Test(wgmma_layout, widths_taken) {
  const int all = greta_wgmma_allowed(1);
  cr_expect_eq(greta_wgmma_widths_taken(512, 22016, 4096, all, 132, 0, 1, 0), GRETA_WGMMA_W192 | GRETA_WGMMA_W256);
  cr_expect_eq(greta_wgmma_widths_taken(512, 12288, 4096, all, 132, 0, 1, 0), GRETA_WGMMA_W128 | GRETA_WGMMA_W192);
  static const struct {
    long long N, K;
  } shapes[] = {{12288, 4096}, {4096, 4096}, {22016, 4096}, {4096, 11008}, {2000, 320}, {100, 64}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int allowed = 1; allowed < 8; allowed++) {
      if (!(allowed & GRETA_WGMMA_W128)) continue;
      for (int split = 0; split < 2; split++)
        for (int persistent = 0; persistent < 2; persistent++) {
          const long long N = shapes[i].N, K = shapes[i].K, max_rows = 2048;
          const int taken = greta_wgmma_widths_taken(max_rows, N, K, allowed, 132, split, persistent, 0);
          cr_assert_eq(taken & ~allowed, 0);
          for (long long M = 64; M <= max_rows; M += 64) {
            const int w = greta_wgmma_step_width(M, N, K, allowed, 132, split, persistent);
            cr_assert(taken & GRETA_WGMMA_WIDTH_BIT(w), "N %lld M %lld: %d not taken", N, M, w);
            cr_assert_eq(greta_wgmma_step_width(M, N, K, taken, 132, split, persistent), w,
                         "N %lld K %lld M %lld allowed %d split %d persistent %d", N, K, M, allowed,
                         split, persistent);
          }
        }
    }
}

/* Two widths in one step (greta_wgmma_mixed_*): the tiles cover every
 * column of every row tile once, 256 wide in the head and 192 after;
 * the cost is the busiest block's when unit u runs on block u mod sms
 * (counted here block by block); the rule's head beats every single width
 * where it is taken, and gate/up at 512 rows takes 66 (cost 276 against
 * 300 for 256-wide tiles alone: docs/gemm.md). */
static void check_mixed(long long M, long long N, int head, int sms) {
  const int tiles_m = (int)((M + 127) / 128), tiles = (int)greta_wgmma_mixed_tiles(M, N, head);
  static unsigned char seen[16][22016 + 256];
  memset(seen, 0, sizeof seen);
  static long long busy[256];
  memset(busy, 0, sizeof busy);
  for (int t = 0; t < tiles; t++) {
    int m0, n0;
    const int w = greta_wgmma_mixed_tile(t, tiles_m, head, &m0, &n0);
    cr_assert(w == (t < tiles_m * head ? 256 : 192), "M %lld N %lld head %d: tile %d is %d wide", M, N,
              head, t, w);
    cr_assert(m0 % 128 == 0 && m0 < M && n0 < N, "tile %d at %d, %d", t, m0, n0);
    for (int col = n0; col < n0 + w && col < N; col++) {
      cr_assert_eq(seen[m0 / 128][col], 0, "M %lld N %lld head %d: row tile %d column %d twice", M, N, head,
                   m0 / 128, col);
      seen[m0 / 128][col] = 1;
    }
    busy[t % sms] += GRETA_WGMMA_WS_WAVE_COST(w);
  }
  long long worst = 0;
  for (int r = 0; r < tiles_m; r++)
    for (long long col = 0; col < N; col++) cr_assert(seen[r][col], "row tile %d column %lld missed", r, col);
  for (int b = 0; b < sms; b++) worst = busy[b] > worst ? busy[b] : worst;
  cr_assert_eq(greta_wgmma_mixed_cost(M, N, head, sms), worst, "M %lld N %lld head %d sms %d", M, N, head, sms);
}

Test(wgmma_layout, mixed_widths) {
  static const long long Ns[] = {22016, 12288, 4096, 2000};
  for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++)
    for (long long M = 128; M <= 2048; M += 384)
      for (int head = 0; 256 * head < Ns[i] + 256; head += 7) {
        check_mixed(M, Ns[i], head, 132);
        check_mixed(M, Ns[i], head, 16);
      }
  const int all = greta_wgmma_allowed(1);
  cr_expect_eq(greta_wgmma_mixed_head(512, 22016, 4096, all, 132), 66);
  cr_expect_eq(greta_wgmma_mixed_cost(512, 22016, 66, 132), 276);
  cr_expect_eq(greta_wgmma_mixed_head(512, 22016, 4096, all & ~GRETA_WGMMA_W192, 132), -1);
  cr_expect_eq(greta_wgmma_mixed_head(512, 12288, 4096, all, 132), -1); /* 192 alone: two rounds */
  for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++)
    for (long long M = 128; M <= 2048; M += 128) {
      const int head = greta_wgmma_mixed_head(M, Ns[i], 4096, all, 132);
      if (head < 0) continue;
      cr_assert(head > 0 && 256 * head < Ns[i], "N %lld M %lld: head %d is one width", Ns[i], M, head);
      for (int bn = 128; bn <= 256; bn += 64) {
        const long long tiles = (M + 127) / 128 * ((Ns[i] + bn - 1) / bn);
        cr_assert_lt(greta_wgmma_mixed_cost(M, Ns[i], head, 132),
                     (tiles + 131) / 132 * GRETA_WGMMA_WS_WAVE_COST(bn),
                     "N %lld M %lld: two widths no cheaper than %d", Ns[i], M, bn);
      }
    }
  /* The heads that end a round cost what the best head costs. */
  for (long long N = 256; N <= 32768; N += 24)
    for (long long M = 64; M <= 2048; M += 64) {
      const int head = greta_wgmma_mixed_head(M, N, 4096, all, 132);
      long long best = -1;
      for (long long h = 1; 256 * h < N; h++) {
        const long long c = greta_wgmma_mixed_cost(M, N, h, 132);
        if (best < 0 || c < best) best = c;
      }
      const int bn = greta_wgmma_step_width(M, N, 4096, all, 132, 0, 1);
      const long long one = (M + 127) / 128 * ((N + bn - 1) / bn);
      const long long one_cost = (one + 131) / 132 * GRETA_WGMMA_WS_WAVE_COST(bn);
      if (head >= 0)
        cr_assert_eq(greta_wgmma_mixed_cost(M, N, head, 132), best, "N %lld M %lld head %d", N, M, head);
      else cr_assert(best < 0 || best >= one_cost, "N %lld M %lld: no head, yet %lld < %lld", N, M, best, one_cost);
    }
  /* A paired launch's kernel compiles both widths where a step mixes them,
   * and weighs the same head among the widths taken. */
  for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++) {
    const int taken = greta_wgmma_widths_taken(2048, Ns[i], 4096, all, 132, 0, 1, 1);
    for (long long M = 64; M <= 2048; M += 64)
      cr_assert_eq(greta_wgmma_mixed_head(M, Ns[i], 4096, taken, 132), greta_wgmma_mixed_head(M, Ns[i], 4096, all, 132),
                   "N %lld M %lld", Ns[i], M);
  }
  cr_expect_eq(greta_wgmma_widths_taken(512, 22016, 4096, all, 132, 0, 1, 1), GRETA_WGMMA_W192 | GRETA_WGMMA_W256);
}
