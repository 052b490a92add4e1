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

#endif
