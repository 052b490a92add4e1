/* The virtual weight of the paired epilogues (templates/pair_layout.h, used
 * by templates/gemm.h's greta_pair_map and by kernel_select.c), checked on
 * the CPU for the shapes the kernels see: glu (one block, F rows apart:
 * 11008, and ragged 40 and 100) and q/k/v (a block per head, D/2 apart: 64,
 * and ragged 12), with the pair distances of NVIDIA (16) and AMD (32).
 * What the epilogues rely on:
 *   - the real virtual rows (pair < s) map one to one onto the weight's rows;
 *   - a pair's two virtual rows are g apart, in the same 2g-row group, and
 *     map to rows a and a + s of one block;
 *   - the loader's shortcut: row(v + 32 j) = row(v) + jump(j) inside a tile
 *     where greta_pair_fixed says so (g = 16). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../templates/pair_layout.h"

static const struct {
  long long s, blocks;
} shapes[] = {{11008, 1}, {40, 1}, {100, 1}, {64, 96}, {12, 10}, {128, 3}};

Test(pair_layout, real_rows_map_one_to_one_onto_the_weight) {
  for (int g = 16; g <= 32; g += 16)
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
      const long long s = shapes[i].s, blocks = shapes[i].blocks, rows = 2 * s * blocks;
      const long long width = greta_pair_width(g, s, blocks);
      cr_assert_eq(width % (2 * g), 0, "whole 2g groups");
      char *seen = calloc((size_t)rows, 1);
      long long real = 0;
      for (long long v = 0; v < width; v++) {
        if (greta_pair_index(v, g, s, blocks) >= s) continue;
        const long long r = greta_pair_row(v, g, s, blocks);
        cr_assert(r >= 0 && r < rows, "g %d s %lld: v %lld -> row %lld of %lld", g, s, v, r, rows);
        cr_assert(!seen[r], "g %d s %lld: row %lld twice", g, s, r);
        seen[r] = 1;
        real++;
      }
      cr_expect_eq(real, rows, "g %d s %lld blocks %lld: every row once", g, s, blocks);
      free(seen);
    }
}

Test(pair_layout, a_pair_is_g_columns_apart_and_rows_s_apart) {
  for (int g = 16; g <= 32; g += 16)
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
      const long long s = shapes[i].s, blocks = shapes[i].blocks;
      for (long long v = 0; v < greta_pair_width(g, s, blocks); v++) {
        if (v % (2 * g) >= g || greta_pair_index(v, g, s, blocks) >= s) continue;
        const long long w = v + g; /* the partner */
        cr_assert_eq(greta_pair_index(w, g, s, blocks), greta_pair_index(v, g, s, blocks));
        cr_assert_eq(greta_pair_block(w, g, s, blocks), greta_pair_block(v, g, s, blocks));
        const long long a = greta_pair_row(v, g, s, blocks), b = greta_pair_row(w, g, s, blocks);
        cr_assert_eq(b - a, s, "g %d s %lld: v %lld rows %lld, %lld", g, s, v, a, b);
        cr_assert_eq(a / (2 * s), greta_pair_block(v, g, s, blocks), "one block");
        cr_assert_lt(a % (2 * s), s, "the first row of the pair in the block's first half");
      }
    }
}

Test(pair_layout, loader_rows_at_compile_time_distances) {
  static const long long tiles[] = {128, 256};
  int checked = 0;
  for (size_t t = 0; t < 2; t++)
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
      const long long s = shapes[i].s, blocks = shapes[i].blocks, bn = tiles[t];
      if (!greta_pair_fixed(bn, s, blocks)) continue;
      const long long width = greta_pair_width(16, s, blocks);
      for (long long n0 = 0; n0 < width; n0 += bn)
        for (long long r = 0; r < 32; r++)
          for (int j = 0; j < bn / 32 && n0 + r + 32 * j < width; j++) {
            const long long v = n0 + r, w = v + 32 * j;
            if (greta_pair_index(w, 16, s, blocks) >= s) continue; /* a zero row */
            cr_assert_eq(greta_pair_row(w, 16, s, blocks),
                         greta_pair_row(v, 16, s, blocks) + greta_pair_jump(j, s, blocks),
                         "s %lld blocks %lld tile %lld: n0 %lld r %lld j %d", s, blocks, bn, n0, r, j);
            checked++;
          }
    }
  cr_expect_gt(checked, 0);
  /* The 7B's q/k/v (heads of 128) and gate/up take the shortcut; heads of
   * 256 in 128-wide tiles do not. */
  cr_expect(greta_pair_fixed(256, 64, 96));
  cr_expect(greta_pair_fixed(128, 11008, 1));
  cr_expect(!greta_pair_fixed(128, 128, 3));
}
