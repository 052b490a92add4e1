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
 *   v_mfma_f32_32x32x2f32: lane l supplies A[l%32][l/32] and B[l/32][l%32]
 *     and holds D[8*(r/4)+4*(l/32)+r%4][l%32] in result register r (0..15).
 *   v_mfma_f32_32x32x8f16 and v_mfma_f32_32x32x8bf16_1k: lane l supplies
 *     A[l%32][4*(l/32)+e] and B[4*(l/32)+e][l%32] for e = 0..3; D as for
 *     32x32x2f32. (CDNA3 names: v_mfma_f32_32x32x8_f16 / _bf16, 32 cycles
 *     each; 32x32x2_f32, 64 cycles.)
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

/* ---- 32x32 forms (greta_gemm_mfma, gemm_mfma.h) ---------------------------- */

#define GRETA_MFMA32_F32_K 2
#define GRETA_MFMA32_F16_K 8

/* 32x32x2f32. */
GRETA_LAYOUT_FN int mfma32_f32_a_row(int lane) { return lane % 32; }
GRETA_LAYOUT_FN int mfma32_f32_a_k(int lane) { return lane / 32; }
GRETA_LAYOUT_FN int mfma32_f32_b_k(int lane) { return lane / 32; }
GRETA_LAYOUT_FN int mfma32_f32_b_col(int lane) { return lane % 32; }

/* 32x32x8 f16 / bf16: element e (0..3) of the lane's A / B operand. */
GRETA_LAYOUT_FN int mfma32_f16_a_row(int lane) { return lane % 32; }
GRETA_LAYOUT_FN int mfma32_f16_a_k(int lane, int e) { return 4 * (lane / 32) + e; }
GRETA_LAYOUT_FN int mfma32_f16_b_k(int lane, int e) { return 4 * (lane / 32) + e; }
GRETA_LAYOUT_FN int mfma32_f16_b_col(int lane) { return lane % 32; }

/* The 32x32 f32 result: register r (0..15) of lane l. */
GRETA_LAYOUT_FN int mfma32_d_row(int lane, int r) { return 8 * (r / 4) + 4 * (lane / 32) + r % 4; }
GRETA_LAYOUT_FN int mfma32_d_col(int lane) { return lane % 32; }

/* The bf16 bits of an f32 (bits u) for a bf16 MFMA operand: round to
 * nearest even, a NaN stays a quiet NaN, like the prelude's
 * greta_float_to_bf16 but with integer operations only: unrolled over a
 * wave's Q fragments (attention_mfma.h), the prelude's comparisons kept
 * their lane masks live in SGPRs and spilled 52 of them. */
GRETA_LAYOUT_FN unsigned short mfma_bf16_bits(unsigned int u) {
  const unsigned int nan = (unsigned int)((int)(0x7f800000u - (u & 0x7fffffffu)) >> 31); /* ~0: NaN */
  const unsigned int rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (unsigned short)((rounded & ~nan) | (((u >> 16) | 0x40u) & nan));
}

/* Two f32 (bits u0, u1) as bf16, round to nearest even, u0 in the low half:
 * integer operations only, and fewer than two mfma_bf16_bits because a NaN
 * is not kept (it may come out as any bits). For the attention's p, whose
 * NaN still reaches the output through the f32 sum it is divided by. */
GRETA_LAYOUT_FN unsigned int mfma_bf16_pair_bits(unsigned int u0, unsigned int u1) {
  const unsigned int r0 = u0 + 0x7fffu + ((u0 >> 16) & 1u), r1 = u1 + 0x7fffu + ((u1 >> 16) & 1u);
  return (r0 >> 16) | (r1 & 0xffff0000u);
}

/* greta_attention_mfma's V^T in LDS ([d][32 + 4] halves): the column of key
 * j (0..31) in row d. Staging writes one d of each lane's chunk at a time,
 * rows 8 apart, and row strides of 18 words put those in 2 banks (8 dwords
 * a bank at head_dim 128); XOR-ing bits 2..4 of j with bits 4..6 of d
 * spreads them (one a bank at head_dim 64 and 128, two at 32 and 256).
 * Groups of 4 keys stay together (the 8-byte fragment reads), and 16 lanes
 * reading 16 consecutive rows share one XOR, so the reads keep their banks
 * (tests/test_mfma_layout.c, attention_mfma_lds_banks). */
GRETA_LAYOUT_FN int attn_mfma_vt_col(int d, int j) { return j ^ (4 * ((d >> 4) & 7)); }

/* greta_gemm_mfma's tile: 4 waves in 2 x 2; wave w owns MB x NB blocks of
 * 32 x 32 at rows gemm_mfma_wave_m, columns gemm_mfma_wave_n of the
 * (64 MB) x (64 NB) tile. */
GRETA_LAYOUT_FN int gemm_mfma_wave_m(int wave, int mb) { return wave / 2 * 32 * mb; }
GRETA_LAYOUT_FN int gemm_mfma_wave_n(int wave, int nb) { return wave % 2 * 32 * nb; }

/* Global -> LDS staging: load slot `idx` (thread + NT * e) of an operand
 * whose rows hold `chunks` 16-byte chunks per BK step reads row
 * idx / chunks, chunk idx % chunks; consecutive threads read consecutive
 * chunks of a row (coalesced). */
GRETA_LAYOUT_FN int gemm_mfma_stage_row(int idx, int chunks) { return idx / chunks; }
GRETA_LAYOUT_FN int gemm_mfma_stage_chunk(int idx, int chunks) { return idx % chunks; }

#endif /* GRETA_MFMA_LAYOUT_H */
