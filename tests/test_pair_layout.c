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
 *     where greta_pair_fixed says so (g = 16);
 *   - the copy engine's 5-dimensional view (greta_pair_tma_*): its box at
 *     (j, b) holds the 64 virtual rows from v in order, zeros past the
 *     real ones. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../templates/pair_layout.h"

static const struct {
  long long s, blocks;
} shapes[] = {{11008, 1}, {40, 1}, {100, 1}, {64, 96}, {12, 10}, {128, 3}, {48, 1}};

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

/* Element (r, h, j + jj, b) of the copy engine's tensor is weight element
 * r st[0] + h st[1] + (j + jj) st[2] + b st[3] by the strides the runtime
 * encodes (k elements a row); it lands at box row r + box[1] (h + box[2]
 * jj), which must be virtual row v + that. Out of the tensor's extents the
 * copy engine writes zeros: that row must be a zero row of the virtual
 * weight or past its width. The box is the 64 rows the kernel expects. */
Test(pair_layout, copy_engine_boxes_hold_64_virtual_rows_in_order) {
  const long long k = 96;
  int boxes = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const long long s = shapes[i].s, blocks = shapes[i].blocks;
    if (!greta_pair_tma_fits(s, blocks)) continue;
    unsigned long long dims[5], st[4];
    unsigned box[5];
    greta_pair_tma_shape(s, blocks, k, 64, dims, st, box);
    cr_assert(dims[0] == (unsigned long long)k && box[0] == 64);
    cr_assert_eq(box[1] * box[2] * box[3] * box[4], 64, "64 virtual rows a box");
    const long long width = greta_pair_width(16, s, blocks);
    for (long long v = 0; v < width; v += 64, boxes++) {
      const long long j = greta_pair_tma_run(v, s, blocks), b = greta_pair_block(v, 16, s, blocks);
      for (long long r = 0; r < box[1]; r++)
        for (long long h = 0; h < box[2]; h++)
          for (long long jj = 0; jj < box[3]; jj++) {
            const long long w = v + r + box[1] * (h + box[2] * jj);
            const bool inside = (unsigned long long)(j + jj) < dims[3] && (unsigned long long)b < dims[4];
            if (!inside) {
              cr_assert(w >= width || greta_pair_index(w, 16, s, blocks) >= s,
                        "s %lld blocks %lld: virtual row %lld arrives as zeros", s, blocks, w);
              continue;
            }
            cr_assert_lt(w, width, "s %lld: box past the width reads a row", s);
            cr_assert_eq(greta_pair_block(w, 16, s, blocks), b, "s %lld: a box in one block", s);
            const unsigned long long at = r * st[0] + h * st[1] + (j + jj) * st[2] + b * st[3];
            cr_assert_eq(at % k, 0, "whole rows");
            cr_assert_eq((long long)(at / k), greta_pair_row(w, 16, s, blocks),
                         "s %lld blocks %lld: v %lld (r %lld h %lld jj %lld)", s, blocks, v, r, h, jj);
          }
    }
  }
  cr_expect_gt(boxes, 0);
  /* The 7B's gate/up (F = 11008) and q/k/v (heads of 128) fit, and one
   * block of 2 x 48 rows; partial runs (s = 40) do not, nor blocks of 2 x 48
   * (a box would straddle two). */
  cr_expect(greta_pair_tma_fits(11008, 1) && greta_pair_tma_fits(64, 96) && greta_pair_tma_fits(48, 1));
  cr_expect(!greta_pair_tma_fits(40, 1) && !greta_pair_tma_fits(48, 2));
}
