/* The virtual weight of the paired epilogues (gemm.h, greta_pair_map) as
 * small pure functions: valid C (tests/test_pair_layout.c checks them on the
 * CPU, and compiler/lower/kernel_select.c sizes the grid with
 * greta_pair_width) and device code (the prelude defines GRETA_LAYOUT_FN as
 * `inline __device__`).
 *
 * A weight of `blocks` blocks of 2s rows pairs rows a and a + s of each
 * block. Its virtual weight lists each block as g first rows, their g
 * partners, the next g first rows, ...; s rounded up to g (sv) pairs a
 * block, those past s zero rows. */
#ifndef GRETA_PAIR_LAYOUT_H
#define GRETA_PAIR_LAYOUT_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

/* s rounded up to a multiple of g. */
GRETA_LAYOUT_FN long long greta_pair_sv(long long g, long long s) { return g * ((s + g - 1) / g); }

/* Rows of the virtual weight. */
GRETA_LAYOUT_FN long long greta_pair_width(long long g, long long s, long long blocks) {
  return blocks * 2 * greta_pair_sv(g, s);
}

/* Virtual row v: its block and its pair (< sv; a real pair when < s). */
GRETA_LAYOUT_FN long long greta_pair_block(long long v, long long g, long long s, long long blocks) {
  return blocks == 1 ? 0 : v / (2 * greta_pair_sv(g, s));
}
GRETA_LAYOUT_FN long long greta_pair_index(long long v, long long g, long long s, long long blocks) {
  const long long u = blocks == 1 ? v : v % (2 * greta_pair_sv(g, s));
  return u / (2 * g) * g + u % g;
}

/* The physical row of virtual row v (for a real pair). */
GRETA_LAYOUT_FN long long greta_pair_row(long long v, long long g, long long s, long long blocks) {
  return 2 * s * greta_pair_block(v, g, s, blocks) + greta_pair_index(v, g, s, blocks) +
         (v % (2 * g) >= g ? s : 0);
}

/* g = 16: row(v + 32 j) - row(v) for every v whose v - v % 32 is a multiple
 * of `align`, when greta_pair_fixed(align, s, blocks): a loader's rows, 32
 * apart from the start of a tile `align` columns wide. */
GRETA_LAYOUT_FN int greta_pair_fixed(long long align, long long s, long long blocks) {
  return blocks == 1 || align % (2 * greta_pair_sv(16, s)) == 0;
}
GRETA_LAYOUT_FN long long greta_pair_jump(int j, long long s, long long blocks) {
  const long long period = 2 * greta_pair_sv(16, s);
  return blocks == 1 ? 16 * j : 2 * s * (32 * j / period) + 32 * j % period / 2;
}

/* The copy engine's view of a weight of 2-byte elements, k per row, paired
 * with g = 16: a 5-dimensional tensor, innermost first (k; r < 16, a row of
 * a 16-row run; h < 2, the half, s rows on; j < s / 16, the run, 16 rows on;
 * b < blocks, 2 s rows on), whose box (64, 16, 2, 2, 1) lands in shared
 * memory as rows r + 16 h + 32 j: the 64 virtual rows from a multiple of 64,
 * in one copy (2-dimensional boxes of 16-row runs took 4 per 64 rows).
 * It needs whole runs (s % 16 == 0) and, with several blocks, boxes that
 * stay inside one (s % 32 == 0). */
GRETA_LAYOUT_FN int greta_pair_tma_fits(long long s, long long blocks) {
  return s % 16 == 0 && (blocks == 1 || s % 32 == 0);
}
/* The tensor's extents, the strides of dimensions 1 .. 4 in elements, and
 * the box, `box_k` elements of k wide. */
GRETA_LAYOUT_FN void greta_pair_tma_shape(long long s, long long blocks, long long k,
                                          unsigned box_k, unsigned long long dims[5],
                                          unsigned long long strides[4], unsigned box[5]) {
  dims[0] = (unsigned long long)k, dims[1] = 16, dims[2] = 2;
  dims[3] = (unsigned long long)(s / 16), dims[4] = (unsigned long long)blocks;
  strides[0] = (unsigned long long)k, strides[1] = (unsigned long long)(s * k);
  strides[2] = (unsigned long long)(16 * k), strides[3] = (unsigned long long)(2 * s * k);
  box[0] = box_k, box[1] = 16, box[2] = 2, box[3] = 2, box[4] = 1;
}
/* Coordinate j of the box of virtual rows v .. v + 63 (v % 64 == 0); its
 * b is greta_pair_block(v, 16, s, blocks), r = h = 0. */
GRETA_LAYOUT_FN long long greta_pair_tma_run(long long v, long long s, long long blocks) {
  return (blocks == 1 ? v : v % (2 * s)) / 32;
}

#endif
