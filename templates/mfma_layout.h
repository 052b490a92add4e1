/* Lane <-> element mappings of the AMD matrix-core (MFMA) fragments the GEMM
 * uses, as small pure functions: valid C (tests/test_mfma_layout.c checks
 * them on the CPU against an emulation of the instructions) and device code
 * (the prelude defines GRETA_LAYOUT_FN as `static inline __device__`).
 *
 * Layouts (CDNA3 ISA guide; confirmed with AMD's matrix instruction
 * calculator), wave64, lane l in 0..63:
 *   v_mfma_f32_16x16x4f32: lane l supplies A[l%16][l/16] and B[l/16][l%16]
 *     (one f32 each) and holds D[4*(l/16)+r][l%16] in result register r.
 *   v_mfma_f32_16x16x16f16 and v_mfma_f32_16x16x16bf16_1k: lane l supplies
 *     A[l%16][4*(l/16)+e] and B[4*(l/16)+e][l%16] for e = 0..3 (four 16-bit
 *     values in two registers); D as above.
 */
#ifndef GRETA_MFMA_LAYOUT_H
#define GRETA_MFMA_LAYOUT_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

/* Elements of A (and B) each lane supplies per instruction. */
#define GRETA_MFMA_F32_K_PER_LANE 1
#define GRETA_MFMA_F16_K_PER_LANE 4
/* K of one instruction. */
#define GRETA_MFMA_F32_K 4
#define GRETA_MFMA_F16_K 16

/* 16x16x4f32: A operand. */
GRETA_LAYOUT_FN int mfma_f32_a_row(int lane) { return lane % 16; }
GRETA_LAYOUT_FN int mfma_f32_a_k(int lane) { return lane / 16; }
/* 16x16x4f32: B operand. */
GRETA_LAYOUT_FN int mfma_f32_b_k(int lane) { return lane / 16; }
GRETA_LAYOUT_FN int mfma_f32_b_col(int lane) { return lane % 16; }

/* 16x16x16 f16 / bf16: element e (0..3) of the lane's A / B operand. */
GRETA_LAYOUT_FN int mfma_f16_a_row(int lane) { return lane % 16; }
GRETA_LAYOUT_FN int mfma_f16_a_k(int lane, int e) { return 4 * (lane / 16) + e; }
GRETA_LAYOUT_FN int mfma_f16_b_k(int lane, int e) { return 4 * (lane / 16) + e; }
GRETA_LAYOUT_FN int mfma_f16_b_col(int lane) { return lane % 16; }

/* The 16x16 f32 result (all three forms): register r (0..3) of lane l. */
GRETA_LAYOUT_FN int mfma_d_row(int lane, int r) { return 4 * (lane / 16) + r; }
GRETA_LAYOUT_FN int mfma_d_col(int lane) { return lane % 16; }

#endif /* GRETA_MFMA_LAYOUT_H */
