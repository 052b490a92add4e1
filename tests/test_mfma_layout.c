/* The MFMA fragment mappings of templates/mfma_layout.h, checked on the CPU.
 *
 * Nothing here can run gfx942 code, so the instructions are emulated from
 * AMD's description (CDNA3 ISA guide, "Matrix fused multiply-add"; layouts
 * confirmed with AMD's matrix instruction calculator):
 *   v_mfma_f32_16x16x4f32: the A operand register of lane l is
 *     A[l % 16][l / 16], B's is B[l / 16][l % 16]; result register r of lane
 *     l is D[4 (l / 16) + r][l % 16].
 *   v_mfma_f32_16x16x16f16 (and bf16_1k): element e of lane l's A operand is
 *     A[l % 16][4 (l / 16) + e], of B B[4 (l / 16) + e][l % 16]; D as above.
 * The emulators below are written from those sentences alone (they do not
 * use the header). The test then runs the GEMM's fragment decomposition of
 * a whole 64 x 64 block tile exactly as templates/gemm.h does, through the
 * header's mapping functions, and compares with a plain matmul. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../templates/mfma_layout.h"

/* ---- instruction emulation (wave64) ---------------------------------------- */

/* d[lane][r] += per v_mfma_f32_16x16x4f32 with operands a[lane], b[lane]. */
static void emulate_mfma_f32_16x16x4(const float a[64], const float b[64], float d[64][4]) {
  float A[16][4], B[4][16];
  for (int lane = 0; lane < 64; lane++) {
    A[lane % 16][lane / 16] = a[lane];
    B[lane / 16][lane % 16] = b[lane];
  }
  for (int lane = 0; lane < 64; lane++)
    for (int r = 0; r < 4; r++) {
      int i = 4 * (lane / 16) + r, j = lane % 16;
      float s = d[lane][r];
      for (int k = 0; k < 4; k++) s += A[i][k] * B[k][j];
      d[lane][r] = s;
    }
}

/* Same for v_mfma_f32_16x16x16f16: four operand elements per lane. */
static void emulate_mfma_f32_16x16x16(const float a[64][4], const float b[64][4], float d[64][4]) {
  float A[16][16], B[16][16];
  for (int lane = 0; lane < 64; lane++)
    for (int e = 0; e < 4; e++) {
      A[lane % 16][4 * (lane / 16) + e] = a[lane][e];
      B[4 * (lane / 16) + e][lane % 16] = b[lane][e];
    }
  for (int lane = 0; lane < 64; lane++)
    for (int r = 0; r < 4; r++) {
      int i = 4 * (lane / 16) + r, j = lane % 16;
      float s = d[lane][r];
      for (int k = 0; k < 16; k++) s += A[i][k] * B[k][j];
      d[lane][r] = s;
    }
}

/* ---- the GEMM's decomposition, as templates/gemm.h runs it ------------------ */

enum { BM = 64, BN = 64 };

/* Small integers / 8: exact in f16 and in f32 sums, so any mismatch is a
 * mapping error, not rounding. */
static float value(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (float)((int)((*state >> 16) % 17) - 8) / 8.0f;
}

/* As [BM][ldk] (rows m), Bs [BN][ldk] (rows n, k contiguous) as in LDS;
 * out [BM][BN] = As @ Bs^T through 4 waves of 2 x 2 16x16 blocks. */
static void tile_f32(const float *As, const float *Bs, int ldk, int bk, float out[BM][BN]) {
  for (int wave = 0; wave < 4; wave++) {
    int wm = wave / 2 * 32, wn = wave % 2 * 32;
    float acc[2][2][64][4];
    memset(acc, 0, sizeof acc);
    for (int kk = 0; kk < bk; kk += GRETA_MFMA_F32_K)
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          float a[64], b[64];
          for (int lane = 0; lane < 64; lane++) {
            a[lane] = As[(wm + i * 16 + mfma_f32_a_row(lane)) * ldk + kk + mfma_f32_a_k(lane)];
            b[lane] = Bs[(wn + j * 16 + mfma_f32_b_col(lane)) * ldk + kk + mfma_f32_b_k(lane)];
          }
          emulate_mfma_f32_16x16x4(a, b, acc[i][j]);
        }
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        for (int lane = 0; lane < 64; lane++)
          for (int r = 0; r < 4; r++)
            out[wm + i * 16 + mfma_d_row(lane, r)][wn + j * 16 + mfma_d_col(lane)] = acc[i][j][lane][r];
  }
}

static void tile_f16(const float *As, const float *Bs, int ldk, int bk, float out[BM][BN]) {
  for (int wave = 0; wave < 4; wave++) {
    int wm = wave / 2 * 32, wn = wave % 2 * 32;
    float acc[2][2][64][4];
    memset(acc, 0, sizeof acc);
    for (int kk = 0; kk < bk; kk += GRETA_MFMA_F16_K)
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          float a[64][4], b[64][4];
          for (int lane = 0; lane < 64; lane++)
            for (int e = 0; e < 4; e++) {
              a[lane][e] = As[(wm + i * 16 + mfma_f16_a_row(lane)) * ldk + kk + mfma_f16_a_k(lane, e)];
              b[lane][e] = Bs[(wn + j * 16 + mfma_f16_b_col(lane)) * ldk + kk + mfma_f16_b_k(lane, e)];
            }
          emulate_mfma_f32_16x16x16(a, b, acc[i][j]);
        }
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        for (int lane = 0; lane < 64; lane++)
          for (int r = 0; r < 4; r++)
            out[wm + i * 16 + mfma_d_row(lane, r)][wn + j * 16 + mfma_d_col(lane)] = acc[i][j][lane][r];
  }
}

static void check_tile(bool f16, int bk, int ldk) {
  static float As[BM * 64], Bs[BN * 64];
  static float out[BM][BN];
  unsigned state = 12345u + (unsigned)bk;
  for (int i = 0; i < BM * ldk; i++) As[i] = value(&state);
  for (int i = 0; i < BN * ldk; i++) Bs[i] = value(&state);
  for (int m = 0; m < BM; m++)
    for (int n = 0; n < BN; n++) out[m][n] = NAN; /* every element must be written */
  if (f16) tile_f16(As, Bs, ldk, bk, out);
  else tile_f32(As, Bs, ldk, bk, out);
  for (int m = 0; m < BM; m++)
    for (int n = 0; n < BN; n++) {
      double ref = 0;
      for (int k = 0; k < bk; k++) ref += (double)As[m * ldk + k] * Bs[n * ldk + k];
      cr_assert(fabs(out[m][n] - ref) <= 1e-6 * (1 + fabs(ref)), "%s tile: out[%d][%d] = %g, want %g",
                f16 ? "f16" : "f32", m, n, out[m][n], ref);
    }
}

Test(mfma_layout, f32_tile_matches_matmul) { check_tile(false, 16, 17); }

Test(mfma_layout, f16_tile_matches_matmul) { check_tile(true, 32, 36); }

/* Each operand element and each result element belongs to exactly one
 * (lane, register) pair. */
Test(mfma_layout, mappings_are_bijections) {
  int seen_a[16][16], seen_b[16][16], seen_d[16][16];
  memset(seen_a, 0, sizeof seen_a);
  memset(seen_b, 0, sizeof seen_b);
  memset(seen_d, 0, sizeof seen_d);
  for (int lane = 0; lane < 64; lane++) {
    seen_a[mfma_f32_a_row(lane)][mfma_f32_a_k(lane)]++;
    seen_b[mfma_f32_b_k(lane)][mfma_f32_b_col(lane)]++;
    for (int r = 0; r < 4; r++) seen_d[mfma_d_row(lane, r)][mfma_d_col(lane)]++;
  }
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 4; k++) {
      cr_assert_eq(seen_a[i][k], 1, "f32 A[%d][%d] supplied %d times", i, k, seen_a[i][k]);
      cr_assert_eq(seen_b[k][i], 1, "f32 B[%d][%d] supplied %d times", k, i, seen_b[k][i]);
    }
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) cr_assert_eq(seen_d[i][j], 1, "D[%d][%d] held %d times", i, j, seen_d[i][j]);
  memset(seen_a, 0, sizeof seen_a);
  memset(seen_b, 0, sizeof seen_b);
  for (int lane = 0; lane < 64; lane++)
    for (int e = 0; e < 4; e++) {
      seen_a[mfma_f16_a_row(lane)][mfma_f16_a_k(lane, e)]++;
      seen_b[mfma_f16_b_k(lane, e)][mfma_f16_b_col(lane)]++;
    }
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 16; k++) {
      cr_assert_eq(seen_a[i][k], 1, "f16 A[%d][%d] supplied %d times", i, k, seen_a[i][k]);
      cr_assert_eq(seen_b[k][i], 1, "f16 B[%d][%d] supplied %d times", k, i, seen_b[k][i]);
    }
}
