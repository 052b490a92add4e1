/* GRETA kernel prelude: one device dialect for three compilers.
 *
 *   plain clang (-x hip -nogpuinc -nogpulib, amdgcn): no HIP headers, so the
 *     CUDA-style keywords map to clang attributes and amdgcn builtins here;
 *   hiprtc (__HIPCC_RTC__): keywords and math come predefined;
 *   NVRTC (__CUDACC_RTC__): keywords and math come predefined.
 *
 * Every template uses only what this file defines: greta_tid() / greta_bid_*()
 * for ids, greta_sync() for a block barrier, greta_lane() and
 * greta_shfl_xor() for wave-level reductions, greta_exp() / greta_sqrt() for
 * accurate math (no fast approximations: results must match the CPU reference
 * to ~1e-5), GRETA_WAVE for the wave size (64 on CDNA, 32 on NVIDIA).
 * Block sizes are compile-time constants of each kernel, so blockDim and
 * gridDim are never read.
 */
#if defined(__CUDACC_RTC__)
#define GRETA_NVIDIA 1
#define GRETA_WAVE 32
#elif defined(__HIPCC_RTC__)
#define GRETA_AMD 1
#define GRETA_WAVE 64
#else
/* Plain clang, amdgcn device compile with no HIP headers. */
#define GRETA_AMD 1
#define GRETA_WAVE 64
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __launch_bounds__(n) __attribute__((amdgpu_flat_work_group_size(1, n)))
#endif

#define GRETA_INLINE inline __device__ __attribute__((always_inline))
/* Member functions of device structs. */
#define GRETA_METHOD inline __device__ __attribute__((always_inline))
/* mfma_layout.h's functions are C on the host and device code here. */
#define GRETA_LAYOUT_FN inline __device__

typedef long long greta_i64;

/* ---- ids and barriers ---------------------------------------------------- */
#if defined(GRETA_AMD)
GRETA_INLINE int greta_tid(void) { return (int)__builtin_amdgcn_workitem_id_x(); }
GRETA_INLINE int greta_bid_x(void) { return (int)__builtin_amdgcn_workgroup_id_x(); }
GRETA_INLINE int greta_bid_y(void) { return (int)__builtin_amdgcn_workgroup_id_y(); }
GRETA_INLINE int greta_bid_z(void) { return (int)__builtin_amdgcn_workgroup_id_z(); }
/* Lane within the wave64. */
GRETA_INLINE int greta_lane(void) {
  return (int)__builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u));
}
GRETA_INLINE void greta_sync(void) {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}
/* v from lane (lane ^ mask), through ds_bpermute (byte addresses). */
GRETA_INLINE float greta_shfl_xor(float v, int mask) {
  int src = (greta_lane() ^ mask) << 2;
  return __builtin_bit_cast(float, __builtin_amdgcn_ds_bpermute(src, __builtin_bit_cast(int, v)));
}
GRETA_INLINE float greta_bits_to_float(unsigned int u) { return __builtin_bit_cast(float, u); }
GRETA_INLINE unsigned int greta_float_to_bits(float f) { return __builtin_bit_cast(unsigned int, f); }
GRETA_INLINE float greta_half_to_float(unsigned short h) {
  return (float)__builtin_bit_cast(_Float16, h);
}
#else /* NVIDIA */
GRETA_INLINE int greta_tid(void) { return (int)threadIdx.x; }
GRETA_INLINE int greta_bid_x(void) { return (int)blockIdx.x; }
GRETA_INLINE int greta_bid_y(void) { return (int)blockIdx.y; }
GRETA_INLINE int greta_bid_z(void) { return (int)blockIdx.z; }
GRETA_INLINE int greta_lane(void) { return (int)(threadIdx.x & 31u); }
GRETA_INLINE void greta_sync(void) { __syncthreads(); }
GRETA_INLINE float greta_shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
GRETA_INLINE float greta_bits_to_float(unsigned int u) { return __uint_as_float(u); }
GRETA_INLINE unsigned int greta_float_to_bits(float f) { return __float_as_uint(f); }
GRETA_INLINE float greta_half_to_float(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
/* 3xTF32's split of an f32 operand (gemm_mma.h, gemm_wgmma.h): big =
 * tf32(v) (cvt.rna: 10 stored mantissa bits), small = tf32(v - big) (v - big
 * is exact in f32); both exact tf32 values, their low 13 bits zero. */
GRETA_INLINE void greta_tf32_split(float v, unsigned int &big, unsigned int &small) {
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(big) : "f"(v));
  const float rest = v - __uint_as_float(big);
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(small) : "f"(rest));
}
#endif

/* v from lane `src` of the wave (every lane must take part). */
#if defined(GRETA_AMD)
GRETA_INLINE float greta_shfl(float v, int src) {
  return __builtin_bit_cast(float, __builtin_amdgcn_ds_bpermute(src << 2, __builtin_bit_cast(int, v)));
}
#else
GRETA_INLINE float greta_shfl(float v, int src) { return __shfl_sync(0xffffffffu, v, src); }
#endif

/* ---- accurate math ----------------------------------------------------- */
#if defined(__HIPCC_RTC__) || defined(__CUDACC_RTC__)
/* The vendor libraries' expf / sqrtf are accurate to ~1 ulp (no fast-math). */
GRETA_INLINE float greta_exp(float x) { return expf(x); }
GRETA_INLINE float greta_sqrt(float x) { return sqrtf(x); }
#else
/* LLVM 19 lowers these without device libraries to the accurate expansions
 * (range-reduced v_exp_f32 + ldexp; v_sqrt_f32 with correction). */
GRETA_INLINE float greta_exp(float x) { return __builtin_expf(x); }
GRETA_INLINE float greta_sqrt(float x) { return __builtin_sqrtf(x); }
#endif
#if defined(__CUDACC_RTC__) || defined(__HIPCC_RTC__)
#define GRETA_RINT(x) rint(x)
#else
#define GRETA_RINT(x) __builtin_rint(x)
#endif
GRETA_INLINE float greta_fmax(float a, float b) { return a > b ? a : b; }
GRETA_INLINE float greta_neg_inf(void) { return greta_bits_to_float(0xff800000u); }

/* sin and cos of a float angle, correctly rounded in practice: the angle is
 * reduced by pi/2 in double (Cody-Waite, three parts) and the polynomials run
 * in double. Written here because amdgcn's v_sin_f32 is not accurate and
 * plain clang has no device library; used on every target for one answer
 * (the prefill q/k/v GEMM's epilogue takes greta_sincos_f32, sincos_f32.h). */
GRETA_INLINE void greta_sincos(float angle, float *out_sin, float *out_cos) {
  double x = (double)angle;
  double k = GRETA_RINT(x * 0.63661977236758134308); /* 2/pi */
  /* pi/2 = P1 + P1T, P1 with 33 significant bits: k * P1 is exact for
   * |k| < 2^20, i.e. angles below ~1.6e6 radians. */
  double r = x - k * 1.57079632673412561417e+00;
  r = r - k * 6.07710050650619224932e-11;
  double r2 = r * r;
  double s = r + r * r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
             r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800.0 + r2 * (-1.0 / 1307674368000.0)))))));
  double c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
             r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600.0 + r2 * (-1.0 / 87178291200.0)))))));
  long long q = (long long)k & 3;
  double sv = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
  double cv = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
  *out_sin = (float)sv;
  *out_cos = (float)cv;
}

/* ---- wave reductions ------------------------------------------------------- */
GRETA_INLINE float greta_wave_sum(float v) {
#pragma unroll
  for (int m = GRETA_WAVE / 2; m > 0; m >>= 1) v += greta_shfl_xor(v, m);
  return v;
}
GRETA_INLINE float greta_wave_max(float v) {
#pragma unroll
  for (int m = GRETA_WAVE / 2; m > 0; m >>= 1) v = greta_fmax(v, greta_shfl_xor(v, m));
  return v;
}

/* Sum (MAX = false) or max (MAX = true) of v over a block of NT threads; every
 * thread gets the result. `scratch` holds NT / GRETA_WAVE floats. */
template <int NT, bool MAX>
GRETA_INLINE float greta_block_reduce(float v, float *scratch) {
  v = MAX ? greta_wave_max(v) : greta_wave_sum(v);
  if (NT <= GRETA_WAVE) return v;
  const int nw = NT / GRETA_WAVE;
  int w = greta_tid() / GRETA_WAVE;
  greta_sync(); /* scratch may still be read by a previous reduction */
  if (greta_lane() == 0) scratch[w] = v;
  greta_sync();
  float r = scratch[0];
  for (int i = 1; i < nw; i++) r = MAX ? greta_fmax(r, scratch[i]) : r + scratch[i];
  return r;
}

/* ---- weight loads: f32, f16 or bf16 (greta_dtype_t values), as float ----- */

template <int DT>
GRETA_INLINE float greta_load_w(const void *w, greta_i64 i) {
  if (DT == GRETA_W_F32) return ((const float *)w)[i];
  unsigned short h = ((const unsigned short *)w)[i];
  if (DT == GRETA_W_F16) return greta_half_to_float(h);
  return greta_bits_to_float((unsigned int)h << 16);
}

/* Stores v into element i of a buffer of dtype DT (f32, or f16 / bf16
 * rounded to nearest even): KV-cache writes, bind-time weight folds. */
#if defined(GRETA_AMD)
GRETA_INLINE unsigned short greta_float_to_half(float v) {
  return __builtin_bit_cast(unsigned short, (_Float16)v);
}
#else
GRETA_INLINE unsigned short greta_float_to_half(float v) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
  return h;
}
#endif
GRETA_INLINE unsigned short greta_float_to_bf16(float v) {
  unsigned int u = greta_float_to_bits(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u); /* quiet NaN */
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
template <int DT>
GRETA_INLINE void greta_store_w(void *w, greta_i64 i, float v) {
  if (DT == GRETA_W_F32) ((float *)w)[i] = v;
  else if (DT == GRETA_W_F16) ((unsigned short *)w)[i] = greta_float_to_half(v);
  else ((unsigned short *)w)[i] = greta_float_to_bf16(v);
}
/* Elements i and i + 1 (i even) as greta_store_w stores each, in one store. */
template <int DT>
GRETA_INLINE void greta_store_w2(void *w, greta_i64 i, float v0, float v1) {
#if defined(GRETA_AMD)
  greta_store_w<DT>(w, i, v0);
  greta_store_w<DT>(w, i + 1, v1);
#else
  if (DT == GRETA_W_F32) *(float2 *)((float *)w + i) = make_float2(v0, v1);
  else if (DT == GRETA_W_F16)
    ((unsigned int *)w)[i / 2] = greta_float_to_half(v0) | (unsigned int)greta_float_to_half(v1) << 16;
  else ((unsigned int *)w)[i / 2] = greta_float_to_bf16(v0) | (unsigned int)greta_float_to_bf16(v1) << 16;
#endif
}

/* *p from memory no launch writes (a kernel's constant table): on NVIDIA
 * through the read-only path, which lets the compiler move the load past
 * the kernel's stores. */
GRETA_INLINE float greta_load_const(const float *p) {
#if defined(GRETA_AMD)
  return *p;
#else
  float v;
  asm("ld.global.nc.f32 %0, [%1];" : "=f"(v) : "l"(p));
  return v;
#endif
}

/* silu(v) = v sigmoid(v): glu, the GEMV and GEMM glu epilogues. */
GRETA_INLINE float greta_silu(float v) { return v / (1.0f + greta_exp(-v)); }

#if defined(GRETA_NVIDIA) && !defined(GRETA_SILU_EXACT_EPILOGUE)
/* silu for a value rounded to a half type next (the prefill gate/up GEMM's
 * epilogue, gemm.h's pack2): 2^(-v log2 e) and the reciprocal by the
 * hardware's approximations (ex2.approx, rcp.approx: a few ulp of f32),
 * against greta_silu's expf and IEEE division, 4 instructions where those
 * are about 20. The difference, about 2^-21 relative, is far below the
 * half types' step (2^-11 for f16); a result may round to the
 * neighbouring half only where the exact one lies within it of a tie.
 * For v under about -88 the power is inf and the result -0 (greta_silu's
 * is a tiny negative, -0 or the least subnormal in a half type); for large
 * v it is v, as greta_silu's. A bench compiled with
 * -DGRETA_SILU_EXACT_EPILOGUE keeps greta_silu (docs/gemm.md). */
GRETA_INLINE float greta_silu_to_half(float v) {
  float e, r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(v * -1.4426950408889634f));
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(1.0f + e));
  return v * r;
}
#else
GRETA_INLINE float greta_silu_to_half(float v) { return greta_silu(v); }
#endif

#if !defined(GRETA_AMD)
/* Two floats rounded to the half type DT (f16 or bf16, nearest even) and
 * packed, lo in the low 16 bits: the matrix-core operands on NVIDIA
 * (gemm_mma.h, gemm_wgmma.h, attention_mma.h). */
template <int DT>
GRETA_INLINE unsigned int greta_pack_half2(float lo, float hi) {
  unsigned int d;
  if (DT == GRETA_W_BF16) asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  else asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}
#endif

/* 16 bytes: 4 f32 or 8 halves. */
struct alignas(16) greta_u4 {
  unsigned int x, y, z, w;
};
/* Elements of a weight dtype in 16 bytes. */
template <int DT>
struct greta_wvec {
  enum { N = DT == GRETA_W_F32 ? 4 : 8 };
};
/* Converts element e (< greta_wvec<DT>::N) of a 16-byte load. */
template <int DT>
GRETA_INLINE float greta_u4_elem(const greta_u4 &v, int e) {
  unsigned int word = e / (DT == GRETA_W_F32 ? 1 : 2);
  unsigned int u = word == 0 ? v.x : word == 1 ? v.y : word == 2 ? v.z : v.w;
  if (DT == GRETA_W_F32) return greta_bits_to_float(u);
  unsigned short h = (unsigned short)((e & 1) ? (u >> 16) : (u & 0xffffu));
  if (DT == GRETA_W_F16) return greta_half_to_float(h);
  return greta_bits_to_float((unsigned int)h << 16);
}

/* ---- hand-off between blocks of one launch ------------------------------
 * A block publishes data with plain stores, greta_fence_release_device() and
 * then a count by greta_atomic_add_device(); the block that sees the final
 * count calls greta_fence_acquire_device() and reads that data with
 * greta_load_device() (on NVIDIA, from L2: the SM's L1 is not coherent).
 *
 * The cheaper block-wide form, when one thread counts for its block: every
 * thread stores, calls greta_publish_device(), greta_sync(); one thread
 * counts with greta_atomic_add_acq_rel_device(); greta_sync(); then every
 * thread of the block that saw the final count calls greta_acquire_device()
 * before its greta_load_device() reads. On NVIDIA the barrier orders the
 * block's stores before the counting thread's release (PTX's model is
 * cumulative through bar.sync, as cooperative groups' grid sync relies on),
 * so publish / acquire are empty and the block pays one atom.acq_rel.gpu
 * where NT membar.gl stood before. On AMD they keep the per-thread agent
 * fences (release: write-back and wait for this wave's stores; acquire:
 * invalidate this CU's caches). */
#if defined(GRETA_AMD)
GRETA_INLINE void greta_fence_release_device(void) { __builtin_amdgcn_fence(__ATOMIC_RELEASE, "agent"); }
GRETA_INLINE void greta_fence_acquire_device(void) { __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "agent"); }
/* Returns the value before the add; ordering comes from the fences. */
GRETA_INLINE int greta_atomic_add_device(int *p, int v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
GRETA_INLINE float greta_load_device(const float *p) { return *p; }
GRETA_INLINE void greta_publish_device(void) { greta_fence_release_device(); }
GRETA_INLINE void greta_acquire_device(void) { greta_fence_acquire_device(); }
GRETA_INLINE int greta_atomic_add_acq_rel_device(int *p, int v) {
  greta_fence_release_device();
  const int old = __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
  greta_fence_acquire_device();
  return old;
}
#else
GRETA_INLINE void greta_fence_release_device(void) { __threadfence(); }
GRETA_INLINE void greta_fence_acquire_device(void) { __threadfence(); }
GRETA_INLINE int greta_atomic_add_device(int *p, int v) { return atomicAdd(p, v); }
GRETA_INLINE float greta_load_device(const float *p) { return __ldcg(p); }
GRETA_INLINE void greta_publish_device(void) {}
GRETA_INLINE void greta_acquire_device(void) {}
GRETA_INLINE int greta_atomic_add_acq_rel_device(int *p, int v) {
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
  return old;
}
#endif

/* Rows of a launch: RC * (RPT ? T : 1). */
template <greta_i64 RC, int RPT>
GRETA_INLINE greta_i64 greta_rows(const int *params) {
  return RPT ? RC * (greta_i64)params[0] : RC;
}

/* ---- overlap with the previous launch (programmatic dependent launch) ----
 * On sm_90 the runtime may let a step's launch start while the launch before
 * it on the stream is still running (graph_runner.c). Before
 * greta_grid_begin() a kernel may only read what no launch of the step
 * writes: weights, the parameter block, KV-cache rows below pos. It writes
 * nothing. greta_grid_begin() first lets the next launch start, then waits
 * until the previous launch has finished and its memory is visible.
 * Letting go first is safe: the next launch's own wait returns only when
 * this one has finished, which is after this wait returned, so every launch
 * still sees all the writes before it; it starts the next launch's read-ahead
 * once this grid's last block is placed, instead of after its last wait
 * (7B decode 3.40 against 3.49 ms at L = 1024, docs/benchmarks.md).
 * Every kernel calls it: codegen at entry (kernel_select.c emit_kernel), or,
 * for the templates that read ahead (GEMV weights, decode attention's
 * cache rows), the template itself after issuing those loads. Without the
 * early start (AMD, sm_80, or GRETA_OVERLAP=0) the wait returns at once.
 * Its two halves apart: greta_grid_release() lets the next launch go (a
 * block counts once any of its threads has called it, or once it has
 * exited), greta_grid_wait() waits; the persistent GEMM lets go later
 * (gemm_wgmma.h, greta_gemm_wgmma_ws). */
GRETA_INLINE void greta_grid_release(void) {
#if defined(GRETA_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
GRETA_INLINE void greta_grid_wait(void) {
#if defined(GRETA_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
GRETA_INLINE void greta_grid_begin(void) {
  greta_grid_release();
  greta_grid_wait();
}
