/* The NVIDIA mma.sync fragment mappings of templates/mma_layout.h, checked on
 * the CPU.
 *
 * The instruction mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 is
 * emulated from the PTX ISA's fragment figures for m16n8k16 (floating point),
 * with groupID = lane >> 2 and threadID_in_group = lane % 4:
 *   A: a0..a7; row = groupID for a0, a1, a4, a5 and groupID + 8 for a2, a3,
 *      a6, a7; col = threadID_in_group * 2 + (i & 1) for a0..a3, + 8 for
 *      a4..a7.
 *   B: b0..b3; row = threadID_in_group * 2 + (i & 1) for b0, b1, + 8 for
 *      b2, b3; col = groupID.
 *   C/D: c0..c3; row = groupID for c0, c1, groupID + 8 for c2, c3;
 *      col = threadID_in_group * 2 + (i & 1).
 * The emulator below is written from those sentences (it does not use the
 * header). The test then runs templates/gemm_mma.h's decomposition of a whole
 * 64 x 32 block tile (greta_gemm_mma: warp rows x K slices chosen from the
 * valid rows, fragments loaded through the header's functions from the
 * "row, k" shared-memory layout, slices summed in order) and compares with a
 * plain matmul. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../templates/mma_layout.h"

/* ---- instruction emulation (warp of 32) ------------------------------------ */

/* d[lane][i] += A @ B with lane l's operands a[l][0..7], b[l][0..3]. */
static void emulate_mma_m16n8k16(const float a[32][8], const float b[32][4], float d[32][4]) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; lane++) {
    int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 8; i++) {
      int row = (i == 0 || i == 1 || i == 4 || i == 5) ? g : g + 8;
      int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
      A[row][col] = a[lane][i];
    }
    for (int i = 0; i < 4; i++) B[t * 2 + (i & 1) + (i >= 2 ? 8 : 0)][g] = b[lane][i];
  }
  for (int lane = 0; lane < 32; lane++) {
    int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; i++) {
      int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
      float s = d[lane][i];
      for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
      d[lane][i] = s;
    }
  }
}

/* ---- the GEMM's decomposition, as templates/gemm_mma.h runs it ------------------ */

enum { BM = 64, BN = 32, BK = 128, LDK = 136, WARPS = 8 };

/* Small integers / 8: exact in f16 and in f32 sums, so any mismatch is a
 * mapping error, not rounding. */
static float value(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (float)((int)((*state >> 16) % 17) - 8) / 8.0f;
}

/* gemm_mma.h's greta_mma_warp_rows. */
static int warp_rows(int rows) { return rows <= 16 ? 1 : rows <= 32 ? 2 : 4; }

/* out[r][c] (r < rows) = sum over one stage of As [BM][LDK] (rows m) and
 * Bs [BN][LDK] (rows n), as the 8 warps and the final slice sum compute it. */
static void tile(const float *As, const float *Bs, int rows, float out[BM][BN]) {
  static float part[WARPS][16][BN];
  int wrows = warp_rows(rows), slices = WARPS / wrows;
  for (int warp = 0; warp < WARPS; warp++) {
    int wm = warp % wrows, wk = warp / wrows;
    float acc[4][32][4];
    memset(acc, 0, sizeof acc);
    for (int s = wk; s < BK / GRETA_MMA_K; s += slices) {
      int k0 = s * GRETA_MMA_K;
      float a[32][8], b[4][32][4];
      for (int lane = 0; lane < 32; lane++) {
        /* 32-bit loads: register r holds elements 2r (low) and 2r + 1 (high),
         * the second at k + 1 of the first. */
        for (int r = 0; r < 4; r++) {
          const float *p = &As[(wm * 16 + mma_a_row(lane, 2 * r)) * LDK + k0 + mma_a_k(lane, 2 * r)];
          a[lane][2 * r] = p[0];
          a[lane][2 * r + 1] = p[1];
        }
        for (int j = 0; j < 4; j++)
          for (int r = 0; r < 2; r++) {
            const float *p = &Bs[(j * GRETA_MMA_N + mma_b_col(lane)) * LDK + k0 + mma_b_k(lane, 2 * r)];
            b[j][lane][2 * r] = p[0];
            b[j][lane][2 * r + 1] = p[1];
          }
      }
      for (int j = 0; j < 4; j++) emulate_mma_m16n8k16(a, b[j], acc[j]);
    }
    for (int j = 0; j < 4; j++)
      for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++)
          part[warp][mma_d_row(lane, i)][j * GRETA_MMA_N + mma_d_col(lane, i)] = acc[j][lane][i];
  }
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < BN; c++) {
      float v = 0;
      for (int s = 0; s < slices; s++) v += part[s * wrows + r / 16][r % 16][c];
      out[r][c] = v;
    }
}

static void check_tile(int rows) {
  static float As[BM * LDK], Bs[BN * LDK];
  static float out[BM][BN];
  unsigned state = 777u + (unsigned)rows;
  for (int i = 0; i < BM * LDK; i++) As[i] = value(&state);
  for (int i = 0; i < BN * LDK; i++) Bs[i] = value(&state);
  for (int m = 0; m < BM; m++)
    for (int n = 0; n < BN; n++) out[m][n] = NAN; /* every valid element must be written */
  tile(As, Bs, rows, out);
  for (int m = 0; m < rows; m++)
    for (int n = 0; n < BN; n++) {
      double ref = 0;
      for (int k = 0; k < BK; k++) ref += (double)As[m * LDK + k] * Bs[n * LDK + k];
      cr_assert(fabs(out[m][n] - ref) <= 1e-6 * (1 + fabs(ref)), "rows %d: out[%d][%d] = %g, want %g",
                rows, m, n, out[m][n], ref);
    }
}

/* Every warp-role split: 8 K slices, 4, 2 (with idle padding rows at 40). */
Test(mma_layout, tile_rows_16) { check_tile(16); }
Test(mma_layout, tile_rows_5) { check_tile(5); }
Test(mma_layout, tile_rows_17) { check_tile(17); }
Test(mma_layout, tile_rows_32) { check_tile(32); }
Test(mma_layout, tile_rows_40) { check_tile(40); }
Test(mma_layout, tile_rows_64) { check_tile(64); }

/* Each operand and result element belongs to exactly one (lane, element)
 * pair, and the pairs that share a 32-bit register are k neighbours. */
Test(mma_layout, mappings_are_bijections) {
  int seen_a[16][16], seen_b[16][8], seen_d[16][8];
  memset(seen_a, 0, sizeof seen_a);
  memset(seen_b, 0, sizeof seen_b);
  memset(seen_d, 0, sizeof seen_d);
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < 8; i++) seen_a[mma_a_row(lane, i)][mma_a_k(lane, i)]++;
    for (int i = 0; i < 4; i++) seen_b[mma_b_k(lane, i)][mma_b_col(lane)]++;
    for (int i = 0; i < 4; i++) seen_d[mma_d_row(lane, i)][mma_d_col(lane, i)]++;
    for (int r = 0; r < 4; r++) {
      cr_assert_eq(mma_a_row(lane, 2 * r + 1), mma_a_row(lane, 2 * r));
      cr_assert_eq(mma_a_k(lane, 2 * r + 1), mma_a_k(lane, 2 * r) + 1);
      cr_assert_eq(mma_a_k(lane, 2 * r) % 2, 0, "32-bit loads need an even k");
    }
    for (int r = 0; r < 2; r++) {
      cr_assert_eq(mma_b_k(lane, 2 * r + 1), mma_b_k(lane, 2 * r) + 1);
      cr_assert_eq(mma_b_k(lane, 2 * r) % 2, 0, "32-bit loads need an even k");
    }
  }
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 16; k++) cr_assert_eq(seen_a[i][k], 1, "A[%d][%d] supplied %d times", i, k, seen_a[i][k]);
  for (int k = 0; k < 16; k++)
    for (int n = 0; n < 8; n++) cr_assert_eq(seen_b[k][n], 1, "B[%d][%d] supplied %d times", k, n, seen_b[k][n]);
  for (int i = 0; i < 16; i++)
    for (int n = 0; n < 8; n++) cr_assert_eq(seen_d[i][n], 1, "D[%d][%d] held %d times", i, n, seen_d[i][n]);
}

/* ---- m16n8k8 .tf32 and the 3xTF32 split (f32 weights) -----------------------
 *
 * mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, emulated from the PTX
 * ISA's fragment figures for m16n8k8 (.tf32), groupID = lane >> 2,
 * threadID_in_group = lane % 4, one element per register:
 *   A: a0..a3; row = groupID for a0, a2 and groupID + 8 for a1, a3;
 *      col = threadID_in_group for a0, a1 and threadID_in_group + 4 for a2, a3.
 *   B: b0, b1; row = threadID_in_group for b0, + 4 for b1; col = groupID.
 *   C/D: as m16n8k16.
 * Operands must be tf32 values (low 13 mantissa bits zero: what cvt.rna.tf32
 * gives); the emulator adds the exact products in double and rounds once. */

static uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static float bits_f32(uint32_t u) {
  float v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* cvt.rna.tf32.f32 for finite v: round to 10 stored mantissa bits, ties
 * away from zero (sign-magnitude: add half of the dropped unit, truncate). */
static float tf32_rna(float v) { return bits_f32((f32_bits(v) + 0x1000u) & ~0x1fffu); }

static void emulate_mma_m16n8k8_tf32(const float a[32][4], const float b[32][2], float d[32][4]) {
  double A[16][8], B[8][8];
  for (int lane = 0; lane < 32; lane++) {
    int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; i++) {
      cr_assert_eq(f32_bits(a[lane][i]) & 0x1fffu, 0u, "A operand %g is not tf32", a[lane][i]);
      int row = (i == 0 || i == 2) ? g : g + 8, col = (i < 2) ? t : t + 4;
      A[row][col] = a[lane][i];
    }
    for (int i = 0; i < 2; i++) {
      cr_assert_eq(f32_bits(b[lane][i]) & 0x1fffu, 0u, "B operand %g is not tf32", b[lane][i]);
      B[i == 0 ? t : t + 4][g] = b[lane][i];
    }
  }
  for (int lane = 0; lane < 32; lane++) {
    int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; i++) {
      int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
      double s = d[lane][i];
      for (int k = 0; k < 8; k++) s += A[row][k] * B[k][col];
      d[lane][i] = (float)s;
    }
  }
}

/* The device split (gemm_mma.h greta_mma_frag<GRETA_W_F32>::split), in C. */
static void split3(float v, float *big, float *small) {
  *big = tf32_rna(v);
  *small = tf32_rna(v - *big);
}

/* Random f32 in +-[0.5, 1) * 2^e, e in -8 .. 8, all mantissa bits live. */
static float value_f32(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  uint32_t mant = *state >> 9;
  *state = *state * 1103515245u + 12345u;
  int e = (int)((*state >> 16) % 17) - 8;
  float v = ldexpf(0.5f + (float)mant / (float)(1u << 24), e);
  return (*state >> 8) & 1u ? -v : v;
}

/* Each element of the tf32 fragments belongs to exactly one (lane, element). */
Test(mma_layout, tf32_mappings_are_bijections) {
  int seen_a[16][8], seen_b[8][8];
  memset(seen_a, 0, sizeof seen_a);
  memset(seen_b, 0, sizeof seen_b);
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < 4; i++) seen_a[mma_tf32_a_row(lane, i)][mma_tf32_a_k(lane, i)]++;
    for (int i = 0; i < 2; i++) seen_b[mma_tf32_b_k(lane, i)][mma_tf32_b_col(lane)]++;
  }
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 8; k++) cr_assert_eq(seen_a[i][k], 1, "A[%d][%d] supplied %d times", i, k, seen_a[i][k]);
  for (int k = 0; k < 8; k++)
    for (int n = 0; n < 8; n++) cr_assert_eq(seen_b[k][n], 1, "B[%d][%d] supplied %d times", k, n, seen_b[k][n]);
}

/* The k permutation: a bijection of 0..7, and the pairs gemm_mma.h reads with
 * one 64-bit load (A elements h, h + 2; B elements 0, 1) are stored side by
 * side at an even k, in one row. */
Test(mma_layout, tf32_k_perm_pairs_are_neighbours) {
  int seen[8] = {0};
  for (int k = 0; k < 8; k++) {
    cr_assert(mma_tf32_k_perm(k) >= 0 && mma_tf32_k_perm(k) < 8);
    seen[mma_tf32_k_perm(k)]++;
  }
  for (int k = 0; k < 8; k++) cr_assert_eq(seen[k], 1, "stored k %d fed %d times", k, seen[k]);
  for (int lane = 0; lane < 32; lane++) {
    for (int h = 0; h < 2; h++) {
      int k = mma_tf32_k_perm(mma_tf32_a_k(lane, h));
      cr_assert_eq(k % 2, 0, "64-bit loads need an even k");
      cr_assert_eq(mma_tf32_k_perm(mma_tf32_a_k(lane, h + 2)), k + 1);
      cr_assert_eq(mma_tf32_a_row(lane, h + 2), mma_tf32_a_row(lane, h));
    }
    int k = mma_tf32_k_perm(mma_tf32_b_k(lane, 0));
    cr_assert_eq(k % 2, 0, "64-bit loads need an even k");
    cr_assert_eq(mma_tf32_k_perm(mma_tf32_b_k(lane, 1)), k + 1);
  }
}

/* 64-bit fragment loads go by half-warps: 16 lanes x 2 words must hit 32
 * distinct banks when rows are LDK = 72 words apart (gemm_mma.h's f32 stage). */
Test(mma_layout, tf32_fragment_loads_have_no_bank_conflicts) {
  const int ldk = 72;
  for (int half = 0; half < 2; half++)
    for (int h = 0; h < 3; h++) { /* A pairs h = 0, 1; B pair: h = 2 */
      int banks[32] = {0};
      for (int lane = 16 * half; lane < 16 * half + 16; lane++) {
        int w = h < 2 ? mma_tf32_a_row(lane, h) * ldk + mma_tf32_k_perm(mma_tf32_a_k(lane, h))
                      : mma_tf32_b_col(lane) * ldk + mma_tf32_k_perm(mma_tf32_b_k(lane, 0));
        banks[w % 32]++;
        banks[(w + 1) % 32]++;
      }
      for (int k = 0; k < 32; k++) cr_assert_eq(banks[k], 1, "load %d, half %d: bank %d hit %d times", h, half, k, banks[k]);
    }
}

/* big + small carries v to ~22 bits; big*big + big*small + small*big is the
 * f32 product within 3 * 2^-22 (~7.2e-7) relative, where big*big alone is
 * off by up to ~2^-10. */
Test(mma_layout, tf32_split_reconstructs_f32_products) {
  unsigned state = 4242u;
  double worst3 = 0, worst1 = 0;
  for (int it = 0; it < 200000; it++) {
    float a = value_f32(&state), b = value_f32(&state), ab, as, bb, bs;
    split3(a, &ab, &as);
    split3(b, &bb, &bs);
    cr_assert_eq((double)a - ab, (double)(a - ab), "a - big must be exact in f32");
    cr_assert(fabs((double)a - ab - as) <= ldexp(fabs(a), -21), "a = %a: split off by %g", (double)a,
              (double)a - ab - as);
    double exact = (double)a * b;
    double three = (double)ab * bb + (double)ab * bs + (double)as * bb;
    double one = (double)ab * bb;
    double e3 = fabs(three - exact) / fabs(exact), e1 = fabs(one - exact) / fabs(exact);
    if (e3 > worst3) worst3 = e3;
    if (e1 > worst1) worst1 = e1;
  }
  cr_assert(worst3 <= 1e-6, "3xTF32 product: worst relative error %g", worst3);
  cr_assert(worst1 >= 1e-4, "1xTF32 should be visibly worse (worst %g): the test must discriminate", worst1);
}

/* gemm.h's f32 stage: BK = 64 f32, LDK = 72, k8 steps split among the warps
 * as for halves (8 steps per stage), operands read in pairs through
 * mma_tf32_k_perm, 3 mma per n8 block and k8 step (small terms first) into
 * the stage accumulator, slices summed in order. Random f32 data: error bound
 * |out - ref| <= 2e-6 * sum |a b| (products ~7e-7, 24 f32 roundings). */
enum { BK32 = 64, LDK32 = 72 };

static void tile_tf32x3(const float *As, const float *Bs, int rows, float out[BM][BN]) {
  static float part[WARPS][16][BN];
  int wrows = warp_rows(rows), slices = WARPS / wrows;
  for (int warp = 0; warp < WARPS; warp++) {
    int wm = warp % wrows, wk = warp / wrows;
    float acc[4][32][4];
    memset(acc, 0, sizeof acc);
    for (int s = wk; s < BK32 / GRETA_MMA_TF32_K; s += slices) {
      int k0 = s * GRETA_MMA_TF32_K;
      float a_big[32][4], a_small[32][4], b_big[4][32][2], b_small[4][32][2];
      for (int lane = 0; lane < 32; lane++) {
        /* 64-bit loads: A elements h and h + 2, B elements 0 and 1. */
        for (int h = 0; h < 2; h++) {
          const float *p = &As[(wm * 16 + mma_tf32_a_row(lane, h)) * LDK32 + k0 +
                               mma_tf32_k_perm(mma_tf32_a_k(lane, h))];
          split3(p[0], &a_big[lane][h], &a_small[lane][h]);
          split3(p[1], &a_big[lane][h + 2], &a_small[lane][h + 2]);
        }
        for (int j = 0; j < 4; j++) {
          const float *p = &Bs[(j * GRETA_MMA_N + mma_tf32_b_col(lane)) * LDK32 + k0 +
                               mma_tf32_k_perm(mma_tf32_b_k(lane, 0))];
          split3(p[0], &b_big[j][lane][0], &b_small[j][lane][0]);
          split3(p[1], &b_big[j][lane][1], &b_small[j][lane][1]);
        }
      }
      for (int j = 0; j < 4; j++) {
        emulate_mma_m16n8k8_tf32(a_small, b_big[j], acc[j]);
        emulate_mma_m16n8k8_tf32(a_big, b_small[j], acc[j]);
        emulate_mma_m16n8k8_tf32(a_big, b_big[j], acc[j]);
      }
    }
    for (int j = 0; j < 4; j++)
      for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++)
          part[warp][mma_d_row(lane, i)][j * GRETA_MMA_N + mma_d_col(lane, i)] = acc[j][lane][i];
  }
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < BN; c++) {
      float v = 0;
      for (int s = 0; s < slices; s++) v += part[s * wrows + r / 16][r % 16][c];
      out[r][c] = v;
    }
}

static void check_tile_tf32x3(int rows) {
  static float As[BM * LDK32], Bs[BN * LDK32];
  static float out[BM][BN];
  unsigned state = 991u + (unsigned)rows;
  for (int i = 0; i < BM * LDK32; i++) As[i] = value_f32(&state);
  for (int i = 0; i < BN * LDK32; i++) Bs[i] = value_f32(&state);
  for (int m = 0; m < BM; m++)
    for (int n = 0; n < BN; n++) out[m][n] = NAN;
  tile_tf32x3(As, Bs, rows, out);
  double worst = 0;
  for (int m = 0; m < rows; m++)
    for (int n = 0; n < BN; n++) {
      double ref = 0, mag = 0;
      for (int k = 0; k < BK32; k++) {
        double p = (double)As[m * LDK32 + k] * Bs[n * LDK32 + k];
        ref += p;
        mag += fabs(p);
      }
      double err = fabs(out[m][n] - ref) / mag;
      cr_assert(err <= 2e-6, "rows %d: out[%d][%d] = %.9g, want %.9g (error %g of sum |ab|)", rows, m, n,
                out[m][n], ref, err);
      if (err > worst) worst = err;
    }
  fprintf(stderr, "tf32x3 tile, rows %d: worst error %.3g of sum |a b|\n", rows, worst);
}

Test(mma_layout, tf32x3_tile_rows_16) { check_tile_tf32x3(16); }
Test(mma_layout, tf32x3_tile_rows_3) { check_tile_tf32x3(3); }
Test(mma_layout, tf32x3_tile_rows_32) { check_tile_tf32x3(32); }
Test(mma_layout, tf32x3_tile_rows_40) { check_tile_tf32x3(40); }
Test(mma_layout, tf32x3_tile_rows_64) { check_tile_tf32x3(64); }
