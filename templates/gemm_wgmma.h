/* NVIDIA Hopper (sm_90a) prefill GEMM on wgmma: c[M, N] = x[M, K] W[N, K]^T,
 * x f32 (converted to the weight's half type on its way into shared memory,
 * the contract of greta_gemm_mma), W f16 or bf16 raw bits, K-major (row n of
 * W is K contiguous halves), f32 accumulation, c f32 [M, N] row-major.
 * Requires: K % 64 == 0 (BK), K % 8 == 0 for the 16-byte cp.async of W rows
 * (implied), x and W 16-byte aligned. M and N are ragged: rows of x past M
 * are staged as zeros, rows of W past N are zero-filled by cp.async
 * (src-size 0), and the results past M / N are not stored.
 *
 * x already in the weight's half type and both operands through the copy
 * engine (greta_gemm_mma's XH = 2): greta_gemm_wgmma_ws below, the same
 * tiles, ring and wgmma, persistent and warp-specialised.
 *
 * Compiled only for sm_90a (wgmma needs the arch-specific target:
 * -gencode=arch=compute_90a,code=sm_90a); elsewhere greta_gemm_wgmma is not
 * defined and the host must not select it.
 *
 * ---- Tiling ------------------------------------------------------------
 * Block tile BM = 128 rows of x by BN (128, 192 or 256) columns of W, 256
 * threads = two warpgroups; warpgroup g owns rows 64 g .. 64 g + 63 and all
 * BN columns: one wgmma.mma_async m64nBNk16 per k16 step, BN / 2 f32
 * accumulators per thread. Tiles go row tiles fastest (so the blocks that
 * run together share one W tile and W is read from DRAM about once): on
 * the mma.sync grid's blocks in order (greta_wgmma_tile_of_block; surplus
 * blocks return), or unit by unit in the persistent greta_gemm_wgmma_ws,
 * a block an SM.
 *
 * K goes in stages of BK = 64 (one 128-byte row of halves per m or n: the
 * 128-byte swizzle's row), through a ring of GRETA_WGMMA_STAGES(BN)
 * shared-memory stages (6 for 128-wide tiles, 4 for 192 and 256):
 *   W (B operand): cp.async.cg 16-byte copies, one commit group per stage;
 *   x (A operand): ld.global.v4.f32 into registers, issued one iteration
 *     before use, converted (cvt.rn.f16x2 / bf16x2) and stored with 8-byte
 *     st.shared after the current stage's wgmma has been issued, so the
 *     tensor cores run while the threads convert.
 * Iteration kt (all 256 threads do every step):
 *   1. ld.global the x of stage kt + 2 into registers (AHEAD = 1), or of
 *      stage kt + 3 into the other of two register buffers (AHEAD = 2: the
 *      x stored in step 5 was loaded a whole iteration earlier, so a
 *      stage's wgmma hides its latency, for 32 more registers);
 *   2. cp.async.wait_group 1 (stage kt's W has landed), then
 *      fence.proxy.async.shared::cta (the generic-proxy writes to shared
 *      memory, st.shared and cp.async, made visible to the async proxy that
 *      wgmma reads through; PTX ISA "Asynchronous operations" / membar
 *      "fence.proxy.async") and __syncthreads;
 *   3. cp.async the W of stage kt + 2 into slot (kt + 2) % 4 = (kt - 2) % 4:
 *      free, since every thread passed wgmma.wait_group 1 at the end of
 *      iteration kt - 1 (its warpgroup's wgmma of stage kt - 2 complete)
 *      before the barrier of step 2;
 *   4. wgmma.fence, four wgmma (k16 steps 0..3 of slot kt % 4),
 *      wgmma.commit_group;
 *   5. convert and st.shared the x of stage kt + 2 into slot (kt - 2) % 4;
 *   6. wgmma.wait_group 1: stage kt - 1's wgmma complete, stage kt's may run.
 * So two stages are in flight ahead of the one computing, and one wgmma
 * group overlaps the next iteration's barrier.
 *
 * PAIRS (prefill's matmul_glu and matmul_qkv, gemm.h's paired epilogues,
 * G = 16): the tile's columns are the virtual weight's, W row v is
 * physical row PAIRS::row(v), and in the fragment below 8-column groups g
 * and g + 2 (a pair) are in one thread, which hands both to pairs.store2.
 *
 * Split-K (parts = 2 to 4, the plan's split_k; the tail of a step's tiles
 * that would leave SMs idle, wgmma_layout.h's greta_wgmma_split_of_block):
 * `parts` consecutive blocks take one tile, block `part` the part-th share
 * of the K stages; each stores its partial tile into slot `tile` (the tile's
 * index among the split ones) of the step's workspace `ws` (arrival
 * counters, then slots: templates/launch_constants.h), and the last to
 * arrive at the tile's counter adds the parts in part order (deterministic
 * whoever is last), resets the counter and runs the epilogue. Not with
 * PAIRS.
 *
 * XH = 1 (an option for a caller that already has x in the weight's half
 * type, e.g. from the norm before the projection): x is copied like W by
 * cp.async, in the same commit groups; AHEAD is then unused. It halves the
 * x bytes each block reads from L2 (the f32 x is 32 KiB of the 64 KiB a
 * 128 x 256 block reads per stage).
 *
 * Registers (ptxas, nvcc 13.0, Llama shapes; 0 spills): BN 128: 166;
 * BN 256: 232 (the loop is unrolled by two so the register buffers swap
 * roles at compile time). The functions of the layout below are in
 * wgmma_layout.h (checked on the CPU by tests/test_wgmma_layout.c).
 *
 * ---- Shared-memory layout: the 128-byte swizzle, K-major -----------------
 * PTX ISA 8.x, 9.7.15.5.1 "Asynchronous Warpgroup Level Matrix Shared Memory
 * Layout" (Register Fragments and Shared Memory Matrix Layouts, K-major,
 * 128B swizzling mode). An operand tile of R rows (m or n) by 64 k halves is
 * R rows of 128 bytes, row r at byte 128 r of the tile; the tile base is
 * 1024-byte aligned. The swizzle atom is 8 rows x 128 bytes = 1024 bytes,
 * and within it the 16-byte chunk c (k = 8 c .. 8 c + 7) of row r is stored
 * at chunk c ^ (r % 8):
 *   byte(r, k) = 128 r + 16 ((k / 8) ^ (r % 8)) + 2 (k % 8).
 * The hardware applies this XOR on the shared-memory address bits [4:6] ^=
 * [7:9], which is why the tile base must be 1024-aligned (base offset 0)
 * and why the k16 step s of a stage is addressed by adding 32 s bytes to
 * the descriptor's start address (the XOR then lands on the right chunks).
 *
 * ---- Matrix descriptor (64 bits) -----------------------------------------
 * PTX ISA 9.7.15.5.1.1 "Matrix Descriptor Format":
 *   bits  0-13  start address, (shared-memory byte address & 0x3FFFF) >> 4;
 *   bits 16-29  leading-dimension byte offset >> 4: unused by K-major
 *               swizzled layouts (one swizzle atom spans the whole k16
 *               step), set to 1 as the ISA's canonical layouts do;
 *   bits 32-45  stride-dimension byte offset >> 4: from one 8-row group of
 *               m / n to the next = 1024 bytes -> 64;
 *   bits 49-51  matrix base offset: 0 (atoms 1024-aligned);
 *   bits 62-63  swizzle mode: 1 = 128-byte swizzle (2 = 64 B, 3 = 32 B,
 *               0 = interleaved / none).
 * Both operands are K-major, so imm-trans-a = imm-trans-b = 0.
 *
 * ---- Accumulator fragment (PTX ISA 9.7.15.5.2, "Register fragments",
 * wgmma .m64nNk16 D, f32) -----------------------------------------------
 * Thread t of the warpgroup (warp w = t / 32, lane l) holds d[i],
 * i = 0 .. N / 2 - 1:
 *   row = 16 w + l / 4 + 8 ((i / 2) % 2),   col = 8 (i / 4) + 2 (l % 4) + i % 2.
 */
/* Tile and ring sizes: launch_constants.h (GRETA_WGMMA_*). */
#if defined(GRETA_NVIDIA)
/* A tensor map (the driver's CUtensorMap: 128 opaque bytes, 64-aligned), as
 * a kernel takes it: by value, `const __grid_constant__ greta_tmap`, so that
 * its address is in the parameter space the copy engine reads (the runtime
 * encodes it, runtime/src/gpu/graph_runner.c). */
struct __align__(64) greta_tmap {
  unsigned long long bits[16];
};
#endif
#if defined(GRETA_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && \
    defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GRETA_HAVE_WGMMA 1
/* wgmma_layout.h comes before this file (gretac's template order; the
 * bench includes it first). */

GRETA_INLINE void greta_wgmma_fence(void) { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
GRETA_INLINE void greta_wgmma_commit(void) { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
GRETA_INLINE void greta_wgmma_wait(void) {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Keeps the compiler from moving accumulator reads or writes across the
 * asynchronous wgmma (the registers are in flight until wait_group). */
GRETA_INLINE void greta_wgmma_pin(float &r) { asm volatile("" : "+f"(r)::"memory"); }

/* Registers moved between the warpgroups of one 384-thread block: the
 * producer gives some back (setmaxnreg.dec), the two consumers take them
 * (setmaxnreg.inc). The launch gave the block 168 a thread (65536 / 384, in
 * the allocation's steps of 8), so PRODUCER + 2 CONSUMER must stay within
 * 3 x 168: more, and setmaxnreg.inc waits for registers that never come
 * (the kernel hangs; ptxas says nothing). */
template <int PRODUCER, int CONSUMER>
GRETA_INLINE void greta_wg3_producer_regs(void) {
  static_assert(PRODUCER + 2 * CONSUMER <= 3 * 168, "setmaxnreg: more registers than a 384-thread block holds");
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(PRODUCER) : "memory");
}
template <int PRODUCER, int CONSUMER>
GRETA_INLINE void greta_wg3_consumer_regs(void) {
  static_assert(PRODUCER + 2 * CONSUMER <= 3 * 168, "setmaxnreg: more registers than a 384-thread block holds");
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(CONSUMER) : "memory");
}

/* mbarriers (PTX ISA "Parallel Synchronization and Communication
 * Instructions: mbarrier") and the tensor copy (cp.async.bulk.tensor) that
 * completes on one: greta_gemm_wgmma_ws below. */
GRETA_INLINE void greta_mbar_init(unsigned int bar, unsigned int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
/* One arrival that also expects `bytes` from copies completing on it. */
GRETA_INLINE void greta_mbar_expect_tx(unsigned int bar, unsigned int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
GRETA_INLINE void greta_mbar_arrive(unsigned int bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
/* Until the phase of parity `parity` has completed. */
GRETA_INLINE void greta_mbar_wait(unsigned int bar, unsigned int parity) {
  asm volatile("{\n.reg .pred done;\nWAIT:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
               "@!done bra WAIT;\n}\n" ::"r"(bar), "r"(parity) : "memory");
}
/* The box of `map` at (c0 innermost, c1) into shared memory at dst, its
 * bytes counted on bar (elements past the tensor's bounds arrive as zeros
 * and count too). */
GRETA_INLINE void greta_tma_load_2d(unsigned int dst, const greta_tmap *map, int c0, int c1,
                                    unsigned int bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}
/* The same for a 5-dimensional map (a paired weight, pair_layout.h), at
 * (c0, 0, 0, c3, c4). */
GRETA_INLINE void greta_tma_load_5d(unsigned int dst, const greta_tmap *map, int c0, int c3, int c4,
                                    unsigned int bar) {
  asm volatile("cp.async.bulk.tensor.5d.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3, %3, %4, %5}], [%6];" ::"r"(dst), "l"(map), "r"(c0), "r"(0),
               "r"(c3), "r"(c4), "r"(bar)
               : "memory");
}

/* The copy engine's store of `bytes` (a multiple of 16) from shared memory
 * at src to global memory at dst (both 16-byte aligned), in this thread's
 * bulk group; commit closes the group, and wait_read<n> waits until at most
 * n of the thread's groups still read shared memory (wait_all: until all
 * have written). */
GRETA_INLINE void greta_bulk_store(void *dst, unsigned int src, unsigned int bytes) {
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(dst), "r"(src),
               "r"(bytes)
               : "memory");
}
GRETA_INLINE void greta_bulk_commit(void) { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }
template <int N>
GRETA_INLINE void greta_bulk_wait_read(void) {
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(N) : "memory");
}
GRETA_INLINE void greta_bulk_wait_all(void) { asm volatile("cp.async.bulk.wait_group 0;" ::: "memory"); }

/* wgmma.mma_async m64nNk16 (k8 for tf32), A and B from shared memory by
 * descriptor, D += A B, f32 accumulators d[0 .. N / 2 - 1]: one function per tile
 * width and operand type, written by GRETA_WGMMA_MMA (the asm operand lists
 * cannot be generated by the compiler). */
#define GRETA_WGMMA_D16(d, b)                                                                  \
  "+f"(d[b + 0]), "+f"(d[b + 1]), "+f"(d[b + 2]), "+f"(d[b + 3]), "+f"(d[b + 4]),              \
      "+f"(d[b + 5]), "+f"(d[b + 6]), "+f"(d[b + 7]), "+f"(d[b + 8]), "+f"(d[b + 9]),          \
      "+f"(d[b + 10]), "+f"(d[b + 11]), "+f"(d[b + 12]), "+f"(d[b + 13]), "+f"(d[b + 14]),     \
      "+f"(d[b + 15])
#define GRETA_WGMMA_D64(d) \
  GRETA_WGMMA_D16(d, 0), GRETA_WGMMA_D16(d, 16), GRETA_WGMMA_D16(d, 32), GRETA_WGMMA_D16(d, 48)
#define GRETA_WGMMA_D96(d) GRETA_WGMMA_D64(d), GRETA_WGMMA_D16(d, 64), GRETA_WGMMA_D16(d, 80)
#define GRETA_WGMMA_D128(d) GRETA_WGMMA_D96(d), GRETA_WGMMA_D16(d, 96), GRETA_WGMMA_D16(d, 112)
#define GRETA_WGMMA_R0_63 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define GRETA_WGMMA_R64_127 \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define GRETA_WGMMA_R64_95 \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define GRETA_WGMMA_REGS64 "{" GRETA_WGMMA_R0_63 "}"
#define GRETA_WGMMA_REGS96 "{" GRETA_WGMMA_R0_63 ", " GRETA_WGMMA_R64_95 "}"
#define GRETA_WGMMA_REGS128 "{" GRETA_WGMMA_R0_63 ", " GRETA_WGMMA_R64_127 "}"
/* NAME(d, a_desc, b_desc, scale_d): SHAPE and TYPE as PTX spells them, IMM
 * the immediates after scale-d (halves: scale-a, scale-b, trans-a, trans-b;
 * tf32 has no transpose), REGS / OUTS the accumulators, A, B, P the operand
 * numbers after them. scale_d = 0: D = A B (a fresh accumulator). */
#define GRETA_WGMMA_MMA(NAME, SHAPE, TYPE, IMM, REGS, OUTS, A, B, P)                         \
  GRETA_INLINE void NAME(float *d, unsigned long long a_desc, unsigned long long b_desc,    \
                         int scale_d = 1) {                                                 \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " P ", 0;\n"                             \
                 "wgmma.mma_async.sync.aligned." SHAPE ".f32." TYPE "." TYPE " " REGS ", " A  \
                 ", " B ", p, " IMM ";\n}\n"                                                 \
                 : OUTS                                                                     \
                 : "l"(a_desc), "l"(b_desc), "r"(scale_d)                                   \
                 : "memory");                                                               \
  }
GRETA_WGMMA_MMA(greta_wgmma_m64n128k16_f16, "m64n128k16", "f16", "1, 1, 0, 0", GRETA_WGMMA_REGS64,
                GRETA_WGMMA_D64(d), "%64", "%65", "%66")
GRETA_WGMMA_MMA(greta_wgmma_m64n128k16_bf16, "m64n128k16", "bf16", "1, 1, 0, 0", GRETA_WGMMA_REGS64,
                GRETA_WGMMA_D64(d), "%64", "%65", "%66")
GRETA_WGMMA_MMA(greta_wgmma_m64n192k16_f16, "m64n192k16", "f16", "1, 1, 0, 0", GRETA_WGMMA_REGS96,
                GRETA_WGMMA_D96(d), "%96", "%97", "%98")
GRETA_WGMMA_MMA(greta_wgmma_m64n192k16_bf16, "m64n192k16", "bf16", "1, 1, 0, 0", GRETA_WGMMA_REGS96,
                GRETA_WGMMA_D96(d), "%96", "%97", "%98")
GRETA_WGMMA_MMA(greta_wgmma_m64n256k16_f16, "m64n256k16", "f16", "1, 1, 0, 0", GRETA_WGMMA_REGS128,
                GRETA_WGMMA_D128(d), "%128", "%129", "%130")
GRETA_WGMMA_MMA(greta_wgmma_m64n256k16_bf16, "m64n256k16", "bf16", "1, 1, 0, 0",
                GRETA_WGMMA_REGS128, GRETA_WGMMA_D128(d), "%128", "%129", "%130")
GRETA_WGMMA_MMA(greta_wgmma_m64n128k8_tf32, "m64n128k8", "tf32", "1, 1", GRETA_WGMMA_REGS64,
                GRETA_WGMMA_D64(d), "%64", "%65", "%66")

/* One k16 step for the tile width BN and the weight type DT. */
template <int DT, int BN>
GRETA_INLINE void greta_wgmma_k16(float *d, unsigned long long a_desc, unsigned long long b_desc) {
  if (BN == 256) {
    if (DT == GRETA_W_BF16) greta_wgmma_m64n256k16_bf16(d, a_desc, b_desc);
    else greta_wgmma_m64n256k16_f16(d, a_desc, b_desc);
  } else if (BN == 192) {
    if (DT == GRETA_W_BF16) greta_wgmma_m64n192k16_bf16(d, a_desc, b_desc);
    else greta_wgmma_m64n192k16_f16(d, a_desc, b_desc);
  } else {
    if (DT == GRETA_W_BF16) greta_wgmma_m64n128k16_bf16(d, a_desc, b_desc);
    else greta_wgmma_m64n128k16_f16(d, a_desc, b_desc);
  }
}

/* A stage's BK / 16 k16 steps of one warpgroup (a_desc, b_desc: the
 * descriptors of its A and B tiles), issued as one committed wgmma group;
 * the accumulators pinned on both sides. */
template <int DT, int BN>
GRETA_INLINE void greta_wgmma_stage_desc(float *acc, unsigned long long a_desc, unsigned long long b_desc) {
#pragma unroll
  for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
  greta_wgmma_fence();
#pragma unroll
  for (int s = 0; s < GRETA_WGMMA_BK / 16; s++)
    greta_wgmma_k16<DT, BN>(acc, greta_wgmma_desc_add(a_desc, 32 * s), greta_wgmma_desc_add(b_desc, 32 * s));
  greta_wgmma_commit();
#pragma unroll
  for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
}

/* The same with the tiles at shared-memory addresses a_addr, b_addr. */
template <int DT, int BN>
GRETA_INLINE void greta_wgmma_stage(float *acc, unsigned int a_addr, unsigned int b_addr) {
  greta_wgmma_stage_desc<DT, BN>(acc, greta_wgmma_desc(a_addr), greta_wgmma_desc(b_addr));
}

/* Columns col, col + 1 (col even) of row `row`: v0, v1 into c [M, N], those
 * past N dropped. */
template <greta_i64 N>
GRETA_INLINE void greta_wgmma_store(float *c, greta_i64 row, greta_i64 col, float v0, float v1) {
  float *p = c + row * N + col;
  if (N % 2 == 0 && col + 1 < N) {
    *(float2 *)p = make_float2(v0, v1);
  } else {
    if (col < N) p[0] = v0;
    if (col + 1 < N) p[1] = v1;
  }
}

/* res's columns col, col + 1 (col even) of row `row`: what greta_wgmma_store
 * adds for the residual epilogue; zeros past M / N. */
template <greta_i64 N>
GRETA_INLINE float2 greta_wgmma_load_res(const float *res, greta_i64 M, greta_i64 row, greta_i64 col) {
  float2 r = make_float2(0.f, 0.f);
  if (row >= M) return r;
  const float *q = res + row * N + col;
  if (N % 2 == 0 && col + 1 < N) return *(const float2 *)q;
  if (col < N) r.x = q[0];
  if (col + 1 < N) r.y = q[1];
  return r;
}

/* A warpgroup's 64 x BN fragments (acc, thread t of the warpgroup) into the
 * rows r0 .. r0 + 63, columns n0 .. n0 + BN - 1 of c [M, N] (+ res). With
 * RES, CH pairs' residuals are loaded before any of them is stored: res may
 * be c itself, so the compiler cannot move a load above an earlier store,
 * and one pair at a time each store waited on its own load's round trip
 * (measured on the H200: o and down at T = 512 spent 12 µs of their 47 and
 * 101 in that epilogue). */
template <greta_i64 N, int RES, int BN>
GRETA_INLINE void greta_wgmma_store_tile(float *c, const float *res, greta_i64 M, greta_i64 r0,
                                         greta_i64 n0, int t, const float *acc) {
  enum { PAIRS = BN / 4, CH = 16 };
  static_assert(PAIRS % CH == 0, "whole chunks");
#pragma unroll
  for (int p0 = 0; p0 < PAIRS; p0 += CH) {
    float2 r[CH];
#pragma unroll
    for (int u = 0; u < CH; u++) {
      const int i = 2 * (p0 + u);
      const greta_i64 row = r0 + greta_wgmma_d_row(t, i), col = n0 + greta_wgmma_d_col(t, i);
      r[u] = RES ? greta_wgmma_load_res<N>(res, M, row, col) : make_float2(0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < CH; u++) {
      const int i = 2 * (p0 + u);
      const greta_i64 row = r0 + greta_wgmma_d_row(t, i), col = n0 + greta_wgmma_d_col(t, i);
      if (row < M) greta_wgmma_store<N>(c, row, col, acc[i] + r[u].x, acc[i + 1] + r[u].y);
    }
  }
}

/* Four floats at p through L2 (split-K's slots, written by other blocks: the
 * SM's L1 is not coherent), zeros where !ok, without a branch: a load under
 * a branch could not be issued before the adds of the loads above it, and
 * each part's load then waited for the one before. */
GRETA_INLINE float4 greta_ldcg4_if(bool ok, const float *p) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %5, 0;\n"
               "@p ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];\n}\n"
               : "+f"(v.x), "+f"(v.y), "+f"(v.z), "+f"(v.w)
               : "l"(p), "r"((int)ok));
  return v;
}

/* Split-K's last block: the sum of a tile's `parts` partial tiles (slot q at
 * slot0 + q GRETA_WGMMA_BM BN, thread tid's fragments as float4 j at
 * (j GRETA_WGMMA_NT + tid) 4 floats, greta_gemm_wgmma's split-K), in part
 * order, into c (+ res) as greta_wgmma_store_tile stores a warpgroup's
 * rows r0 .. r0 + 63. The block's own part is read back rather than kept:
 * with its accumulators alive through the sum, the 256-wide tile spilled.
 * U float4 a trip (a loop, not unrolled): a trip issues every part's loads
 * and the residual's before its first add, and its stores after (res may be
 * c). Float4 j of thread t is fragment elements 4 j .. 4 j + 3: columns
 * col, col + 1 of rows row and row + 8. */
template <greta_i64 N, int RES, int BN>
GRETA_INLINE void greta_wgmma_store_parts(float *c, const float *res, greta_i64 M, greta_i64 r0,
                                          greta_i64 n0, int tid, const float *slot0, int parts) {
  enum { NT = GRETA_WGMMA_NT, U = 8, P = GRETA_GEMM_SPLIT_K_PARTS, SLOT = GRETA_WGMMA_BM * BN };
  static_assert(BN / 8 % U == 0, "whole trips");
  const int t = tid & 127;
#pragma unroll 1
  for (int j0 = 0; j0 < BN / 8; j0 += U) {
    float4 v[U][P];
    float2 r[2 * U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const float *p = slot0 + 4 * ((j0 + u) * NT + tid);
#pragma unroll
      for (int q = 0; q < P; q++) v[u][q] = greta_ldcg4_if(q < parts, p + q * SLOT);
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int i = 4 * (j0 + u) + 2 * h;
        const greta_i64 row = r0 + greta_wgmma_d_row(t, i), col = n0 + greta_wgmma_d_col(t, i);
        r[2 * u + h] = RES ? greta_wgmma_load_res<N>(res, M, row, col) : make_float2(0.f, 0.f);
      }
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      float4 sum = v[u][0];
#pragma unroll
      for (int q = 1; q < P; q++)
        if (q < parts) sum.x += v[u][q].x, sum.y += v[u][q].y, sum.z += v[u][q].z, sum.w += v[u][q].w;
      const float s[4] = {sum.x, sum.y, sum.z, sum.w};
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int i = 4 * (j0 + u) + 2 * h;
        const greta_i64 row = r0 + greta_wgmma_d_row(t, i), col = n0 + greta_wgmma_d_col(t, i);
        if (row < M)
          greta_wgmma_store<N>(c, row, col, s[2 * h] + r[2 * u + h].x, s[2 * h + 1] + r[2 * u + h].y);
      }
    }
  }
}

/* Each pair of a warpgroup's 64 x BN fragments (thread wt, 0 .. 127):
 * f(i, row, col) for fragment elements i, i + 1 at row `row` (0 .. 63) and
 * the even first column `col` of a 32-column group; their partners are 16
 * columns on, elements i + 8 and i + 9. */
template <int BN, class F>
GRETA_INLINE void greta_wgmma_for_pairs(int wt, F f) {
#pragma unroll
  for (int j = 0; j < BN / 8; j++) {
    if (j % 4 >= 2) continue; /* second columns of pairs: with group j - 2 */
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int i = 4 * j + 2 * h;
      f(i, greta_wgmma_d_row(wt, i), greta_wgmma_d_col(wt, i));
    }
  }
}

/* A paired tile's results through shared memory and the copy engine
 * (PAIRS::BULK; greta_gemm_wgmma_ws): thread t (0 .. 255) of the consumers
 * packs its fragments' pairs two to 32 bits into the output stage at
 * shared-memory address `stage` (row r of the tile at
 * greta_wgmma_out_row(BN, r)), then thread r < GRETA_WGMMA_BM stores row
 * r's run with one bulk copy, and the consumers go on to their next tile
 * while the copies run. Stored from the registers, each thread's 4-byte
 * stores waited on the memory queue: 10-12 % of gate/up's time at T = 512
 * (docs/gemm.md). Before the stage is written again, each thread that
 * copied waits until its copy has read it. `sync()`: the consumers'
 * barrier. The values are store2's, rounded the same way. */
template <int BN, class PAIRS, class SYNC>
GRETA_INLINE void greta_wgmma_epilogue_bulk(const float *acc, int t, greta_i64 M, greta_i64 m0,
                                            greta_i64 n0, const PAIRS &pairs, unsigned int stage,
                                            SYNC sync) {
  enum { BM = GRETA_WGMMA_BM };
  static_assert(PAIRS::G == 16, "a 32-column group of the virtual weight holds 16 pairs");
  const int wg = t >> 7, wt = t & 127;
  if (t < BM) greta_bulk_wait_read<0>(); /* the tile before's copy has read the stage */
  sync();
  greta_wgmma_for_pairs<BN>(wt, [&](int i, int row, int col) {
    const int p = col / 32 * 16 + col % 16; /* the tile's pair */
    asm volatile("st.shared.b32 [%0], %1;" ::"r"(stage + greta_wgmma_out_row(BN, 64 * wg + row) + 2 * p),
                 "r"(pairs.pack2(acc[i], acc[i + 8], acc[i + 1], acc[i + 9]))
                 : "memory");
  });
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); /* the writes, to the copy engine */
  sync();
  if (t < BM && m0 + t < M) {
    void *dst;
    const unsigned int bytes = pairs.run(m0 + t, pairs.pair(n0), BN / 2, &dst);
    if (bytes) greta_bulk_store(dst, stage + greta_wgmma_out_row(BN, t), bytes);
    greta_bulk_commit();
  }
}

/* A 128 x BN tile's results from the fragments acc of thread t (0 .. 255,
 * warpgroup t / 128 rows 64 (t / 128) ..) of the threads that computed it,
 * `sync()` their barrier: split-K's part (parts > 1: into its slot of the
 * workspace ws, and the parts' sum by the last to arrive, told by the
 * shared word *flag), the tile staged in shared memory at `staged`
 * (PAIRS::STAGED: the ring, free now), or stores straight from the
 * fragments (layout in the comment at the top). */
template <greta_i64 N, int RES, int BN, class PAIRS, class SYNC>
GRETA_INLINE void greta_wgmma_epilogue(const float *acc, int t, greta_i64 M, greta_i64 m0,
                                       greta_i64 n0, void *c, const float *res, const PAIRS &pairs,
                                       int parts, int part, int tile, void *ws, int *flag,
                                       float *staged, SYNC sync) {
  enum { BM = GRETA_WGMMA_BM, NT = GRETA_WGMMA_NT };
  constexpr bool P = PAIRS::G != 0;
  const int wg = t >> 7, wt = t & 127;
  if (!P && parts > 1) {
    /* Split-K: this part's fragments into its slot of the workspace (float4
     * j of thread t at (j NT + t) 4 floats into the slot), published;
     * the tile's counter counts the parts in, and the last to arrive resets
     * it and stores the parts' sum (greta_wgmma_store_parts: in part order,
     * so the same whoever is last). */
    static_assert(GRETA_WGMMA_BM * BN <= GRETA_WGMMA_BM * 256, "a slot holds the tile");
    int *counters = (int *)ws;
    float *slots = (float *)ws + GRETA_GEMM_SPLIT_K_COUNTERS;
    auto slot = [&](int q) { return slots + ((greta_i64)tile * parts + q) * (BM * BN); };
#pragma unroll
    for (int j = 0; j < BN / 8; j++)
      *(float4 *)(slot(part) + 4 * (j * NT + t)) =
          make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
    greta_fence_release_device();
    sync(); /* every thread's stores are out */
    volatile int *last = flag;
    if (t == 0) {
      const int arrived = greta_atomic_add_acq_rel_device(&counters[tile], 1);
      *last = arrived == parts - 1;
      if (arrived == parts - 1) counters[tile] = 0; /* ready for the next launch */
    }
    sync();
    if (!*last) return;
    greta_fence_acquire_device();
    greta_wgmma_store_parts<N, RES, BN>((float *)c, res, M, m0 + 64 * wg, n0, t, slot(0), parts);
    return;
  }

  if constexpr (P && PAIRS::STAGED) {
    /* A long per-pair epilogue (RoPE's sincos): the tile goes through the
     * freed ring, [BM][BN + 8] f32, and a loop that is not unrolled takes
     * U rows a thread per trip, consecutive threads consecutive pairs of a
     * row (coalesced stores). Unrolled over the fragment, it was 64
     * inlined copies a thread: measured 2x the GEMM's time on the H200. */
    enum { LD = BN + 8 };
    static_assert(BM * LD * 4 <= GRETA_WGMMA_STAGES(BN) * (BM + BN) * GRETA_WGMMA_BK * 2,
                  "the staged tile fits in the ring");
    sync(); /* the other warpgroup's last wgmma has read its stage */
#pragma unroll
    for (int i = 0; i < BN / 2; i += 2)
      *(float2 *)&staged[(64 * wg + greta_wgmma_d_row(wt, i)) * LD + greta_wgmma_d_col(wt, i)] =
          make_float2(acc[i], acc[i + 1]);
    sync();
    /* Thread t takes the pairs of virtual columns lc and lc + 1 (its two
     * pairs' halves at lc and lc + 16, read as float2) in every PH-th row:
     * pairs.at_column works out once what a pair's store needs, where
     * working it out per pair (64-bit divisions by the pair layout's
     * constants, the head's kind and frequency) was most of the loop. U rows
     * a trip, read before any is stored: their stores may alias the tile for
     * the compiler, so this is what lets U chains overlap. */
    enum { CPR = BN / 4, PH = NT / CPR, U = 4 };
    const int col = t % CPR, r0 = t / CPR, lc = col / 8 * 32 + col % 8 * 2;
    if (r0 >= PH || n0 + lc >= N) return;
    const auto view = pairs.at_column(n0 + lc);
#pragma unroll 1
    for (int rr = r0; rr < BM; rr += PH * U) {
      float2 first[U], second[U];
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int r = rr + PH * u < BM ? rr + PH * u : rr;
        first[u] = *(const float2 *)&staged[r * LD + lc];
        second[u] = *(const float2 *)&staged[r * LD + lc + 16];
      }
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int r = rr + PH * u;
        if (r < BM && m0 + r < M)
          pairs.store_column(view, m0 + r, first[u].x, second[u].x, first[u].y, second[u].y);
      }
    }
    return;
  }

  if constexpr (!P) {
    greta_wgmma_store_tile<N, RES, BN>((float *)c, res, M, m0 + 64 * wg, n0, wt, acc);
  } else {
    greta_wgmma_for_pairs<BN>(wt, [&](int i, int r, int cc) {
      const greta_i64 row = m0 + 64 * wg + r, col = n0 + cc;
      if (row < M && col < N) pairs.store2(row, col, acc[i], acc[i + 8], acc[i + 1], acc[i + 9]);
    });
  }
}

/* c[M, N] = x[M, K] W[N, K]^T (+ res[M, N] when RES; PAIRS: see above) for the
 * tile of rows m0 .. m0 + 127, columns n0 .. n0 + BN - 1, by GRETA_WGMMA_NT threads;
 * smem: GRETA_WGMMA_SMEM_BYTES(BN) bytes of dynamic shared memory (its
 * first 1024-aligned byte is used: the extra 1024 cover the alignment).
 * res may be c itself: each element is read once, by the thread that
 * writes it. */
template <int DT, greta_i64 N, greta_i64 K, int BN, int AHEAD = 1, int XH = 0, int RES = 0,
          class PAIRS = greta_no_pairs>
GRETA_INLINE void greta_gemm_wgmma(greta_i64 M, greta_i64 m0, greta_i64 n0, const void *x,
                                   const void *w, void *c, const float *res,
                                   unsigned char *smem, PAIRS pairs = PAIRS(), int parts = 1,
                                   int part = 0, int tile = 0, void *ws = 0) {
  static_assert(DT == GRETA_W_F16 || DT == GRETA_W_BF16, "greta_gemm_wgmma: f16 or bf16 weights");
  static_assert(BN == 128 || BN == 192 || BN == 256, "greta_gemm_wgmma: BN is 128, 192 or 256");
  static_assert(K % GRETA_WGMMA_BK == 0, "greta_gemm_wgmma: K must be a multiple of 64");
  static_assert(AHEAD == 1 || AHEAD == 2, "greta_gemm_wgmma: AHEAD is 1 or 2");
  static_assert(XH == 0 || XH == 1, "greta_gemm_wgmma: XH is 0 or 1 (2: greta_gemm_wgmma_ws)");
  constexpr bool P = PAIRS::G != 0;
  static_assert(!P || (PAIRS::G == 16 && !RES), "greta_gemm_wgmma: pairs 16 apart, no residual");
  enum { BM = GRETA_WGMMA_BM, BK = GRETA_WGMMA_BK, S = GRETA_WGMMA_STAGES(BN), NT = GRETA_WGMMA_NT };
  enum { A_BYTES = BM * BK * 2, STAGE_BYTES = (BM + BN) * BK * 2 };
  /* Per thread per stage: x as float4 (16 per 64-k row), W as 16-byte chunks (8 per row). */
  enum { A_LOADS = BM * BK / 4 / NT, B_LOADS = BN * BK / 8 / NT };
  /* This block's K stages: all of them, or its share in split-K. */
  const int k_first = part * (int)(K / BK) / parts;
  const int KT = (part + 1) * (int)(K / BK) / parts - k_first;
  const int tid = greta_tid();

  unsigned int base = (unsigned int)__cvta_generic_to_shared(smem);
  base = (base + 1023u) & ~1023u;

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;
  const int wg = tid >> 7; /* this thread's warpgroup: rows 64 wg .. 64 wg + 63 */

  /* Thread tid's copies: x load j covers row tid / 16 + 16 j, float4 tid % 16
   * (k 4 (tid % 16) ..); W copy j covers row tid / 8 + 32 j, chunk tid % 8.
   * Rows advance by multiples of 8, so r % 8 and with it the swizzled column
   * are the same for every j: one base pointer and one shared offset per
   * operand, and j adds a compile-time constant to each (PAIRS: W row j is
   * found by PAIRS::row). Rows past M / N are bits cleared in a_rows / b_rows. */
  const int a_r = tid >> 4, a_q = tid & 15, b_r = tid >> 3, b_ch = tid & 7;
  const float *a_src = (const float *)x + (m0 + a_r) * K + 4 * a_q;
  const unsigned int a_dst = greta_wgmma_swz(a_r, 4 * a_q);
  /* W row j of this thread, k 0: row 0 and compile-time distances (tiles
   * start at multiples of BN), or (pairs whose period the width does not
   * keep, e.g. 192-wide tiles over q/k/v's 128-column heads) distances
   * from PAIRS::row, found once here. */
  const unsigned short *b_src = (const unsigned short *)w + PAIRS::row(n0 + b_r) * K + 8 * b_ch;
  const bool b_fixed = PAIRS::fixed_rows(BN);
  greta_i64 b_jump[B_LOADS];
#pragma unroll
  for (int j = 0; j < B_LOADS; j++)
    b_jump[j] = b_fixed ? PAIRS::jump(j) * K : (PAIRS::row(n0 + b_r + 32 * j) - PAIRS::row(n0 + b_r)) * K;
  auto b_row = [&](int j) { return b_src + b_jump[j]; };
  const unsigned int b_dst = A_BYTES + greta_wgmma_swz(b_r, 8 * b_ch);
  unsigned int a_rows = 0, b_rows = 0;
#pragma unroll
  for (int j = 0; j < A_LOADS; j++)
    if (m0 + a_r + 16 * j < M) a_rows |= 1u << j;
#pragma unroll
  for (int j = 0; j < B_LOADS; j++)
    if (n0 + b_r + 32 * j < N && PAIRS::valid(n0 + b_r + 32 * j)) b_rows |= 1u << j;

  /* x of stage kt into registers (zeros past M). */
  typedef float4 a_regs[A_LOADS];
  a_regs abuf[2];
  auto load_a = [&](int kt, a_regs &areg) {
    const float *p = a_src + (k_first + kt) * BK;
#pragma unroll
    for (int j = 0; j < A_LOADS; j++) {
      areg[j] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (a_rows >> j & 1)
        asm volatile("ld.global.v4.f32 {%0, %1, %2, %3}, [%4];"
                     : "=f"(areg[j].x), "=f"(areg[j].y), "=f"(areg[j].z), "=f"(areg[j].w)
                     : "l"(p + 16 * j * K));
    }
  };
  /* The registers of load_a, converted, into slot `slot`. */
  auto store_a = [&](int slot, const a_regs &areg) {
    const unsigned int d = base + slot * STAGE_BYTES + a_dst;
#pragma unroll
    for (int j = 0; j < A_LOADS; j++) {
      unsigned int lo = greta_pack_half2<DT>(areg[j].x, areg[j].y);
      unsigned int hi = greta_pack_half2<DT>(areg[j].z, areg[j].w);
      asm volatile("st.shared.v2.b32 [%0], {%1, %2};" ::"r"(d + 16 * 128 * j), "r"(lo), "r"(hi) : "memory");
    }
  };
  /* W of stage kt into slot `slot` by cp.async (zero-filled past N: src-size
   * 0 reads nothing, and the address given is W's first row). */
  auto load_b = [&](int kt, int slot) {
    const unsigned int d = base + slot * STAGE_BYTES + b_dst;
#pragma unroll
    for (int j = 0; j < B_LOADS; j++) {
      bool ok = b_rows >> j & 1;
      const unsigned short *src = b_row(j) + (k_first + kt) * BK;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d + 32 * 128 * j),
                   "l"(ok ? src : (const unsigned short *)w), "r"(ok ? 16 : 0)
                   : "memory");
    }
  };
  /* XH = 1: x already holds the weight's half type, [M, K]: copied like W
   * (same thread mapping, zero-filled past M), no registers, no conversion. */
  auto load_ah = [&](int kt, int slot) {
    const unsigned short *p =
        (const unsigned short *)x + (m0 + b_r) * K + 8 * b_ch + (k_first + kt) * BK;
    const unsigned int d = base + slot * STAGE_BYTES + b_dst - A_BYTES;
#pragma unroll
    for (int j = 0; j < BM * BK / 8 / NT; j++) {
      bool ok = m0 + b_r + 32 * j < M;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d + 32 * 128 * j),
                   "l"(ok ? p + 32 * j * K : (const unsigned short *)x), "r"(ok ? 16 : 0)
                   : "memory");
    }
  };
  auto commit_b = [&]() { asm volatile("cp.async.commit_group;" ::: "memory"); };

  /* Prologue: stages 0 .. S - 3 into their slots; with AHEAD = 2 the x of
   * stage S - 2 into registers too. */
#pragma unroll
  for (int s = 0; s < S - 2; s++) {
    if (s < KT) {
      load_b(s, s);
      if (XH) {
        load_ah(s, s);
      } else {
        load_a(s, abuf[0]);
        store_a(s, abuf[0]);
      }
    }
    commit_b();
  }
  if (!XH && AHEAD == 2 && S - 2 < KT) load_a(S - 2, abuf[0]);

  /* Iteration kt. `cur` receives (AHEAD = 1) or holds (AHEAD = 2, loaded one
   * iteration earlier, so a whole stage of wgmma hides the load) the x of
   * stage kt + S - 2; with AHEAD = 2 `next` receives stage kt + S - 1. */
  auto step = [&](int kt, a_regs &cur, a_regs &next) {
    const int ahead = kt + S - 2;
    const int slot = kt % S, ahead_slot = ahead % S;
    if (!XH && AHEAD == 1 && ahead < KT) load_a(ahead, cur);
    if (!XH && AHEAD == 2 && ahead + 1 < KT) load_a(ahead + 1, next);
    asm volatile("cp.async.wait_group %0;" ::"n"(S - 3) : "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    greta_sync();
    if (ahead < KT) {
      load_b(ahead, ahead_slot);
      if (XH) load_ah(ahead, ahead_slot);
    }
    commit_b();

    greta_wgmma_stage<DT, BN>(acc, base + slot * STAGE_BYTES + wg * 64 * 128,
                              base + slot * STAGE_BYTES + A_BYTES);

    if (!XH && ahead < KT) store_a(ahead_slot, cur);
    greta_wgmma_wait<1>();
#pragma unroll
    for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
  };
  /* Two iterations per trip: the register buffers swap roles at compile time. */
  for (int kt = 0; kt < KT; kt += 2) {
    step(kt, abuf[0], abuf[1]);
    if (kt + 1 < KT) step(kt + 1, abuf[1], abuf[0]);
  }
  greta_wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);

  asm volatile("cp.async.wait_all;" ::: "memory"); /* the ring is free (STAGED, the flag) */
  float *ring = (float *)(smem + (base - (unsigned int)__cvta_generic_to_shared(smem)));
  greta_wgmma_epilogue<N, RES, BN>(acc, tid, M, m0, n0, c, res, pairs, parts, part, tile, ws,
                                   (int *)ring, ring, [] { greta_sync(); });
}

/* A tile width as a type: the persistent GEMM's unit body is a lambda
 * generic over it, run at either of a launch's two widths. */
template <int V>
struct greta_width {
  enum { value = V };
};

/* ---- Persistent and warp-specialised: x and W through the copy engine ----
 * greta_gemm_mma's XH = 2 (x in the weight's half type, both operands by
 * tensor maps: map_x over x [rows, K], map_w over W [N, K] or a pair
 * layout's 5-dimensional view, launch_constants.h's boxes). The launch's
 * first G = min(blocks, sms) blocks of GRETA_WGMMA_WS_NT = 384 threads take
 * the units blk, blk + G, blk + 2 G, ... of the step (greta_wgmma_unit: its
 * 128 x BN tiles in greta_wgmma_tile_of_block's order, row tiles fastest;
 * with ws, the tail of tiles mod sms split in K, in the last round); the
 * other blocks return. Roles:
 *   warpgroup 0, the producer: it gives back registers (setmaxnreg.dec), and
 *     its warp 0 fills the ring stage after stage across all of the block's
 *     units, lane g box g (0: x's 128 rows; g >= 1: W's virtual rows from
 *     n0 + 64 (g - 1)), each stage completing on its "full" mbarrier, after
 *     waiting on the slot's "empty" one;
 *   warpgroups 1 and 2, the consumers (setmaxnreg.inc): rows 0 .. 63 and
 *     64 .. 127 of the tile, one wgmma group a stage, each warp arriving on
 *     a slot's "empty" barrier once its warpgroup's wgmma of that stage are
 *     done, then the epilogue (greta_wgmma_epilogue or, PAIRS::BULK,
 *     greta_wgmma_epilogue_bulk; their own barrier).
 * So the ring is filled for the next unit while the consumers store this
 * one, and no warp that issues wgmma waits for a slot. A staged epilogue
 * (PAIRS::STAGED) uses the ring: there the producer waits, before a unit's
 * first stage, until the consumers have released the one before ("epi").
 * The first unit's first stages' weight boxes are issued before
 * greta_grid_wait (the weights are read-only in a step); x's after it.
 * The next launch is let go (greta_grid_release) by consumer thread 0 once
 * the block has begun its last unit and finished a mainloop.
 * A tile's sums are greta_gemm_wgmma's: the same wgmma on the same
 * shared-memory bytes in the same order.
 * A PAIRS::BULK epilogue (gate/up's) stores its tiles through an output
 * stage and the copy engine (greta_wgmma_epilogue_bulk), and no warp
 * waits for those stores.
 * Two widths (BN2 = 192 beside BN = 256, paired launches that do not
 * stage their tiles in the ring: gate/up): the first `head` column tiles
 * BN wide, the rest BN2 wide (greta_wgmma_mixed_head, wgmma_layout.h),
 * the head's units first; the BN2-wide units in the BN-wide ring's slots,
 * on the first BN2 / 2 accumulators. head = 0 or all of the columns: one
 * width.
 * smem: GRETA_WGMMA_SMEM_BYTES(BN) + GRETA_WGMMA_TMA_BARRIER_BYTES: the ring,
 * then the barriers (full, empty: 8 bytes a stage each; epi) and split-K's
 * flag; with PAIRS::BULK GRETA_WGMMA_OUT_STAGE_BYTES more, the output stage. */
template <int DT, greta_i64 N, greta_i64 K, int BN, int RES = 0, class PAIRS = greta_no_pairs, int BN2 = 0>
GRETA_INLINE void greta_gemm_wgmma_ws(greta_i64 M, greta_i64 blk, greta_i64 blocks, int sms,
                                      void *c, const float *res, unsigned char *smem,
                                      PAIRS pairs, void *ws, const greta_tmap *map_x,
                                      const greta_tmap *map_w, int head = 0) {
  static_assert(DT == GRETA_W_F16 || DT == GRETA_W_BF16, "greta_gemm_wgmma_ws: f16 or bf16 weights");
  static_assert(BN == 128 || BN == 192 || BN == 256, "greta_gemm_wgmma_ws: BN is 128, 192 or 256");
  static_assert(K % GRETA_WGMMA_BK == 0, "greta_gemm_wgmma_ws: K must be a multiple of 64");
  constexpr bool P = PAIRS::G != 0;
  static_assert(!P || (PAIRS::G == 16 && !RES), "greta_gemm_wgmma_ws: pairs 16 apart, no residual");
  static_assert(BN2 == 0 || (BN == 256 && BN2 == 192 && P && !PAIRS::STAGED),
                "greta_gemm_wgmma_ws: 192 beside 256, paired, not staged");
  enum { BM = GRETA_WGMMA_BM, BK = GRETA_WGMMA_BK, S = GRETA_WGMMA_STAGES(BN), KS = (int)(K / BK) };
  enum { A_BYTES = BM * BK * 2, STAGE_BYTES = (BM + BN) * BK * 2 };
  enum { STAGE_BYTES2 = (BM + BN2) * BK * 2 };
  enum { WB = GRETA_WGMMA_TMA_W_BOX, NB = 1 + BN / WB, NB2 = 1 + BN2 / WB, CONSUMER_WARPS = 8 };
  static_assert(BN % WB == 0 && BM == GRETA_WGMMA_TMA_X_BOX && NB <= 32, "whole boxes, a warp's");
  static_assert(16 * S + 12 <= GRETA_WGMMA_TMA_BARRIER_BYTES, "the barriers and the flag after the ring");
  const int G = (int)(blocks < sms ? blocks : sms);
  if (blk >= G) return; /* whole block */
  /* Tiles, rows and columns in 32 bits: N < 2^31 and M a step's rows. */
  const int tiles_m = (int)((M + BM - 1) / BM);
  const int tiles = BN2 ? (int)greta_wgmma_mixed_tiles(M, N, head) : tiles_m * (int)((N + BN - 1) / BN);
  const bool split = !P && ws;
  const int tid = greta_tid(), wg = tid >> 7, lane = tid & 31;
  enum { PRODUCER_REGS = 56, CONSUMER_REGS = 224 }; /* setmaxnreg: 56 + 2 x 224 = 3 x 168 */
  /* Unit u of the step: its tile's first row and column, its width (wide:
   * BN, else BN2), its K stages. */
  struct unit_t {
    int m0, n0, wide, k_first, ks, parts, part, slot;
  };
  auto unit = [&](int u, unit_t *o) {
    int tile;
    if (!greta_wgmma_unit(u, tiles, sms, split, &tile, &o->part, &o->parts, &o->slot)) return false;
    if (BN2) {
      o->wide = greta_wgmma_mixed_tile(tile, tiles_m, head, &o->m0, &o->n0) == BN;
    } else {
      o->wide = 1;
      o->m0 = tile % tiles_m * BM;
      o->n0 = tile / tiles_m * BN;
    }
    o->k_first = o->part * KS / o->parts;
    o->ks = (o->part + 1) * KS / o->parts - o->k_first;
    return true;
  };

  unsigned int base = (unsigned int)__cvta_generic_to_shared(smem);
  base = (base + 1023u) & ~1023u;
  const unsigned int full = base + S * STAGE_BYTES, empty = full + 8 * S, epi = empty + 8 * S;
  /* PAIRS::BULK: the output stage after the barriers (the launch's shared
   * memory has it: kernel_select.c); a launch with less traps. */
  const unsigned int out_stage = full + GRETA_WGMMA_TMA_BARRIER_BYTES;
  if (tid == 0) {
    if constexpr (PAIRS::BULK) {
      unsigned int have;
      asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(have));
      if (out_stage + GRETA_WGMMA_OUT_STAGE_BYTES > (unsigned int)__cvta_generic_to_shared(smem) + have)
        __trap();
    }
    for (int s = 0; s < S; s++) {
      greta_mbar_init(full + 8 * s, 1);
      greta_mbar_init(empty + 8 * s, CONSUMER_WARPS);
    }
    greta_mbar_init(epi, 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  greta_sync();

  if (wg == 0) {
    greta_wg3_producer_regs<PRODUCER_REGS, CONSUMER_REGS>();
    if (tid >= 32) return; /* reads and writes nothing */
    const unsigned int box_dst = lane == 0 ? 0u : (unsigned int)(A_BYTES + WB * 128 * (lane - 1));
    const greta_tmap *box_map = lane == 0 ? map_x : map_w;
    int box_row = 0, box_block = 0; /* this lane's box of the unit's tile */
    auto place = [&](const unit_t &o) {
      const int v = o.n0 + WB * (lane - 1); /* lane >= 1: the box's first virtual row */
      box_row = lane == 0 ? o.m0 : v;
      box_block = 0;
      if constexpr (P) {
        if (lane > 0) {
          box_row = (int)PAIRS::tma_run(v);
          box_block = (int)PAIRS::block(v);
        }
      }
    };
    /* Stage kt of unit o into slot `slot`: the weight's boxes (lanes 1 ..
     * NB - 1) when W, x's (lane 0) when X; the stage's bytes announced with
     * the first. */
    auto issue = [&](const unit_t &o, int kt, unsigned int slot, bool W, bool X) {
      const unsigned int bar = full + 8 * slot;
      if (lane == 0 && W) greta_mbar_expect_tx(bar, o.wide ? STAGE_BYTES : STAGE_BYTES2);
      __syncwarp();
      if (lane == 0 ? !X : !W || lane >= (o.wide ? NB : NB2)) return;
      const unsigned int dst = base + slot * STAGE_BYTES + box_dst;
      const int k = (o.k_first + kt) * BK;
      if (P && lane > 0) greta_tma_load_5d(dst, box_map, k, box_row, box_block, bar);
      else greta_tma_load_2d(dst, box_map, k, box_row, bar);
    };
    unit_t o;
    const bool any = unit((int)blk, &o);
    int pre = 0; /* the first unit's stages issued around the wait */
    if (any) {
      place(o);
      pre = o.ks < S ? o.ks : S;
      for (int s = 0; s < pre; s++) issue(o, s, s, true, false);
    }
    greta_grid_wait();
    for (int s = 0; s < pre; s++) issue(o, s, s, false, true);
    /* The next stage's slot and the parity of its previous fill's release
     * (on the first pass the phase before the first, which counts as
     * complete), as counters like the consumers'. */
    unsigned int slot = pre % S, phase = pre == S ? 0u : 1u;
    int n = 0; /* units begun */
    for (int u = (int)blk; unit(u, &o); u += G, n++) {
      if (n > 0) {
        place(o);
        /* the ring holds the unit before's staged tile until its release */
        if (PAIRS::STAGED) greta_mbar_wait(epi, (unsigned int)(n - 1) & 1u);
      }
#pragma unroll 1
      for (int kt = n == 0 ? pre : 0; kt < o.ks; kt++) {
        greta_mbar_wait(empty + 8 * slot, phase);
        issue(o, kt, slot, true, true);
        if (++slot == S) slot = 0, phase ^= 1u;
      }
    }
    return;
  }

  greta_wg3_consumer_regs<PRODUCER_REGS, CONSUMER_REGS>();
  greta_grid_wait(); /* c, res and the workspace are the step's */
  const int t = tid - 128, cwg = wg - 1;
  float *ring = (float *)(smem + (base - (unsigned int)__cvta_generic_to_shared(smem)));
  int *flag = (int *)(ring + (epi + 8 - base) / 4); /* after the barriers */
  float acc[BN / 2];
  /* The next stage's slot and its fill's parity, and the slot before, as
   * counters, and the slot's descriptors stepped from the first's (the
   * loop's arithmetic was most of what the consumers issued, `ncu`). */
  unsigned int slot = 0, phase = 0, before = 0;
  const unsigned long long a_desc = greta_wgmma_desc(base + cwg * 64 * 128),
                           b_desc = greta_wgmma_desc(base + A_BYTES);
  unit_t cur, next;
  /* Unit o, of width W (greta_width<W>), on the first W / 2 accumulators. */
  auto run = [&](auto width, const unit_t &o, bool last, int n) {
    enum { W = decltype(width)::value };
#pragma unroll
    for (int i = 0; i < W / 2; i++) acc[i] = 0.f;
#pragma unroll 1
    for (int kt = 0; kt < o.ks; kt++) {
      greta_mbar_wait(full + 8 * slot, phase);
      greta_wgmma_stage_desc<DT, W>(acc, greta_wgmma_desc_add(a_desc, slot * STAGE_BYTES),
                                    greta_wgmma_desc_add(b_desc, slot * STAGE_BYTES));
      greta_wgmma_wait<1>();
#pragma unroll
      for (int i = 0; i < W / 2; i++) greta_wgmma_pin(acc[i]);
      /* the stage before is done: its slot back to the producer */
      if (kt > 0 && lane == 0) greta_mbar_arrive(empty + 8 * before);
      before = slot;
      if (++slot == S) slot = 0, phase ^= 1u;
    }
    greta_wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < W / 2; i++) greta_wgmma_pin(acc[i]);
    if (lane == 0) greta_mbar_arrive(empty + 8 * before);
    if (last && n == 0 && t == 0) greta_grid_release();
    auto consumers = [] { asm volatile("bar.sync 1, 256;" ::: "memory"); };
    if constexpr (PAIRS::BULK)
      greta_wgmma_epilogue_bulk<W>(acc, t, M, o.m0, o.n0, pairs, out_stage, consumers);
    else
      greta_wgmma_epilogue<N, RES, W>(acc, t, M, o.m0, o.n0, c, res, pairs, o.parts, o.part, o.slot,
                                      ws, flag, ring, consumers);
    if constexpr (PAIRS::STAGED) {
      /* the staged tile read: the ring back to the producer (the generic
       * proxy's accesses ordered before the copy engine's next writes) */
      asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
      asm volatile("bar.sync 1, 256;" ::: "memory");
      if (t == 0) greta_mbar_arrive(epi);
    }
  };
  for (int u = (int)blk, n = 0; unit(u, &cur); u += G, n++) {
    /* The next launch goes once this block has begun its last unit and done
     * a mainloop (greta_grid_release): let go at once, its blocks' weight
     * loads took this launch's bandwidth in steps of 128 and 256 tokens. */
    const bool last = !unit(u + G, &next);
    if (last && n > 0 && t == 0) greta_grid_release();
    if constexpr (BN2 != 0) {
      if (!cur.wide) {
        run(greta_width<BN2>(), cur, last, n);
        continue;
      }
    }
    run(greta_width<BN>(), cur, last, n);
  }
  /* the last tile's copies: read out of the stage before the block's shared
   * memory goes, and written before the launch counts as done */
  if constexpr (PAIRS::BULK)
    if (t < BM) greta_bulk_wait_all();
}

/* ---- f32 weights: 3xTF32 on wgmma ----------------------------------------
 * c[M, N] = x[M, K] W[N, K]^T (+ res), x and W f32, at fp32 accuracy with
 * gemm_mma.h's 3xTF32 (greta_tf32_split: v = big + small, both tf32; each k8
 * step adds small x big, big x small, big x big) on
 * wgmma.m64n128k8.f32.tf32.tf32, on the tile of rows m0 .. m0 + 127,
 * columns n0 .. n0 + 127, by GRETA_WGMMA_NT threads (warpgroup g: rows
 * 64 g .. 64 g + 63). Requires K % 32 == 0, x and W 16-byte aligned; M and
 * N ragged as above.
 *
 * The split is done once a stage, on the way into shared memory. A stage
 * holds four K-major, 128-byte-swizzled tiles of 128 rows by BK = 32 f32
 * (one 128-byte row, so greta_wgmma_desc and the 32-byte k8 step are the
 * halves'): x big, x small, W big, W small, 16 KiB each. Both parts are
 * exact tf32 values, so nothing rests on how the tensor cores read the low
 * 13 bits of an f32 operand.
 *
 * Accumulation: the tensor cores do not round their f32 sums to nearest,
 * and a whole-K chain drifts (gemm_mma.h measured 6e-5 on the 7B block), so
 * each stage's 12 wgmma (4 k8 steps x 3) start a fresh accumulator
 * (scale-d = 0) that f32 adds put into the running sum.
 *
 * Pipeline, S = 2 stages; every thread does every step. The x and W of
 * stage kt + 1 are in registers (ld.global.v4, 4 + 4 float4 a thread)
 * since iteration kt - 1. Iteration kt:
 *   1. fence.proxy.async (the st.shared writes made visible to wgmma's
 *      async proxy), __syncthreads: stage kt is in place, and every
 *      warpgroup's wgmma of stage kt - 1 has completed (step 4);
 *   2. wgmma.fence, the 12 wgmma on slot kt % 2, commit;
 *   3. split and st.shared the registers into slot (kt + 1) % 2 (free since
 *      step 1), then ld.global stage kt + 2 into them;
 *   4. wgmma.wait_group 0, sum += acc.
 * Step 3 runs while the tensor cores work; the loads have an iteration to
 * land. */
template <greta_i64 N, greta_i64 K, int RES>
GRETA_INLINE void greta_gemm_wgmma_tf32(greta_i64 M, greta_i64 m0, greta_i64 n0, const float *x,
                                        const float *w, float *c, const float *res,
                                        unsigned char *smem) {
  enum { BM = GRETA_WGMMA_BM, BN = GRETA_WGMMA_TF32_BN, BK = GRETA_WGMMA_TF32_BK };
  enum { NT = GRETA_WGMMA_NT, PART = BM * BK * 4, STAGE_BYTES = 4 * PART };
  enum { LOADS = BM * BK / 4 / NT }; /* float4 a thread of each operand a stage */
  static_assert(K % BK == 0, "greta_gemm_wgmma_tf32: K must be a multiple of 32");
  static_assert(BM == BN && LOADS == 4, "one thread mapping for x and W");
  static_assert(2 * STAGE_BYTES + 1024 == GRETA_WGMMA_TF32_SMEM_BYTES, "the launch's smem");
  const int KT = (int)(K / BK);
  const int tid = greta_tid(), wg = tid >> 7;

  unsigned int base = (unsigned int)__cvta_generic_to_shared(smem);
  base = (base + 1023u) & ~1023u;

  /* Thread tid's float4 j of either operand: row tid / 8 + 32 j, k 4 (tid % 8)
   * of the stage; rows 32 apart keep the swizzled column (r % 8). */
  const int r0 = tid >> 3, q = tid & 7;
  const unsigned int dst = greta_wgmma_swz_f32(r0, 4 * q);
  const float *a_src = x + (m0 + r0) * K + 4 * q, *b_src = w + (n0 + r0) * K + 4 * q;
  unsigned int a_rows = 0, b_rows = 0;
#pragma unroll
  for (int j = 0; j < LOADS; j++) {
    if (m0 + r0 + 32 * j < M) a_rows |= 1u << j;
    if (n0 + r0 + 32 * j < N) b_rows |= 1u << j;
  }
  float4 av[LOADS], bv[LOADS];
  auto load4 = [](float4 &v, bool ok, const float *p) {
    v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (ok)
      asm volatile("ld.global.v4.f32 {%0, %1, %2, %3}, [%4];"
                   : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                   : "l"(p));
  };
  auto load = [&](int kt) { /* zeros past M / N */
#pragma unroll
    for (int j = 0; j < LOADS; j++) {
      load4(av[j], a_rows >> j & 1, a_src + 32 * j * K + kt * BK);
      load4(bv[j], b_rows >> j & 1, b_src + 32 * j * K + kt * BK);
    }
  };
  /* v split: big at byte address d, small at d + PART. */
  auto split_store = [](unsigned int d, float4 v) {
    unsigned int b0, b1, b2, b3, s0, s1, s2, s3;
    greta_tf32_split(v.x, b0, s0);
    greta_tf32_split(v.y, b1, s1);
    greta_tf32_split(v.z, b2, s2);
    greta_tf32_split(v.w, b3, s3);
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};" ::"r"(d), "r"(b0), "r"(b1), "r"(b2),
                 "r"(b3) : "memory");
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};" ::"r"(d + PART), "r"(s0), "r"(s1),
                 "r"(s2), "r"(s3) : "memory");
  };
  auto store = [&](int slot) { /* the registers into slot: x at 0, W at 2 PART */
    const unsigned int d = base + slot * STAGE_BYTES + dst;
#pragma unroll
    for (int j = 0; j < LOADS; j++) {
      split_store(d + 32 * 128 * j, av[j]);
      split_store(d + 2 * PART + 32 * 128 * j, bv[j]);
    }
  };

  float acc[BN / 2], sum[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; i++) acc[i] = sum[i] = 0.f;
  load(0);
  store(0);
  if (KT > 1) load(1);
  for (int kt = 0; kt < KT; kt++) {
    const int slot = kt & 1;
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    greta_sync();
    const unsigned int a_big = base + slot * STAGE_BYTES + wg * 64 * 128;
    const unsigned int b_big = base + slot * STAGE_BYTES + 2 * PART;
#pragma unroll
    for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
    greta_wgmma_fence();
#pragma unroll
    for (int s = 0; s < BK / 8; s++) { /* small terms first; s = 0 starts afresh */
      greta_wgmma_m64n128k8_tf32(acc, greta_wgmma_desc(a_big + PART + 32 * s),
                                 greta_wgmma_desc(b_big + 32 * s), s > 0);
      greta_wgmma_m64n128k8_tf32(acc, greta_wgmma_desc(a_big + 32 * s),
                                 greta_wgmma_desc(b_big + PART + 32 * s));
      greta_wgmma_m64n128k8_tf32(acc, greta_wgmma_desc(a_big + 32 * s),
                                 greta_wgmma_desc(b_big + 32 * s));
    }
    greta_wgmma_commit();
#pragma unroll
    for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
    if (kt + 1 < KT) {
      store(slot ^ 1);
      if (kt + 2 < KT) load(kt + 2);
    }
    greta_wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BN / 2; i++) {
      greta_wgmma_pin(acc[i]);
      sum[i] += acc[i];
    }
  }

  greta_wgmma_store_tile<N, RES, BN>(c, res, M, m0 + 64 * wg, n0, tid & 127, sum);
}

#endif /* sm_90a */
