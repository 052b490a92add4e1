/* Backend conformance, written once and run against every backend present.
 *
 * Small .gm models cover every op with sizes that are not multiples of any
 * tile (n = 67, K = 67, N = 45, head_dim 24, T from 1 to 37). Each is
 * compiled three ways and stepped through the same sequence of prefills and
 * decodes with the same weights and inputs:
 *   reference: the cpu plan on the CPU backend;
 *   gpu plan on the CPU backend: an sm_90 plan (split-K decode attention,
 *     GEMV/GEMM kernels chosen) interpreted by the CPU, always runs;
 *   gpu: the device's own plan on its GPU backend, when a GPU is present.
 * Outputs must agree within f32 rounding (half-weight matmuls: half),
 * measured as ||got - want|| / ||want|| over all the steps' outputs. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

static const char elementwise_gm[] =
    "model conformance_elementwise\n"
    "const n = 67\n"
    "const vocab = 37\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input a: f32[T, n]\n"
    "input b: f32[T, n]\n"
    "input c: f32[T, n]\n"
    "input s: f32[T, 3, 29]\n"
    "input u: f32[T, 3, 29]\n"
    "input m: f32[T, 5, 7]\n"
    "input tokens: i32[T]\n"
    "weight g: [n] = \"norm.weight\"\n"
    "weight table: [vocab, n] = \"embed.weight\"\n"
    "output norm = rmsnorm(a, g, 1e-5)\n"
    "output gated = silu(b) * c\n"
    "output act = silu(a)\n"
    "output sum = a + b\n"
    "output prod = b * c\n"
    "output scaled = c * 0.37\n"
    "output probs = softmax(b)\n"
    "output masked = causal_mask(s)\n"
    "output attn_probs = softmax(causal_mask(u))\n"
    "output flipped = m.T\n"
    "output embedded = embedding(tokens, table)\n";

/* Rows of whole 16-byte groups, 2 and 3 a thread: greta_rmsnorm keeps
 * them in registers (templates/norm.h). */
static const char norm_gm[] =
    "model conformance_norm\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input a: f32[T, 2048]\n"
    "input b: f32[T, 3072]\n"
    "weight g: [2048] = \"g\"\n"
    "weight h: [3072] = \"h\"\n"
    "output na = rmsnorm(a, g, 1e-5)\n"
    "output nb = rmsnorm(b, h, 1e-6)\n";

static const char matmul_gm[] =
    "model conformance_matmul\n"
    "const k = 67\n"
    "const n = 45\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input x: f32[T, k]\n"
    "input r: f32[T, n]\n"
    "weight w: [n, k] = \"linear.weight\"\n"
    "weight v: [k, n] = \"plain.weight\"\n"
    "output linear = x @ w.T\n"
    "output plain = x @ v\n"
    "output residual = r + x @ w.T\n";

/* Few output rows over a long K: the decode GEMV splits K over the waves of
 * a pair (kernel_select.c gemv_split), 8192 in slices of whole chunks of
 * loads, 8200 ragged (a partial last chunk). */
static const char matmul_split_gm[] =
    "model conformance_matmul_split\n"
    "const k = 8192\n"
    "const k2 = 8200\n"
    "const n = 6\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input x: f32[T, k]\n"
    "input y: f32[T, k2]\n"
    "input r: f32[T, n]\n"
    "weight w: [n, k] = \"whole.weight\"\n"
    "weight u: [n, k2] = \"ragged.weight\"\n"
    "output linear = x @ w.T\n"
    "output residual = r + x @ w.T\n"
    "output ragged = y @ u.T\n";

static const char attention_gm[] =
    "model conformance_attention\n"
    "const heads = 6\n"
    "const kv_heads = 2\n"
    "const head_dim = 24\n"
    "const max_seq = 80\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input q: f32[T, heads, head_dim]\n"
    "input k: f32[T, kv_heads, head_dim]\n"
    "input v: f32[T, kv_heads, head_dim]\n"
    "cache k_cache: [max_seq, kv_heads, head_dim]\n"
    "cache v_cache: [max_seq, kv_heads, head_dim]\n"
    "output rq = rope(q, 500.0)\n"
    "output out = attention(rope(q, 10000.0), append(k_cache, rope(k, 10000.0)), "
    "append(v_cache, v))\n";

/* Prefill attention on half caches (GQA), the models below:
 * - head_dim 32: the matrix-core flash attention (NVIDIA greta_attention_mma,
 *   AMD greta_attention_mfma), whose 64 / 128-row query blocks and 64 /
 *   32-row key tiles these steps leave partial;
 * - head_dim 128: on sm_90a the wgmma flash attention (greta_attention_wgmma:
 *   128-row query blocks, 128-row key tiles in a ring of 3). The steps leave
 *   blocks and tiles partial, turn the ring over (the 300-token step at pos
 *   123 reads 4 tiles) and give a block a warpgroup with no rows (its rows
 *   256 .. 299); with 48 heads on 8, its 500-token step is 192 query blocks
 *   of heads, more than an H200 has SMs (a block an SM, as a persistent
 *   kernel would run them, takes two in turn). */
#define FLASH_ATTENTION_GM(HEADS, KV_HEADS, HEAD_DIM, MAX_SEQ)                             \
  "model conformance_attention_hd" #HEAD_DIM "\n"                                          \
  "const heads = " #HEADS "\n"                                                             \
  "const kv_heads = " #KV_HEADS "\n"                                                       \
  "const head_dim = " #HEAD_DIM "\n"                                                       \
  "const max_seq = " #MAX_SEQ "\n"                                                         \
  "set weight_dtype = WDTYPE\n"                                                            \
  "dim T\n"                                                                                \
  "input q: f32[T, heads, head_dim]\n"                                                     \
  "input k: f32[T, kv_heads, head_dim]\n"                                                  \
  "input v: f32[T, kv_heads, head_dim]\n"                                                  \
  "cache k_cache: [max_seq, kv_heads, head_dim]\n"                                         \
  "cache v_cache: [max_seq, kv_heads, head_dim]\n"                                         \
  "output out = attention(rope(q, 10000.0), append(k_cache, rope(k, 10000.0)), "          \
  "append(v_cache, v))\n"
static const char attention_hd32_gm[] = FLASH_ATTENTION_GM(4, 2, 32, 160);
static const char attention_hd128_gm[] = FLASH_ATTENTION_GM(4, 2, 128, 448);
static const char attention_hd128_heads48_gm[] = FLASH_ATTENTION_GM(48, 8, 128, 1024);

/* A Llama block at odd sizes: every fused op (matmul_qkv and matmul_glu with
 * their norms folded, attention_decode; rms_scale, qkv_rope_append and glu
 * at prefill; fold_norm at bind time) with 3 query heads sharing one k/v
 * head, stacked q/k/v rows 72 + 24 + 24 and K = 72, not tile multiples. */
static const char block_gm[] =
    "model conformance_block\n"
    "const dim = 72\n"
    "const heads = 3\n"
    "const kv_heads = 1\n"
    "const head_dim = 24\n"
    "const ffn = 100\n"
    "const max_seq = 80\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input x: f32[T, dim]\n"
    "weight g1: [dim] = \"attn_norm\"\n"
    "weight wq: [heads * head_dim, dim] = \"q\"\n"
    "weight wk: [kv_heads * head_dim, dim] = \"k\"\n"
    "weight wv: [kv_heads * head_dim, dim] = \"v\"\n"
    "weight wo: [dim, heads * head_dim] = \"o\"\n"
    "weight g2: [dim] = \"ffn_norm\"\n"
    "weight w1: [ffn, dim] = \"gate\"\n"
    "weight w3: [ffn, dim] = \"up\"\n"
    "weight w2: [dim, ffn] = \"down\"\n"
    "cache k_cache: [max_seq, kv_heads, head_dim]\n"
    "cache v_cache: [max_seq, kv_heads, head_dim]\n"
    "h = rmsnorm(x, g1, 1e-5)\n"
    "q = rope(reshape(h @ wq.T, [T, heads, head_dim]), 10000.0)\n"
    "k = rope(reshape(h @ wk.T, [T, kv_heads, head_dim]), 10000.0)\n"
    "v = reshape(h @ wv.T, [T, kv_heads, head_dim])\n"
    "a = reshape(attention(q, append(k_cache, k), append(v_cache, v)), [T, dim])\n"
    "x1 = x + a @ wo.T\n"
    "h2 = rmsnorm(x1, g2, 1e-5)\n"
    "output y = x1 + (silu(h2 @ w1.T) * (h2 @ w3.T)) @ w2.T\n";

/* Issue 10's additions on a block: llama3 RoPE scaling (head_dim 24,
 * theta 500000, original context 32: all three frequency bands) in the fused
 * matmul_qkv / qkv_rope_append; q/k/v biases (bias_add, so rope and the
 * appends run unfused); last() of the block's output (last_token at
 * prefill, a view at decode). BIAS is "+ b?" or "" for the fused variant. */
static const char llama3_block_gm[] =
    "model conformance_llama3_block\n"
    "const dim = 72\n"
    "const heads = 3\n"
    "const kv_heads = 1\n"
    "const head_dim = 24\n"
    "const ffn = 100\n"
    "const max_seq = 80\n"
    "set weight_dtype = WDTYPE\n"
    "set rope_scaling = llama3(8.0, 1.0, 4.0, 32)\n"
    "dim T\n"
    "input x: f32[T, dim]\n"
    "weight g1: [dim] = \"attn_norm\"\n"
    "weight wq: [heads * head_dim, dim] = \"q\"\n"
    "weight wk: [kv_heads * head_dim, dim] = \"k\"\n"
    "weight wv: [kv_heads * head_dim, dim] = \"v\"\n"
    "weight bq: [heads * head_dim] = \"q.bias\"\n"
    "weight bk: [kv_heads * head_dim] = \"k.bias\"\n"
    "weight bv: [kv_heads * head_dim] = \"v.bias\"\n"
    "weight wo: [dim, heads * head_dim] = \"o\"\n"
    "weight gf: [dim] = \"final_norm\"\n"
    "weight wout: [53, dim] = \"lm_head\"\n"
    "cache k_cache: [max_seq, kv_heads, head_dim]\n"
    "cache v_cache: [max_seq, kv_heads, head_dim]\n"
    "h = rmsnorm(x, g1, 1e-5)\n"
    "q = rope(reshape(h @ wq.T BIASQ, [T, heads, head_dim]), 500000.0)\n"
    "k = rope(reshape(h @ wk.T BIASK, [T, kv_heads, head_dim]), 500000.0)\n"
    "v = reshape(h @ wv.T BIASV, [T, kv_heads, head_dim])\n"
    "a = reshape(attention(q, append(k_cache, k), append(v_cache, v)), [T, dim])\n"
    "output y = x + a @ wo.T\n"
    "output logits = rmsnorm(last(y), gf, 1e-5) @ wout.T\n";

/* llama3_block_gm with the biases in ("+ bq" ...) or out (fused q/k/v). */
static char *llama3_block(int bias) {
  static const char *const marks[][2] = {{"BIASQ", "+ bq"}, {"BIASK", "+ bk"}, {"BIASV", "+ bv"}};
  char *text = strdup(llama3_block_gm);
  for (int i = 0; i < 3; i++) {
    char *at = strstr(text, marks[i][0]);
    const char *with = bias ? marks[i][1] : "";
    size_t len = strlen(marks[i][0]), wlen = strlen(with);
    char *out = malloc(strlen(text) - len + wlen + 1);
    memcpy(out, text, (size_t)(at - text));
    memcpy(out + (at - text), with, wlen);
    strcpy(out + (at - text) + wlen, at + len);
    free(text);
    text = out;
  }
  return text;
}

/* The fused decode projections without attention: the MLP (rmsnorm folded
 * into matmul_glu at decode; rms_scale, the stacked GEMM and glu at prefill),
 * the down projection with its residual, and a final norm folded into a lone
 * matmul (an LM head). dim 72 gives 16-byte rows (vector loads), ffn 100
 * half rows of 200 bytes (scalar loads), vocab 53 an odd row count. */
static const char mlp_head_gm[] =
    "model conformance_mlp_head\n"
    "const dim = 72\n"
    "const ffn = 100\n"
    "const vocab = 53\n"
    "set weight_dtype = WDTYPE\n"
    "dim T\n"
    "input x: f32[T, dim]\n"
    "weight g2: [dim] = \"ffn_norm\"\n"
    "weight w1: [ffn, dim] = \"gate\"\n"
    "weight w3: [ffn, dim] = \"up\"\n"
    "weight w2: [dim, ffn] = \"down\"\n"
    "weight gf: [dim] = \"final_norm\"\n"
    "weight wout: [vocab, dim] = \"lm_head\"\n"
    "h2 = rmsnorm(x, g2, 1e-5)\n"
    "x1 = x + (silu(h2 @ w1.T) * (h2 @ w3.T)) @ w2.T\n"
    "output logits = rmsnorm(x1, gf, 1e-5) @ wout.T\n";

/* Step sequences: prefills of odd sizes, decodes in between. The attention
 * one fills 70 of 80 cache rows, crossing decode attention's split boundaries
 * (16 rows per split at these sizes, compiler/driver.c). */
static const int short_steps[] = {1, 2, 17, 1, 5, 0};
static const int attention_steps[] = {37, 1, 1, 23, 1, 7, 0};
/* 77 prompt rows (two query blocks of 64, the second of 13), then 45 at
 * pos 78 (keys 0 .. 122: a partial second key tile), 126 of 160 rows. */
static const int attention_hd32_steps[] = {77, 1, 45, 3, 0};
static const int attention_hd128_steps[] = {77, 1, 45, 300, 2, 0};
static const int attention_hd128_heads48_steps[] = {500, 1, 250, 0};

/* The model with its weight dtype set (WDTYPE in the text). */
static greta_model_t *compile(const char *gm, const char *dtype, const char *target_name,
                              int plan_only, char **why) {
  char text[4096];
  const char *at = strstr(gm, "WDTYPE");
  snprintf(text, sizeof text, "%.*s%s%s", (int)(at - gm), gm, dtype, at + 6);
  return support_compile("conformance.gm", text, NULL, target_name, 0, plan_only, why);
}

/* ---- run ------------------------------------------------------------------ */


static int64_t elems(const greta_tensor_info_t *t, int64_t tokens) {
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= t->dims[d].coeff * (t->dims[d].symbol ? tokens : 1);
  return n;
}

/* Every output of every step, concatenated, as floats. */
typedef struct trace_s {
  float *values;
  size_t count;
} trace_t;

static void run(greta_model_t *model, greta_device_t *device, const int *steps, uint64_t seed,
                trace_t *trace) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "%s", greta_status_message(st));
  support_seed(seed);
  for (int i = 0; i < greta_model_weight_count(model); i++) {
    const greta_tensor_info_t *w = greta_model_weight(model, i);
    size_t n = (size_t)elems(w, 1);
    float *data = malloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) data[k] = (float)(support_uniform() * 2 - 1);
    st = greta_session_bind_weight(s, w->name, GRETA_F32, data, n);
    cr_assert_null(st, "%s", greta_status_message(st));
    free(data);
  }
  size_t cap = 1 << 16;
  trace->values = malloc(cap * sizeof(float));
  trace->count = 0;
  int64_t pos = 0;
  for (int k = 0; steps[k]; k++) {
    int64_t tokens = steps[k];
    for (int i = 0; i < greta_model_input_count(model); i++) {
      const greta_tensor_info_t *in = greta_model_input(model, i);
      size_t n = (size_t)elems(in, tokens);
      float *data = malloc(n * 4);
      for (size_t e = 0; e < n; e++) {
        if (in->dtype == GRETA_I32) ((int32_t *)data)[e] = (int32_t)(support_uniform() * 37);
        else data[e] = (float)(support_uniform() * 6 - 3);
      }
      st = greta_session_set_input(s, in->name, data, n * 4);
      cr_assert_null(st, "%s", greta_status_message(st));
      free(data);
    }
    st = greta_session_step(s, tokens, pos);
    cr_assert_null(st, "step T=%lld pos=%lld: %s", (long long)tokens, (long long)pos,
                   greta_status_message(st));
    for (int o = 0; o < greta_model_output_count(model); o++) {
      const greta_tensor_info_t *out = greta_model_output(model, o);
      size_t n = (size_t)elems(out, tokens);
      while (trace->count + n > cap) trace->values = realloc(trace->values, (cap *= 2) * sizeof(float));
      st = greta_session_get_output(s, out->name, trace->values + trace->count, n * 4);
      cr_assert_null(st, "%s", greta_status_message(st));
      trace->count += n;
    }
    pos += tokens;
  }
  greta_session_destroy(s);
}

/* ||got - want|| / ||want|| over every finite value of the trace, in
 * double; -inf (masked scores) must match exactly and NaN never passes. */
static double trace_error(const trace_t *got, const trace_t *want) {
  cr_assert_eq(got->count, want->count);
  double num = 0, den = 0;
  for (size_t i = 0; i < got->count; i++) {
    float g = got->values[i], w = want->values[i];
    if (isinf(w) || isinf(g)) {
      if (g != w) return INFINITY;
      continue;
    }
    num += ((double)g - w) * ((double)g - w);
    den += (double)w * w;
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void conform(const char *what, const char *gm, const int *steps, const char *dtype,
                    double tolerance) {
  char *why = NULL;
  greta_device_t *cpu;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &cpu);
  cr_assert_null(st, "%s", greta_status_message(st));
  greta_model_t *ref_model = compile(gm, dtype, "cpu", 0, &why);
  cr_assert(ref_model, "%s", why);
  free(why);
  trace_t want, got;
  run(ref_model, cpu, steps, 42, &want);

  /* A GPU plan interpreted by the CPU backend. */
  greta_model_t *gpu_plan = compile(gm, dtype, "sm_90", 1, &why);
  cr_assert(gpu_plan, "%s", why);
  free(why);
  run(gpu_plan, cpu, steps, 42, &got);
  double e = trace_error(&got, &want);
  fprintf(stderr, "conformance %s %s: sm_90 plan on cpu: %.2e\n", what, dtype, e);
  cr_expect_leq(e, 1e-6, "%s %s: the sm_90 plan on the CPU differs by %.3e", what, dtype, e);
  free(got.values);
  greta_model_destroy(gpu_plan);

  /* The device's own plan on its GPU, when there is one. */
  char reasons[1024];
  greta_device_t *gpu = support_open_gpu(reasons, sizeof reasons);
  if (!gpu) {
    fprintf(stderr, "conformance %s %s: no GPU, GPU backend not run (%s)\n", what, dtype, reasons);
  } else {
    greta_model_t *model = compile(gm, dtype, greta_device_target(gpu), 0, &why);
    cr_assert(model, "a GPU is present but its plan does not compile: %s", why);
    free(why);
    run(model, gpu, steps, 42, &got);
    e = trace_error(&got, &want);
    fprintf(stderr, "conformance %s %s: %s on %s: %.2e (tolerance %.0e)\n", what, dtype,
            greta_device_target(gpu), greta_device_name(gpu), e, tolerance);
    cr_expect_leq(e, tolerance, "%s %s on %s: %.3e", what, dtype, greta_device_name(gpu), e);
    free(got.values);
    greta_model_destroy(model);
    greta_device_destroy(gpu);
  }
  free(want.values);
  greta_model_destroy(ref_model);
  greta_device_destroy(cpu);
}

Test(conformance, elementwise_norm_softmax_mask_transpose_embedding) {
  conform("elementwise", elementwise_gm, short_steps, "f32", 1e-5);
}
Test(conformance, elementwise_half_tables) {
  conform("elementwise", elementwise_gm, short_steps, "f16", 1e-5);
}
Test(conformance, rmsnorm_rows_in_registers) {
  conform("norm", norm_gm, short_steps, "f32", 1e-5);
  conform("norm", norm_gm, short_steps, "f16", 1e-5);
}
Test(conformance, matmul_f32) { conform("matmul", matmul_gm, short_steps, "f32", 1e-5); }
/* Half weights: GEMMs may round activations to half on matrix cores, so
 * the bound is the type's own precision (f16: 2^-11, bf16: 2^-8 relative). */
Test(conformance, matmul_f16) { conform("matmul", matmul_gm, short_steps, "f16", 2e-3); }
Test(conformance, matmul_bf16) { conform("matmul", matmul_gm, short_steps, "bf16", 1.6e-2); }
Test(conformance, matmul_split_k_f32) {
  conform("matmul_split", matmul_split_gm, short_steps, "f32", 1e-5);
}
Test(conformance, matmul_split_k_f16) {
  conform("matmul_split", matmul_split_gm, short_steps, "f16", 2e-3);
}
Test(conformance, matmul_split_k_bf16) {
  conform("matmul_split", matmul_split_gm, short_steps, "bf16", 1.6e-2);
}
Test(conformance, rope_append_attention) {
  conform("attention", attention_gm, attention_steps, "f32", 1e-5);
}
/* Half weights make the KV cache half (the default): one rounding of a K or
 * V element may go the other way between devices, which moves the output by
 * the type's precision at most. */
Test(conformance, rope_append_attention_f16_cache) {
  conform("attention", attention_gm, attention_steps, "f16", 1e-3);
}
Test(conformance, rope_append_attention_bf16_cache) {
  conform("attention", attention_gm, attention_steps, "bf16", 8e-3);
}
Test(conformance, rope_append_attention_hd32_f16_cache) {
  conform("attention_hd32", attention_hd32_gm, attention_hd32_steps, "f16", 1e-3);
}
Test(conformance, rope_append_attention_hd32_bf16_cache) {
  conform("attention_hd32", attention_hd32_gm, attention_hd32_steps, "bf16", 8e-3);
}
Test(conformance, rope_append_attention_hd128_f16_cache) {
  conform("attention_hd128", attention_hd128_gm, attention_hd128_steps, "f16", 1e-3);
}
Test(conformance, rope_append_attention_hd128_bf16_cache) {
  conform("attention_hd128", attention_hd128_gm, attention_hd128_steps, "bf16", 8e-3);
}
Test(conformance, rope_append_attention_hd128_heads48_f16_cache) {
  conform("attention_hd128_heads48", attention_hd128_heads48_gm, attention_hd128_heads48_steps, "f16",
          1e-3);
}
Test(conformance, fused_block_f32) { conform("block", block_gm, attention_steps, "f32", 1e-5); }
Test(conformance, fused_block_f16) { conform("block", block_gm, attention_steps, "f16", 2e-3); }
Test(conformance, fused_block_bf16) { conform("block", block_gm, attention_steps, "bf16", 1.6e-2); }
/* The block with some consts replaced (each line of `lines` by the next). */
static void conform_edited(const char *name, const char *const *lines, size_t n_lines,
                           const int *steps, const char *dtype, double tolerance) {
  char text[4096], next[4096];
  snprintf(text, sizeof text, "%s", block_gm);
  for (size_t i = 0; i + 1 < n_lines; i += 2) {
    const char *at = strstr(text, lines[i]);
    cr_assert(at, "%s", lines[i]);
    snprintf(next, sizeof next, "%.*s%s%s", (int)(at - text), text, lines[i + 1],
             at + strlen(lines[i]));
    memcpy(text, next, sizeof text);
  }
  conform(name, text, steps, dtype, tolerance);
}
/* The block at dim 192 (a multiple of 64; 8 heads of 24, 2 kv heads):
 * prefill's q/k/v and gate/up GEMMs read half x and take RoPE with the
 * cache writes, and silu(gate) up, as paired epilogues (templates/gemm.h),
 * over virtual weights whose pairs are ragged (12 a head; ffn 100). A
 * 67-row prompt takes sm_90a's wgmma tiles (a partial one), 9 rows the
 * small tiles. */
static const int epilogue_steps[] = {67, 1, 9, 1, 0};
static const char *const dim192[] = {"const dim = 72\n",      "const dim = 192\n",
                                     "const heads = 3\n",     "const heads = 8\n",
                                     "const kv_heads = 1\n",  "const kv_heads = 2\n"};
Test(conformance, paired_epilogues_block_f16) {
  conform_edited("block_dim192", dim192, 6, epilogue_steps, "f16", 2e-3);
}
Test(conformance, paired_epilogues_block_bf16) {
  conform_edited("block_dim192", dim192, 6, epilogue_steps, "bf16", 1.6e-2);
}
/* An odd number of pairs a head (32 heads of 6: 3 a head, 8 kv heads; dim
 * 192): sm_90a's staged q/k/v epilogue stores the pairs two at a time
 * (greta_qkv_pairs::column), and a head's last pair alone. */
static const char *const odd_pairs[] = {"const dim = 72\n",      "const dim = 192\n",
                                        "const heads = 3\n",     "const heads = 32\n",
                                        "const kv_heads = 1\n",  "const kv_heads = 8\n",
                                        "const head_dim = 24\n", "const head_dim = 6\n"};
Test(conformance, paired_epilogues_odd_pairs) {
  conform_edited("block_odd_pairs", odd_pairs, 8, epilogue_steps, "f16", 2e-3);
  conform_edited("block_odd_pairs", odd_pairs, 8, epilogue_steps, "bf16", 1.6e-2);
}
/* Pairs in whole runs of 16 (3 heads of 64: 32 a head; ffn 160): through
 * the copy engine (the default on sm_90a) the paired weights take the
 * 5-dimensional boxes of pair_layout.h, several heads and one [gate; up]
 * block. */
static const char *const whole_runs[] = {"const dim = 72\n",      "const dim = 192\n",
                                         "const head_dim = 24\n", "const head_dim = 64\n",
                                         "const ffn = 100\n",     "const ffn = 160\n"};
Test(conformance, paired_epilogues_whole_runs_f16) {
  conform_edited("block_whole_runs", whole_runs, 6, epilogue_steps, "f16", 2e-3);
}
Test(conformance, paired_epilogues_whole_runs_bf16) {
  conform_edited("block_whole_runs", whole_runs, 6, epilogue_steps, "bf16", 1.6e-2);
}
Test(conformance, fused_mlp_lm_head_f32) {
  conform("mlp_head", mlp_head_gm, short_steps, "f32", 1e-5);
}
Test(conformance, fused_mlp_lm_head_f16) {
  conform("mlp_head", mlp_head_gm, short_steps, "f16", 2e-3);
}
Test(conformance, fused_mlp_lm_head_bf16) {
  conform("mlp_head", mlp_head_gm, short_steps, "bf16", 1.6e-2);
}

/* The same reference CPU against each plan: unused weights (the biases of
 * the fused variant) are bound but read by nothing. */
static void conform_llama3(int bias, const char *dtype, double tolerance) {
  char *gm = llama3_block(bias);
  conform(bias ? "llama3_block_bias" : "llama3_block_fused", gm, attention_steps, dtype, tolerance);
  free(gm);
}
Test(conformance, llama3_scaling_last_fused_f32) { conform_llama3(0, "f32", 1e-5); }
Test(conformance, llama3_scaling_last_bias_f32) { conform_llama3(1, "f32", 1e-5); }
Test(conformance, llama3_scaling_last_bias_bf16) { conform_llama3(1, "bf16", 1.6e-2); }
