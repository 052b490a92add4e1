/* End to end: examples/tiny_block.gm through the whole compiler (front end,
 * passes, schedule, codegen) into libgreta, run on every backend present,
 * against a Llama decoder block written here in plain loops with double
 * accumulation (independent of the kernels under test).
 *
 * The CPU backend always runs. A GPU backend runs when a device and a
 * toolchain for it are present, and the test says so when it skips. */
#define _GNU_SOURCE /* mallinfo2 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <sys/types.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "support.h"

/* examples/tiny_block.gm's shape; the test checks the compiled weights
 * agree with it before using it. */
enum { DIM = 64, HEADS = 4, KV_HEADS = 2, HEAD_DIM = 16, FFN = 160, MAX_SEQ = 64 };
static const double EPS = 1e-5, THETA = 10000.0;
enum { TOKENS = 8, PREFILL = 5 };

typedef struct weights_s {
  float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *up, *down;
} weights_t;

static const struct {
  const char *name;
  size_t offset;
  int rows, cols; /* cols = 0: a vector */
} weight_table[] = {
    {"model.layers.0.input_layernorm.weight", offsetof(weights_t, attn_norm), DIM, 0},
    {"model.layers.0.self_attn.q_proj.weight", offsetof(weights_t, wq), HEADS * HEAD_DIM, DIM},
    {"model.layers.0.self_attn.k_proj.weight", offsetof(weights_t, wk), KV_HEADS * HEAD_DIM, DIM},
    {"model.layers.0.self_attn.v_proj.weight", offsetof(weights_t, wv), KV_HEADS * HEAD_DIM, DIM},
    {"model.layers.0.self_attn.o_proj.weight", offsetof(weights_t, wo), DIM, HEADS * HEAD_DIM},
    {"model.layers.0.post_attention_layernorm.weight", offsetof(weights_t, ffn_norm), DIM, 0},
    {"model.layers.0.mlp.gate_proj.weight", offsetof(weights_t, gate), FFN, DIM},
    {"model.layers.0.mlp.up_proj.weight", offsetof(weights_t, up), FFN, DIM},
    {"model.layers.0.mlp.down_proj.weight", offsetof(weights_t, down), DIM, FFN},
};
#define N_WEIGHTS (sizeof weight_table / sizeof weight_table[0])

static float **slot(weights_t *w, size_t i) { return (float **)((char *)w + weight_table[i].offset); }
static size_t count(size_t i) {
  return (size_t)weight_table[i].rows * (size_t)(weight_table[i].cols ? weight_table[i].cols : 1);
}

/* Weights as stored: half storage rounds them, so the reference uses the
 * rounded values. */
static void make_weights(weights_t *w, const char *dtype) {
  for (size_t i = 0; i < N_WEIGHTS; i++) {
    float *p = malloc(count(i) * sizeof(float));
    for (size_t k = 0; k < count(i); k++) {
      float v = weight_table[i].cols ? 0.15f * support_normal() : 1.0f + 0.1f * support_normal();
      p[k] = support_stored(v, dtype);
    }
    *slot(w, i) = p;
  }
}

static void free_weights(weights_t *w) {
  for (size_t i = 0; i < N_WEIGHTS; i++) free(*slot(w, i));
}

/* ---- the reference: HF LlamaDecoderLayer semantics, in double ------------ */

/* w = NULL: the norm without its weight (folded into the next matmul). */
static void rmsnorm_ref(double *out, const double *x, const float *w) {
  double ss = 0;
  for (int i = 0; i < DIM; i++) ss += x[i] * x[i];
  double r = 1.0 / sqrt(ss / DIM + EPS);
  for (int i = 0; i < DIM; i++) out[i] = x[i] * r * (w ? w[i] : 1.0);
}

/* The storage the compiled model keeps: each RMSNorm weight g folded into
 * the matmuls it feeds, W'[n][k] = W[n][k] * g[k] rounded to the weight
 * dtype (passes/fold_norm.c), and K and V rounded to the KV-cache dtype,
 * which follows half weights. Exact for f32; for half types the reference
 * rounds where the model stores, so the comparison stays at f32 precision. */
typedef struct stored_s {
  weights_t folded;     /* wq, wk, wv, gate, up folded; attn_norm, ffn_norm NULL */
  const char *kv_dtype; /* "f32", or the half weight dtype */
} stored_t;

static float *fold(const float *w, const float *g, int rows, const char *dtype) {
  float *out = malloc((size_t)rows * DIM * sizeof(float));
  for (int n = 0; n < rows; n++)
    for (int k = 0; k < DIM; k++)
      out[(size_t)n * DIM + k] = support_stored(w[(size_t)n * DIM + k] * g[k], dtype);
  return out;
}

static void store_weights(const weights_t *w, const char *dtype, stored_t *out) {
  out->folded = *w;
  out->folded.attn_norm = out->folded.ffn_norm = NULL;
  out->folded.wq = fold(w->wq, w->attn_norm, HEADS * HEAD_DIM, dtype);
  out->folded.wk = fold(w->wk, w->attn_norm, KV_HEADS * HEAD_DIM, dtype);
  out->folded.wv = fold(w->wv, w->attn_norm, KV_HEADS * HEAD_DIM, dtype);
  out->folded.gate = fold(w->gate, w->ffn_norm, FFN, dtype);
  out->folded.up = fold(w->up, w->ffn_norm, FFN, dtype);
  out->kv_dtype = dtype;
}

static void free_stored(stored_t *st) {
  free(st->folded.wq);
  free(st->folded.wk);
  free(st->folded.wv);
  free(st->folded.gate);
  free(st->folded.up);
}

/* out[n] = sum_k W[n][k] x[k]: a Linear layer, W stored [out, in]. */
static void linear_ref(double *out, const double *x, const float *w, int n_out, int n_in) {
  for (int n = 0; n < n_out; n++) {
    double s = 0;
    for (int k = 0; k < n_in; k++) s += (double)w[(size_t)n * n_in + k] * x[k];
    out[n] = s;
  }
}

/* Rotate-half RoPE on one head vector at position p. */
static void rope_ref(double *v, int p) {
  double tmp[HEAD_DIM];
  for (int i = 0; i < HEAD_DIM / 2; i++) {
    double angle = p * pow(THETA, -2.0 * i / HEAD_DIM);
    double c = cos(angle), s = sin(angle);
    tmp[i] = v[i] * c - v[i + HEAD_DIM / 2] * s;
    tmp[i + HEAD_DIM / 2] = v[i + HEAD_DIM / 2] * c + v[i] * s;
  }
  memcpy(v, tmp, sizeof tmp);
}

/* Prefill stores the x of a half-weight GEMM in the weight's type when K is
 * a multiple of 64 (compiler/lower/lowering.h, LOWER_HALF_X_K): the
 * normalised x, the attention output and the glu output. The reference
 * rounds them there too, for the tokens of prefill steps. (Its double
 * values round like the backend's f32 ones but for a rare value next to a
 * half rounding boundary: one half ulp, ~1e-6 of the output here.) */
static void round_gemm_x(double *x, int k, const char *dtype, bool prefill) {
  if (!prefill || k % 64 != 0) return;
  for (int i = 0; i < k; i++) x[i] = support_stored((float)x[i], dtype);
}

/* y[t] for every token t of x[TOKENS][DIM] at positions 0..TOKENS-1;
 * kv_dtype rounds the cached K and V rows as the model stores them (the
 * weights' dtype when half), and the first `prefilled` tokens run in
 * prefill steps (round_gemm_x). */
static void block_ref(const weights_t *w, const char *kv_dtype, int prefilled, const float *x,
                      double *y) {
  static double k[TOKENS][KV_HEADS * HEAD_DIM], v[TOKENS][KV_HEADS * HEAD_DIM];
  for (int t = 0; t < TOKENS; t++) {
    double xt[DIM], h[DIM], q[HEADS * HEAD_DIM], att[HEADS * HEAD_DIM], o[DIM];
    for (int i = 0; i < DIM; i++) xt[i] = x[t * DIM + i];
    rmsnorm_ref(h, xt, w->attn_norm);
    round_gemm_x(h, DIM, kv_dtype, t < prefilled);
    linear_ref(q, h, w->wq, HEADS * HEAD_DIM, DIM);
    linear_ref(k[t], h, w->wk, KV_HEADS * HEAD_DIM, DIM);
    linear_ref(v[t], h, w->wv, KV_HEADS * HEAD_DIM, DIM);
    for (int hd = 0; hd < HEADS; hd++) rope_ref(q + hd * HEAD_DIM, t);
    for (int hd = 0; hd < KV_HEADS; hd++) rope_ref(k[t] + hd * HEAD_DIM, t);
    for (int i = 0; i < KV_HEADS * HEAD_DIM; i++) {
      k[t][i] = support_stored((float)k[t][i], kv_dtype);
      v[t][i] = support_stored((float)v[t][i], kv_dtype);
    }
    for (int hd = 0; hd < HEADS; hd++) {
      int kvh = hd / (HEADS / KV_HEADS);
      double score[TOKENS], max = -INFINITY, sum = 0;
      for (int s = 0; s <= t; s++) {
        double dot = 0;
        for (int i = 0; i < HEAD_DIM; i++) dot += q[hd * HEAD_DIM + i] * k[s][kvh * HEAD_DIM + i];
        score[s] = dot / sqrt((double)HEAD_DIM);
        if (score[s] > max) max = score[s];
      }
      for (int s = 0; s <= t; s++) sum += score[s] = exp(score[s] - max);
      for (int i = 0; i < HEAD_DIM; i++) {
        double a = 0;
        for (int s = 0; s <= t; s++) a += score[s] * v[s][kvh * HEAD_DIM + i];
        att[hd * HEAD_DIM + i] = a / sum;
      }
    }
    round_gemm_x(att, HEADS * HEAD_DIM, kv_dtype, t < prefilled);
    linear_ref(o, att, w->wo, DIM, HEADS * HEAD_DIM);
    for (int i = 0; i < DIM; i++) xt[i] += o[i];
    double g[FFN], u[FFN], d[DIM];
    rmsnorm_ref(h, xt, w->ffn_norm);
    round_gemm_x(h, DIM, kv_dtype, t < prefilled);
    linear_ref(g, h, w->gate, FFN, DIM);
    linear_ref(u, h, w->up, FFN, DIM);
    for (int i = 0; i < FFN; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
    round_gemm_x(g, FFN, kv_dtype, t < prefilled);
    linear_ref(d, g, w->down, DIM, FFN);
    for (int i = 0; i < DIM; i++) y[t * DIM + i] = xt[i] + d[i];
  }
}

/* ---- the system under test ------------------------------------------------ */

static void check_weight_shapes(const greta_model_t *model) {
  cr_assert_eq(greta_model_weight_count(model), (int)N_WEIGHTS);
  for (size_t i = 0; i < N_WEIGHTS; i++) {
    const greta_tensor_info_t *info = NULL;
    for (int j = 0; j < greta_model_weight_count(model); j++)
      if (!strcmp(greta_model_weight(model, j)->name, weight_table[i].name)) info = greta_model_weight(model, j);
    cr_assert(info, "the model has no weight %s", weight_table[i].name);
    cr_assert_eq(info->dims[0].coeff, weight_table[i].rows, "%s: rows", weight_table[i].name);
    if (weight_table[i].cols) cr_assert_eq(info->dims[1].coeff, weight_table[i].cols, "%s", weight_table[i].name);
  }
}

/* Runs the steps given by `steps` (token counts summing to TOKENS) and
 * returns every token's output. */
static void run_steps(greta_model_t *model, greta_device_t *device, const weights_t *w,
                      const float *x, const int *steps, float *y) {
  greta_session_t *s;
  greta_status_t st = greta_session_create(model, device, &s);
  cr_assert_null(st, "session: %s", greta_status_message(st));
  for (size_t i = 0; i < N_WEIGHTS; i++) {
    st = greta_session_bind_weight(s, weight_table[i].name, GRETA_F32,
                                   *slot((weights_t *)w, i), count(i));
    cr_assert_null(st, "bind %s: %s", weight_table[i].name, greta_status_message(st));
  }
  int pos = 0;
  for (int k = 0; pos < TOKENS; k++) {
    int t = steps[k];
    size_t bytes = (size_t)t * DIM * sizeof(float);
    for (size_t i = 0; i < (size_t)t * DIM; i++) y[pos * DIM + i] = NAN; /* poison */
    st = greta_session_set_input(s, "x", x + pos * DIM, bytes);
    cr_assert_null(st, "%s", greta_status_message(st));
    st = greta_session_step(s, t, pos);
    cr_assert_null(st, "step T=%d pos=%d: %s", t, pos, greta_status_message(st));
    st = greta_session_get_output(s, "y", y + pos * DIM, bytes);
    cr_assert_null(st, "%s", greta_status_message(st));
    pos += t;
  }
  greta_session_destroy(s);
}

static void check_backend(greta_backend_kind_t kind, const char *target, const char *dtype,
                          double tolerance) {
  greta_device_t *device = support_open_or_skip(kind);
  weights_t w;
  make_weights(&w, dtype);
  float x[TOKENS * DIM];
  for (int i = 0; i < TOKENS * DIM; i++) x[i] = support_normal();
  static double want_steps[TOKENS * DIM], want_once[TOKENS * DIM];
  stored_t stored;
  store_weights(&w, dtype, &stored);
  block_ref(&stored.folded, stored.kv_dtype, PREFILL, x, want_steps);
  block_ref(&stored.folded, stored.kv_dtype, TOKENS, x, want_once);
  free_stored(&stored);

  char *why = NULL;
  const char *device_target = target ? target : greta_device_target(device);
  greta_model_t *model = support_compile_file("tiny_block.gm", dtype, device_target, 16, &why);
  if (!model) {
    greta_device_destroy(device);
    free_weights(&w);
    cr_skip_test("no toolchain for %s: %s", device_target, why);
  }
  free(why);
  check_weight_shapes(model);

  static float y_steps[TOKENS * DIM], y_once[TOKENS * DIM];
  const int prefill_then_decode[] = {PREFILL, 1, 1, 1};
  const int all_at_once[] = {TOKENS};
  run_steps(model, device, &w, x, prefill_then_decode, y_steps);
  run_steps(model, device, &w, x, all_at_once, y_once);

  double e_steps = support_worst_row_error_ref(y_steps, want_steps, TOKENS, DIM);
  double e_once = support_worst_row_error_ref(y_once, want_once, TOKENS, DIM);
  fprintf(stderr, "end_to_end %s %s: prefill %d + 3 decodes: %.2e; prefill %d: %.2e (tolerance %.0e)\n",
          greta_device_backend_name(device), dtype, PREFILL, e_steps, TOKENS, e_once, tolerance);
  cr_expect_leq(e_steps, tolerance, "prefill + decode vs reference: %.3e", e_steps);
  cr_expect_leq(e_once, tolerance, "one prefill vs reference: %.3e", e_once);
  greta_model_destroy(model);
  greta_device_destroy(device);
  free_weights(&w);
}

Test(end_to_end, cpu_f32) { check_backend(GRETA_BACKEND_CPU, "cpu", "f32", 1e-5); }
Test(end_to_end, cpu_f16_weights) { check_backend(GRETA_BACKEND_CPU, "cpu", "f16", 1e-5); }
Test(end_to_end, cpu_bf16_weights) { check_backend(GRETA_BACKEND_CPU, "cpu", "bf16", 1e-5); }

/* The same plan compiled for the GPU, through its own kernels. Half-weight
 * GEMMs may round activations to half on matrix cores: their own precision. */
Test(end_to_end, cuda_f32) { check_backend(GRETA_BACKEND_CUDA, NULL, "f32", 1e-5); }
Test(end_to_end, cuda_f16_weights) { check_backend(GRETA_BACKEND_CUDA, NULL, "f16", 2e-3); }
Test(end_to_end, hip_f32) { check_backend(GRETA_BACKEND_HIP, NULL, "f32", 1e-5); }
Test(end_to_end, hip_f16_weights) { check_backend(GRETA_BACKEND_HIP, NULL, "f16", 2e-3); }

/* Soak on the CPU (issue 12): tiny_block decoded token by token from 0 to
 * max_seq, twice in one session (truncated to 0 between): both passes give
 * the same bits, and a session created and destroyed leaves the heap where
 * it found it. */
Test(end_to_end, cpu_soak_to_max_seq_twice) {
  weights_t w;
  make_weights(&w, "f16");
  greta_device_t *device = NULL;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "%s", greta_status_message(st));
  char *why = NULL;
  greta_model_t *model = support_compile_file("tiny_block.gm", "f16", "cpu", 16, &why);
  cr_assert(model, "%s", why);
  free(why);
  static float x[MAX_SEQ * DIM], pass[2][MAX_SEQ * DIM];
  for (int i = 0; i < MAX_SEQ * DIM; i++) x[i] = support_normal();
  /* Two sessions in turn: the first warms what lives as long as the
   * process (OpenMP's thread pool); the second must give the heap back. */
  size_t heap_after_first = 0;
  for (int session_no = 0; session_no < 2; session_no++) {
    greta_session_t *s;
    st = greta_session_create(model, device, &s);
    cr_assert_null(st, "%s", greta_status_message(st));
    for (size_t i = 0; i < N_WEIGHTS; i++) {
      st = greta_session_bind_weight(s, weight_table[i].name, GRETA_F32, *slot(&w, i), count(i));
      cr_assert_null(st, "%s", greta_status_message(st));
    }
    for (int p = 0; p < 2; p++) {
      cr_assert_null(greta_session_truncate(s, 0));
      for (int pos = 0; pos < MAX_SEQ; pos++) {
        st = greta_session_set_input(s, "x", x + pos * DIM, DIM * sizeof(float));
        if (!st) st = greta_session_step(s, 1, pos);
        if (!st) st = greta_session_get_output(s, "y", pass[p] + pos * DIM, DIM * sizeof(float));
        cr_assert_null(st, "pass %d pos %d: %s", p, pos, greta_status_message(st));
      }
      /* The cache is full: one more token is refused, not written past the end. */
      st = greta_session_set_input(s, "x", x, DIM * sizeof(float));
      cr_assert_null(st, "%s", greta_status_message(st));
      st = greta_session_step(s, 1, MAX_SEQ);
      cr_assert_eq(greta_status_code(st), GRETA_OUT_OF_RANGE);
      greta_status_free(st);
    }
    cr_assert_eq(memcmp(pass[0], pass[1], sizeof pass[0]), 0, "the second pass differs");
    greta_session_destroy(s);
    size_t heap = mallinfo2().uordblks;
    if (session_no == 0) heap_after_first = heap;
    else
      cr_assert_eq(heap, heap_after_first, "the heap holds %zd bytes more after the second session",
                   (ssize_t)(heap - heap_after_first));
  }
  greta_model_destroy(model);
  greta_device_destroy(device);
  free_weights(&w);
}

/* The norms are folded into their weights at the first step (the plan's
 * bind entry): a weight of a fold cannot be bound again after it, one
 * outside every fold can, and the outputs stay those of the folded model. */
Test(end_to_end, a_folded_weight_is_not_bound_again) {
  weights_t w;
  make_weights(&w, "f32");
  greta_device_t *device = NULL;
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "%s", greta_status_message(st));
  char *why = NULL;
  greta_model_t *model = support_compile_file("tiny_block.gm", "f32", "cpu", 16, &why);
  cr_assert(model, "%s", why);
  free(why);
  greta_session_t *s;
  st = greta_session_create(model, device, &s);
  cr_assert_null(st, "%s", greta_status_message(st));
  for (size_t i = 0; i < N_WEIGHTS; i++) {
    st = greta_session_bind_weight(s, weight_table[i].name, GRETA_F32, *slot(&w, i), count(i));
    cr_assert_null(st, "%s", greta_status_message(st));
  }
  /* Before the first step every weight may be bound again. */
  st = greta_session_bind_weight(s, weight_table[0].name, GRETA_F32, w.attn_norm, DIM);
  cr_assert_null(st, "%s", greta_status_message(st));
  float x[DIM], y[DIM];
  for (int i = 0; i < DIM; i++) x[i] = support_normal();
  st = greta_session_set_input(s, "x", x, sizeof x);
  if (!st) st = greta_session_step(s, 1, 0);
  if (!st) st = greta_session_get_output(s, "y", y, sizeof y);
  cr_assert_null(st, "%s", greta_status_message(st));
  const size_t folded[] = {0, 1, 2, 3, 5, 6, 7}; /* the norms, q, k, v, gate, up */
  for (size_t f = 0; f < sizeof folded / sizeof folded[0]; f++) {
    size_t i = folded[f];
    st = greta_session_bind_weight(s, weight_table[i].name, GRETA_F32, *slot(&w, i), count(i));
    cr_assert(st, "%s was bound again after the fold", weight_table[i].name);
    cr_assert_eq(greta_status_code(st), GRETA_FAILED_PRECONDITION);
    cr_assert(strstr(greta_status_message(st), "cannot be bound again in this session"), "%s",
              greta_status_message(st));
    greta_status_free(st);
  }
  /* o_proj and down_proj take part in no fold. */
  st = greta_session_bind_weight(s, weight_table[4].name, GRETA_F32, w.wo, count(4));
  cr_assert_null(st, "%s", greta_status_message(st));
  st = greta_session_bind_weight(s, weight_table[8].name, GRETA_F32, w.down, count(8));
  cr_assert_null(st, "%s", greta_status_message(st));
  /* The same weights again: the second step at pos 0 gives the same bits. */
  float y2[DIM];
  st = greta_session_set_input(s, "x", x, sizeof x);
  if (!st) st = greta_session_step(s, 1, 0);
  if (!st) st = greta_session_get_output(s, "y", y2, sizeof y2);
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_assert_eq(memcmp(y, y2, sizeof y), 0);
  greta_session_destroy(s);
  greta_model_destroy(model);
  greta_device_destroy(device);
  free_weights(&w);
}
