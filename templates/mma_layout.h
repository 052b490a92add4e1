/* Lane <-> element mappings of the NVIDIA warp-level matrix instruction the
 * prefill GEMM uses on f16 / bf16 weights,
 *   mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32,
 * as small pure functions: valid C (tests/test_mma_layout.c checks them on
 * the CPU against an emulation of the instruction) and device code (the
 * prelude defines GRETA_LAYOUT_FN as `inline __device__`).
 *
 * Layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point
 * type"), warp of 32, lane l, group g = l / 4, thread-in-group t = l % 4:
 *   A (16 x 16, row-major), 4 registers of 2 halves, elements a0..a7:
 *     a_i: row g for i in {0, 1, 4, 5}, g + 8 otherwise;
 *          column 2t + (i & 1), + 8 when i >= 4.
 *   B (16 x 8, "col": k runs down a column), 2 registers, elements b0..b3:
 *     b_i: row (k) 2t + (i & 1), + 8 when i >= 2; column (n) g.
 *   C / D (16 x 8 f32), 4 registers c0..c3:
 *     c_i: row g for i < 2, g + 8 otherwise; column 2t + (i & 1).
 * Register j of A / B holds elements 2j and 2j + 1 (low half first): two
 * neighbours along k, so with both operands stored "row, k" in shared memory
 * one 32-bit load fills one register.
 */
#ifndef GRETA_MMA_LAYOUT_H
#define GRETA_MMA_LAYOUT_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

/* Shape of one instruction. */
#define GRETA_MMA_M 16
#define GRETA_MMA_N 8
#define GRETA_MMA_K 16

/* Element i (0..7) of the lane's A operand. */
GRETA_LAYOUT_FN int mma_a_row(int lane, int i) { return lane / 4 + ((i / 2) % 2) * 8; }
GRETA_LAYOUT_FN int mma_a_k(int lane, int i) { return 2 * (lane % 4) + (i % 2) + (i / 4) * 8; }
/* Element i (0..3) of the lane's B operand. */
GRETA_LAYOUT_FN int mma_b_k(int lane, int i) { return 2 * (lane % 4) + (i % 2) + (i / 2) * 8; }
GRETA_LAYOUT_FN int mma_b_col(int lane) { return lane / 4; }
/* Result register i (0..3) of the lane. */
GRETA_LAYOUT_FN int mma_d_row(int lane, int i) { return lane / 4 + (i / 2) * 8; }
GRETA_LAYOUT_FN int mma_d_col(int lane, int i) { return 2 * (lane % 4) + (i % 2); }

/* ---- m16n8k8 with .tf32 operands (f32 weights, 3xTF32) ---------------------
 *   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
 * Layouts (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32 rows), same
 * g = lane / 4, t = lane % 4; one 32-bit element per register:
 *   A (16 x 8, row-major), a0..a3: row g for a0, a2 and g + 8 for a1, a3;
 *     column t for a0, a1 and t + 4 for a2, a3.
 *   B (8 x 8, "col"), b0, b1: row (k) t for b0, t + 4 for b1; column (n) g.
 *   C / D: as m16n8k16 above (mma_d_row / mma_d_col).
 * With A and B stored "row, k" in shared memory and read in pairs through
 * mma_tf32_k_perm, each half-warp reads 4 rows x 8 consecutive words: no
 * bank conflicts when rows are 8 words (mod 32) apart. */
#define GRETA_MMA_TF32_K 8

/* Element i (0..3) of the lane's A operand. */
GRETA_LAYOUT_FN int mma_tf32_a_row(int lane, int i) { return lane / 4 + (i % 2) * 8; }
GRETA_LAYOUT_FN int mma_tf32_a_k(int lane, int i) { return lane % 4 + (i / 2) * 4; }
/* Element i (0..1) of the lane's B operand. */
GRETA_LAYOUT_FN int mma_tf32_b_k(int lane, int i) { return lane % 4 + i * 4; }
GRETA_LAYOUT_FN int mma_tf32_b_col(int lane) { return lane / 4; }
/* Which stored k (of a k8 step) feeds the instruction's k. A dot product does
 * not depend on the order of its k, so A and B may both be read through one
 * permutation: with perm(k) = 2 (k % 4) + k / 4, a lane's A elements i and
 * i + 2 and its B elements 0 and 1 are stored side by side (2t, 2t + 1): one
 * 64-bit shared-memory load each. */
GRETA_LAYOUT_FN int mma_tf32_k_perm(int k) { return 2 * (k % 4) + k / 4; }

#endif /* GRETA_MMA_LAYOUT_H */
