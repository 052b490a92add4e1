/* NVIDIA Hopper (sm_90a) prefill GEMM on wgmma fed by the tensor-memory
 * accelerator: c[M, N] = x[M, K] W[N, K]^T (+ res), x and W in the weight's
 * half type (f16 or bf16), both K-major, f32 accumulation, c f32 [M, N].
 * The tile, the shared-memory layout (the 128-byte swizzle), the descriptors
 * and the fragments are gemm_wgmma.h's; what differs is how a stage reaches
 * shared memory:
 *
 *   gemm_wgmma.h: every thread issues 16-byte cp.async copies, waits for
 *   its own, and a block barrier each stage tells the others;
 *   here: one thread issues two tensor copies a stage (cp.async.bulk.tensor,
 *   the box of x rows m0 .. m0 + 127 and of W rows n0 .. n0 + BN - 1, k
 *   64 kt .. 64 kt + 63, the copy engine applying the swizzle) that complete
 *   on the stage's "full" mbarrier with their byte count; the consumers wait
 *   on it, and each warp, once its warpgroup's wgmma of a stage are done,
 *   arrives on the stage's "empty" mbarrier, which the issuing thread waits
 *   on before it refills that slot. No block barrier in the K loop.
 *
 * CLUSTER = 2: blocks in pairs (a thread-block cluster of 2 along the row
 * tiles: same n0, m0 and m0 + 128); each block loads its own x tile and
 * half of the shared W tile, multicast into both blocks' shared memory, so
 * each W tile leaves L2 once per pair. A slot is refilled only when both
 * blocks have released it (each warp arrives on the empty mbarrier of both
 * blocks: 16 arrivals).
 *
 * The tensor maps (CUtensorMap, 128 bytes, in global memory, written before
 * the launch): x as {K, rows} halves, box {64, 128}; W as {K, N}, box
 * {64, BN / CLUSTER}; both with the 128-byte swizzle and zero fill past the
 * tensor's bounds (rows past M or N read as zeros, and the copy still counts
 * the whole box's bytes).
 *
 * Shared memory: GRETA_WGMMA_SMEM_BYTES(BN) + GRETA_WGMMA_TMA_BARRIER_BYTES
 * (launch_constants.h).
 */
#if defined(GRETA_HAVE_WGMMA)

GRETA_INLINE void greta_mbar_init(unsigned int bar, unsigned int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
GRETA_INLINE void greta_mbar_expect_tx(unsigned int bar, unsigned int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
GRETA_INLINE void greta_mbar_arrive(unsigned int bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
/* Arrive on the mbarrier at the same offset in block `rank` of the cluster. */
GRETA_INLINE void greta_mbar_arrive_cluster(unsigned int bar, unsigned int rank) {
  asm volatile("{\n.reg .b32 ra;\nmapa.shared::cluster.u32 ra, %0, %1;\n"
               "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [ra];\n}\n" ::"r"(bar), "r"(rank)
               : "memory");
}
GRETA_INLINE void greta_mbar_wait(unsigned int bar, unsigned int parity) {
  asm volatile("{\n.reg .pred done;\nWAIT:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
               "@!done bra WAIT;\n}\n" ::"r"(bar), "r"(parity) : "memory");
}
GRETA_INLINE void greta_tma_load_2d(unsigned int dst, const void *map, int c0, int c1, unsigned int bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}
GRETA_INLINE void greta_tma_load_2d_multicast(unsigned int dst, const void *map, int c0, int c1,
                                              unsigned int bar, unsigned short mask) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
               " [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar), "h"(mask)
               : "memory");
}
GRETA_INLINE unsigned int greta_cluster_rank(void) {
  unsigned int r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
GRETA_INLINE void greta_cluster_sync(void) {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

template <int DT, greta_i64 N, greta_i64 K, int BN, int CLUSTER = 1, int RES = 0>
GRETA_INLINE void greta_gemm_wgmma_tma(greta_i64 M, greta_i64 m0, greta_i64 n0, const void *map_x,
                                       const void *map_w, float *c, const float *res,
                                       unsigned char *smem) {
  static_assert(DT == GRETA_W_F16 || DT == GRETA_W_BF16, "greta_gemm_wgmma_tma: f16 or bf16 weights");
  static_assert(BN == 128 || BN == 192 || BN == 256, "greta_gemm_wgmma_tma: BN is 128, 192 or 256");
  static_assert(K % GRETA_WGMMA_BK == 0, "greta_gemm_wgmma_tma: K must be a multiple of 64");
  static_assert(CLUSTER == 1 || CLUSTER == 2, "greta_gemm_wgmma_tma: clusters of 1 or 2");
  enum { BM = GRETA_WGMMA_BM, BK = GRETA_WGMMA_BK, S = GRETA_WGMMA_STAGES(BN), NT = GRETA_WGMMA_NT };
  enum { A_BYTES = BM * BK * 2, STAGE_BYTES = (BM + BN) * BK * 2, B_PART = BN / CLUSTER * BK * 2 };
  static_assert(2 * S * 8 <= GRETA_WGMMA_TMA_BARRIER_BYTES, "the mbarriers fit");
  constexpr int KT = (int)(K / BK);
  const int tid = greta_tid(), wg = tid >> 7;
  const unsigned int rank = CLUSTER > 1 ? greta_cluster_rank() : 0;

  unsigned int base = (unsigned int)__cvta_generic_to_shared(smem);
  base = (base + 1023u) & ~1023u;
  const unsigned int full = base + S * STAGE_BYTES, empty = full + 8 * S;
  if (tid == 0) {
    for (int s = 0; s < S; s++) {
      greta_mbar_init(full + 8 * s, 1);
      greta_mbar_init(empty + 8 * s, NT / 32 * CLUSTER);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.tensormap::generic.acquire.gpu [%0], 128;" ::"l"(map_x) : "memory");
    asm volatile("fence.proxy.tensormap::generic.acquire.gpu [%0], 128;" ::"l"(map_w) : "memory");
  }
  if (CLUSTER > 1) greta_cluster_sync(); /* the peer's barriers exist before anything reaches them */
  else greta_sync();

  /* Stage kt into slot kt % S: x rows m0.., this block's part of the W rows. */
  auto issue = [&](int kt) {
    const int slot = kt % S;
    const unsigned int bar = full + 8 * slot, dst = base + slot * STAGE_BYTES;
    greta_mbar_expect_tx(bar, STAGE_BYTES);
    greta_tma_load_2d(dst, map_x, kt * BK, (int)m0, bar);
    if (CLUSTER == 1)
      greta_tma_load_2d(dst + A_BYTES, map_w, kt * BK, (int)n0, bar);
    else
      greta_tma_load_2d_multicast(dst + A_BYTES + rank * B_PART, map_w, kt * BK,
                                  (int)(n0 + rank * (BN / CLUSTER)), bar, (unsigned short)3);
  };
  if (tid == 0)
    for (int s = 0; s < S && s < KT; s++) issue(s);

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;

#pragma unroll 1
  for (int kt = 0; kt < KT; kt++) {
    const int slot = kt % S;
    greta_mbar_wait(full + 8 * slot, (unsigned int)(kt / S) & 1u);
    const unsigned int a_addr = base + slot * STAGE_BYTES + wg * 64 * 128;
    const unsigned int b_addr = base + slot * STAGE_BYTES + A_BYTES;
#pragma unroll
    for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
    greta_wgmma_fence();
#pragma unroll
    for (int s = 0; s < BK / 16; s++)
      greta_wgmma_k16<DT, BN>(acc, greta_wgmma_desc(a_addr + 32 * s), greta_wgmma_desc(b_addr + 32 * s));
    greta_wgmma_commit();
    greta_wgmma_wait<1>();
#pragma unroll
    for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
    if (kt > 0) {
      /* This warpgroup's wgmma of stage kt - 1 are done: release its slot. */
      const int done = kt - 1, done_slot = done % S;
      if ((tid & 31) == 0) {
        if (CLUSTER == 1) {
          greta_mbar_arrive(empty + 8 * done_slot);
        } else {
          greta_mbar_arrive_cluster(empty + 8 * done_slot, 0);
          greta_mbar_arrive_cluster(empty + 8 * done_slot, 1);
        }
      }
      if (tid == 0 && done + S < KT) {
        greta_mbar_wait(empty + 8 * done_slot, (unsigned int)(done / S) & 1u);
        issue(done + S);
      }
    }
  }
  greta_wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < BN / 2; i++) greta_wgmma_pin(acc[i]);
  /* No block leaves while its peer may still write into its shared memory
   * or arrive on its barriers. */
  if (CLUSTER > 1) greta_cluster_sync();

  greta_wgmma_store_tile<N, RES, BN>(c, res, M, m0 + 64 * wg, n0, tid & 127, acc);
}
#endif
