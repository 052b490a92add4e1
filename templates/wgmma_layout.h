/* Shared-memory layout, matrix descriptor and accumulator fragment of the
 * Hopper wgmma GEMM (gemm_wgmma.h), as small pure functions: valid C
 * (tests/test_wgmma_layout.c checks them on the CPU against an emulation of
 * how the instruction reads shared memory) and device code (the prelude
 * defines GRETA_LAYOUT_FN as `inline __device__`).
 *
 * Operand tiles are K-major with the 128-byte swizzle (PTX ISA,
 * "Asynchronous Warpgroup Level Matrix Shared Memory Layout", K-major,
 * 128B swizzling): a tile of R rows (m or n) by 64 k halves is R rows of 128
 * bytes; the 16-byte chunk c (k = 8 c .. 8 c + 7) of row r is stored at chunk
 * c ^ (r % 8). The pattern repeats every 8 rows (1024 bytes), and the tile
 * base is 1024-aligned, so the matrix base offset field is 0.
 */
#ifndef GRETA_WGMMA_LAYOUT_H
#define GRETA_WGMMA_LAYOUT_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

/* Byte offset of (row r, k) in a 64-k-wide operand tile. */
GRETA_LAYOUT_FN unsigned int greta_wgmma_swz(int r, int k) {
  return (unsigned int)(128 * r + 16 * ((k >> 3) ^ (r & 7)) + 2 * (k & 7));
}

/* The same for f32 (tf32 wgmma, greta_gemm_wgmma_tf32): a 128-byte row
 * holds 32 k, element k sits where half 2k would. */
GRETA_LAYOUT_FN unsigned int greta_wgmma_swz_f32(int r, int k) { return greta_wgmma_swz(r, 2 * k); }

/* Matrix descriptor (PTX ISA, "Matrix Descriptor Format") of a K-major,
 * 128-byte-swizzled operand whose k16 slice (k8 for tf32: 32 bytes either
 * way) starts at shared-memory byte address `addr` (the tile base, plus 32
 * bytes per step):
 *   bits  0-13  start address, (addr & 0x3FFFF) >> 4;
 *   bits 16-29  leading-dimension byte offset >> 4: not used by swizzled
 *               K-major layouts (the k16 slice lies inside one 128-byte
 *               row); 1, as the ISA's canonical layouts show;
 *   bits 32-45  stride-dimension byte offset >> 4: 8-row group to 8-row
 *               group, 1024 bytes -> 64;
 *   bits 49-51  matrix base offset: 0;
 *   bits 62-63  swizzle mode: 1 = 128-byte swizzle. */
GRETA_LAYOUT_FN unsigned long long greta_wgmma_desc(unsigned int addr) {
  unsigned long long d = (unsigned long long)((addr & 0x3FFFFu) >> 4);
  d |= 1ull << 16;
  d |= (unsigned long long)(1024 >> 4) << 32;
  d |= 1ull << 62;
  return d;
}

/* The descriptor of an MN-major operand (the instruction's transpose bit
 * set: B of k rows by n, n contiguous), 128-byte swizzled, as a K-major
 * tile's rows hold it: [k][64 n] halves of 128-byte rows, `half_bytes` apart,
 * the k16 slice starting at `addr` (16 rows, 2048 bytes, a step). In the
 * ISA's MN-major canonical layout the leading-dimension byte offset steps
 * from one 64-element n run to the next (here: half to half), the
 * stride-dimension one from 8 k rows to the next (1024 bytes). The prefill
 * attention's V (attention_wgmma.h): cache rows [key][d] are B = V of P V
 * with k = key, n = d. */
GRETA_LAYOUT_FN unsigned long long greta_wgmma_desc_mn(unsigned int addr, unsigned int half_bytes) {
  unsigned long long d = (unsigned long long)((addr & 0x3FFFFu) >> 4);
  d |= (unsigned long long)((half_bytes >> 4) & 0x3FFFu) << 16;
  d |= (unsigned long long)(1024 >> 4) << 32;
  d |= 1ull << 62;
  return d;
}

/* greta_wgmma_desc(addr + bytes) from greta_wgmma_desc(addr), bytes a
 * multiple of 16: the start address field is the low one and holds any
 * shared-memory address (under 256 KiB), so the sum never carries out of
 * it. The persistent GEMM's consumers step their descriptors so (a 64-bit
 * add) instead of building them from each slot's address. */
GRETA_LAYOUT_FN unsigned long long greta_wgmma_desc_add(unsigned long long desc, unsigned int bytes) {
  return desc + (bytes >> 4);
}

/* Byte offset of row r (0 .. 127) of a paired tile's output stage
 * (greta_wgmma_epilogue_bulk; a tile bn virtual columns wide is bn / 2
 * two-byte outputs, bn bytes, a row): the copy engine stores each row as
 * one run, so a row is contiguous; a warp writes rows 8 a .. 8 a + 7 at
 * once, 16 bytes each, so those start in 8 different 16-byte bank groups
 * (mod 128 bytes): rows bn + 16 apart in a group of 8, groups 8 bn + 112
 * apart. 16-byte aligned; GRETA_WGMMA_OUT_STAGE_BYTES holds bn = 256. */
GRETA_LAYOUT_FN unsigned int greta_wgmma_out_row(int bn, int r) {
  return (unsigned int)((8 * bn + 112) * (r >> 3) + (bn + 16) * (r & 7));
}

/* Accumulator d[i] of thread t (0..127) of the warpgroup, wgmma .m64nNk16
 * with f32 D (PTX ISA, "Register Fragments", matrix D): warp w = t / 32 owns
 * rows 16 w .. 16 w + 15; inside each 8-column block the layout is that of
 * mma.m16n8: lane l holds rows l / 4 and l / 4 + 8, columns 2 (l % 4) + {0, 1}. */
GRETA_LAYOUT_FN int greta_wgmma_d_row(int t, int i) { return 16 * (t >> 5) + ((t & 31) >> 2) + 8 * ((i >> 1) & 1); }
GRETA_LAYOUT_FN int greta_wgmma_d_col(int t, int i) { return 8 * (i >> 2) + 2 * (t & 3) + (i & 1); }

/* The wgmma tile of block `blk` of greta_gemm_mma's grid (blk = y * grid x
 * + x, the mma.sync grid of ceil(N / 32) x ceil(M / 64) blocks) when the
 * step runs on 128 x wg tiles: row tiles fastest (the blocks that run at
 * once share a W tile), *m0 / *n0 its first row and column; 0 when the
 * block has no tile (surplus: it returns). */
GRETA_LAYOUT_FN int greta_wgmma_tile_of_block(long long blk, long long M, long long N, int wg,
                                              long long *m0, long long *n0) {
  const long long tiles_m = (M + 127) / 128, tiles_n = (N + wg - 1) / wg;
  if (blk >= tiles_m * tiles_n) return 0;
  *m0 = blk % tiles_m * 128;
  *n0 = blk / tiles_m * wg;
  return 1;
}

/* The widths the rule may weigh (GRETA_WGMMA_W*, launch_constants.h): 128
 * and 256, and 192 where with_192. */
GRETA_LAYOUT_FN int greta_wgmma_allowed(int with_192) {
  return GRETA_WGMMA_W128 | GRETA_WGMMA_W256 | (with_192 ? GRETA_WGMMA_W192 : 0);
}

/* The tile width (one of the set `widths`) a step of M
 * rows takes in a GEMM of N columns and depth K on a chip of sms SMs: the
 * one whose tiles finish first, counting whole waves of tiles (ceil(tiles /
 * sms)) at GRETA_WGMMA_WAVE_COST(width) each (launch_constants.h: a wave of
 * wider tiles takes longer, less than in proportion); a tie goes to the
 * wider tile. Between 128 and 256 alone, and N a multiple of 256, this is
 * 256 exactly when the 256-wide tiles fill half the SMs. With split (a
 * launch that splits its tail's K, greta_wgmma_split_of_block), the tail's
 * tiles in p parts cost a wave / p, plus the parts' sum: a fixed time a
 * tile whatever K, so a share of a wave that shrinks as K grows
 * (GRETA_WGMMA_SPLIT_SUM_K; on the H200 splitting 256-wide tiles in two
 * loses for a K of 4096 and wins for 11008: docs/gemm.md). gretac weighs
 * the allowed widths for every step of an entry and compiles the paths of
 * those taken (greta_wgmma_widths_taken); the kernel weighs each step's own
 * M among those, which gives the same width (the best of a set is the best
 * of any part of it that holds it). */
GRETA_LAYOUT_FN int greta_wgmma_step_width(long long M, long long N, long long K, int widths, int sms,
                                           int split, int persistent) {
  int best = 128;
  long long best_cost = -1;
  for (int bn = 128; bn <= 256; bn += 64) {
    if (!(widths & GRETA_WGMMA_WIDTH_BIT(bn))) continue;
    const long long tiles = (M + 127) / 128 * ((N + bn - 1) / bn), tail = tiles % sms;
    const long long wave = persistent ? GRETA_WGMMA_WS_WAVE_COST(bn) : GRETA_WGMMA_WAVE_COST(bn);
    long long p = split && tail ? sms / tail : 1;
    if (p > GRETA_GEMM_SPLIT_K_PARTS) p = GRETA_GEMM_SPLIT_K_PARTS;
    /* In waves times 96 K (8 K times every p's multiple): whole numbers.
     * The sum of a 128-wide tile in 2 parts takes what a wave spends on
     * SPLIT_SUM_K of K, wider tiles in proportion, each part past 2 adding
     * an eighth: wave(128) SUM_K / K (bn / 128) (6 + p) / 8. */
    const long long k = K > 0 ? K : 1;
    const long long wave128 = persistent ? GRETA_WGMMA_WS_WAVE_COST(128) : GRETA_WGMMA_WAVE_COST(128);
    const long long cost = p > 1 ? tiles / sms * wave * 96 * k + wave * 96 / p * k +
                                       wave128 * GRETA_WGMMA_SPLIT_SUM_K *
                                           (bn / 64) * 6 * (6 + p)
                                 : (tiles + sms - 1) / sms * wave * 96 * k;
    if (best_cost < 0 || cost <= best_cost) best = bn, best_cost = cost;
  }
  return best;
}

/* A persistent launch without split (greta_gemm_wgmma_ws) may cut its
 * columns in two widths: the first `head` column tiles 256 wide, the rest
 * 192 wide; its units are the head's tiles, then the tail's (row tiles
 * fastest in each), unit u on block u mod sms. gate/up at 512 rows is 344
 * tiles of 256 (2.6 rounds of 132 SMs) or 460 of 192 (3.5): either leaves
 * the last round part idle, where 66 columns of 256 and 27 of 192 are two
 * rounds and 108 tiles. The step's tiles: */
GRETA_LAYOUT_FN long long greta_wgmma_mixed_tiles(long long M, long long N, long long head) {
  const long long tiles_m = (M + 127) / 128, rest = N - 256 * head;
  return tiles_m * head + (rest > 0 ? tiles_m * ((rest + 191) / 192) : 0);
}
/* Its tile `tile`: the first row *m0 and column *n0; returns the width. */
GRETA_LAYOUT_FN int greta_wgmma_mixed_tile(int tile, int tiles_m, int head, int *m0, int *n0) {
  const int wide = tile < tiles_m * head, t = wide ? tile : tile - tiles_m * head;
  *m0 = t % tiles_m * 128;
  *n0 = wide ? t / tiles_m * 256 : 256 * head + t / tiles_m * 192;
  return wide ? 256 : 192;
}
/* Its cost in the rule's units (a tile GRETA_WGMMA_WS_WAVE_COST): its
 * busiest block's. Blocks 0 .. r1 - 1 (r1 = head tiles mod sms) take one
 * head tile more than the rest, and the tail's units begin at block r1. */
GRETA_LAYOUT_FN long long greta_wgmma_mixed_cost(long long M, long long N, long long head, int sms) {
  const long long tiles_m = (M + 127) / 128;
  const long long n1 = tiles_m * head, n2 = greta_wgmma_mixed_tiles(M, N, head) - n1;
  const long long q1 = n1 / sms, r1 = n1 % sms, q2 = n2 / sms, r2 = n2 % sms;
  const long long wide = GRETA_WGMMA_WS_WAVE_COST(256), narrow = GRETA_WGMMA_WS_WAVE_COST(192);
  long long worst = q1 * wide + (q2 + (r2 > 0)) * narrow; /* block r1 */
  if (r1 > 0) {
    const long long w = (q1 + 1) * wide + (q2 + (r2 > sms - r1)) * narrow; /* block 0 */
    if (w > worst) worst = w;
  }
  return worst;
}

/* The head (column tiles of 256, greta_wgmma_mixed_cost) of a step of M
 * rows that costs less in two widths than in the best one width of
 * `widths` (greta_wgmma_step_width, persistent, no split), or -1: none
 * does, or the set lacks 192 or 256. The heads weighed are those that end
 * a round: the most column tiles whose 256-wide tiles fill k rounds, for
 * each k: a few for gate/up, where every head would be 86 (every thread
 * of the kernel runs this; weighing all 86, gate/up in the 7B block took
 * 101.7 µs at T = 256 against 75.6 on the H200). Their least cost is every
 * head's least, for N up to 32768 and M up to 2048 (test_wgmma_layout,
 * mixed_widths); a tie goes to the larger head. */
GRETA_LAYOUT_FN int greta_wgmma_mixed_head(long long M, long long N, long long K, int widths, int sms) {
  const int both = GRETA_WGMMA_W192 | GRETA_WGMMA_W256;
  if ((widths & both) != both) return -1;
  const int bn = greta_wgmma_step_width(M, N, K, widths, sms, 0, 1);
  const long long tiles_m = (M + 127) / 128, tiles = tiles_m * ((N + bn - 1) / bn);
  long long best_cost = (tiles + sms - 1) / sms * GRETA_WGMMA_WS_WAVE_COST(bn);
  int best = -1;
  for (long long k = 1; k * sms < tiles_m * ((N + 255) / 256); k++) {
    const long long head = k * sms / tiles_m;
    if (head < 1 || 256 * head >= N) continue;
    const long long cost = greta_wgmma_mixed_cost(M, N, head, sms);
    if (cost <= best_cost && (cost < best_cost || best >= 0)) best = (int)head, best_cost = cost;
  }
  return best;
}

/* The set of widths the steps of 1 .. max_rows rows take (those of 64 rows
 * or more run on wgmma tiles; the width depends on the step's row tiles
 * only): the paths a kernel compiles. mixed (a persistent launch that may
 * cut its columns in two widths, greta_wgmma_mixed_head): both 192 and 256
 * where a step does. */
GRETA_LAYOUT_FN int greta_wgmma_widths_taken(long long max_rows, long long N, long long K,
                                             int allowed, int sms, int split, int persistent,
                                             int mixed) {
  int taken = 0;
  for (long long r = 1; r <= (max_rows + 127) / 128; r++) {
    const int width = greta_wgmma_step_width(128 * r, N, K, allowed, sms, split, persistent);
    taken |= GRETA_WGMMA_WIDTH_BIT(width);
    if (mixed && greta_wgmma_mixed_head(128 * r, N, K, allowed, sms) >= 0)
      taken |= GRETA_WGMMA_W192 | GRETA_WGMMA_W256;
  }
  return taken;
}

/* Split-K of a step of `tiles` tiles over `blocks` blocks (the grid) on
 * sms SMs (greta_gemm_wgmma's split-K, at any width): the tiles of
 * whole waves take one block each, and the tail's tiles (tiles mod sms,
 * all of them when fewer than sms) split their K over p consecutive
 * blocks, p = min(GRETA_GEMM_SPLIT_K_PARTS, sms / tail, what the grid
 * has left per tail tile); p < 2 splits nothing. Block blk gets its tile,
 * its part of *parts, and *slot: the tail tile's index among the tail
 * (its arrival counter and partial slots in the workspace: tail * p <= sms
 * slots). Returns 0 for a surplus block. */
GRETA_LAYOUT_FN int greta_wgmma_split_of_block(long long blk, long long tiles, int sms,
                                               long long blocks, long long *tile, int *part,
                                               int *parts, long long *slot) {
  const long long tail = tiles % sms;
  long long p = tail ? sms / tail : 1;
  if (p > GRETA_GEMM_SPLIT_K_PARTS) p = GRETA_GEMM_SPLIT_K_PARTS;
  if (tail && p > (blocks - (tiles - tail)) / tail) p = (blocks - (tiles - tail)) / tail;
  if (p < 2) p = 1;
  const long long whole = p > 1 ? tiles - tail : tiles;
  *slot = 0;
  if (blk < whole) {
    *tile = blk, *part = 0, *parts = 1;
    return 1;
  }
  if (p == 1 || blk >= whole + tail * p) return 0;
  *tile = whole + (blk - whole) / p;
  *part = (int)((blk - whole) % p);
  *parts = (int)p;
  *slot = (blk - whole) / p;
  return 1;
}

/* A persistent launch's unit u (greta_gemm_wgmma_ws: its G = min(grid,
 * sms) blocks take the units blk, blk + G, ...): without split, tile u;
 * with split, the whole waves' tiles (tiles - tail, tail = tiles mod sms)
 * one unit each, then the tail's tiles in p = min(GRETA_GEMM_SPLIT_K_PARTS,
 * sms / tail) parts each (p < 2: unsplit), consecutive units, in the last
 * round: greta_wgmma_split_of_block over a grid of tiles - tail + sms
 * (test_wgmma_layout checks the two agree). In 32 bits: the producer warp
 * that calls it runs on few registers. Returns 0 past the last unit. */
GRETA_LAYOUT_FN int greta_wgmma_unit(int u, int tiles, int sms, int split, int *tile, int *part,
                                     int *parts, int *slot) {
  const int tail = tiles % sms;
  int p = split && tail ? sms / tail : 1;
  if (p > GRETA_GEMM_SPLIT_K_PARTS) p = GRETA_GEMM_SPLIT_K_PARTS;
  const int whole = p > 1 ? tiles - tail : tiles;
  *part = 0, *parts = 1, *slot = 0, *tile = u;
  if (u < whole) return 1;
  if (p == 1 || u >= whole + tail * p) return 0;
  *slot = (u - whole) / p;
  *tile = whole + *slot;
  *part = (u - whole) % p;
  *parts = p;
  return 1;
}

#endif
