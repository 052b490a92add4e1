/* Every op of the kernel library instantiated into one translation unit
 * (f32 / f16 / bf16 weights, decode and prefill variants) and compiled:
 *   clang for gfx942: ELF flags and metadata say gfx942:sramecc+:xnack-; the
 *     f32 GEMM uses v_mfma_f32_16x16x4_f32, the f16 GEMM the f16 MFMA, the
 *     bf16 GEMM the bf16 one; no kernel spills.
 *   NVRTC for sm_90: a cubin (EM_CUDA) holding every kernel.
 *   hiprtc for gfx90a when Debian's hiprtc is installed; hiprtc asked for
 *     gfx942 refuses with a message instead of crashing.
 * A missing toolchain skips its test with a message. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../templates/launch_constants.h"
#include "kernel_select.h"
#include "le.h"
#include "stats.h"
#include "toolchain.h"
#include "toolchain_impl.h"

#define MAX_KERNELS 128

typedef struct tu_s {
  strbuf_t source;
  int n;
  char names[MAX_KERNELS][64];
} tu_t;

static void add(const target_t *t, tu_t *tu, uint32_t op, uint32_t n_args, greta_op_attrs_t attr,
                int64_t rows_coeff, int64_t min_tokens, int64_t max_tokens, const char *name) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_args = n_args;
  l.attr = attr;
  l.rows_coeff = rows_coeff;
  l.rows_per_token = op != GRETA_OP_LAST_TOKEN; /* one token out, whatever T */
  for (uint32_t i = 0; i < n_args; i++) l.args[i].offset = 256 * i;
  /* As lowering sets it on the prefill entry (lower_tma). */
  if (max_tokens > 1) l.attr.tma = kernels_gemm_tma_rows(t, &l);
  greta_status_t s = kernels_instantiate(t, &l, min_tokens, max_tokens, name, &tu->source);
  cr_assert(!s, "%s: %s", name, greta_status_message(s));
  cr_assert(l.block[0] >= 32 && l.block[0] <= 1024, "%s: block %u", name, l.block[0]);
  for (int i = 0; i < 3; i++) cr_assert(l.grid[i] >= 1, "%s: grid[%d] = 0", name, i);
  /* The persistent GEMM's launches: a block an SM, whatever the step's rows. */
  if (l.attr.tma)
    cr_assert(l.grid[0] == (uint32_t)t->compute_units && l.grid[1] == 1 && l.grid[2] == 1 && l.grid_t_axis == 3,
              "%s: grid %u x %u x %u (T axis %u) for %u SMs", name, l.grid[0], l.grid[1], l.grid[2],
              l.grid_t_axis, (unsigned)t->compute_units);
  cr_assert_lt(tu->n, MAX_KERNELS);
  snprintf(tu->names[tu->n++], sizeof tu->names[0], "%s", name);
}

/* Llama-like shapes, small: dim 256, 4 heads (2 kv heads) of 64, ffn 688. */
static void make_tu(const target_t *t, tu_t *tu) {
  memset(tu, 0, sizeof *tu);
  kernels_source_prelude(t, &tu->source);
  static const char *const dts[] = {"f32", "f16", "bf16"};
  for (int dt = 0; dt < 3; dt++) {
    char n[64];
    for (int prefill = 0; prefill < 2; prefill++) {
      int64_t lo = prefill ? 2 : 1, hi = prefill ? 64 : 1;
      const char *ph = prefill ? "prefill" : "decode";
      snprintf(n, sizeof n, "matmul_%s_%s", ph, dts[dt]);
      add(t, tu, GRETA_OP_MATMUL, 3, (greta_op_attrs_t){.n = 688, .k = 256, .transpose_b = 1, .wdtype = dt},
          1, lo, hi, n);
      snprintf(n, sizeof n, "matmul_res_%s_%s", ph, dts[dt]);
      add(t, tu, GRETA_OP_MATMUL, 4,
          (greta_op_attrs_t){.n = 256, .k = 688, .transpose_b = 1, .residual = 1, .wdtype = dt}, 1, lo,
          hi, n);
      snprintf(n, sizeof n, "matmul_kn_%s_%s", ph, dts[dt]);
      add(t, tu, GRETA_OP_MATMUL, 3, (greta_op_attrs_t){.n = 256, .k = 260, .wdtype = dt}, 1, lo, hi, n);
    }
    /* Steps of up to 2048 rows of a 4096-wide weight: the large MFMA tile
     * (1 of 256 tiles per CU against 4 of 1024 small ones: a tie, which the
     * large tile takes). */
    snprintf(n, sizeof n, "matmul_big_prefill_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 3, (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .wdtype = dt},
        1, 2, 2048, n);
    /* With the residual, K a multiple of 64 (sm_90a: greta_gemm_wgmma's
     * epilogue adds it). */
    snprintf(n, sizeof n, "matmul_res_big_prefill_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 4,
        (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .residual = 1, .wdtype = dt}, 1, 2,
        512, n);
    /* Prefill x already in the weight's half type (ops.def: xdtype), from
     * rms_scale and glu storing it so (outdtype): small and large steps. */
    if (dt != GRETA_F32) {
      snprintf(n, sizeof n, "matmul_xh_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL, 3,
          (greta_op_attrs_t){.n = 688, .k = 256, .transpose_b = 1, .wdtype = dt, .xdtype = dt}, 1,
          2, 64, n);
      snprintf(n, sizeof n, "matmul_xh_res_big_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL, 4,
          (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .residual = 1, .wdtype = dt,
                             .xdtype = dt},
          1, 2, 2048, n);
      /* sm_90a: split-K over the step's workspace (a fifth operand), for
       * the o / down shapes of a 512-token entry (its 64 tiles of 128 x 256
       * in 2 parts outrun 128 of 128 x 128 in one wave: the 256-wide path
       * with the split). */
      if (target_wgmma(t)) {
        snprintf(n, sizeof n, "matmul_split_k_prefill_%s", dts[dt]);
        add(t, tu, GRETA_OP_MATMUL, 5,
            (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .residual = 1, .wdtype = dt,
                               .xdtype = dt, .split_k = 4},
            1, 2, 512, n);
        /* An entry of 2048 rows. */
        snprintf(n, sizeof n, "matmul_split_k_big_prefill_%s", dts[dt]);
        add(t, tu, GRETA_OP_MATMUL, 5,
            (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .residual = 1, .wdtype = dt,
                               .xdtype = dt, .split_k = 4},
            1, 2, 2048, n);
        /* x an f32 input (the issue-11 GEMM rows of bench/run.sh): 256-wide
         * tiles, only the 128-wide ones split. */
        snprintf(n, sizeof n, "matmul_split_k_f32x_big_prefill_%s", dts[dt]);
        add(t, tu, GRETA_OP_MATMUL, 4,
            (greta_op_attrs_t){.n = 4096, .k = 256, .transpose_b = 1, .wdtype = dt, .split_k = 4},
            1, 2, 2048, n);
      }
      snprintf(n, sizeof n, "rms_scale_%s", dts[dt]);
      add(t, tu, GRETA_OP_RMS_SCALE, 2, (greta_op_attrs_t){.n = 256, .outdtype = dt, .eps = 1e-5f}, 1,
          2, 64, n);
      snprintf(n, sizeof n, "glu_%s", dts[dt]);
      add(t, tu, GRETA_OP_GLU, 2, (greta_op_attrs_t){.n = 688, .outdtype = dt}, 1, 2, 64, n);
      /* Prefill's gate/up GEMM with silu(gate) up in its epilogue
       * (templates/gemm.h's virtual weight): x f32 or half, out half or
       * f32, ffn widths that leave the 32-column pairs (688) and the
       * 16-column ones (2008) ragged, small steps and 2048 rows. */
      snprintf(n, sizeof n, "glu_gemm_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL_GLU, 3,
          (greta_op_attrs_t){.n = 688, .k = 256, .wdtype = dt, .outdtype = dt}, 1, 2, 64, n);
      snprintf(n, sizeof n, "matmul_xh_glu_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL_GLU, 3,
          (greta_op_attrs_t){.n = 688, .k = 256, .wdtype = dt, .xdtype = dt, .outdtype = dt}, 1, 2,
          64, n);
      snprintf(n, sizeof n, "matmul_xh_glu_big_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL_GLU, 3,
          (greta_op_attrs_t){.n = 2008, .k = 256, .wdtype = dt, .xdtype = dt}, 1, 2, 2048, n);
      /* And the q/k/v GEMM with RoPE and the cache writes in its epilogue:
       * half x, small steps and 2048 rows; f32 x with head_dim 24 (pairs
       * of 12, ragged for every pair distance). */
      snprintf(n, sizeof n, "matmul_xh_qkv_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL_QKV, 5,
          (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128, .k = 256,
                             .wdtype = dt, .kvdtype = dt, .xdtype = dt, .theta = 10000.f},
          1, 2, 64, n);
      /* The 7B's q/k/v heads in entries of 2048 and 512 rows (the widest
       * tile any step takes: 256; 192 by default, 256 with GRETA_WGMMA_192=0). */
      static const struct {
        const char *name;
        int64_t rows;
      } qkv_7b[] = {{"big", 2048}, {"mid", 512}};
      for (size_t i = 0; i < sizeof qkv_7b / sizeof qkv_7b[0]; i++) {
        snprintf(n, sizeof n, "matmul_xh_qkv_%s_prefill_%s", qkv_7b[i].name, dts[dt]);
        add(t, tu, GRETA_OP_MATMUL_QKV, 5,
            (greta_op_attrs_t){.heads = 32, .kv_heads = 8, .head_dim = 128, .max_seq = 2048,
                               .k = 256, .wdtype = dt, .kvdtype = GRETA_F16, .xdtype = dt,
                               .theta = 10000.f},
            1, 2, qkv_7b[i].rows, n);
      }
      snprintf(n, sizeof n, "qkv_gemm_hd24_prefill_%s", dts[dt]);
      add(t, tu, GRETA_OP_MATMUL_QKV, 5,
          (greta_op_attrs_t){.heads = 3, .kv_heads = 1, .head_dim = 24, .max_seq = 128, .k = 256,
                             .wdtype = dt, .kvdtype = dt, .theta = 10000.f},
          1, 2, 128, n);
    }
    snprintf(n, sizeof n, "embedding_%s", dts[dt]);
    add(t, tu, GRETA_OP_EMBEDDING, 3, (greta_op_attrs_t){.vocab = 1000, .dim = 256, .wdtype = dt}, 1, 1,
        64, n);
    snprintf(n, sizeof n, "rmsnorm_%s", dts[dt]);
    add(t, tu, GRETA_OP_RMSNORM, 3, (greta_op_attrs_t){.n = 256, .wdtype = dt, .eps = 1e-5f}, 1, 1, 64,
        n);
    /* The fused decode projections (gemv.h), x RMS-normalised in the kernel:
     * K = 256 (x staged in LDS) and K = 12000 (48000 bytes of x: read from
     * global, past GRETA_GEMV_STAGE_BYTES), with the residual. */
    snprintf(n, sizeof n, "matmul_norm_decode_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 3,
        (greta_op_attrs_t){.n = 688, .k = 256, .transpose_b = 1, .norm = 1, .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, n);
    snprintf(n, sizeof n, "matmul_norm_res_bigk_decode_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 4,
        (greta_op_attrs_t){.n = 256, .k = 12000, .transpose_b = 1, .residual = 1, .norm = 1,
                           .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, n);
    /* Few pairs, long K: split-K (SPLIT > 1 waves per pair, partial last
     * chunk, x read from global) with the residual. */
    snprintf(n, sizeof n, "matmul_split_decode_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 4,
        (greta_op_attrs_t){.n = 256, .k = 8200, .transpose_b = 1, .residual = 1,
                           .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, n);
    /* And slices of whole chunks of loads (no partial chunk). */
    snprintf(n, sizeof n, "matmul_split_whole_decode_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL, 4,
        (greta_op_attrs_t){.n = 256, .k = 8192, .transpose_b = 1, .residual = 1,
                           .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, n);
    snprintf(n, sizeof n, "matmul_glu_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL_GLU, 3,
        (greta_op_attrs_t){.n = 688, .k = 256, .norm = 1, .wdtype = dt, .eps = 1e-5f}, 1, 1, 1, n);
    snprintf(n, sizeof n, "matmul_qkv_%s", dts[dt]);
    add(t, tu, GRETA_OP_MATMUL_QKV, 5,
        (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128, .k = 256,
                           .norm = 1, .wdtype = dt, .kvdtype = GRETA_F16, .eps = 1e-5f,
                           .theta = 10000.f},
        1, 1, 1, n);
    snprintf(n, sizeof n, "fold_norm_%s", dts[dt]);
    add(t, tu, GRETA_OP_FOLD_NORM, 2, (greta_op_attrs_t){.n = 256, .wdtype = dt}, 688, 1, 1, n);
  }
  add(t, tu, GRETA_OP_ROPE, 2, (greta_op_attrs_t){.heads = 4, .head_dim = 64, .theta = 10000.f}, 1, 1,
      64, "rope");
  /* llama3 frequency scaling: the same kernels, another inv_freq table. */
  add(t, tu, GRETA_OP_ROPE, 2,
      (greta_op_attrs_t){.heads = 4, .head_dim = 64, .theta = 500000.f, .rope_factor = 8.f,
                         .rope_low_freq_factor = 1.f, .rope_high_freq_factor = 4.f,
                         .rope_original_max = 8192.f},
      1, 1, 64, "rope_llama3");
  add(t, tu, GRETA_OP_KV_APPEND, 2, (greta_op_attrs_t){.kv_heads = 2, .head_dim = 64, .max_seq = 128},
      1, 1, 64, "kv_append");
  greta_op_attrs_t att = {.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128, .scale = 0.125f};
  add(t, tu, GRETA_OP_ATTENTION, 4, att, 1, 2, 64, "attention");
  greta_op_attrs_t att128 = att;
  att128.head_dim = 128;
  att128.scale = 0.088f;
  add(t, tu, GRETA_OP_ATTENTION, 4, att128, 1, 2, 64, "attention_hd128");
  /* An f16 cache: the append rounds, attention converts on load. */
  add(t, tu, GRETA_OP_KV_APPEND, 2,
      (greta_op_attrs_t){.kv_heads = 2, .head_dim = 64, .max_seq = 128, .kvdtype = GRETA_F16}, 1, 1,
      64, "kv_append_f16");
  greta_op_attrs_t att_f16 = att128;
  att_f16.kvdtype = GRETA_F16;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_f16, 1, 2, 64, "attention_f16");
  /* Prefill attention storing its output in half for the o projection
   * (outdtype): the flash kernels and, with an f32 cache, the generic one. */
  greta_op_attrs_t att_out = att_f16;
  att_out.outdtype = GRETA_F16;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_out, 1, 2, 64, "attention_f16_out_f16");
  att_out = att;
  att_out.outdtype = GRETA_BF16;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_out, 1, 2, 64, "attention_out_bf16");
  /* On AMD, half caches with head_dim 32 k take the MFMA flash attention;
   * bf16 with head_dim 64 and 256 (the largest). */
  greta_op_attrs_t att_bf16 = att;
  att_bf16.kvdtype = GRETA_BF16;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_bf16, 1, 2, 64, "attention_bf16");
  att_bf16.head_dim = 256;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_bf16, 1, 2, 512, "attention_bf16_hd256");
  /* On NVIDIA, half caches with head_dim 16 k take the mma.sync flash
   * attention (the default; GRETA_NVIDIA_FLASH_ATTENTION=0 turns it off): with
   * the two above, f16 and bf16 at head_dim 64; at head_dim 128 (these two
   * and attention_f16 above) sm_90a takes the wgmma one (GRETA_ATTN_WGMMA=0
   * turns it off). */
  att_bf16.head_dim = 128;
  att_bf16.scale = 0.088f;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_bf16, 1, 2, 512, "attention_bf16_hd128");
  greta_op_attrs_t att_f16_64 = att;
  att_f16_64.kvdtype = GRETA_F16;
  add(t, tu, GRETA_OP_ATTENTION, 4, att_f16_64, 1, 2, 64, "attention_f16_hd64");
  /* Decode (T = 1): f32 and f16 caches, head_dim 64 and 128, 64-row splits. */
  for (int kv16 = 0; kv16 < 2; kv16++)
    for (int hd = 64; hd <= 128; hd *= 2) {
      char n[64];
      greta_op_attrs_t dec = hd == 64 ? att : att128;
      dec.splits = 2;
      dec.split_rows = 64;
      dec.kvdtype = kv16 ? GRETA_F16 : GRETA_F32;
      snprintf(n, sizeof n, "attention_decode_hd%d_%s", hd, kv16 ? "f16" : "f32");
      add(t, tu, GRETA_OP_ATTENTION_DECODE, 6, dec, 1, 1, 1, n);
    }
  add(t, tu, GRETA_OP_MATMUL_QKV, 5,
      (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128, .k = 256,
                         .kvdtype = GRETA_F32, .theta = 10000.f},
      1, 1, 1, "matmul_qkv_plain_f32cache");
  add(t, tu, GRETA_OP_QKV_ROPE_APPEND, 4,
      (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128,
                         .kvdtype = GRETA_F16, .theta = 10000.f},
      1, 1, 64, "qkv_rope_append");
  add(t, tu, GRETA_OP_QKV_ROPE_APPEND, 4,
      (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128,
                         .kvdtype = GRETA_BF16, .theta = 500000.f, .rope_factor = 32.f,
                         .rope_low_freq_factor = 1.f, .rope_high_freq_factor = 4.f,
                         .rope_original_max = 8192.f},
      1, 1, 64, "qkv_rope_append_llama3");
  add(t, tu, GRETA_OP_MATMUL_QKV, 5,
      (greta_op_attrs_t){.heads = 4, .kv_heads = 2, .head_dim = 64, .max_seq = 128, .k = 256,
                         .norm = 1, .wdtype = GRETA_BF16, .kvdtype = GRETA_BF16, .eps = 1e-5f,
                         .theta = 500000.f, .rope_factor = 32.f, .rope_low_freq_factor = 1.f,
                         .rope_high_freq_factor = 4.f, .rope_original_max = 8192.f},
      1, 1, 1, "matmul_qkv_llama3");
  for (int dt = 0; dt < 3; dt++) {
    char n[32];
    snprintf(n, sizeof n, "bias_add_%d", dt);
    add(t, tu, GRETA_OP_BIAS_ADD, 3, (greta_op_attrs_t){.n = 688, .wdtype = dt}, 1, 1, 64, n);
  }
  add(t, tu, GRETA_OP_LAST_TOKEN, 2, (greta_op_attrs_t){.n = 688}, 2, 1, 64, "last_token");
  add(t, tu, GRETA_OP_RMS_SCALE, 2, (greta_op_attrs_t){.n = 256, .eps = 1e-5f}, 1, 1, 64, "rms_scale");
  add(t, tu, GRETA_OP_GLU, 2, (greta_op_attrs_t){.n = 688}, 1, 1, 64, "glu");
  greta_op_attrs_t ew = {.n = 688};
  add(t, tu, GRETA_OP_SILU, 2, ew, 1, 1, 64, "silu");
  add(t, tu, GRETA_OP_SILU_MUL, 3, ew, 1, 1, 64, "silu_mul");
  add(t, tu, GRETA_OP_ADD, 3, ew, 1, 1, 64, "add");
  add(t, tu, GRETA_OP_MUL, 3, ew, 1, 1, 64, "mul");
  add(t, tu, GRETA_OP_SCALE, 2, (greta_op_attrs_t){.n = 688, .factor = 0.5f}, 1, 1, 64, "scale");
  add(t, tu, GRETA_OP_COPY, 2, ew, 1, 1, 64, "copy");
  add(t, tu, GRETA_OP_SOFTMAX, 2, (greta_op_attrs_t){.n = 128}, 4, 1, 64, "softmax");
  greta_op_attrs_t cm = {.n = 128, .inner = 4};
  add(t, tu, GRETA_OP_CAUSAL_MASK, 2, cm, 4, 1, 64, "causal_mask");
  add(t, tu, GRETA_OP_MASKED_SOFTMAX, 2, cm, 4, 1, 64, "masked_softmax");
  add(t, tu, GRETA_OP_TRANSPOSE, 2, (greta_op_attrs_t){.in_rows = 4, .in_cols = 64}, 4, 1, 64,
      "transpose");
}

static void parse(const char *text, target_t *t) {
  greta_status_t s = target_parse(text, t);
  cr_assert(!s, "%s", greta_status_message(s));
}

/* The toolchain `requested` for the target, or NULL (said on stderr) when
 * it is not installed. */
static const toolchain_t *toolchain_or_skip(const char *target_text, const char *requested,
                                            target_t *t, const char **version) {
  parse(target_text, t);
  const toolchain_t *tc = NULL;
  greta_status_t st = toolchain_pick(t, requested, &tc, version);
  if (st) {
    /* stderr, not cr_log_warn: Criterion exits non-zero after a warning. */
    fprintf(stderr, "skipping %s for %s: %s\n", requested, target_text, greta_status_message(st));
    greta_status_free(st);
    return NULL;
  }
  return tc;
}

/* Compiles the TU with `requested` or skips when it is not installed. */
static bool compile_or_skip(const char *target_text, const char *requested, target_t *t, tu_t *tu,
                            uint8_t **obj, size_t *size) {
  const char *version = NULL;
  const toolchain_t *tc = toolchain_or_skip(target_text, requested, t, &version);
  if (!tc)
    return false;
  make_tu(t, tu);
  char *log = NULL;
  greta_status_t st = toolchain_compile(tc, t, tu->source.data, 0, obj, size, &log);
  cr_assert_null(st, "%s failed: %s", version, greta_status_message(st));
  free(log);
  return true;
}

static bool contains(const uint8_t *p, size_t n, const char *s) {
  return memmem(p, n, s, strlen(s)) != NULL;
}

/* The disassembly of one kernel contains `mnemonic`. */
static void expect_instruction(const char *path, const char *kernel, const char *mnemonic) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "llvm-objdump-19 -d --disassemble-symbols=%s %s 2>&1", kernel, path);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  char line[1024];
  bool found = false;
  int lines = 0;
  while (fgets(line, sizeof line, p)) {
    lines++;
    if (strstr(line, mnemonic)) found = true;
  }
  pclose(p);
  cr_assert(found, "%s: no %s in %d lines of disassembly", kernel, mnemonic, lines);
}

/* The stats of the kernel named `name`, or NULL. */
static const kernel_stats_t *stats_named(const kernel_stats_t *ks, size_t n, const char *name) {
  for (size_t j = 0; j < n; j++)
    if (strcmp(ks[j].name, name) == 0) return &ks[j];
  return NULL;
}

/* Every kernel of the translation unit whose name starts with `only` (NULL:
 * every one) is in the object, with no spill and no stack; returns how many
 * were checked. */
static int check_every_kernel(const target_t *t, const tu_t *tu, const uint8_t *obj, size_t size,
                               bool check_spills, const char *only) {
  kernel_stats_t *ks = NULL;
  size_t n = 0;
  int checked = 0;
  greta_status_t s = stats_collect(t, obj, size, &ks, &n);
  cr_assert_null(s, "%s", greta_status_message(s));
  for (int i = 0; i < tu->n; i++) {
    if (only && strncmp(tu->names[i], only, strlen(only)) != 0) continue;
    checked++;
    const kernel_stats_t *k = stats_named(ks, n, tu->names[i]);
    cr_assert_not_null(k, "kernel %s missing from the %s object", tu->names[i], t->id);
    cr_assert_gt(k->occupancy, 0, "%s: occupancy 0", k->name);
    cr_assert(k->code_bytes > 0 && (size_t)k->code_bytes < size, "%s: %lld bytes of code", k->name,
              (long long)k->code_bytes);
    if (check_spills) {
      cr_assert_eq(k->vgpr_spills, 0, "%s spills %lld VGPRs", k->name, (long long)k->vgpr_spills);
      cr_assert_eq(k->sgpr_spills, 0, "%s spills %lld SGPRs", k->name, (long long)k->sgpr_spills);
      cr_assert_eq(k->private_bytes, 0, "%s uses %lld bytes of scratch", k->name,
                   (long long)k->private_bytes);
    } else {
      cr_assert_gt(k->regs, 0, "%s: no register count", k->name);
      cr_assert_eq(k->private_bytes, 0, "%s: %lld bytes of stack (spills?)", k->name,
                   (long long)k->private_bytes);
    }
  }
  free(ks);
  return checked;
}

Test(kernels_compile, clang_gfx942) {
  target_t t;
  tu_t tu;
  uint8_t *obj = NULL;
  size_t size = 0;
  if (!compile_or_skip("gfx942", "clang", &t, &tu, &obj, &size)) {
    cr_skip_test("clang >= 17 not installed (apt-get install clang-19 lld-19)");
    return;
  }
  cr_assert_gt(size, 64);
  cr_assert_eq(memcmp(obj, "\177ELF", 4), 0);
  cr_assert_eq(le_u16(obj + 18), 224, "e_machine %llu, want EM_AMDGPU", (unsigned long long)le_u16(obj + 18));
  uint32_t flags = (uint32_t)le_u32(obj + 48);
  cr_assert_eq(flags & 0xff, 0x4c, "e_flags mach 0x%x, want gfx942 (0x4c)", flags & 0xff);
  cr_assert_eq(flags & 0xc00, 0xc00, "e_flags 0x%x: sramecc not on", flags);
  cr_assert_eq(flags & 0x300, 0x200, "e_flags 0x%x: xnack not off", flags);
  cr_assert(contains(obj, size, "amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-"),
            "metadata note lacks the full target ID");
  check_every_kernel(&t, &tu, obj, size, true, NULL);
  /* The half-cache attentions up to head_dim 128 run two waves a SIMD, so
   * their accumulators live in VGPRs: no AGPR, no copy around a rescale
   * (attention_mfma.h; at head_dim 256 they need AGPRs and one wave). */
  {
    kernel_stats_t *ks = NULL;
    size_t n = 0;
    greta_status_t st = stats_collect(&t, obj, size, &ks, &n);
    cr_assert_null(st, "%s", greta_status_message(st));
    static const char *const two_waves[] = {"attention_f16", "attention_bf16", "attention_f16_hd64",
                                            "attention_bf16_hd128"};
    for (size_t i = 0; i < sizeof two_waves / sizeof *two_waves; i++) {
      const kernel_stats_t *k = stats_named(ks, n, two_waves[i]);
      cr_assert_not_null(k, "kernel %s missing", two_waves[i]);
      cr_expect_eq(k->agprs, 0, "%s holds %lld AGPRs", k->name, (long long)k->agprs);
      cr_expect_geq(k->occupancy, 2, "%s: %lld waves a SIMD", k->name, (long long)k->occupancy);
    }
    free(ks);
  }

  char path[] = "/tmp/greta-test-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, obj, size), (ssize_t)size);
  close(fd);
  if (system("llvm-objdump-19 --version > /dev/null 2>&1") == 0) {
    /* Linear weights whose K the step divides (16 for f32, 32 for halves):
     * greta_gemm_mfma's 32x32 forms; otherwise greta_gemm's 16x16 ones. */
    expect_instruction(path, "matmul_prefill_f32", "v_mfma_f32_32x32x2_f32");
    expect_instruction(path, "matmul_res_prefill_f32", "v_mfma_f32_32x32x2_f32");
    expect_instruction(path, "matmul_big_prefill_f32", "v_mfma_f32_32x32x2_f32");
    expect_instruction(path, "matmul_kn_prefill_f32", "v_mfma_f32_16x16x4_f32");
    expect_instruction(path, "matmul_prefill_f16", "v_mfma_f32_32x32x8_f16");
    expect_instruction(path, "matmul_big_prefill_f16", "v_mfma_f32_32x32x8_f16");
    expect_instruction(path, "matmul_res_prefill_f16", "v_mfma_f32_16x16x16_f16"); /* K = 688 */
    expect_instruction(path, "matmul_prefill_bf16", "v_mfma_f32_32x32x8_bf16");
    expect_instruction(path, "matmul_big_prefill_bf16", "v_mfma_f32_32x32x8_bf16");
    expect_instruction(path, "attention_f16", "v_mfma_f32_32x32x8_f16");
    expect_instruction(path, "attention_bf16", "v_mfma_f32_32x32x8_bf16");
    expect_instruction(path, "attention_bf16_hd256", "v_mfma_f32_32x32x8_bf16");
    /* clang 19 has the buffer builtins: K and V tiles come through buffer
     * resources (attention_mfma.h), not 64-bit addresses per load. */
    expect_instruction(path, "attention_f16", "buffer_load_dwordx4");
    expect_instruction(path, "attention_bf16_hd128", "buffer_load_dwordx4");
  } else {
    cr_assert_fail("llvm-objdump-19 is not installed (apt-get install llvm-19): the MFMA "
            "instructions cannot be checked");
  }
  unlink(path);
  free(obj);
  strbuf_free(&tu.source);
}

/* sm_80 (and sm_90 with GRETA_WGMMA=0): no wgmma, so the large-T prefill
 * GEMM tiles (greta_gemm_mma_big) run, here with x in half (XH). Every
 * kernel compiles without local memory (matmul_res_prefill_f16 had 8 bytes
 * of stack here in earlier builds; with nvrtc 13.0 it now has none). */
Test(kernels_compile, nvrtc_sm80) {
  target_t t;
  tu_t tu;
  uint8_t *obj = NULL;
  size_t size = 0;
  if (!compile_or_skip("sm_80", "nvrtc", &t, &tu, &obj, &size)) {
    cr_skip_test("NVRTC not found (CUDA toolkit)");
    return;
  }
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 4096LL, 256LL, 1, 1, 1LL, 1, 0, 1>"),
            "the half-x GEMM of 2048 rows, without wgmma");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_BF16, 4032LL, 256LL, 1, 0, 1LL, 1, 0, 1>"
                                    "(params, x, b, 0, 0, greta_glu_pairs<16, 2008LL, GRETA_W_F32>(out))"),
            "the half-x GLU GEMM of 2048 rows, without wgmma, over 4032 virtual columns");
  cr_expect_eq(check_every_kernel(&t, &tu, obj, size, false, "matmul_xh_"), 14,
               "the fourteen half-x GEMMs (f16, bf16; small and large; plain, glu and qkv, "
               "qkv also at 512 rows)");
  check_every_kernel(&t, &tu, obj, size, false, NULL); /* and every other kernel */
  free(obj);
  strbuf_free(&tu.source);
}

Test(kernels_compile, nvrtc_sm90) {
  target_t t;
  tu_t tu;
  uint8_t *obj = NULL;
  size_t size = 0;
  const bool compiled = compile_or_skip("sm_90", "nvrtc", &t, &tu, &obj, &size);
  if (!compiled) {
    cr_skip_test("NVRTC not found (CUDA toolkit)");
    return;
  }
  cr_assert_eq(memcmp(obj, "\177ELF", 4), 0, "not an ELF cubin");
  cr_assert_eq(le_u16(obj + 18), 190, "e_machine %llu, want EM_CUDA (190)", (unsigned long long)le_u16(obj + 18));
  for (int i = 0; i < tu.n; i++) cr_assert(contains(obj, size, tu.names[i]), "no symbol %s", tu.names[i]);
  check_every_kernel(&t, &tu, obj, size, false, NULL);
  /* The half-cache prefill attentions are greta_attention_mma (its 128-thread
   * blocks) and, at head_dim 128, greta_attention_wgmma (384), and their
   * fragments (O: head_dim / 2 floats a lane) must stay in registers: a
   * stack frame would be local memory. */
  cr_assert(strstr(tu.source.data, "greta_attention_mma<"), "no greta_attention_mma instance");
  cr_assert(strstr(tu.source.data, "greta_attention_wgmma<"), "no greta_attention_wgmma instance");
  static const struct {
    const char *name;
    int threads;
  } flash[] = {{"attention_f16_hd64", GRETA_ATTN_MMA_NT},
               {"attention_f16", GRETA_ATTN_WGMMA_NT},
               {"attention_f16_out_f16", GRETA_ATTN_WGMMA_NT},
               {"attention_bf16", GRETA_ATTN_MMA_NT},
               {"attention_bf16_hd128", GRETA_ATTN_WGMMA_NT},
               {"attention_bf16_hd256", GRETA_ATTN_MMA_NT}};
  kernel_stats_t *ks = NULL;
  size_t n = 0;
  greta_status_t s = stats_collect(&t, obj, size, &ks, &n);
  cr_assert_null(s, "%s", greta_status_message(s));
  for (size_t i = 0; i < sizeof flash / sizeof flash[0]; i++) {
    const kernel_stats_t *k = stats_named(ks, n, flash[i].name);
    cr_assert_not_null(k, "%s missing from the cubin", flash[i].name);
    cr_assert_eq(k->block_threads, flash[i].threads, "%s: %lld threads a block, want %d", k->name,
                 (long long)k->block_threads, flash[i].threads);
    cr_assert_eq(k->private_bytes, 0, "%s: %lld bytes of local memory (spilled fragments)", k->name,
                 (long long)k->private_bytes);
    fprintf(stderr, "sm_90 %s: %lld registers, no local memory\n", k->name, (long long)k->regs);
  }
  free(ks);
  free(obj);
  strbuf_free(&tu.source);
}

/* Whether a greta_gemm_mma call of the source has `what` among its
 * template arguments. */
static bool gemm_takes(const char *source, const char *what) {
  const char *call = "greta_gemm_mma<GRETA_W_";
  for (const char *at = strstr(source, call); at; at = strstr(at + 1, call)) {
    const char *end = strchr(at, '>'), *hit = strstr(at, what);
    if (hit && end && hit < end) return true;
  }
  return false;
}

/* By default sm_90 is built for sm_90a and the half-weight prefill
 * GEMMs with K % 64 == 0 carry the set of greta_gemm_wgmma's tile widths
 * their steps take: 128 alone where the largest step has fewer 128 x 256
 * tiles than the chip has SMs (688 wide, 64 rows: 3), up to 256 where it
 * has a wave of them (4096 wide, 2048 rows: 256);
 * f32 weights with K % 32 == 0 take 128 (greta_gemm_wgmma_tf32); every
 * kernel compiles without local memory. sm_80, and sm_90 with
 * GRETA_WGMMA=0, keep plain sm_90. */
Test(kernels_compile, nvrtc_sm90a_wgmma) {
  target_t t, sm80;
  tu_t tu, plain;
  uint8_t *obj = NULL;
  size_t size = 0;
  parse("sm_80", &sm80);
  unsetenv("GRETA_WGMMA");
  /* With GRETA_WGMMA_192=0 no kernel has 192-wide tiles: the q/k/v GEMM of
   * 512 rows takes 128 and 256 (its 96 wide tiles fill half the SMs). */
  setenv("GRETA_WGMMA_192", "0", 1);
  parse("sm_90", &t);
  make_tu(&t, &plain);
  unsetenv("GRETA_WGMMA_192");
  cr_expect(!gemm_takes(plain.source.data, "GRETA_WGMMA_W192"));
  cr_expect(strstr(plain.source.data, "greta_gemm_mma<GRETA_W_BF16, 6144LL, 256LL, 1, 0, 1LL, 1, "
                                      "GRETA_WGMMA_W128 | GRETA_WGMMA_W256, 2, 132>"
                                      "(params, x, b, 0, 0, greta_qkv_pairs<16, 32LL, 8LL, 128LL, "),
            "the q/k/v GEMM of 512 rows without 192-wide tiles");
  strbuf_free(&plain.source);
  /* With GRETA_TMA=0 the GEMMs of half x copy it with cp.async (XH = 1)
   * and take no tensor maps. */
  setenv("GRETA_TMA", "0", 1);
  make_tu(&t, &plain);
  unsetenv("GRETA_TMA");
  cr_expect(strstr(plain.source.data, "greta_gemm_mma<GRETA_W_BF16, 4096LL, 256LL, 1, 1, 1LL, 1, "
                                      "GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 1, 132>"
                                      "(params, x, b, out, res, greta_no_pairs(), ws);"),
            "with GRETA_TMA=0 the split_k GEMM of half x without tensor maps");
  cr_expect(!strstr(plain.source.data, "greta_tmap map_x"), "with GRETA_TMA=0 no kernel takes a map");
  strbuf_free(&plain.source);
  /* With GRETA_ATTN_WGMMA=0 the head_dim 128 prefill attentions keep the
   * mma.sync kernel; by default they take the wgmma one. */
  setenv("GRETA_ATTN_WGMMA", "0", 1);
  make_tu(&t, &plain);
  unsetenv("GRETA_ATTN_WGMMA");
  cr_expect(!strstr(plain.source.data, "greta_attention_wgmma<"),
            "with GRETA_ATTN_WGMMA=0 no attention on wgmma");
  cr_expect(strstr(plain.source.data, "greta_attention_mma<4LL, 2LL, 128, "),
            "with GRETA_ATTN_WGMMA=0 head_dim 128 takes greta_attention_mma");
  strbuf_free(&plain.source);
  make_tu(&t, &plain);
  cr_expect(strstr(plain.source.data, "greta_attention_wgmma<4LL, 2LL, 128, "),
            "by default head_dim 128 takes greta_attention_wgmma");
  strbuf_free(&plain.source);
  /* The object below: the defaults, 192-wide tiles and the copy engine
   * (the GLU GEMM of 2008 pairs below keeps cp.async: that path compiles
   * too). */
  const bool compiled = compile_or_skip("sm_90", "nvrtc", &t, &tu, &obj, &size);
  cr_expect(gemm_takes(tu.source.data, "GRETA_WGMMA_W192"));
  cr_expect(!target_wgmma(&sm80), "sm_80 has no wgmma");
  cr_expect(target_wgmma(&t), "on by default for sm_90");
  setenv("GRETA_WGMMA", "0", 1);
  cr_expect(!target_wgmma(&t), "GRETA_WGMMA=0 turns it off");
  unsetenv("GRETA_WGMMA");
  if (!compiled) {
    cr_skip_test("NVRTC not found (CUDA toolkit)");
    return;
  }
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 688LL, 256LL, 1, 0, 1LL, 1, GRETA_WGMMA_W128, 0, 132>"),
            "the 688-wide f16 prefill GEMM should take 128-wide wgmma tiles");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_BF16, 4096LL, 256LL, 1, 0, 1LL, 1, "
                                    "GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 0, 132>"),
            "the 4096-wide bf16 GEMM of 2048 rows should take 128- to 256-wide wgmma tiles");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 4096LL, 256LL, 1, 1, 1LL, 1, GRETA_WGMMA_W128, 0, 132>"),
            "the residual GEMM of 512 rows should take 128-wide wgmma tiles");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 4096LL, 256LL, 1, 1, 1LL, 1, GRETA_WGMMA_W128 | "
                                    "GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 2, 132>"),
            "the GEMM of x in f16, 2048 rows, should take wgmma tiles of every width "
            "and both operands through the copy engine");
  cr_assert(strstr(tu.source.data, "const void *x, const void *b, float *out, const float *res, void *ws, "
                                    "const __grid_constant__ greta_tmap map_x, const __grid_constant__ "
                                    "greta_tmap map_w) {"),
            "a kernel of half x takes the two tensor maps by value after its buffers");
  /* Kernels with maps read ahead (the template waits for the launch before
   * it after issuing its first weight boxes); the others wait at entry. */
  cr_assert(strstr(tu.source.data, "greta_tmap map_w) {\n  greta_gemm_mma<"),
            "a kernel with tensor maps leaves the wait to greta_gemm_mma");
  cr_assert(!strstr(tu.source.data, "greta_tmap map_w) {\n  greta_grid_begin();"),
            "no kernel with tensor maps waits at entry");
  /* Kernels with maps run greta_gemm_wgmma_ws's three warpgroups; the
   * others, the 256 threads of the GEMM's other paths. */
  int with_maps = 0;
  for (const char *k = strstr(tu.source.data, "__launch_bounds__("); k; k = strstr(k + 1, "__launch_bounds__(")) {
    const char *body = strstr(k, ") {\n");
    cr_assert(body);
    const bool maps = strncmp(body - strlen("greta_tmap map_w"), "greta_tmap map_w", 16) == 0;
    with_maps += maps;
    if (maps) cr_expect(strncmp(k, "__launch_bounds__(384)", 22) == 0, "%.200s", k);
    else if (strstr(k, "greta_gemm_mma<") && strstr(k, "greta_gemm_mma<") < body + 200)
      cr_expect(strncmp(k, "__launch_bounds__(256)", 22) == 0, "%.200s", k);
  }
  cr_expect(with_maps >= 3, "%d kernels with tensor maps", with_maps);
  cr_assert(strstr(tu.source.data, "  greta_grid_begin();\n  greta_gemm_mma<GRETA_W_F16, 688LL, 256LL"),
            "a GEMM without maps waits at entry");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_BF16, 4096LL, 256LL, 1, 1, 1LL, 1, GRETA_WGMMA_W128 | "
                                    "GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 2, 132>"
                                    "(params, x, b, out, res, greta_no_pairs(), ws, &map_x, &map_w)"),
            "a split_k GEMM should weigh its steps' tiles against the 132 SMs and take the "
            "workspace and the maps");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F32, 688LL, 256LL, 1, 0, 1LL, 1, GRETA_WGMMA_W128, 0, 132>"),
            "f32 weights with 32 | K should take 3xTF32 on wgmma's 128-wide tiles");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F32, 256LL, 688LL, 1, 1, 1LL, 1, 0, 0>"),
            "f32 weights with K = 688 keep 3xTF32 on mma.sync");
  /* The GLU GEMM's tile width counts the virtual weight's columns: 2008
   * gate/up pairs are 4032 columns, 256 wide at 2048 rows (16 x 16 tiles).
   * 2008 is no whole number of 16-pair runs, so the copy engine's boxes
   * (pair_layout.h) do not fit: x raw through cp.async, no maps. */
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 4032LL, 256LL, 1, 0, 1LL, 1, "
                                    "GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 1, 132>"
                                    "(params, x, b, 0, 0, greta_glu_pairs<16, 2008LL, GRETA_W_F32>(out))"),
            "the GLU GEMM of 2048 rows should take 128- to 256-wide wgmma tiles, x raw, out f32");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_BF16, 1376LL, 256LL, 1, 0, 1LL, 1, GRETA_WGMMA_W128, 0, 132>"
                                    "(params, x, b, 0, 0, greta_glu_pairs<16, 688LL, GRETA_W_BF16>(out))"),
            "the GLU GEMM of f32 x, out bf16");
  /* q/k/v: 48 heads of 64 pairs are 6144 virtual columns, the stores
   * through greta_qkv_pairs. */
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_F16, 6144LL, 256LL, 1, 0, 1LL, 1, "
                                    "GRETA_WGMMA_W128 | GRETA_WGMMA_W192 | GRETA_WGMMA_W256, 2, 132>"
                                    "(params, x, b, 0, 0, greta_qkv_pairs<16, 32LL, 8LL, 128LL, "
                                    "2048LL, GRETA_W_F16>(params, q, k_cache, v_cache, "),
            "the q/k/v GEMM of 2048 rows with RoPE and the cache writes in its epilogue");
  cr_assert(strstr(tu.source.data, "greta_gemm_mma<GRETA_W_BF16, 6144LL, 256LL, 1, 0, 1LL, 1, "
                                    "GRETA_WGMMA_W128 | GRETA_WGMMA_W192, 2, 132>"
                                    "(params, x, b, 0, 0, greta_qkv_pairs<16, 32LL, 8LL, 128LL, "),
            "the q/k/v GEMM of 512 rows: 128- and 192-wide tiles (256 "
            "of 192 at 512 rows)");
  check_every_kernel(&t, &tu, obj, size, false, NULL);
  /* x in f32 goes through registers: its 256-wide tiles leave split-K's sum
   * out (greta_gemm_mma's WIDE_SPLIT), which took these kernels to the
   * 255-register cap and 17-20 % slower on the H200 (docs/gemm.md). */
  kernel_stats_t *ks = NULL;
  size_t nks = 0;
  greta_status_t st = stats_collect(&t, obj, size, &ks, &nks);
  cr_assert_null(st, "%s", greta_status_message(st));
  static const char *const f32_x_wide[] = {"matmul_split_k_f32x_big_prefill_f16",
                                           "matmul_split_k_f32x_big_prefill_bf16"};
  for (size_t i = 0; i < sizeof f32_x_wide / sizeof f32_x_wide[0]; i++) {
    const kernel_stats_t *k = stats_named(ks, nks, f32_x_wide[i]);
    cr_assert_not_null(k, "%s missing from the cubin", f32_x_wide[i]);
    fprintf(stderr, "sm_90a %s (x f32, 256-wide tiles): %lld registers\n", k->name, (long long)k->regs);
    cr_expect_lt(k->regs, 250, "%s: %lld registers: split-K's sum in the wide f32-x tiles?", k->name,
                 (long long)k->regs);
  }
  free(ks);
  free(obj);
  strbuf_free(&tu.source);
}

/* The whole library's source and launches for every target, without a
 * toolchain: add() checks each launch's block and grid (the persistent
 * GEMMs' a block an SM), and each kernel must be defined in the source once.
 * Cheap, so the ASan pass keeps it where it leaves out the sm_90, sm_90a
 * and hiprtc compiles (scripts/test.sh). */
Test(kernels_compile, sources_and_launches_for_every_target) {
  static const char *const targets[] = {"sm_80", "sm_90", "gfx942", "gfx90a"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    target_t t;
    tu_t tu;
    parse(targets[i], &t);
    make_tu(&t, &tu);
    cr_assert_gt(tu.n, 40, "%s: %d kernels", targets[i], tu.n);
    for (int k = 0; k < tu.n; k++) {
      char def[96];
      snprintf(def, sizeof def, "\n%s(", tu.names[k]);
      const char *at = strstr(tu.source.data, def);
      cr_expect(at && !strstr(at + 1, def), "%s: %s defined %s", targets[i], tu.names[k],
                at ? "twice" : "nowhere");
    }
    strbuf_free(&tu.source);
  }
}

/* A 384-thread block with a producer warpgroup giving back registers to
 * PRODUCER and two consumers taking CONSUMER (gemm_wgmma.h's
 * greta_wg3_producer_regs / greta_wg3_consumer_regs), compiled by NVRTC
 * with every template in front. */
static greta_status_t compile_wg3_split(const target_t *t, const toolchain_t *tc, int producer,
                                        int consumer, char **log) {
  strbuf_t src = {0};
  kernels_source_prelude(t, &src);
  strbuf_printf(&src,
                "#ifdef GRETA_HAVE_WGMMA\n"
                "__global__ void __launch_bounds__(384, 1) wg3_probe(int *out) {\n"
                "  if (threadIdx.x < 128) { greta_wg3_producer_regs<%d, %d>(); return; }\n"
                "  greta_wg3_consumer_regs<%d, %d>();\n"
                "  out[threadIdx.x] = 1;\n"
                "}\n"
                "#endif\n",
                producer, consumer, producer, consumer);
  uint8_t *obj = NULL;
  size_t size = 0;
  greta_status_t st = toolchain_compile(tc, t, src.data, 0, &obj, &size, log);
  free(obj);
  strbuf_free(&src);
  return st;
}

/* ptxas takes any setmaxnreg split, but a producer's registers plus two
 * consumers' above the 3 x 168 a 384-thread block holds make
 * setmaxnreg.inc wait forever (four attention drafts hung on the H200 so):
 * the templates refuse such a split when they compile. */
Test(kernels_compile, nvrtc_refuses_a_register_split_past_the_block) {
  target_t t;
  const char *version = NULL;
  const toolchain_t *tc = toolchain_or_skip("sm_90", "nvrtc", &t, &version);
  if (!tc) {
    cr_skip_test("NVRTC not found (CUDA toolkit)");
    return;
  }
  cr_assert(target_wgmma(&t), "sm_90 is built as sm_90a");
  char *log = NULL;
  greta_status_t st = compile_wg3_split(&t, tc, 56, 224, &log);
  cr_expect_null(st, "56 + 2 x 224 = 3 x 168 fits: %s", greta_status_message(st));
  greta_status_free(st);
  free(log);
  log = NULL;
  st = compile_wg3_split(&t, tc, 48, 232, &log);
  cr_expect_not_null(st, "48 + 2 x 232 is 8 registers past the block's 504");
  cr_expect(log && strstr(log, "setmaxnreg: more registers than a 384-thread block holds"),
            "NVRTC's log names the split: %s", log ? log : "(none)");
  greta_status_free(st);
  free(log);
}

/* Split-K (on unless GRETA_SPLIT_K=0) is only for sm_90a's wgmma GEMM over
 * a half Linear weight with 64 | K and K >= 256, whatever the entry's
 * largest step (the kernel splits the steps that leave SMs idle); kernel
 * selection refuses a split_k launch anywhere else. No toolchain needed. */
static int split_parts(const target_t *t, greta_op_attrs_t a) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = GRETA_OP_MATMUL;
  l.attr = a;
  l.rows_coeff = 1;
  l.rows_per_token = 1;
  return kernels_gemm_split_k(t, &l);
}

Test(kernels_compile, split_k_only_where_the_wgmma_gemm_runs) {
  target_t sm90, sm80, amd;
  parse("sm_90", &sm90);
  parse("sm_80", &sm80);
  parse("gfx942", &amd);
  const greta_op_attrs_t o = {.n = 4096, .k = 4096, .transpose_b = 1, .residual = 1,
                              .wdtype = GRETA_F16};
  setenv("GRETA_SPLIT_K", "0", 1);
  cr_expect_eq(split_parts(&sm90, o), 0, "GRETA_SPLIT_K=0 turns it off");
  unsetenv("GRETA_SPLIT_K");
  cr_expect_eq(split_parts(&sm90, o), 4);
  cr_expect_eq(split_parts(&sm80, o), 0);
  cr_expect_eq(split_parts(&amd, o), 0);
  greta_op_attrs_t a = o;
  a.wdtype = GRETA_F32;
  cr_expect_eq(split_parts(&sm90, a), 0, "f32 weights");
  a = o, a.k = 192;
  cr_expect_eq(split_parts(&sm90, a), 0, "fewer than 4 K stages");
  a = o, a.k = 4100;
  cr_expect_eq(split_parts(&sm90, a), 0, "64 does not divide K");
  a = o, a.transpose_b = 0;
  cr_expect_eq(split_parts(&sm90, a), 0, "B [K, N]");
  cr_expect_eq(kernels_split_k_workspace_bytes(&sm90), 4ull * (256 + 132ull * 128 * 256));

  /* Refused: sm_80 (no wgmma), f32 weights on sm_90a. */
  const struct {
    const target_t *target;
    greta_dtype_t wdtype;
  } refused[] = {{&sm80, GRETA_F16}, {&sm90, GRETA_F32}};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    greta_plan_launch_t l;
    memset(&l, 0, sizeof l);
    l.op = GRETA_OP_MATMUL;
    l.n_args = 5;
    l.attr = o;
    l.attr.wdtype = refused[i].wdtype;
    l.attr.split_k = 4;
    l.rows_coeff = 1;
    l.rows_per_token = 1;
    strbuf_t src = {0};
    greta_status_t st = kernels_instantiate(refused[i].target, &l, 2, 512, "split_refused", &src);
    cr_expect(st && strstr(greta_status_message(st), "split_k"),
              "case %zu: split_k must be refused", i);
    greta_status_free(st);
    strbuf_free(&src);
  }
}

Test(kernels_compile, hiprtc_gfx90a) {
  target_t t;
  tu_t tu;
  uint8_t *obj = NULL;
  size_t size = 0;
  if (!compile_or_skip("gfx90a", "hiprtc", &t, &tu, &obj, &size)) {
    cr_skip_test("hiprtc not installed (apt-get install libamdhip64-dev): gfx90a not checked");
    return;
  }
  cr_assert_eq(memcmp(obj, "\177ELF", 4), 0, "hiprtc output was not unbundled to an ELF");
  cr_assert_eq(le_u16(obj + 18), 224);
  cr_assert_eq(le_u32(obj + 48) & 0xff, 0x3f, "e_flags mach, want gfx90a (0x3f)");
  check_every_kernel(&t, &tu, obj, size, true, NULL);
  free(obj);
  strbuf_free(&tu.source);
}

Test(kernels_compile, hiprtc_refuses_gfx942_before_rocm6) {
  target_t t;
  parse("gfx942", &t);
  const toolchain_t *tc = NULL;
  const char *version = NULL;
  greta_status_t st = toolchain_pick(&t, "hiprtc", &tc, &version);
  if (!st) {
    /* A ROCm >= 6 hiprtc: gfx942 is legitimately supported. */
    cr_assert(strstr(version, "hiprtc"), "%s", version);
    int major = atoi(strchr(version, ' ') + 1);
    cr_assert_geq(major, 6, "hiprtc %s accepted gfx942", version);
    return;
  }
  const char *msg = greta_status_message(st);
  cr_assert(strstr(msg, "gfx942"), "message: %s", msg);
  cr_assert(strstr(msg, "ROCm >= 6") || strstr(msg, "hiprtc unavailable: tried"), "message: %s", msg);
  greta_status_free(st);
  /* auto falls back to clang when it is installed. */
  st = toolchain_pick(&t, "auto", &tc, &version);
  if (!st) cr_assert_str_eq(toolchain_name(tc), "clang");
  greta_status_free(st);
}

Test(kernels_compile, geometry_scales_with_tokens) {
  target_t t;
  parse("gfx942", &t);
  strbuf_t src = {0};
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = GRETA_OP_MATMUL;
  l.n_args = 3;
  l.attr.n = 4096;
  l.attr.k = 4096;
  l.attr.transpose_b = 1;
  l.rows_coeff = 1;
  l.rows_per_token = 1;
  /* Tiles spread over MI300X's 304 CUs: a CU's share x tile area (x 1.19 for
   * the small tile with 16-bit weights), the smaller wins, the large tile on
   * a tie. T <= 512, f32: small 8 x 32 = 256 tiles, 1 each, 8192; large
   * 4 x 16 = 64, 1 each, 32768: the small tile, 64 x 128. */
  greta_status_t s = kernels_instantiate(&t, &l, 2, 512, "g", &src);
  cr_assert(!s, "%s", greta_status_message(s));
  cr_assert(strstr(src.data, "greta_gemm_mfma<GRETA_W_F32, 4096LL, 4096LL, 0, 1LL, 1, 1, 2, 0>"),
            "%s", src.data);
  cr_assert_eq(l.grid[0], 32);
  cr_assert_eq(l.grid[1], 8);
  cr_assert_eq(l.grid_t_axis, 1);
  cr_assert_eq(l.grid_t_per_token, 1);
  cr_assert_eq(l.grid_t_tile, 64);
  cr_assert_eq(l.block[0], 256);
  /* More shapes: (N, K, dtype, max_tokens) -> grid x, y at the largest
   * step and rows per tile, each derived in its comment. */
  static const struct {
    int64_t n, k;
    int dt;
    int64_t max_tokens;
    uint32_t gx, gy, tile;
  } cases[] = {
      /* f32, T <= 2048: small 32 x 32 = 1024 tiles, 4 a CU, 32768; large
       * 16 x 16 = 256, 1, 32768: a tie, the large tile. */
      {4096, 4096, GRETA_F32, 2048, 16, 16, 128},
      /* f16, N 11008: small 32 x 86 = 2752 tiles, 10 a CU, 10 x 8192 x
       * 1.19 = 97485; large 16 x 43 = 688, 3, 98304: small. */
      {11008, 4096, GRETA_F16, 2048, 86, 32, 64},
      /* f32 (no slowdown): 81920 against 98304: small. */
      {11008, 4096, GRETA_F32, 2048, 86, 32, 64},
      /* f16, N 22016: small 5504 tiles, 19 a CU, 185221; large 1376, 5,
       * 163840: large. */
      {22016, 4096, GRETA_F16, 2048, 86, 16, 128},
      /* K = 4100 is no multiple of 16: greta_gemm's 64 x 64 tiles. */
      {4096, 4100, GRETA_F32, 512, 64, 8, 64},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    l.attr.n = cases[i].n;
    l.attr.k = cases[i].k;
    l.attr.wdtype = cases[i].dt;
    s = kernels_instantiate(&t, &l, 2, cases[i].max_tokens, "g", &src);
    cr_assert(!s, "%s", greta_status_message(s));
    cr_expect(l.grid[0] == cases[i].gx && l.grid[1] == cases[i].gy && l.grid_t_tile == cases[i].tile,
              "case %zu (N %lld K %lld dtype %d T <= %lld): grid %u x %u, %u rows a tile; expected "
              "%u x %u, %u",
              i, (long long)cases[i].n, (long long)cases[i].k, cases[i].dt,
              (long long)cases[i].max_tokens, l.grid[0], l.grid[1], l.grid_t_tile, cases[i].gx,
              cases[i].gy, cases[i].tile);
  }
  l.attr.n = 4096;
  l.attr.k = 4096;
  l.attr.wdtype = GRETA_F32;
  /* A bad dtype and a bad arg count are refused with a message. */
  l.attr.wdtype = 3;
  s = kernels_instantiate(&t, &l, 2, 512, "g", &src);
  cr_assert(s && strstr(greta_status_message(s), "dtype"), "%s", greta_status_message(s));
  greta_status_free(s);
  l.attr.wdtype = 0;
  l.n_args = 2;
  s = kernels_instantiate(&t, &l, 2, 512, "g", &src);
  cr_assert(s && strstr(greta_status_message(s), "expected 3 arguments"), "%s",
            greta_status_message(s));
  greta_status_free(s);
  strbuf_free(&src);
}
