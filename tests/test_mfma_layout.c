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
 * header's mapping functions, and compares with a plain matmul. The same is
 * done below for the 32x32 forms and greta_gemm_mfma's tiles (the staging of
 * 16-byte chunks into padded LDS rows included) over whole ragged GEMMs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/src/half.h"
#include "../templates/launch_constants.h"
#include "../templates/mfma_layout.h"
#include "support/support.h"

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

/* ---- the 32x32 forms and greta_gemm_mfma (templates/gemm_mfma.h) ------------
 *
 * From AMD's matrix instruction calculator (CDNA3, --matrix-layout), written
 * here without the header:
 *   v_mfma_f32_32x32x2_f32: lane l supplies A[l % 32][l / 32] and
 *     B[l / 32][l % 32];
 *   v_mfma_f32_32x32x8_f16 / _bf16: element e (0..3) of lane l's A operand is
 *     A[l % 32][4 (l / 32) + e], of B B[4 (l / 32) + e][l % 32];
 *   both: result register r (0..15) of lane l is D[i][l % 32] with
 *     i = 8 (r / 4) + 4 (l / 32) + r % 4 (lane 0: rows 0-3, 8-11, 16-19,
 *     24-27; lane 32: rows 4-7, 12-15, ...). */

/* d[lane][r] += per one 32x32 MFMA of depth kd (2 or 8): operand element e
 * of lane l, e < kd / 2. */
static void emulate_mfma_32x32(int kd, const float a[64][4], const float b[64][4], float d[64][16]) {
  float A[32][8], B[8][32];
  const int per_lane = kd / 2;
  for (int lane = 0; lane < 64; lane++)
    for (int e = 0; e < per_lane; e++) {
      A[lane % 32][per_lane * (lane / 32) + e] = a[lane][e];
      B[per_lane * (lane / 32) + e][lane % 32] = b[lane][e];
    }
  for (int lane = 0; lane < 64; lane++)
    for (int r = 0; r < 16; r++) {
      int i = 8 * (r / 4) + 4 * (lane / 32) + r % 4, j = lane % 32;
      float s = d[lane][r];
      for (int k = 0; k < kd; k++) s += A[i][k] * B[k][j];
      d[lane][r] = s;
    }
}

/* One workgroup of greta_gemm_mfma<MB, NB> over all of K, as the template
 * runs it, through mfma_layout.h's functions: stage each 16-byte chunk of x
 * (4 floats) and of B (4 f32 / 8 halves) into LDS rows of LDK, read each
 * wave's fragments, multiply, and store each result register. Rows past M
 * or N are staged as zeros and not stored. */
static void gemm_mfma_block(bool half, int mb, int nb, const float *x, const float *w, int M,
                            int N, int K, int m0, int n0, float *out) {
  const int NT = GRETA_MFMA_NT, BM = 64 * mb, BN = 64 * nb;
  const int BK = half ? GRETA_MFMA_BK_F16 : GRETA_MFMA_BK_F32;
  const int LDK = half ? GRETA_MFMA_LDK_F16 : GRETA_MFMA_LDK_F32;
  const int KI = half ? GRETA_MFMA32_F16_K : GRETA_MFMA32_F32_K;
  const int VB = half ? 8 : 4, CA = BK / 4, CB = BK / VB;
  float *As = calloc((size_t)BM * LDK, sizeof *As), *Bs = calloc((size_t)BN * LDK, sizeof *Bs);
  static float acc[4][2][4][64][16];
  memset(acc, 0, sizeof acc);
  for (int k0 = 0; k0 < K; k0 += BK) {
    for (int i = 0; i < BM * LDK; i++) As[i] = NAN; /* padding is never read */
    for (int i = 0; i < BN * LDK; i++) Bs[i] = NAN;
    for (int tid = 0; tid < NT; tid++) {
      for (int e = 0; e < BM * CA / NT; e++) {
        int idx = tid + NT * e, row = gemm_mfma_stage_row(idx, CA), c = gemm_mfma_stage_chunk(idx, CA);
        for (int j = 0; j < 4; j++)
          As[row * LDK + 4 * c + j] = m0 + row < M ? x[(m0 + row) * K + k0 + 4 * c + j] : 0.f;
      }
      for (int e = 0; e < BN * CB / NT; e++) {
        int idx = tid + NT * e, row = gemm_mfma_stage_row(idx, CB), c = gemm_mfma_stage_chunk(idx, CB);
        for (int j = 0; j < VB; j++)
          Bs[row * LDK + VB * c + j] = n0 + row < N ? w[(n0 + row) * K + k0 + VB * c + j] : 0.f;
      }
    }
    for (int wave = 0; wave < 4; wave++) {
      int wm = gemm_mfma_wave_m(wave, mb), wn = gemm_mfma_wave_n(wave, nb);
      for (int kk = 0; kk < BK; kk += KI)
        for (int i = 0; i < mb; i++)
          for (int j = 0; j < nb; j++) {
            float a[64][4] = {{0}}, b[64][4] = {{0}};
            for (int lane = 0; lane < 64; lane++) {
              if (half) {
                for (int e = 0; e < 4; e++) {
                  a[lane][e] = As[(wm + 32 * i + mfma32_f16_a_row(lane)) * LDK + kk + mfma32_f16_a_k(lane, e)];
                  b[lane][e] = Bs[(wn + 32 * j + mfma32_f16_b_col(lane)) * LDK + kk + mfma32_f16_b_k(lane, e)];
                }
              } else {
                a[lane][0] = As[(wm + 32 * i + mfma32_f32_a_row(lane)) * LDK + kk + mfma32_f32_a_k(lane)];
                b[lane][0] = Bs[(wn + 32 * j + mfma32_f32_b_col(lane)) * LDK + kk + mfma32_f32_b_k(lane)];
              }
            }
            emulate_mfma_32x32(KI, a, b, acc[wave][i][j]);
          }
    }
  }
  for (int wave = 0; wave < 4; wave++) {
    int wm = gemm_mfma_wave_m(wave, mb), wn = gemm_mfma_wave_n(wave, nb);
    for (int i = 0; i < mb; i++)
      for (int j = 0; j < nb; j++)
        for (int lane = 0; lane < 64; lane++)
          for (int r = 0; r < 16; r++) {
            int m = m0 + wm + 32 * i + mfma32_d_row(lane, r), n = n0 + wn + 32 * j + mfma32_d_col(lane);
            if (m < M && n < N) out[m * N + n] = acc[wave][i][j][lane][r];
          }
  }
  free(As);
  free(Bs);
}

/* Whole GEMMs with ragged edges (M, N no tile multiples; K several steps)
 * tiled as the grid runs them, against a plain matmul. Values are small
 * multiples of 1/8: exact in f16 and in f32 sums. */
static void check_gemm_mfma(bool half, int mb, int nb) {
  const int M = 64 * mb + 37, N = 64 * nb * 2 + 19, K = 3 * (half ? GRETA_MFMA_BK_F16 : GRETA_MFMA_BK_F32);
  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
  float *out = malloc(sizeof(float) * M * N);
  unsigned state = 777u + (unsigned)(mb * 10 + nb + half);
  for (int i = 0; i < M * K; i++) x[i] = value(&state);
  for (int i = 0; i < N * K; i++) w[i] = value(&state);
  for (int i = 0; i < M * N; i++) out[i] = NAN; /* every element must be written */
  for (int m0 = 0; m0 < M; m0 += 64 * mb)
    for (int n0 = 0; n0 < N; n0 += 64 * nb) gemm_mfma_block(half, mb, nb, x, w, M, N, K, m0, n0, out);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double ref = 0;
      for (int k = 0; k < K; k++) ref += (double)x[m * K + k] * w[n * K + k];
      cr_assert(fabs(out[m * N + n] - ref) <= 1e-6 * (1 + fabs(ref)),
                "%s %dx%d tile: out[%d][%d] = %g, want %g", half ? "f16" : "f32", 64 * mb, 64 * nb, m, n,
                out[m * N + n], ref);
    }
  free(x);
  free(w);
  free(out);
}

Test(mfma_layout, gemm_mfma_f32_small_tile) { check_gemm_mfma(false, GRETA_MFMA_SMALL_MB, GRETA_MFMA_SMALL_NB); }
Test(mfma_layout, gemm_mfma_f32_big_tile) { check_gemm_mfma(false, GRETA_MFMA_BIG_MB, GRETA_MFMA_BIG_NB); }
Test(mfma_layout, gemm_mfma_f16_small_tile) { check_gemm_mfma(true, GRETA_MFMA_SMALL_MB, GRETA_MFMA_SMALL_NB); }
Test(mfma_layout, gemm_mfma_f16_big_tile) { check_gemm_mfma(true, GRETA_MFMA_BIG_MB, GRETA_MFMA_BIG_NB); }

/* Each operand and result element of the 32x32 forms belongs to exactly one
 * (lane, register) pair. */
Test(mfma_layout, mappings_32x32_are_bijections) {
  int seen_a[32][8], seen_b[8][32], seen_d[32][32];
  for (int f16 = 0; f16 < 2; f16++) {
    const int kd = f16 ? 8 : 2;
    memset(seen_a, 0, sizeof seen_a);
    memset(seen_b, 0, sizeof seen_b);
    for (int lane = 0; lane < 64; lane++) {
      if (f16) {
        for (int e = 0; e < 4; e++) {
          /* gemm_mfma.h reads a lane's four k as one vector from k(lane, 0). */
          cr_assert_eq(mfma32_f16_a_k(lane, e), mfma32_f16_a_k(lane, 0) + e);
          cr_assert_eq(mfma32_f16_b_k(lane, e), mfma32_f16_b_k(lane, 0) + e);
          seen_a[mfma32_f16_a_row(lane)][mfma32_f16_a_k(lane, e)]++;
          seen_b[mfma32_f16_b_k(lane, e)][mfma32_f16_b_col(lane)]++;
        }
      } else {
        seen_a[mfma32_f32_a_row(lane)][mfma32_f32_a_k(lane)]++;
        seen_b[mfma32_f32_b_k(lane)][mfma32_f32_b_col(lane)]++;
      }
    }
    for (int i = 0; i < 32; i++)
      for (int k = 0; k < kd; k++) {
        cr_assert_eq(seen_a[i][k], 1, "k%d: A[%d][%d] supplied %d times", kd, i, k, seen_a[i][k]);
        cr_assert_eq(seen_b[k][i], 1, "k%d: B[%d][%d] supplied %d times", kd, k, i, seen_b[k][i]);
      }
  }
  memset(seen_d, 0, sizeof seen_d);
  for (int lane = 0; lane < 64; lane++)
    for (int r = 0; r < 16; r++) seen_d[mfma32_d_row(lane, r)][mfma32_d_col(lane)]++;
  for (int i = 0; i < 32; i++)
    for (int j = 0; j < 32; j++) cr_assert_eq(seen_d[i][j], 1, "D[%d][%d] held %d times", i, j, seen_d[i][j]);
}

/* LDS banks (CDNA3: 32 banks of 4 bytes, 128 bytes a clock): a wave's 4-byte
 * reads are served 32 lanes at a time, its 8-byte reads 16 lanes at a time;
 * a group is conflict free when its dwords fall in 32 distinct banks. The
 * fragment reads of greta_gemm_mfma (rows of LDK elements, one row per lane
 * within a block, k(lane, 0) onward) pass for every k step of the tile. */
static void check_banks(int elem_bytes, int per_lane, int ldk, int bk, int kstep) {
  const int bytes = elem_bytes * per_lane, group = 128 / bytes;
  for (int kk = 0; kk < bk; kk += kstep)
    for (int g0 = 0; g0 < 64; g0 += group) {
      int used[32] = {0};
      for (int lane = g0; lane < g0 + group; lane++) {
        int row = per_lane == 4 ? mfma32_f16_a_row(lane) : mfma32_f32_a_row(lane);
        int k = per_lane == 4 ? mfma32_f16_a_k(lane, 0) : mfma32_f32_a_k(lane);
        int byte = (row * ldk + kk + k) * elem_bytes;
        for (int d = 0; d < bytes / 4; d++) used[(byte / 4 + d) % 32]++;
      }
      for (int bank = 0; bank < 32; bank++)
        cr_assert_eq(used[bank], 1, "%d-byte reads, LDK %d, k %d, lanes %d..%d: bank %d used %d times",
                     bytes, ldk, kk, g0, g0 + group - 1, bank, used[bank]);
    }
}

Test(mfma_layout, gemm_mfma_fragment_reads_are_bank_conflict_free) {
  check_banks(4, 1, GRETA_MFMA_LDK_F32, GRETA_MFMA_BK_F32, GRETA_MFMA32_F32_K);
  check_banks(2, 4, GRETA_MFMA_LDK_F16, GRETA_MFMA_BK_F16, GRETA_MFMA32_F16_K);
  /* B's reads use the same row / k mapping (b_col, b_k). */
  for (int lane = 0; lane < 64; lane++) {
    cr_assert_eq(mfma32_f32_b_col(lane), mfma32_f32_a_row(lane));
    cr_assert_eq(mfma32_f32_b_k(lane), mfma32_f32_a_k(lane));
    cr_assert_eq(mfma32_f16_b_col(lane), mfma32_f16_a_row(lane));
    cr_assert_eq(mfma32_f16_b_k(lane, 0), mfma32_f16_a_k(lane, 0));
  }
}

/* mfma_bf16_bits against the CPU backend's f32 -> bf16 (runtime/src/half.c):
 * every sign and exponent with the low 16 bits at the rounding edges and at
 * random values, and the NaN / infinity patterns. */
Test(mfma_layout, bf16_rounding_matches_the_cpu_backend) {
  static const unsigned lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x3fff, 0xc000};
  unsigned state = 99u;
  for (unsigned hi = 0; hi < 0x10000u; hi++) {
    for (int i = 0; i < 16; i++) {
      unsigned low = i < 8 ? lows[i] : ((state = state * 1103515245u + 12345u) >> 8) & 0xffffu;
      unsigned u = hi << 16 | low;
      float f;
      memcpy(&f, &u, sizeof f);
      uint16_t want = greta_f32_to_bf16(f);
      uint16_t got = mfma_bf16_bits(u);
      if (isnan(f)) { /* any quiet NaN with the sign kept */
        cr_assert((got & 0x7fc0u) == 0x7fc0u && (got & 0x8000u) == (u >> 16 & 0x8000u),
                  "NaN 0x%08x -> 0x%04x", u, got);
        continue;
      }
      cr_assert_eq(got, want, "0x%08x: 0x%04x, the CPU backend gives 0x%04x", u, got, want);
    }
  }
}

/* mfma_bf16_pair_bits rounds as mfma_bf16_bits does every f32 that is not
 * NaN, the first value into the low half. */
Test(mfma_layout, bf16_pair_rounding_matches_the_single_rounding) {
  static const unsigned lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x3fff, 0xc000};
  unsigned state = 7u;
  for (unsigned hi = 0; hi < 0x10000u; hi++)
    for (int i = 0; i < 16; i++) {
      unsigned low = i < 8 ? lows[i] : ((state = state * 1103515245u + 12345u) >> 8) & 0xffffu;
      unsigned u = hi << 16 | low, other = (hi ^ 0x5a5au) << 16 | lows[i % 8];
      float f, g;
      memcpy(&f, &u, sizeof f);
      memcpy(&g, &other, sizeof g);
      if (isnan(f) || isnan(g)) continue;
      unsigned got = mfma_bf16_pair_bits(u, other);
      cr_assert_eq(got & 0xffffu, mfma_bf16_bits(u), "0x%08x: low half 0x%04x", u, got & 0xffffu);
      cr_assert_eq(got >> 16, mfma_bf16_bits(other), "0x%08x: high half 0x%04x", other, got >> 16);
    }
}

/* ---- greta_attention_mfma (templates/attention_mfma.h) -----------------------
 *
 * One block (128 query rows of head h) run as the template runs it, through
 * mfma_layout.h's functions and the 32x32x8 emulation, rounding where the
 * kernel rounds (q once, p before P V; the caches hold values of the cache
 * dtype): stage a key tile as K [key][D + 4] and V^T [d][36] (columns
 * swizzled by attn_mfma_vt_col); S^T = K Q^T;
 * the tiles every row sees whole without a mask, then the diagonal ones
 * masked, a wave skipping a tile past all its rows (and every tile when
 * its rows all lie past T); each query's max over
 * its lane's 16 keys and lane l ^ 32's; p = 2^(s scale log2 e - m) as one
 * fused multiply-add; P^T straight from S^T's registers as the B operand of
 * O^T += V^T P^T; the sums as the kernel's pairs of partials, the lane's
 * and lane l ^ 32's added at the end. g_mask_slack > 0 lets every query
 * see that many keys past its own (the check must then fail). */
static int g_mask_slack;

/* p's rounding: mfma_bf16_pair_bits for bf16 (checked above to equal the
 * single rounding off NaN), (_Float16) for f16. */
static float round_p(bool bf16, float p) {
  if (!bf16) return (float)(_Float16)p;
  unsigned u, r;
  memcpy(&u, &p, sizeof u);
  r = (mfma_bf16_pair_bits(u, 0u) & 0xffffu) << 16;
  float f;
  memcpy(&f, &r, sizeof f);
  return f;
}

static void attention_mfma_block(int T, int pos, int H, int KVH, int D, bool bf16, const float *q,
                                 const float *kc, const float *vc, float scale, int h, int t0,
                                 float *out) {
  enum { NW = GRETA_ATTN_MFMA_NT / 64, BKV = GRETA_ATTN_MFMA_KEYS };
  const char *dt = bf16 ? "bf16" : "f16";
  const int LDK = D + 4, LDV = BKV + 4, g = h / (H / KVH);
  const float scale2 = scale * 1.4426950408889634f;
  const int block_hi = pos + (t0 + 32 * NW < T ? t0 + 32 * NW : T);
  int whole_hi = (pos + t0 + 1) / BKV * BKV;
  if (whole_hi > block_hi) whole_hi = block_hi / BKV * BKV;
  float *Ks = calloc((size_t)BKV * LDK, sizeof *Ks), *Vt = calloc((size_t)D * LDV, sizeof *Vt);
  static float qf[NW][32][64][4], o[NW][8][64][16], m[NW][64], lsum[NW][64][2];
  for (int w = 0; w < NW; w++)
    for (int lane = 0; lane < 64; lane++) {
      int t = t0 + 32 * w + mfma32_f16_b_col(lane);
      for (int kk = 0; kk < D / 8; kk++)
        for (int e = 0; e < 4; e++)
          qf[w][kk][lane][e] = t < T ? support_stored(q[(t * H + h) * D + 8 * kk + mfma32_f16_b_k(lane, e)], dt) : 0.f;
      m[w][lane] = -INFINITY;
      lsum[w][lane][0] = lsum[w][lane][1] = 0.f;
      for (int jb = 0; jb < D / 32; jb++)
        for (int r = 0; r < 16; r++) o[w][jb][lane][r] = 0.f;
    }
  for (int j0 = 0; j0 < block_hi; j0 += BKV) {
    const bool masked = j0 >= whole_hi;
    for (int i = 0; i < BKV * LDK; i++) Ks[i] = NAN; /* padding is never read */
    for (int i = 0; i < D * LDV; i++) Vt[i] = NAN;
    for (int j = 0; j < BKV; j++)
      for (int d = 0; d < D; d++) {
        int r = j0 + j;
        Ks[j * LDK + d] = r < block_hi ? kc[(r * KVH + g) * D + d] : 0.f;
        Vt[d * LDV + attn_mfma_vt_col(d, j)] = r < block_hi ? vc[(r * KVH + g) * D + d] : 0.f;
      }
    for (int w = 0; w < NW; w++) {
      const int tw = t0 + 32 * w;
      if (tw >= T || (masked && j0 > pos + tw + 31)) continue; /* no row of the wave */
      float s[64][16] = {{0}}, kf[64][4], vf[64][4], pf[BKV / 8][64][4];
      for (int kk = 0; kk < D / 8; kk++) {
        for (int lane = 0; lane < 64; lane++)
          for (int e = 0; e < 4; e++)
            kf[lane][e] = Ks[mfma32_f16_a_row(lane) * LDK + 8 * kk + mfma32_f16_a_k(lane, e)];
        emulate_mfma_32x32(8, kf, qf[w][kk], s);
      }
      float mt[64];
      for (int lane = 0; lane < 64; lane++) {
        const int t = tw + mfma32_f16_b_col(lane);
        mt[lane] = -INFINITY;
        for (int r = 0; r < 16; r++) {
          if (masked && j0 + mfma32_d_row(lane, r) > pos + t + g_mask_slack) s[lane][r] = -INFINITY;
          mt[lane] = fmaxf(mt[lane], s[lane][r]);
        }
      }
      for (int lane = 0; lane < 64; lane++) {
        const float mn = fmaxf(m[w][lane], fmaxf(mt[lane], mt[lane ^ 32]) * scale2);
        const float alpha = exp2f(m[w][lane] - mn);
        float ps[2] = {0.f, 0.f};
        m[w][lane] = mn;
        for (int r = 0; r < 16; r++) {
          const float p = exp2f(fmaf(s[lane][r], scale2, -mn));
          ps[r % 2] += p;
          pf[r / 4][lane][r % 4] = round_p(bf16, p);
        }
        for (int i = 0; i < 2; i++) lsum[w][lane][i] = fmaf(lsum[w][lane][i], alpha, ps[i]);
        for (int jb = 0; jb < D / 32; jb++)
          for (int r = 0; r < 16; r++) o[w][jb][lane][r] *= alpha;
      }
      for (int kk = 0; kk < BKV / 8; kk++)
        for (int jb = 0; jb < D / 32; jb++) {
          for (int lane = 0; lane < 64; lane++)
            for (int e = 0; e < 4; e++)
              vf[lane][e] = Vt[(32 * jb + mfma32_f16_a_row(lane)) * LDV +
                               attn_mfma_vt_col(32 * jb + mfma32_f16_a_row(lane), 8 * kk + mfma32_f16_a_k(lane, e))];
          emulate_mfma_32x32(8, vf, pf[kk], o[w][jb]);
        }
    }
  }
  for (int w = 0; w < NW; w++)
    for (int lane = 0; lane < 64; lane++) {
      const int t = t0 + 32 * w + mfma32_f16_b_col(lane);
      const float mine = lsum[w][lane][0] + lsum[w][lane][1];
      const float l = mine + (lsum[w][lane ^ 32][0] + lsum[w][lane ^ 32][1]);
      if (t < T)
        for (int jb = 0; jb < D / 32; jb++)
          for (int r = 0; r < 16; r++)
            out[(t * H + h) * D + 32 * jb + mfma32_d_row(lane, r)] = o[w][jb][lane][r] / l;
    }
  free(Ks);
  free(Vt);
}

/* Largest |out - reference| of causal attention of T tokens at pos over a
 * cache of pos + T rows, GQA (H = 4, KVH = 2), every block of every head,
 * the reference in double on the same rounded q and cache values; NAN when
 * an output was left unwritten. */
static double attention_mfma_error(int T, int pos, int D, bool bf16) {
  const int H = 4, KVH = 2, S = pos + T;
  const float scale = 1.0f / sqrtf((float)D);
  const char *dt = bf16 ? "bf16" : "f16";
  float *q = malloc(sizeof(float) * T * H * D), *out = malloc(sizeof(float) * T * H * D);
  float *kc = malloc(sizeof(float) * S * KVH * D), *vc = malloc(sizeof(float) * S * KVH * D);
  unsigned state = 4242u + (unsigned)(T * 7 + pos + D + bf16);
  for (int i = 0; i < T * H * D; i++) q[i] = 2.0f * value(&state) + 0.01f * (float)(i % 7);
  for (int i = 0; i < S * KVH * D; i++) kc[i] = support_stored(value(&state), dt);
  for (int i = 0; i < S * KVH * D; i++) vc[i] = support_stored(value(&state), dt);
  for (int i = 0; i < T * H * D; i++) out[i] = NAN;
  for (int h = 0; h < H; h++)
    for (int t0 = 0; t0 < T; t0 += GRETA_ATTN_MFMA_QUERIES)
      attention_mfma_block(T, pos, H, KVH, D, bf16, q, kc, vc, scale, h, t0, out);
  float *qr = malloc(sizeof(float) * D);
  double worst = 0, *ref = malloc(sizeof(double) * D);
  for (int t = 0; t < T; t++)
    for (int h = 0; h < H; h++) {
      for (int d = 0; d < D; d++) qr[d] = support_stored(q[(t * H + h) * D + d], dt);
      support_attention_row(qr, kc, vc, pos + t + 1, KVH, h / (H / KVH), D, scale, ref);
      for (int d = 0; d < D; d++) {
        double e = fabs(out[(t * H + h) * D + d] - ref[d]);
        if (isnan(e)) worst = NAN;
        else if (!isnan(worst) && e > worst) worst = e;
      }
    }
  free(qr);
  free(ref);
  free(q);
  free(out);
  free(kc);
  free(vc);
  return worst;
}

/* q and p are rounded to the cache dtype (unit roundoff 2^-11 for f16,
 * 2^-8 for bf16) on outputs of magnitude < 1: twice that. */
static void check_attention_mfma(int T, int pos, int D, bool bf16) {
  const double tol = bf16 ? 8e-3 : 1e-3;
  double e = attention_mfma_error(T, pos, D, bf16);
  fprintf(stderr, "attention_mfma T=%d pos=%d D=%d %s: max error %.2e\n", T, pos, D,
          bf16 ? "bf16" : "f16", e);
  cr_assert(e <= tol, "T=%d pos=%d D=%d %s: max |out - reference| %g, tolerance %g", T, pos, D,
            bf16 ? "bf16" : "f16", e, tol);
}

Test(mfma_layout, attention_mfma_matches_attention) {
  check_attention_mfma(100, 0, 64, false);   /* one block, partial last key tile */
  check_attention_mfma(200, 37, 128, false); /* two blocks, cache rows before the step */
  check_attention_mfma(5, 70, 32, false);    /* few queries, many earlier rows */
  check_attention_mfma(300, 0, 128, true);   /* three blocks: whole tiles from the second on */
  check_attention_mfma(77, 13, 256, true);   /* head_dim 256 */
  check_attention_mfma(129, 95, 64, true);   /* the second block one row long */
}

/* The check above fails when the kernel's mask lets a query see one key past
 * its own. */
Test(mfma_layout, attention_mfma_a_wrong_mask_fails) {
  g_mask_slack = 1;
  double e = attention_mfma_error(100, 0, 64, false);
  g_mask_slack = 0;
  fprintf(stderr, "attention_mfma with a mask one key too long: max error %.2e\n", e);
  cr_assert(e > 1e-3, "a mask one key too long went unnoticed (error %g)", e);
}

/* greta_attention_mfma's LDS accesses over the banks (the model of
 * check_banks: 32 banks of 4 bytes; 2- and 4-byte accesses served 32 lanes
 * at a time, 8-byte ones 16): the most distinct dwords any bank holds in one
 * group, over every instruction of a tile. col is V^T's column function. */
static int vt_write_ways(int D, int (*col)(int, int)) {
  const int BKV = GRETA_ATTN_MFMA_KEYS, LDV = BKV + 4, CPR = D / 8, NT = GRETA_ATTN_MFMA_NT;
  int worst = 0;
  /* The staging: thread idx holds chunk idx % CPR of key row idx / CPR and
   * writes its element e to row 8 c + e, one instruction per e. */
  for (int base = 0; base < BKV * CPR && base < NT; base += 32)
    for (int e = 0; e < 8; e++) {
      int dword[32][32], n[32] = {0};
      for (int idx = base; idx < base + 32 && idx < BKV * CPR; idx++) {
        int j = idx / CPR, c = idx % CPR, d = 8 * c + e;
        int w = (d * LDV + col(d, j)) / 2, bank = w % 32, seen = 0;
        for (int i = 0; i < n[bank]; i++) seen |= dword[bank][i] == w;
        if (!seen) dword[bank][n[bank]++] = w;
        if (n[bank] > worst) worst = n[bank];
      }
    }
  return worst;
}

static int identity_col(int d, int j) {
  (void)d;
  return j;
}

static int swizzled_col(int d, int j) { return attn_mfma_vt_col(d, j); }

Test(mfma_layout, attention_mfma_lds_banks) {
  const int BKV = GRETA_ATTN_MFMA_KEYS, LDV = BKV + 4;
  for (int D = 32; D <= 256; D *= 2) {
    /* V^T's transposing writes: two lanes share a dword (keys j and j + 1);
     * at head_dim 64 and 128 no two dwords share a bank, at 32 and 256 two
     * (unswizzled: 2, 4, 8 and 16). */
    const int ways = vt_write_ways(D, swizzled_col), want = D == 64 || D == 128 ? 1 : 2;
    cr_assert_leq(ways, want, "head_dim %d: V^T writes %d-way, expected %d", D, ways, want);
    if (D == 128) cr_assert_eq(vt_write_ways(D, identity_col), 8, "the check cannot see conflicts");
    /* V^T's 8-byte fragment reads (A of O^T = V^T P^T): 16 lanes a group,
     * rows d = 32 jb + l % 32, keys 8 kk + 4 (l / 32) .. + 3. */
    for (int jb = 0; jb < D / 32; jb++)
      for (int kk = 0; kk < BKV / 8; kk++)
        for (int g0 = 0; g0 < 64; g0 += 16) {
          int used[32] = {0};
          for (int lane = g0; lane < g0 + 16; lane++) {
            int d = 32 * jb + mfma32_f16_a_row(lane), j = 8 * kk + mfma32_f16_a_k(lane, 0);
            cr_assert_eq(attn_mfma_vt_col(d, j + 3), attn_mfma_vt_col(d, j) + 3, "keys split");
            int w = (d * LDV + attn_mfma_vt_col(d, j)) / 2;
            used[w % 32]++;
            used[(w + 1) % 32]++;
          }
          for (int bank = 0; bank < 32; bank++)
            cr_assert_leq(used[bank], 1, "head_dim %d, jb %d kk %d lanes %d..: bank %d read %d times",
                          D, jb, kk, g0, bank, used[bank]);
        }
  }
  /* Every key of every row has its own column. */
  for (int d = 0; d < 256; d++) {
    int seen[32] = {0};
    for (int j = 0; j < BKV; j++) {
      int col = attn_mfma_vt_col(d, j);
      cr_assert(col >= 0 && col < BKV && !seen[col]++, "row %d: key %d to column %d", d, j, col);
    }
  }
}
