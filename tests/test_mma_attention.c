/* greta_attention_mma (templates/attention_mma.h), the NVIDIA prefill flash
 * attention, run on the CPU as the template runs it.
 *
 * Instruction emulations, written from the PTX ISA's descriptions (not from
 * mma_layout.h), groupID = lane >> 2, threadID_in_group = lane % 4:
 *   mma.m16n8k16 (floating point): A a0..a7, row groupID for a0, a1, a4, a5
 *     and groupID + 8 for a2, a3, a6, a7, column 2 threadID_in_group +
 *     (i & 1), + 8 for a4..a7; B b0..b3, row (k) 2 threadID_in_group +
 *     (i & 1), + 8 for b2, b3, column groupID; C / D c0..c3, row groupID for
 *     c0, c1 and groupID + 8 for c2, c3, column 2 threadID_in_group + (i & 1).
 *     A register holds elements 2r (low half) and 2r + 1.
 *   ldmatrix.sync.aligned.m8n8.x4.b16: threads 8j .. 8j + 7 give the
 *     addresses of rows 0 .. 7 of matrix j; register j of lane l receives
 *     elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix j;
 *     with .trans, the matrix is transposed on the way: element (r, c)
 *     comes from stored row c, column r.
 *
 * The block emulation follows the template's data flow step by step: Q
 * fragments rounded to the cache dtype, K / V tiles staged as raw rows
 * [key][D + 8] (zeros past the block's last row, padding NaN: never read),
 * S = Q K^T through ldmatrix (K) and the mma, base-2 scores masked per row,
 * the online softmax on the result registers (row max over the 4 lanes of a
 * group, per-lane partial sums), P rounded and fed back as A registers, P V
 * through ldmatrix.trans (V), the sums reduced at the end; blocks taken in
 * the template's reversed order. Every output is compared with a double
 * reference on the same rounded q and cache values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../templates/launch_constants.h"
#include "../templates/mma_layout.h"
#include "support/support.h"

/* ---- instruction emulations (warp of 32) ---------------------------------- */

static int ptx_a_row(int lane, int i) {
  return (i == 0 || i == 1 || i == 4 || i == 5) ? (lane >> 2) : (lane >> 2) + 8;
}
static int ptx_a_col(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
static int ptx_b_row(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
static int ptx_b_col(int lane) { return lane >> 2; }
static int ptx_c_row(int lane, int i) { return i < 2 ? (lane >> 2) : (lane >> 2) + 8; }
static int ptx_c_col(int lane, int i) { return (lane % 4) * 2 + (i & 1); }

/* d[lane][i] += A B from the lanes' A elements a[lane][0..7] and B elements
 * b[lane][0..3] (f32 products and sums: the operands are half values). */
static void mma_m16n8k16(const float a[32][8], const float b[32][4], float d[32][4]) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < 8; i++) A[ptx_a_row(lane, i)][ptx_a_col(lane, i)] = a[lane][i];
    for (int i = 0; i < 4; i++) B[ptx_b_row(lane, i)][ptx_b_col(lane)] = b[lane][i];
  }
  for (int lane = 0; lane < 32; lane++)
    for (int i = 0; i < 4; i++) {
      double s = 0;
      for (int k = 0; k < 16; k++) s += (double)A[ptx_c_row(lane, i)][k] * B[k][ptx_c_col(lane, i)];
      d[lane][i] += (float)s;
    }
}

/* ldmatrix .x4 from a shared array of floats standing for 16-bit values:
 * addr[lane] is the element index of the row lane gives; out[lane][j][e]. */
static void ldmatrix_x4(const float *smem, const int addr[32], bool trans, float out[32][4][2]) {
  float M[4][8][8];
  for (int lane = 0; lane < 32; lane++)
    for (int c = 0; c < 8; c++) M[lane / 8][lane % 8][c] = smem[addr[lane] + c];
  for (int lane = 0; lane < 32; lane++)
    for (int j = 0; j < 4; j++)
      for (int e = 0; e < 2; e++) {
        int r = lane / 4, c = 2 * (lane % 4) + e;
        out[lane][j][e] = trans ? M[j][c][r] : M[j][r][c];
      }
}

/* ---- rounding to the cache dtype -------------------------------------------- */

enum { F16 = GRETA_W_F16, BF16 = GRETA_W_BF16 };

static float round_bf16(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return v;
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u; /* nearest, ties to even */
  memcpy(&v, &u, 4);
  return v;
}
static float round_dt(int dt, float v) { return dt == F16 ? (float)(_Float16)v : round_bf16(v); }

Test(mma_attention, bf16_rounding_by_hand) {
  /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even (1); 1 + 3 2^-8 rounds up
   * to the even 1 + 2^-6; just above a tie rounds up. */
  cr_assert_eq(round_bf16(1.0f + 0x1p-8f), 1.0f);
  cr_assert_eq(round_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
  cr_assert_eq(round_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  cr_assert_eq(round_bf16(-2.5f), -2.5f);
}

/* ---- the register and ldmatrix mappings the template relies on ------------ */

/* P's A registers: register r of k-step kk takes result registers 2 (r % 2)
 * and 2 (r % 2) + 1 of S's n-tile 2 kk + r / 2, i.e. element i of A comes
 * from n-tile 2 kk + i / 4, result register c(i) = 2 ((i / 2) % 2) + i % 2.
 * Same row and key, element by element, by the PTX layouts and by the
 * header's functions. */
static int c_of_a(int i) { return 2 * ((i / 2) % 2) + i % 2; }

Test(mma_attention, result_registers_are_the_next_a_operand) {
  for (int kk = 0; kk < 4; kk++)
    for (int lane = 0; lane < 32; lane++)
      for (int i = 0; i < 8; i++) {
        int tile = 2 * kk + i / 4, c = c_of_a(i);
        int a_row = ptx_a_row(lane, i), a_key = 16 * kk + ptx_a_col(lane, i);
        int c_row = ptx_c_row(lane, c), c_key = 8 * tile + ptx_c_col(lane, c);
        cr_assert(a_row == c_row && a_key == c_key,
                  "kk %d lane %d a%d: A wants (row %d, key %d), S's n-tile %d c%d holds (%d, %d)", kk,
                  lane, i, a_row, a_key, tile, c, c_row, c_key);
        cr_assert_eq(mma_a_row(lane, i), mma_d_row(lane, c));
        cr_assert_eq(16 * kk + mma_a_k(lane, i), 8 * tile + mma_d_col(lane, c));
      }
}

/* The template's ldmatrix row addresses (attention_mma.h k_lane, v_lane):
 * lane l, m = l / 8: K row 8 (m / 2) + l % 8 + 16 jp, column 8 (m % 2) +
 * 16 kk; V row 8 (m % 2) + l % 8 + 16 kk, column 8 (m / 2) + 16 np. */
static void k_addr(int LDK, int jp, int kk, int addr[32]) {
  for (int lane = 0; lane < 32; lane++) {
    int m = lane / 8;
    addr[lane] = (8 * (m / 2) + lane % 8 + 16 * jp) * LDK + 8 * (m % 2) + 16 * kk;
  }
}
static void v_addr(int LDK, int kk, int np, int addr[32]) {
  for (int lane = 0; lane < 32; lane++) {
    int m = lane / 8;
    addr[lane] = (8 * (m % 2) + lane % 8 + 16 * kk) * LDK + 8 * (m / 2) + 16 * np;
  }
}

/* Registers 0, 1 are the B operand of n-tile 2 jp (2 np), registers 2, 3 that
 * of the next n-tile: for S, B[k = d][n = key] = K[key][d]; for P V,
 * B[k = key][n = d] = V[key][d]. Checked on a tile whose elements encode
 * their own position. */
Test(mma_attention, ldmatrix_gives_the_b_operands) {
  const int D = 64, LDK = D + 8, BKV = 64;
  float *tile = malloc(sizeof(float) * BKV * LDK);
  for (int r = 0; r < BKV; r++)
    for (int c = 0; c < LDK; c++) tile[r * LDK + c] = c < D ? (float)(r * 1000 + c) : NAN;
  float got[32][4][2];
  int addr[32];
  for (int jp = 0; jp < BKV / 16; jp++)
    for (int kk = 0; kk < D / 16; kk++) {
      k_addr(LDK, jp, kk, addr);
      ldmatrix_x4(tile, addr, false, got);
      for (int lane = 0; lane < 32; lane++)
        for (int j = 0; j < 4; j++)
          for (int e = 0; e < 2; e++) {
            int i = 2 * (j % 2) + e; /* B element */
            int key = 8 * (2 * jp + j / 2) + ptx_b_col(lane), d = 16 * kk + ptx_b_row(lane, i);
            cr_assert_eq(got[lane][j][e], (float)(key * 1000 + d), "K jp %d kk %d lane %d reg %d.%d", jp,
                         kk, lane, j, e);
            cr_assert_eq(mma_b_col(lane), ptx_b_col(lane));
            cr_assert_eq(mma_b_k(lane, i), ptx_b_row(lane, i));
          }
    }
  for (int kk = 0; kk < BKV / 16; kk++)
    for (int np = 0; np < D / 16; np++) {
      v_addr(LDK, kk, np, addr);
      ldmatrix_x4(tile, addr, true, got);
      for (int lane = 0; lane < 32; lane++)
        for (int j = 0; j < 4; j++)
          for (int e = 0; e < 2; e++) {
            int i = 2 * (j % 2) + e;
            int key = 16 * kk + ptx_b_row(lane, i), d = 8 * (2 * np + j / 2) + ptx_b_col(lane);
            cr_assert_eq(got[lane][j][e], (float)(key * 1000 + d), "V kk %d np %d lane %d reg %d.%d", kk,
                         np, lane, j, e);
          }
    }
  free(tile);
}

/* LDK = D + 8: the 8 rows of each ldmatrix matrix (16 bytes each) fall in 8
 * distinct 16-byte groups of the 128 bytes of banks, for every D % 16 == 0. */
Test(mma_attention, ldmatrix_rows_are_bank_conflict_free) {
  for (int D = 16; D <= GRETA_ATTN_MAX_HEAD_DIM; D += 16) {
    int LDK = GRETA_ATTN_MMA_LDK(D), seen = 0;
    for (int r = 0; r < 8; r++) seen |= 1 << ((r * LDK * 2 / 16) % 8);
    cr_assert_eq(seen, 0xff, "D %d: LDK %d puts two rows of a matrix in one bank group", D, LDK);
    cr_assert_eq(LDK * 2 % 16, 0, "D %d: rows must stay 16-byte aligned for cp.async", D);
  }
}

/* ---- one block, as the template runs it -------------------------------------- */

typedef struct problem_s {
  int T, pos, H, KVH, D, dt;
  float scale;
  const float *q, *kc, *vc; /* q [T][H][D] f32; caches [pos + T][KVH][D], already in dt */
} problem_t;

/* Bug injection for the mutation check below: 1 lets each row see one key
 * past its own position (a mask off by one). */
static int g_mutation = 0;

/* Block (h, bid_y) of the launch: out rows t0 .. t0 + 63 of head h. */
static void attention_mma_block(const problem_t *pb, int h, int bid_y, float *out) {
  const int T = pb->T, pos = pb->pos, H = pb->H, KVH = pb->KVH, D = pb->D, dt = pb->dt;
  const int NW = GRETA_ATTN_MMA_NT / 32, BQ = GRETA_ATTN_MMA_QUERIES;
  const int BKV = GRETA_ATTN_MMA_BKV(D), LDK = GRETA_ATTN_MMA_LDK(D);
  const int KD = D / 16, NS = BKV / 8, KP = BKV / 16, NO = D / 8;
  const int MAXSEQ = pos + T;
  const int nqb = (T + BQ - 1) / BQ;
  if (bid_y >= nqb) return;
  const int g = h / (H / KVH), t0 = (nqb - 1 - bid_y) * BQ;
  int block_hi = pos + (t0 + BQ < T ? t0 + BQ : T);
  if (block_hi > MAXSEQ) block_hi = MAXSEQ;
  float *Ks = malloc(sizeof(float) * BKV * LDK), *Vs = malloc(sizeof(float) * BKV * LDK);
  /* Per warp and lane: Q's A elements, O, m, l. */
  static float qa[4][16][32][8], o[4][32][32][4], m[4][32][2], l[4][32][2];
  for (int w = 0; w < NW; w++)
    for (int lane = 0; lane < 32; lane++) {
      for (int kk = 0; kk < KD; kk++)
        for (int i = 0; i < 8; i++) {
          int t = t0 + 16 * w + mma_a_row(lane, i), d = 16 * kk + mma_a_k(lane, i);
          qa[w][kk][lane][i] = t < T ? round_dt(dt, pb->q[(t * H + h) * D + d]) : 0.f;
        }
      for (int n = 0; n < NO; n++)
        for (int c = 0; c < 4; c++) o[w][n][lane][c] = 0.f;
      for (int rr = 0; rr < 2; rr++) m[w][lane][rr] = -INFINITY, l[w][lane][rr] = 0.f;
    }
  const float scale_log2 = pb->scale * 1.44269504088896341f;
  const int ntiles = (block_hi + BKV - 1) / BKV;
  for (int it = 0; it < ntiles; it++) {
    const int j0 = it * BKV;
    for (int i = 0; i < BKV * LDK; i++) Ks[i] = Vs[i] = NAN; /* padding is never read */
    for (int j = 0; j < BKV; j++)
      for (int d = 0; d < D; d++) {
        int r = j0 + j;
        Ks[j * LDK + d] = r < block_hi ? pb->kc[(r * KVH + g) * D + d] : 0.f;
        Vs[j * LDK + d] = r < block_hi ? pb->vc[(r * KVH + g) * D + d] : 0.f;
      }
    for (int w = 0; w < NW; w++) {
      const int tw = t0 + 16 * w;
      int warp_hi = -1, warp_lo = -1;
      if (tw < T) {
        warp_hi = pos + (tw + 15 < T - 1 ? tw + 15 : T - 1);
        if (warp_hi > block_hi - 1) warp_hi = block_hi - 1;
        warp_lo = pos + tw < block_hi - 1 ? pos + tw : block_hi - 1;
      }
      if (j0 > warp_hi) continue;
      static float s[8][32][4];
      float bk[32][4][2], b[32][4];
      int addr[32];
      memset(s, 0, sizeof s);
      for (int kk = 0; kk < KD; kk++)
        for (int jp = 0; jp < NS / 2; jp++) {
          k_addr(LDK, jp, kk, addr);
          ldmatrix_x4(Ks, addr, false, bk);
          for (int half = 0; half < 2; half++) {
            for (int lane = 0; lane < 32; lane++)
              for (int i = 0; i < 4; i++) b[lane][i] = bk[lane][2 * half + i / 2][i % 2];
            mma_m16n8k16(qa[w][kk], b, s[2 * jp + half]);
          }
        }
      /* Base-2 scores, masked past each row's last key. */
      for (int lane = 0; lane < 32; lane++)
        for (int j = 0; j < NS; j++)
          for (int c = 0; c < 4; c++) {
            int t = tw + mma_d_row(lane, c), key = j0 + 8 * j + mma_d_col(lane, c);
            int lim = pos + t < block_hi - 1 ? pos + t : block_hi - 1;
            bool masked = key > lim + (g_mutation == 1);
            s[j][lane][c] *= scale_log2;
            if (j0 + BKV - 1 > warp_lo && masked) s[j][lane][c] = -INFINITY;
          }
      /* Row max over the 4 lanes of a group (the two xor shuffles). */
      float mt[32][2];
      for (int lane = 0; lane < 32; lane++)
        for (int rr = 0; rr < 2; rr++) {
          float x = -INFINITY;
          for (int other = lane / 4 * 4; other < lane / 4 * 4 + 4; other++)
            for (int j = 0; j < NS; j++)
              x = fmaxf(x, fmaxf(s[j][other][2 * rr], s[j][other][2 * rr + 1]));
          mt[lane][rr] = x;
        }
      float pa[4][32][8];
      for (int lane = 0; lane < 32; lane++) {
        float alpha[2], ms[2];
        for (int rr = 0; rr < 2; rr++) {
          float mn = fmaxf(m[w][lane][rr], mt[lane][rr]);
          ms[rr] = mn == -INFINITY ? 0.f : mn;
          alpha[rr] = exp2f(m[w][lane][rr] - ms[rr]);
          m[w][lane][rr] = mn;
          l[w][lane][rr] *= alpha[rr];
        }
        for (int j = 0; j < NS; j++)
          for (int c = 0; c < 4; c++) {
            float p = exp2f(s[j][lane][c] - ms[c / 2]);
            l[w][lane][c / 2] += p;
            s[j][lane][c] = p;
          }
        for (int n = 0; n < NO; n++)
          for (int c = 0; c < 4; c++) o[w][n][lane][c] *= alpha[c / 2];
        for (int kk = 0; kk < KP; kk++)
          for (int i = 0; i < 8; i++) pa[kk][lane][i] = round_dt(dt, s[2 * kk + i / 4][lane][c_of_a(i)]);
      }
      for (int kk = 0; kk < KP; kk++)
        for (int np = 0; np < NO / 2; np++) {
          v_addr(LDK, kk, np, addr);
          ldmatrix_x4(Vs, addr, true, bk);
          for (int half = 0; half < 2; half++) {
            for (int lane = 0; lane < 32; lane++)
              for (int i = 0; i < 4; i++) b[lane][i] = bk[lane][2 * half + i / 2][i % 2];
            float acc[32][4];
            for (int lane = 0; lane < 32; lane++)
              for (int c = 0; c < 4; c++) acc[lane][c] = o[w][2 * np + half][lane][c];
            mma_m16n8k16(pa[kk], b, acc);
            for (int lane = 0; lane < 32; lane++)
              for (int c = 0; c < 4; c++) o[w][2 * np + half][lane][c] = acc[lane][c];
          }
        }
    }
  }
  for (int w = 0; w < NW; w++)
    for (int lane = 0; lane < 32; lane++)
      for (int rr = 0; rr < 2; rr++) {
        float lr = 0.f;
        for (int other = lane / 4 * 4; other < lane / 4 * 4 + 4; other++) lr += l[w][other][rr];
        int t = t0 + 16 * w + mma_d_row(lane, 2 * rr);
        if (t >= T) continue;
        for (int n = 0; n < NO; n++)
          for (int e = 0; e < 2; e++)
            out[(t * H + h) * D + 8 * n + mma_d_col(lane, e)] = o[w][n][lane][2 * rr + e] * (1.f / lr);
      }
  free(Ks);
  free(Vs);
}

static float value(unsigned *state) { /* [-1, 1) */
  *state = *state * 1103515245u + 12345u;
  return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Largest |out - reference| of the whole launch (every block of every head,
 * GQA: H = 4 on KVH = 2), the reference in double on the same rounded q and
 * cache values; NAN when an output was left unwritten. */
static double attention_mma_error(int T, int pos, int D, int dt) {
  const int H = 4, KVH = 2, S = pos + T;
  problem_t pb = {T, pos, H, KVH, D, dt, 1.0f / sqrtf((float)D), NULL, NULL, NULL};
  float *q = malloc(sizeof(float) * T * H * D), *out = malloc(sizeof(float) * T * H * D);
  float *kc = malloc(sizeof(float) * S * KVH * D), *vc = malloc(sizeof(float) * S * KVH * D);
  unsigned state = 4242u + (unsigned)(T * 7 + pos + D + dt);
  for (int i = 0; i < T * H * D; i++) q[i] = 2.0f * value(&state) + 0.01f * (float)(i % 7);
  for (int i = 0; i < S * KVH * D; i++) kc[i] = round_dt(dt, value(&state));
  for (int i = 0; i < S * KVH * D; i++) vc[i] = round_dt(dt, value(&state));
  for (int i = 0; i < T * H * D; i++) out[i] = NAN;
  pb.q = q, pb.kc = kc, pb.vc = vc;
  const int nqb = (T + GRETA_ATTN_MMA_QUERIES - 1) / GRETA_ATTN_MMA_QUERIES;
  for (int h = 0; h < H; h++)
    for (int y = 0; y < nqb; y++) attention_mma_block(&pb, h, y, out);
  double worst = 0, *ref = malloc(sizeof(double) * D);
  float *qr = malloc(sizeof(float) * D);
  for (int t = 0; t < T; t++)
    for (int h = 0; h < H; h++) {
      for (int d = 0; d < D; d++) qr[d] = round_dt(dt, q[(t * H + h) * D + d]);
      support_attention_row(qr, kc, vc, pos + t + 1, KVH, h / (H / KVH), D, pb.scale, ref);
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
static void check_attention_mma(int T, int pos, int D, int dt) {
  const double tol = dt == F16 ? 1e-3 : 8e-3;
  double e = attention_mma_error(T, pos, D, dt);
  fprintf(stderr, "attention_mma T=%d pos=%d D=%d %s: max error %.2e\n", T, pos, D,
          dt == F16 ? "f16" : "bf16", e);
  cr_assert(e <= tol, "T=%d pos=%d D=%d %s: max |out - reference| %g, tolerance %g", T, pos, D,
            dt == F16 ? "f16" : "bf16", e, tol);
}

Test(mma_attention, matches_a_double_reference) {
  check_attention_mma(100, 0, 64, F16);    /* two blocks, partial last key tile */
  check_attention_mma(200, 37, 128, F16);  /* four blocks, earlier cache rows */
  check_attention_mma(64, 0, 128, BF16);   /* one whole block, one whole key tile */
  check_attention_mma(5, 70, 64, BF16);    /* few queries, many earlier rows */
  check_attention_mma(77, 13, 256, BF16);  /* head_dim 256: 32-key tiles */
  check_attention_mma(33, 1, 16, F16);     /* the smallest head_dim */
}

/* The check above fails when the kernel's mask is off by one key. */
Test(mma_attention, a_wrong_mask_fails) {
  g_mutation = 1;
  double e = attention_mma_error(100, 0, 64, F16);
  g_mutation = 0;
  fprintf(stderr, "attention_mma with a mask one key too long: max error %.2e\n", e);
  cr_assert(e > 1e-3, "a mask one key too long went unnoticed (error %g)", e);
}
