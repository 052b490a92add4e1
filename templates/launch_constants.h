/* Constants the templates and the host's kernel selection (compiler/lower/kernel_select.c)
 * share: block sizes, tile shapes, shared-memory bytes and enum values. Plain
 * C, valid in host code and in every device compiler's dialect, so a block
 * size or tile the host launches with cannot drift from the one the kernel
 * was written for: change one here and both sides follow. */
#ifndef GRETA_LAUNCH_CONSTANTS_H
#define GRETA_LAUNCH_CONSTANTS_H

/* Weight dtypes: the values of greta_dtype_t (greta.h), checked by the host. */
enum { GRETA_W_F32 = 0, GRETA_W_F16 = 1, GRETA_W_BF16 = 2 };

/* Elementwise ops (elementwise.h): one element per thread. */
#define GRETA_EW_NT 256
enum {
  GRETA_EW_SILU = 0,
  GRETA_EW_SILU_MUL = 1,
  GRETA_EW_ADD = 2,
  GRETA_EW_MUL = 3,
  GRETA_EW_SCALE = 4,
  GRETA_EW_COPY = 5,
  GRETA_EW_LAST_TOKEN = 6, /* out = a's last token: a[(T - 1) * rows * n + i] */
};

/* Row reductions: one block per row (norm.h, softmax.h). */
#define GRETA_NORM_NT 256
#define GRETA_SOFTMAX_NT 256

/* Decode GEMV (gemv.h): greta_gemv_pairs gives each wave one pair of output
 * rows (R = 2) and has each lane issue UNROLL 16-byte loads per row before
 * their FMAs; greta_gemv_kn gives each block KN_COLS output columns. */
#define GRETA_GEMV_NT 256
#define GRETA_GEMV_R 2
/* H200, Llama-2-7B f16 shapes, % of the copy floor at UNROLL 1 / 2 / 4 / 8
 * (bench/gemv_bench.sh run): qkv 94/93/93/88, o 60/73/77/63, gate+up
 * 98/100/98/95, down 73/82/87/76; 4 is best where it matters (N = 4096). */
#define GRETA_GEMV_UNROLL 4
/* Split-K (gemv.h SPLIT, chosen in kernel_select.c gemv_split): waves share
 * a pair of rows until a launch has this many waves per CU, and split
 * launches use UNROLL = SPLIT_UNROLL (fewer registers, x read per slice).
 * H200, f16, % of the copy floor by SPLIT (UNROLL 4 / 2), bench/gemv_bench.sh
 * run: o 4096x4096 s1 77/-, s2 79/81, s4 76/76, s8 69/79; down 4096x11008
 * s1 91/-, s2 84/97, s4 83/91, s8 81/91 (s1 = one wave per pair). */
#define GRETA_GEMV_SPLIT_WAVES_PER_CU 16
#define GRETA_GEMV_SPLIT_UNROLL 2
#define GRETA_GEMV_KN_COLS 64
/* x is staged in LDS when it fits in this many bytes: 44 KiB holds
 * Llama-2-7B's down_proj row (K = 11008) and stays under the 48 KiB of
 * static shared memory NVIDIA allows a block (64 KiB of LDS on AMD). */
#define GRETA_GEMV_STAGE_BYTES 45056

/* Prefill GEMM, FP32 FMA / MFMA tiles (gemm.h, greta_gemm). */
#define GRETA_GEMM_BM 64
#define GRETA_GEMM_BN 64
#define GRETA_GEMM_NT 256

/* Prefill GEMM on AMD matrix cores, 32x32 MFMAs (gemm_mfma.h,
 * greta_gemm_mfma): 4 waves, each MB x NB blocks of 32 x 32, so tiles of
 * (64 MB) x (64 NB); K in steps of BK (32 for 16-bit weights, 16 for f32),
 * rows padded in LDS to LDK elements (bank-conflict free fragment reads).
 * kernel_select.c (mfma_big_tile_wins) picks the large tile (128 x 256) or
 * the small one (64 x 128) for the largest step: the one that finishes first
 * on an MI300X's 304 CUs. */
#define GRETA_MFMA_NT 256
#define GRETA_MFMA_BIG_MB 2
#define GRETA_MFMA_BIG_NB 4
#define GRETA_MFMA_SMALL_MB 1
#define GRETA_MFMA_SMALL_NB 2
#define GRETA_MI300X_CUS 304
#define GRETA_MFMA_BK_F16 32
#define GRETA_MFMA_LDK_F16 36
#define GRETA_MFMA_BK_F32 16
#define GRETA_MFMA_LDK_F32 17

/* Prefill GEMM on NVIDIA matrix cores (gemm.h, greta_gemm_mma). */
#define GRETA_MMA_BM 64
#define GRETA_MMA_BN 32
#define GRETA_MMA_BK 128
#define GRETA_MMA_LDK 136
#define GRETA_MMA_SMEM_BYTES (2 * (GRETA_MMA_BM + GRETA_MMA_BN) * GRETA_MMA_LDK * 2)
/* f32: two stages of 72-word rows, then the warps' partial tiles [8][16][40]. */
#define GRETA_MMA_F32_SMEM_BYTES (2 * (GRETA_MMA_BM + GRETA_MMA_BN) * 72 * 4 + 8 * 16 * 40 * 4)

/* The large-T half GEMM (gemm.h, greta_gemm_mma_big): 64 x 128 tiles, a ring
 * of S stages; taken at run time when a step has at least MIN_TILES tiles. */
#define GRETA_MMA_BIG_BM 64
#define GRETA_MMA_BIG_BN 128
#define GRETA_MMA_BIG_BK 32
#define GRETA_MMA_BIG_LDX 40 /* words per x row */
#define GRETA_MMA_BIG_LDB 40 /* halves per B row */
#define GRETA_MMA_BIG_S 4
#define GRETA_MMA_BIG_STAGE_BYTES \
  (GRETA_MMA_BIG_BM * GRETA_MMA_BIG_LDX * 4 + GRETA_MMA_BIG_BN * GRETA_MMA_BIG_LDB * 2)
#define GRETA_MMA_BIG_SMEM_BYTES (GRETA_MMA_BIG_S * GRETA_MMA_BIG_STAGE_BYTES)
#define GRETA_MMA_BIG_MIN_TILES 128

/* Prefill GEMM on Hopper's wgmma (gemm_wgmma.h, sm_90a): 128 rows x BN
 * (128, 192 or 256) columns a block of two warpgroups, K in a ring of
 * STAGES stages of BK (6, 4, 4). Dynamic shared memory for tile width bn:
 * the stages plus 1024 bytes so the kernel can align the ring to the
 * 1024-byte swizzle atom (bn = 128 or 256: 197 632 bytes; 192: 164 864).
 * 192 wide, 4 stages rather than 5 (205 824 bytes): on the H200, block
 * f16 at T = 512 through the copy engine, q/k/v 122.1 -> 114.7 us, gate/up
 * (whose kernel has a 192-wide path) 167.0 -> 166.2 (cp.async: q/k/v
 * 113.4 -> 115.9). */
#define GRETA_WGMMA_BM 128
#define GRETA_WGMMA_BK 64
#define GRETA_WGMMA_STAGES(bn) ((bn) == 128 ? 6 : 4)
#define GRETA_WGMMA_NT 256
/* greta_gemm_wgmma_ws (the copy engine's GEMM, persistent): a producer
 * warpgroup and two consumer warpgroups. */
#define GRETA_WGMMA_WS_NT 384
/* The time of one wave of 128 x bn tiles, a wave of 256-wide ones = 100
 * (greta_wgmma_step_width), measured on the H200 over the 7B's shapes in
 * one wave (docs/gemm.md, "Tile width at run time"): 128: 67-77; 192:
 * 82-87. */
#define GRETA_WGMMA_WAVE_COST(bn) ((bn) == 128 ? 72 : (bn) == 192 ? 84 : 100)
/* The same for greta_gemm_wgmma_ws, whose blocks go on from tile to tile
 * without a new block's start and ring fill: a tile's time, a 256-wide
 * one's = 100, from the 7B's shapes at T = 2048 on the H200 (many tiles a
 * block; docs/gemm.md, "Persistent and warp-specialised"): 128: 53-58;
 * 192: 72-77. */
#define GRETA_WGMMA_WS_WAVE_COST(bn) ((bn) == 128 ? 58 : (bn) == 192 ? 76 : 100)
/* Split-K's sum of a 128-wide tile's 2 parts (greta_wgmma_store_parts)
 * takes about as long as a wave of 128-wide tiles spends on this much of K
 * (greta_wgmma_step_width). Fitted to the H200 at T = 512 (docs/gemm.md,
 * "The parts' sum in the width rule"): o (K = 4096) and down (11008) in 64
 * tiles of 128 x 256 in 2 parts took 46.0 and 81.3 us against 42.4 and
 * 91.5 in one wave of 128 x 128 unsplit, a sum of ~17 us a 256-wide tile. */
#define GRETA_WGMMA_SPLIT_SUM_K 832
/* The tile widths of the wgmma paths as bits of a set: greta_gemm_mma's
 * WIDTHS, the widths its steps take (kernel_select.c), whose paths alone
 * it compiles (on the H200 every other path's code slowed the one that
 * ran: docs/gemm.md). 192 unless gretac's environment has
 * GRETA_WGMMA_192=0. */
#define GRETA_WGMMA_W128 1
#define GRETA_WGMMA_W192 2
#define GRETA_WGMMA_W256 4
#define GRETA_WGMMA_WIDTH_BIT(bn) (1 << ((bn) / 64 - 2))
#define GRETA_WGMMA_SMEM_BYTES(bn) \
  (GRETA_WGMMA_STAGES(bn) * (GRETA_WGMMA_BM + (bn)) * GRETA_WGMMA_BK * 2 + 1024)
/* greta_gemm_wgmma_ws (x and W through the copy engine): after the ring
 * its mbarriers, a full and an empty one of 8 bytes per stage and "epi",
 * then split-K's flag;
 * the boxes its tensor maps are encoded with (rows of 64 k halves, the
 * 128-byte swizzle): x 128 rows (a tile's), W 64 virtual rows (a pair
 * layout's as 2 x 2 runs of 16, pair_layout.h). */
#define GRETA_WGMMA_TMA_BARRIER_BYTES 128
#define GRETA_WGMMA_TMA_X_BOX 128
#define GRETA_WGMMA_TMA_W_BOX 64
/* After the barriers, a paired epilogue through the copy engine
 * (greta_wgmma_epilogue_bulk: gate/up's output in a half type) stages its
 * tile's 128 rows of up to 128 two-byte outputs (wgmma_layout.h's
 * greta_wgmma_out_row: 16 groups of 8 rows, 8 x 256 + 112 bytes a group).
 * With the 256-wide ring: 232 320 bytes, of the 232 448 a block may have. */
#define GRETA_WGMMA_OUT_STAGE_BYTES (16 * (8 * 256 + 112))
/* Which glu launches take that epilogue (greta_glu_pairs::BULK, and
 * kernel_select.c's shared memory for them): output in a half type, F
 * (the pairs, the output's row) a multiple of 8, so every row's run is
 * whole 16-byte copies. */
#define GRETA_GLU_BULK(out_half, f) ((out_half) && (f) % 8 == 0)
/* f32 weights (greta_gemm_wgmma_tf32): 128 x 128 tiles, K in stages of 32
 * f32 (one 128-byte row), two stages of four 16 KiB tiles (x and W, each
 * as big and small tf32 parts), + 1024 for the alignment: 132 096 bytes. */
#define GRETA_WGMMA_TF32_BK 32
#define GRETA_WGMMA_TF32_BN 128
#define GRETA_WGMMA_TF32_SMEM_BYTES (2 * 4 * GRETA_WGMMA_BM * GRETA_WGMMA_TF32_BK * 4 + 1024)
/* Fewer tiles than this (a step of 512 x 512: 16) leave too many SMs idle:
 * such steps keep the 64 x 32 mma.sync tiles. */
#define GRETA_WGMMA_TF32_MIN_TILES 48
/* Split-K of the half wgmma GEMM (plan attribute split_k): the tail of a
 * step's tiles (tiles mod SMs) splits each tile's K over up to
 * GRETA_GEMM_SPLIT_K_PARTS blocks (wgmma_layout.h's
 * greta_wgmma_split_of_block). The step's workspace:
 * GRETA_GEMM_SPLIT_K_COUNTERS i32 arrival counters, one a split tile, then a
 * 128 x 256 f32 partial tile per split block, at most one block per SM:
 * 4 * (256 + SMs * 128 * 256) bytes. */
#define GRETA_GEMM_SPLIT_K_PARTS 4
#define GRETA_GEMM_SPLIT_K_COUNTERS 256
#define GRETA_GEMM_SPLIT_K_WORKSPACE_BYTES(sms) \
  (4ull * (GRETA_GEMM_SPLIT_K_COUNTERS + (unsigned long long)(sms) * GRETA_WGMMA_BM * 256))

/* Attention (attention.h): prefill blocks of NT threads, one query row per
 * wave; flash-decoding blocks of one wave. */
#define GRETA_ATTN_NT 256
/* Decode attention (greta_attention_decode): 16-byte K chunks a thread holds
 * in flight (as many V chunks again). */
#define GRETA_ATTN_DECODE_LOADS 8
/* Prefill attention on AMD matrix cores (attention_mfma.h): 4 waves of 32
 * query rows each, so 128 query rows a block, over key tiles of 32 rows. */
#define GRETA_ATTN_MFMA_NT 256
#define GRETA_ATTN_MFMA_QUERIES 128
#define GRETA_ATTN_MFMA_KEYS 32
/* Prefill attention on NVIDIA tensor cores (attention_mma.h): 4 warps of 16
 * query rows each (64 a block), key tiles of BKV rows (32 past head_dim
 * 128, where O takes more registers), K and V tiles double-buffered in
 * dynamic shared memory as rows of LDK halves; Q fragments stay in
 * registers up to head_dim 128 (QREG), else 128 bytes per head_dim. */
#define GRETA_ATTN_MMA_NT 128
#define GRETA_ATTN_MMA_QUERIES 64
#define GRETA_ATTN_MMA_BKV(d) ((d) > 128 ? 32 : 64)
#define GRETA_ATTN_MMA_LDK(d) ((d) + 8)
#define GRETA_ATTN_MMA_QREG(d) ((d) <= 128)
#define GRETA_ATTN_MMA_SMEM_BYTES(d)                                  \
  (4 * GRETA_ATTN_MMA_BKV(d) * GRETA_ATTN_MMA_LDK(d) * 2 +             \
   (GRETA_ATTN_MMA_QREG(d) ? 0 : 128 * (d)))
/* Prefill attention on Hopper's warpgroup MMA (attention_wgmma.h, sm_90a,
 * head_dim 128): a producer and 2 consumer warpgroups for 128 query rows,
 * key tiles of 128 cache rows in two rings (K's, V's) of STAGES slots;
 * shared memory: the 1024-byte alignment, Q (32 KiB), the rings (32 KiB a
 * slot each), 32 bytes of barriers a slot (K's and V's, full and empty). */
#define GRETA_ATTN_WGMMA_NT 384
#define GRETA_ATTN_WGMMA_QUERIES 128
#define GRETA_ATTN_WGMMA_BKV 128
#ifndef GRETA_ATTN_WGMMA_STAGES
#define GRETA_ATTN_WGMMA_STAGES 3
#endif
#define GRETA_ATTN_WGMMA_SMEM_BYTES (1024 + 32768 + GRETA_ATTN_WGMMA_STAGES * (65536 + 32))
/* The largest head_dim the attention kernels hold in registers. */
#define GRETA_ATTN_MAX_HEAD_DIM 256
/* Generic elementwise-style kernels (rope, kv append, embedding) use GRETA_EW_NT. */

#endif /* GRETA_LAUNCH_CONSTANTS_H */
