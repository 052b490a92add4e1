/* Sessions on the CPU backend, end to end: a small attention block built by
 * hand as a plan, serialised, opened, bound (host memory and safetensors),
 * run, and compared with a naive double reference; plus every refusal.
 * Over 600 lines on purpose: the refusals reuse the block, its weights and
 * its reference, which a split would have to repeat or export. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "device.h"
#include "greta/greta.h"
#include "le.h"
#include "model.h"
#include "plan.h"
#include "session.h"
#include "support.h"

/* ---- the block: y = x + attention(rmsnorm(x)) @ Wo^T ---------------------- */

enum { D = 16, HEADS = 4, KVH = 2, HD = 4, KVD = KVH * HD, MAX_SEQ = 12, MAX_T = 4 };

/* Arena (bytes), each buffer [MAX_T, width] f32. */
enum { X = 0, XN = 256, Q = 512, K = 768, V = 896, ATT = 1024, Y = 1280, ARENA = 1536 };
/* Weights (bytes). */
enum { W_NORM = 0, W_Q = 64, W_K = 576, W_V = 832, W_O = 1344, WEIGHTS = 2368 };
/* KV space (bytes). */
enum { KCACHE = 0, VCACHE = MAX_SEQ * KVD * 4, KVBYTES = 2 * MAX_SEQ * KVD * 4 };

static char *kernel_names[8] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
static greta_plan_io_t inputs[1], outputs[1];
static greta_plan_weight_t weights[5];
static greta_plan_cache_t caches[2];
static greta_plan_launch_t launches[2][8];
static greta_plan_entry_t entries[2];
static greta_plan_t plan;

/* Weight values, exact in f16 and bf16 (k/64), row-major as in the plan. */
static float w_norm[D], w_q[D * D], w_k[KVD * D], w_v[KVD * D], w_o[D * D];

static greta_plan_launch_t launch(greta_op_t op, uint32_t kernel, uint32_t n_args) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.kernel = kernel;
  l.n_args = n_args;
  l.rows_coeff = 1;
  l.rows_per_token = 1;
  for (int i = 0; i < 3; i++) l.grid[i] = l.block[i] = 1;
  l.grid_t_axis = 3;
  return l;
}

static void set_arg(greta_plan_launch_t *l, int i, greta_space_t space, uint64_t offset) {
  l->args[i] = (greta_plan_buffer_t){space, offset};
}

static greta_plan_launch_t matmul(uint32_t kernel, uint64_t x, uint64_t w, uint64_t out, int64_t n,
                                  greta_dtype_t dtype) {
  greta_plan_launch_t l = launch(GRETA_OP_MATMUL, kernel, 3);
  set_arg(&l, 0, GRETA_SPACE_ARENA, x);
  set_arg(&l, 1, GRETA_SPACE_WEIGHTS, w);
  set_arg(&l, 2, GRETA_SPACE_ARENA, out);
  l.attr.n = n;
  l.attr.k = D;
  l.attr.transpose_b = 1;
  l.attr.wdtype = dtype;
  return l;
}

static void build_entry(greta_plan_launch_t *l) {
  l[0] = launch(GRETA_OP_RMSNORM, 0, 3);
  set_arg(&l[0], 0, GRETA_SPACE_ARENA, X);
  set_arg(&l[0], 1, GRETA_SPACE_WEIGHTS, W_NORM);
  set_arg(&l[0], 2, GRETA_SPACE_ARENA, XN);
  l[0].attr.n = D;
  l[0].attr.eps = 1e-5f;
  l[1] = matmul(1, XN, W_Q, Q, D, GRETA_F16);
  l[2] = matmul(2, XN, W_K, K, KVD, GRETA_BF16);
  l[3] = matmul(3, XN, W_V, V, KVD, GRETA_F32);
  for (int c = 0; c < 2; c++) {
    l[4 + c] = launch(GRETA_OP_KV_APPEND, 4 + (uint32_t)c, 2);
    set_arg(&l[4 + c], 0, GRETA_SPACE_ARENA, c ? V : K);
    set_arg(&l[4 + c], 1, GRETA_SPACE_KV, c ? VCACHE : KCACHE);
    l[4 + c].attr.kv_heads = KVH;
    l[4 + c].attr.head_dim = HD;
    l[4 + c].attr.max_seq = MAX_SEQ;
  }
  l[6] = launch(GRETA_OP_ATTENTION, 6, 4);
  set_arg(&l[6], 0, GRETA_SPACE_ARENA, Q);
  set_arg(&l[6], 1, GRETA_SPACE_KV, KCACHE);
  set_arg(&l[6], 2, GRETA_SPACE_KV, VCACHE);
  set_arg(&l[6], 3, GRETA_SPACE_ARENA, ATT);
  l[6].attr.heads = HEADS;
  l[6].attr.kv_heads = KVH;
  l[6].attr.head_dim = HD;
  l[6].attr.max_seq = MAX_SEQ;
  l[6].attr.scale = 0.5f;
  l[7] = matmul(7, ATT, W_O, Y, D, GRETA_F32);
  l[7].n_args = 4;
  l[7].attr.residual = 1;
  set_arg(&l[7], 3, GRETA_SPACE_ARENA, X);
}

static void build_plan(const char *target) {
  memset(&plan, 0, sizeof plan);
  plan.target = (char *)target;
  plan.toolchain = "by hand";
  plan.model_name = "block";
  plan.max_seq = MAX_SEQ;
  plan.max_tokens = MAX_T;
  plan.arena_bytes = ARENA;
  plan.weight_bytes = WEIGHTS;
  plan.kv_bytes = KVBYTES;
  plan.n_kernels = 8;
  plan.kernels = kernel_names;
  inputs[0] = (greta_plan_io_t){{"x", GRETA_F32, 2, {{1, "T"}, {D, NULL}}}, X};
  outputs[0] = (greta_plan_io_t){{"y", GRETA_F32, 2, {{1, "T"}, {D, NULL}}}, Y};
  weights[0] = (greta_plan_weight_t){{"norm.weight", GRETA_F32, 1, {{D, NULL}}}, W_NORM, D * 4};
  weights[1] = (greta_plan_weight_t){{"wq", GRETA_F16, 2, {{D, NULL}, {D, NULL}}}, W_Q, D * D * 2};
  weights[2] = (greta_plan_weight_t){{"wk", GRETA_BF16, 2, {{KVD, NULL}, {D, NULL}}}, W_K, KVD * D * 2};
  weights[3] = (greta_plan_weight_t){{"wv", GRETA_F32, 2, {{KVD, NULL}, {D, NULL}}}, W_V, KVD * D * 4};
  weights[4] = (greta_plan_weight_t){{"wo", GRETA_F32, 2, {{D, NULL}, {D, NULL}}}, W_O, D * D * 4};
  caches[0] = (greta_plan_cache_t){"k", GRETA_F32, KCACHE, MAX_SEQ * KVD * 4, KVD};
  caches[1] = (greta_plan_cache_t){"v", GRETA_F32, VCACHE, MAX_SEQ * KVD * 4, KVD};
  plan.n_inputs = plan.n_outputs = 1;
  plan.n_weights = 5;
  plan.n_caches = 2;
  plan.inputs = inputs;
  plan.outputs = outputs;
  plan.weights = weights;
  plan.caches = caches;
  build_entry(launches[0]);
  build_entry(launches[1]);
  entries[0] = (greta_plan_entry_t){"decode", 1, 1, 8, launches[0]};
  entries[1] = (greta_plan_entry_t){"prefill", 2, MAX_T, 8, launches[1]};
  plan.n_entries = 2;
  plan.entries = entries;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static int next_int(int range) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (int)((rng >> 33) % (uint64_t)(2 * range + 1)) - range;
}
static float next_input(void) { return (float)next_int(1000) / 1000.0f; }

static void make_weights(void) {
  float *all[] = {w_norm, w_q, w_k, w_v, w_o};
  size_t sizes[] = {D, D * D, KVD * D, KVD * D, D * D};
  for (int w = 0; w < 5; w++)
    for (size_t i = 0; i < sizes[w]; i++) all[w][i] = (float)next_int(64) / 64.0f;
}

static greta_model_t *open_model(void) {
  uint8_t *bytes;
  size_t size;
  greta_status_t s = greta_plan_serialize(&plan, &bytes, &size);
  cr_assert_null(s, "%s", greta_status_message(s));
  s = greta_plan_seal(bytes, size); /* as gretac writes a CPU plan file */
  cr_assert_null(s, "%s", greta_status_message(s));
  greta_model_t *model = NULL;
  s = greta_model_open_memory(bytes, size, &model);
  cr_assert_null(s, "%s", greta_status_message(s));
  free(bytes);
  return model;
}

static greta_model_t *model;
static greta_device_t *device;
static greta_session_t *session;

static void setup(void) {
  build_plan("cpu");
  make_weights();
  model = open_model();
  greta_status_t s = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(s, "%s", greta_status_message(s));
  s = greta_session_create(model, device, &session);
  cr_assert_null(s, "%s", greta_status_message(s));
}

static void teardown(void) {
  greta_session_destroy(session);
  greta_device_destroy(device);
  greta_model_destroy(model);
}

TestSuite(session, .init = setup, .fini = teardown);


static void bind_host_weights(greta_session_t *s) {
  SUPPORT_OK(greta_session_bind_weight(s, "norm.weight", GRETA_F32, w_norm, D));
  SUPPORT_OK(greta_session_bind_weight(s, "wq", GRETA_F32, w_q, D * D));
  SUPPORT_OK(greta_session_bind_weight(s, "wk", GRETA_F32, w_k, KVD * D));
  SUPPORT_OK(greta_session_bind_weight(s, "wv", GRETA_F32, w_v, KVD * D));
  SUPPORT_OK(greta_session_bind_weight(s, "wo", GRETA_F32, w_o, D * D));
}

/* ---- the naive reference (double) ---------------------------------------------- */

/* y for tokens 0..n-1 at positions 0..n-1, all attending causally. */
static void reference(const float *x, int n, double *y) {
  double xn[MAX_SEQ][D], q[MAX_SEQ][D], k[MAX_SEQ][KVD], v[MAX_SEQ][KVD];
  for (int t = 0; t < n; t++) {
    double ss = 0;
    for (int i = 0; i < D; i++) ss += (double)x[t * D + i] * x[t * D + i];
    double inv = 1.0 / sqrt(ss / D + 1e-5);
    for (int i = 0; i < D; i++) xn[t][i] = x[t * D + i] * inv * w_norm[i];
    for (int o = 0; o < D; o++) {
      q[t][o] = 0;
      for (int i = 0; i < D; i++) q[t][o] += xn[t][i] * w_q[o * D + i];
    }
    for (int o = 0; o < KVD; o++) {
      k[t][o] = v[t][o] = 0;
      for (int i = 0; i < D; i++) {
        k[t][o] += xn[t][i] * w_k[o * D + i];
        v[t][o] += xn[t][i] * w_v[o * D + i];
      }
    }
  }
  for (int t = 0; t < n; t++) {
    double att[D];
    for (int h = 0; h < HEADS; h++) {
      int g = h / (HEADS / KVH);
      double score[MAX_SEQ], m = -INFINITY, sum = 0;
      for (int s = 0; s <= t; s++) {
        score[s] = 0;
        for (int i = 0; i < HD; i++) score[s] += q[t][h * HD + i] * k[s][g * HD + i];
        score[s] *= 0.5;
        m = fmax(m, score[s]);
      }
      for (int s = 0; s <= t; s++) sum += exp(score[s] - m);
      for (int i = 0; i < HD; i++) {
        att[h * HD + i] = 0;
        for (int s = 0; s <= t; s++) att[h * HD + i] += exp(score[s] - m) / sum * v[s][g * HD + i];
      }
    }
    for (int o = 0; o < D; o++) {
      double acc = x[t * D + o];
      for (int i = 0; i < D; i++) acc += att[i] * w_o[o * D + i];
      y[t * D + o] = acc;
    }
  }
}

static void assert_close(const float *got, const double *ref, size_t n, double tol) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(got[i] - ref[i]);
    if (!(d <= diff)) diff = d;
    scale = fmax(scale, fabs(ref[i]));
  }
  cr_assert(diff / scale <= tol, "relative error %.3g > %.3g", diff / scale, tol);
}

/* Runs tokens [from, from + T) of x at pos = from; y rows into y. */
static void step_rows(greta_session_t *s, const float *x, int from, int T, float *y) {
  SUPPORT_OK(greta_session_set_input(s, "x", x + from * D, (size_t)T * D * 4));
  SUPPORT_OK(greta_session_step(s, T, from));
  SUPPORT_OK(greta_session_get_output(s, "y", y + from * D, (size_t)T * D * 4));
}

/* ---- tests ---------------------------------------------------------------------- */

Test(session, reflection) {
  cr_assert_str_eq(greta_model_target(model), "cpu");
  cr_assert_str_eq(greta_model_toolchain(model), "by hand");
  cr_assert_eq(greta_model_input_count(model), 1);
  cr_assert_eq(greta_model_output_count(model), 1);
  cr_assert_eq(greta_model_weight_count(model), 5);
  const greta_tensor_info_t *x = greta_model_input(model, 0);
  cr_assert_str_eq(x->name, "x");
  cr_assert_eq(x->rank, 2);
  cr_assert_str_eq(x->dims[0].symbol, "T");
  cr_assert_eq(x->dims[1].coeff, D);
  cr_assert_null(x->dims[1].symbol);
  cr_assert_str_eq(greta_model_output(model, 0)->name, "y");
  const greta_tensor_info_t *wk = greta_model_weight(model, 2);
  cr_assert_str_eq(wk->name, "wk");
  cr_assert_eq(wk->dtype, GRETA_BF16);
  cr_assert_eq(wk->dims[0].coeff, KVD);
  cr_assert_null(greta_model_input(model, 1));
  cr_assert_null(greta_model_weight(model, -1));
  greta_memory_report_t report;
  greta_model_memory(model, &report);
  cr_assert_eq(report.weight_bytes, WEIGHTS);
  cr_assert_eq(report.kv_cache_bytes, KVBYTES);
  cr_assert_eq(report.arena_bytes, ARENA);
  cr_assert_eq(report.max_seq, MAX_SEQ);
  cr_assert_eq(report.max_tokens, MAX_T);
  cr_assert_str_eq(greta_device_backend_name(device), "cpu");
  cr_assert_str_eq(greta_device_target(device), "cpu");
  cr_assert(strlen(greta_device_name(device)) > 0);
}

Test(session, prefill_matches_reference_and_decode) {
  bind_host_weights(session);
  float x[MAX_T * D], y_prefill[MAX_T * D], y_decode[MAX_T * D];
  for (int i = 0; i < MAX_T * D; i++) x[i] = next_input();
  double ref[MAX_T * D];
  reference(x, MAX_T, ref);

  step_rows(session, x, 0, MAX_T, y_prefill);
  assert_close(y_prefill, ref, MAX_T * D, 1e-5);

  SUPPORT_OK(greta_session_truncate(session, 0));
  for (int t = 0; t < MAX_T; t++) step_rows(session, x, t, 1, y_decode);
  assert_close(y_decode, ref, MAX_T * D, 1e-5);
  for (int i = 0; i < MAX_T * D; i++)
    cr_assert_float_eq(y_decode[i], y_prefill[i], 1e-6, "element %d", i);

  /* Prefill 2, then decode 2. */
  float y_mixed[MAX_T * D];
  SUPPORT_OK(greta_session_truncate(session, 0));
  step_rows(session, x, 0, 2, y_mixed);
  step_rows(session, x, 2, 1, y_mixed);
  step_rows(session, x, 3, 1, y_mixed);
  assert_close(y_mixed, ref, MAX_T * D, 1e-5);
}

/* The generation loop's read of a prefill's last position: row T - 1 of
 * the output, as the whole output has it; one row's bytes or an error. */
Test(session, last_row_of_an_output) {
  bind_host_weights(session);
  float x[MAX_T * D], y[MAX_T * D], last[D];
  for (int i = 0; i < MAX_T * D; i++) x[i] = next_input();
  SUPPORT_FAILS(greta_session_get_output_last_row(session, "y", last, sizeof last),
                GRETA_FAILED_PRECONDITION, "no step has completed");
  step_rows(session, x, 0, 3, y);
  SUPPORT_OK(greta_session_get_output_last_row(session, "y", last, sizeof last));
  cr_assert_arr_eq(last, y + 2 * D, sizeof last, "not row T - 1 of the output");
  SUPPORT_FAILS(greta_session_get_output_last_row(session, "y", y, 3 * sizeof last),
                GRETA_INVALID_ARGUMENT, "a row is 64 bytes, the buffer holds 192");
  SUPPORT_FAILS(greta_session_get_output_last_row(session, "z", last, sizeof last),
                GRETA_NOT_FOUND, "no output named \"z\"");
}

Test(session, long_sequence_to_max_seq) {
  bind_host_weights(session);
  float x[MAX_SEQ * D], y[MAX_SEQ * D];
  for (int i = 0; i < MAX_SEQ * D; i++) x[i] = next_input();
  double ref[MAX_SEQ * D];
  reference(x, MAX_SEQ, ref);
  for (int t = 0; t < MAX_SEQ; t += 3) step_rows(session, x, t, 3, y);
  assert_close(y, ref, MAX_SEQ * D, 1e-5);
  /* The cache is full: one more token does not fit. */
  SUPPORT_OK(greta_session_set_input(session, "x", x, D * 4));
  SUPPORT_FAILS(greta_session_step(session, 1, MAX_SEQ), GRETA_OUT_OF_RANGE,
        "pos 12 + tokens 1 exceeds the KV cache's max_seq 12");
}

Test(session, truncate_and_rerun) {
  bind_host_weights(session);
  float x[MAX_T * D], y[MAX_T * D], y2[MAX_T * D];
  for (int i = 0; i < MAX_T * D; i++) x[i] = next_input();
  step_rows(session, x, 0, MAX_T, y);
  SUPPORT_OK(greta_session_truncate(session, 2));
  step_rows(session, x, 2, 2, y2);
  for (int i = 2 * D; i < MAX_T * D; i++) cr_assert_float_eq(y2[i], y[i], 1e-6);
  SUPPORT_OK(greta_session_truncate(session, 1));
  SUPPORT_OK(greta_session_set_input(session, "x", x, D * 4));
  SUPPORT_FAILS(greta_session_step(session, 1, 3), GRETA_FAILED_PRECONDITION,
        "pos = 3 would leave a gap: the KV cache holds 1 tokens");
  SUPPORT_FAILS(greta_session_truncate(session, -1), GRETA_OUT_OF_RANGE, "pos = -1");
}

Test(session, step_errors) {
  float x[MAX_T * D] = {0};
  SUPPORT_OK(greta_session_set_input(session, "x", x, D * 4));
  SUPPORT_FAILS(greta_session_step(session, 1, 0), GRETA_FAILED_PRECONDITION,
        "weight \"norm.weight\" is not bound (5 of 5 weights are unbound");
  SUPPORT_OK(greta_session_bind_weight(session, "norm.weight", GRETA_F32, w_norm, D));
  SUPPORT_OK(greta_session_bind_weight(session, "wq", GRETA_F32, w_q, D * D));
  SUPPORT_FAILS(greta_session_step(session, 1, 0), GRETA_FAILED_PRECONDITION, "weight \"wk\" is not bound");
  bind_host_weights(session);
  SUPPORT_FAILS(greta_session_step(session, MAX_T + 1, 0), GRETA_OUT_OF_RANGE,
        "tokens = 5, expected 1 <= tokens <= the model's max_tokens 4");
  SUPPORT_FAILS(greta_session_step(session, 0, 0), GRETA_OUT_OF_RANGE, "tokens = 0");
  SUPPORT_FAILS(greta_session_step(session, 2, MAX_SEQ - 1), GRETA_OUT_OF_RANGE,
        "pos 11 + tokens 2 exceeds the KV cache's max_seq 12");
  /* Regression (issue 12, defect 5): the message once computed pos + tokens,
   * a signed overflow at pos = INT64_MAX (UBSan). */
  SUPPORT_FAILS(greta_session_step(session, 1, INT64_MAX), GRETA_OUT_OF_RANGE,
        "pos 9223372036854775807 + tokens 1 exceeds the KV cache's max_seq 12");
  SUPPORT_FAILS(greta_session_step(session, 1, 1), GRETA_FAILED_PRECONDITION, "would leave a gap");
  SUPPORT_FAILS(greta_session_step(session, 2, 0), GRETA_FAILED_PRECONDITION,
        "input \"x\" holds fewer rows, but the step has 2 tokens");
  SUPPORT_OK(greta_session_step(session, 1, 0));
  /* Inputs are consumed by a step (the arena is reused). */
  SUPPORT_FAILS(greta_session_step(session, 1, 1), GRETA_FAILED_PRECONDITION, "was not set since the last step");

  float y[MAX_T * D];
  SUPPORT_FAILS(greta_session_get_output(session, "y", y, 2 * D * 4), GRETA_INVALID_ARGUMENT,
        "the last step (T = 1) made 64 bytes, the buffer holds 128");
  SUPPORT_FAILS(greta_session_get_output(session, "z", y, D * 4), GRETA_NOT_FOUND, "no output named \"z\"");
  SUPPORT_OK(greta_session_get_output(session, "y", y, D * 4));
  SUPPORT_FAILS(greta_session_set_input(session, "x", x, 10), GRETA_INVALID_ARGUMENT,
        "takes T rows of 64 bytes (1 <= T <= 4), got 10 bytes");
  SUPPORT_FAILS(greta_session_set_input(session, "x", x, 5 * D * 4), GRETA_INVALID_ARGUMENT, "got 320 bytes");
  SUPPORT_FAILS(greta_session_set_input(session, "nope", x, D * 4), GRETA_NOT_FOUND, "no input named");
}

Test(session, bind_weight_errors) {
  SUPPORT_FAILS(greta_session_bind_weight(session, "missing", GRETA_F32, w_q, 1), GRETA_NOT_FOUND,
        "no weight named \"missing\"");
  SUPPORT_FAILS(greta_session_bind_weight(session, "wq", GRETA_F32, w_q, D * D - 1), GRETA_INVALID_ARGUMENT,
        "weight wq: expected 256 elements, got 255");
  int32_t ints[D * D] = {0};
  SUPPORT_FAILS(greta_session_bind_weight(session, "wq", GRETA_I32, ints, D * D), GRETA_INVALID_ARGUMENT,
        "stored as f16, cannot convert from i32");
}

/* ---- safetensors ------------------------------------------------------------------ */

typedef struct st_tensor_s {
  const char *name;
  const char *dtype; /* "F32", "F16", "I64", ... */
  int rank;
  int64_t shape[2];
  const void *data;
  size_t bytes;
} st_tensor_t;

/* Writes a safetensors file: header length, JSON, data. */
static void write_safetensors(const char *path, const st_tensor_t *t, int n, const char *extra) {
  char header[8192];
  size_t used = (size_t)snprintf(header, sizeof header, "{\"__metadata__\":{\"format\":\"pt\"}");
  size_t offset = 0;
  for (int i = 0; i < n; i++) {
    used += (size_t)snprintf(header + used, sizeof header - used, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                             t[i].name, t[i].dtype);
    for (int d = 0; d < t[i].rank; d++)
      used += (size_t)snprintf(header + used, sizeof header - used, "%s%lld", d ? "," : "",
                               (long long)t[i].shape[d]);
    used += (size_t)snprintf(header + used, sizeof header - used, "],\"data_offsets\":[%zu,%zu]}",
                             offset, offset + t[i].bytes);
    offset += t[i].bytes;
  }
  used += (size_t)snprintf(header + used, sizeof header - used, "%s}", extra ? extra : "");
  while (used % 8) header[used++] = ' '; /* padding, as the format allows */
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  uint64_t len = used;
  uint8_t len_bytes[8];
  le_put_u64(len_bytes, len);
  fwrite(len_bytes, 1, 8, f);
  fwrite(header, 1, used, f);
  for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].bytes, f);
  fclose(f);
}

static char st_path[64];
static _Float16 w_q_f16[D * D];

static int standard_tensors(st_tensor_t *t) {
  for (int i = 0; i < D * D; i++) w_q_f16[i] = (_Float16)w_q[i];
  t[0] = (st_tensor_t){"wo", "F32", 2, {D, D}, w_o, sizeof w_o};
  t[1] = (st_tensor_t){"norm.weight", "F32", 1, {D}, w_norm, sizeof w_norm};
  t[2] = (st_tensor_t){"wq", "F16", 2, {D, D}, w_q_f16, sizeof w_q_f16};
  t[3] = (st_tensor_t){"wk", "F32", 2, {KVD, D}, w_k, sizeof w_k};
  t[4] = (st_tensor_t){"wv", "F32", 2, {KVD, D}, w_v, sizeof w_v};
  t[5] = (st_tensor_t){"unused.extra", "F32", 1, {2}, w_norm, 8};
  return 6;
}

static void temp_path(void) {
  snprintf(st_path, sizeof st_path, "/tmp/greta_test_%d.safetensors", (int)getpid());
}

Test(session, safetensors_binding_matches_host_binding) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);
  write_safetensors(st_path, t, n, ",\"note\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":[1.5e3,true,null,\"\\u00e9\\ud83d\\ude00\"]}");
  SUPPORT_OK(greta_session_bind_safetensors(session, st_path));
  float x[MAX_T * D], y[MAX_T * D];
  for (int i = 0; i < MAX_T * D; i++) x[i] = next_input();
  double ref[MAX_T * D];
  reference(x, MAX_T, ref);
  step_rows(session, x, 0, 3, y);
  step_rows(session, x, 3, 1, y);
  assert_close(y, ref, MAX_T * D, 1e-5);
  unlink(st_path);
}

Test(session, safetensors_errors) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);

  /* missing tensor */
  write_safetensors(st_path, t + 1, n - 1, NULL);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_NOT_FOUND, "missing tensor \"wo\"");

  /* wrong shape: both shapes in the message */
  t[3].shape[0] = D;
  t[3].shape[1] = KVD;
  write_safetensors(st_path, t, n, NULL);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_INVALID_ARGUMENT,
        "tensor wk: wrong shape: expected [8, 16], found [16, 8]");
  t[3].shape[0] = KVD;
  t[3].shape[1] = D;

  /* wrong dtype */
  t[4].dtype = "I64";
  t[4].bytes = sizeof w_v; /* 8 * 16 * 4 bytes, as if 64 I64 values */
  write_safetensors(st_path, t, n, NULL);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_INVALID_ARGUMENT,
        "tensor wv: wrong dtype: expected F32, F16 or BF16 (the plan stores f32), found I64");
  t[4].dtype = "F32";

  /* data_offsets that do not match the dtype and shape */
  t[1].bytes = 4 * (D - 1);
  write_safetensors(st_path, t, n, NULL);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "tensor norm.weight: data_offsets");
  t[1].bytes = sizeof w_norm;

  /* corrupt: a header length beyond the file, then broken JSON */
  FILE *f = fopen(st_path, "wb");
  uint8_t huge[16] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, '{', '}'};
  fwrite(huge, 1, sizeof huge, f);
  fclose(f);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, "exceeds the file");
  f = fopen(st_path, "wb");
  uint8_t broken[8 + 12] = {12, 0, 0, 0, 0, 0, 0, 0};
  memcpy(broken + 8, "{\"wq\": {\"dty", 12);
  fwrite(broken, 1, sizeof broken, f);
  fclose(f);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, "expected");
  f = fopen(st_path, "wb");
  fwrite(huge, 1, 3, f);
  fclose(f);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, "8-byte header length");
  unlink(st_path);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, "/nonexistent/w.safetensors"), GRETA_NOT_FOUND,
        "cannot open");
}

/* Regressions (issue 12, defects 2 and 3): the header reader took a second
 * ']' or '}' after an empty array or object, so a scalar tensor ("shape":
 * []) was refused and "[]]" accepted; a repeated key was merged; the
 * duplicate-name check compared every pair (jansson, JSON_REJECT_DUPLICATES,
 * now refuses a repeated key in any object through its hash table). */
Test(session, safetensors_header_edge_cases) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);
  /* A scalar tensor, and an empty object inside a tensor with no data,
   * beside the weights bind fine. */
  static const float scale = 0.5f;
  st_tensor_t with_scalar[7];
  memcpy(with_scalar, t, sizeof t);
  with_scalar[n] = (st_tensor_t){"scale", "F32", 0, {0}, &scale, sizeof scale};
  write_safetensors(st_path, with_scalar, n + 1,
                    ",\"extra_meta\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],"
                    "\"more\":{}}");
  SUPPORT_OK(greta_session_bind_safetensors(session, st_path));
  /* Issue 12, defect 8: overlapping data ranges and names that are not
   * UTF-8 were accepted. */
  write_safetensors(st_path, t, n,
                    ",\"alias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "overlap in the data section");
  write_safetensors(st_path, t, n,
                    ",\"bad\xff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, "expected UTF-8 text");
  write_safetensors(st_path, t, n,
                    ",\"bad\":{\"dtype\":\"F32\",\"shape\":[]],\"data_offsets\":[0,4]}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, "expected");
  write_safetensors(st_path, t, n,
                    ",\"twice\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],"
                    "\"data_offsets\":[0,4]}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "a key appears twice in one object (duplicate object key near '\"shape\"')");
  write_safetensors(st_path, t, n, ",\"empty\":{}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "tensor empty: expected \"dtype\", \"shape\" and \"data_offsets\", missing \"dtype\"");
  /* A name repeated far apart is still found (a hash table, not pairs). */
  write_safetensors(st_path, t, n,
                    ",\"wo\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "a key appears twice in one object (duplicate object key near '\"wo\"')");
  unlink(st_path);
}

/* What jansson parses but the format forbids, each with its message. */
Test(session, safetensors_header_values_are_checked) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);
  static const struct {
    const char *extra, *needle;
  } cases[] = {
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}",
       "tensor x: expected shape[0] to be a non-negative integer, found an integer below zero"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}",
       "tensor x: expected shape[0] to be a non-negative integer, found a real number"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0,0]}",
       "tensor x: expected \"data_offsets\" to be [begin, end], found an array of 3 values"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":\"0,0\"}",
       "tensor x: expected \"data_offsets\" to be [begin, end], found a string"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,-4]}",
       "tensor x: expected data_offsets[1] to be a non-negative integer, found an integer below zero"},
      {",\"x\":{\"dtype\":7,\"shape\":[0],\"data_offsets\":[0,0]}",
       "tensor x: expected \"dtype\" to be a string, found an integer"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,0]}",
       "tensor x: expected \"shape\" to be an array, found an object"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
       "\"data_offsets\":[0,0]}",
       "tensor x: rank 17 is above 16"},
      {",\"x\":[]", "tensor x: expected an object with \"dtype\", \"shape\" and \"data_offsets\", found an array"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,99999999]}",
       "tensor x: data_offsets [0, 99999999) must lie inside the"},
      {",\"x\\u0000y\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
       "expected JSON"},
      {",\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}",
       "expected JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_safetensors(st_path, t, n, cases[i].extra);
    SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS, cases[i].needle);
  }
  /* A header that is JSON but not an object. */
  FILE *f = fopen(st_path, "wb");
  uint8_t array[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0, '[', ']', ' ', ' ', ' ', ' ', ' ', ' '};
  fwrite(array, 1, sizeof array, f);
  fclose(f);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_DATA_LOSS,
        "expected the header to be a JSON object, found an array");
  unlink(st_path);
}

Test(session, a_bad_safetensors_file_binds_nothing) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);
  /* wo (first) is fine; wv (later) has the wrong shape. */
  t[4].shape[0] = D;
  t[4].shape[1] = KVD;
  write_safetensors(st_path, t, n, NULL);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, st_path), GRETA_INVALID_ARGUMENT, "tensor wv");
  unlink(st_path);
  float x[D];
  for (int i = 0; i < D; i++) x[i] = next_input();
  SUPPORT_OK(greta_session_set_input(session, "x", x, sizeof x));
  SUPPORT_FAILS(greta_session_step(session, 1, 0), GRETA_FAILED_PRECONDITION, "of 5 weights are unbound");
}

Test(session, safetensors_every_truncation_and_flip_is_safe) {
  temp_path();
  st_tensor_t t[6];
  int n = standard_tensors(t);
  write_safetensors(st_path, t, n, NULL);
  FILE *f = fopen(st_path, "rb");
  uint8_t file[8192];
  size_t size = fread(file, 1, sizeof file, f);
  fclose(f);
  uint64_t header = le_u16(file);
  /* Every truncation inside the header, and every flip of a header byte:
   * refused or bound, never a crash (ASan watches). */
  for (size_t cut = 0; cut < 8 + header; cut++) {
    f = fopen(st_path, "wb");
    fwrite(file, 1, cut, f);
    fclose(f);
    greta_status_t s = greta_session_bind_safetensors(session, st_path);
    cr_assert_not_null(s, "cut at %zu accepted", cut);
    greta_status_free(s);
  }
  for (size_t i = 0; i < 8 + header; i++) {
    uint8_t copy[8192];
    memcpy(copy, file, size);
    copy[i] ^= 0x20;
    f = fopen(st_path, "wb");
    fwrite(copy, 1, size, f);
    fclose(f);
    greta_status_free(greta_session_bind_safetensors(session, st_path));
  }
  unlink(st_path);
}

/* ---- a fake device, for target IDs and memory limits --------------------------------- */

typedef struct fake_backend_s {
  greta_backend_t base;
  uint64_t free_bytes;
  int allocations;
} fake_backend_t;

static void fake_destroy(greta_backend_t *b) { free(b); }
static greta_status_t fake_alloc(greta_backend_t *b, size_t bytes, void **out) {
  ((fake_backend_t *)b)->allocations++;
  *out = calloc(1, bytes ? bytes : 1);
  return NULL;
}
static void fake_free(greta_backend_t *b, void *p) { free(p); }
static greta_status_t fake_memory_free(greta_backend_t *b, uint64_t *out) {
  *out = ((fake_backend_t *)b)->free_bytes;
  return NULL;
}
static greta_status_t fake_upload(greta_backend_t *b, void *d, size_t off, const void *h, size_t n) {
  memcpy((char *)d + off, h, n);
  return NULL;
}
static greta_status_t fake_download(greta_backend_t *b, void *h, const void *d, size_t off, size_t n) {
  memcpy(h, (const char *)d + off, n);
  return NULL;
}
static greta_status_t fake_program_create(greta_backend_t *b, const uint8_t *file, size_t size,
                                          const greta_plan_t *p, const greta_spaces_t *spaces,
                                          greta_program_t **out) {
  *out = malloc(1);
  return NULL;
}
static void fake_program_destroy(greta_program_t *p) { free(p); }
static greta_status_t fake_program_run(greta_program_t *p, const greta_plan_entry_t *e, int64_t t,
                                       int64_t pos) {
  return NULL;
}
static const greta_backend_vtable_t fake_vtable = {
    .destroy = fake_destroy,
    .alloc = fake_alloc,
    .free = fake_free,
    .memory_free = fake_memory_free,
    .upload = fake_upload,
    .download = fake_download,
    .program_create = fake_program_create,
    .program_destroy = fake_program_destroy,
    .program_run = fake_program_run,
};

static greta_device_t *fake_device(const char *target, uint64_t free_bytes, fake_backend_t **out) {
  fake_backend_t *fake = calloc(1, sizeof *fake);
  fake->base.vtable = &fake_vtable;
  fake->base.kind_name = "fake";
  snprintf(fake->base.device_name, sizeof fake->base.device_name, "Fake GPU");
  snprintf(fake->base.target, sizeof fake->base.target, "%s", target);
  fake->free_bytes = free_bytes;
  greta_device_t *dev = NULL;
  SUPPORT_OK(greta_device_wrap(&fake->base, &dev));
  *out = fake;
  return dev;
}

Test(session, target_id_must_match_a_gpu) {
  build_plan("sm_90");
  greta_model_t *sm90 = open_model();
  fake_backend_t *fake;
  greta_device_t *amd = fake_device("gfx942:sramecc+:xnack-", 1ull << 40, &fake);
  greta_session_t *s = NULL;
  SUPPORT_FAILS(greta_session_create(sm90, amd, &s), GRETA_FAILED_PRECONDITION,
        "the model was compiled for target sm_90 but the device (fake, Fake GPU) is "
        "gfx942:sramecc+:xnack-");
  cr_assert_null(s);
  cr_assert_eq(fake->allocations, 0);
  greta_device_destroy(amd);

  greta_device_t *nv = fake_device("sm_90", 1ull << 40, &fake);
  SUPPORT_OK(greta_session_create(sm90, nv, &s));
  cr_assert_eq(fake->allocations, 4);
  greta_session_destroy(s);
  greta_device_destroy(nv);

  /* The CPU runs any plan: the sm_90 plan gives the reference's numbers. */
  SUPPORT_OK(greta_session_create(sm90, device, &s));
  bind_host_weights(s);
  float x[2 * D], y[2 * D];
  for (int i = 0; i < 2 * D; i++) x[i] = next_input();
  double ref[2 * D];
  reference(x, 2, ref);
  step_rows(s, x, 0, 2, y);
  assert_close(y, ref, 2 * D, 1e-5);
  greta_session_destroy(s);
  greta_model_destroy(sm90);
}

Test(session, memory_checked_before_allocating) {
  fake_backend_t *fake;
  uint64_t needed = WEIGHTS + KVBYTES + ARENA + 8;
  greta_device_t *dev = fake_device("cpu-like", needed - 1, &fake);
  snprintf(fake->base.target, sizeof fake->base.target, "cpu");
  greta_session_t *s = NULL;
  char expected[128];
  snprintf(expected, sizeof expected, "needs %llu bytes", (unsigned long long)needed);
  SUPPORT_FAILS(greta_session_create(model, dev, &s), GRETA_RESOURCE_EXHAUSTED, expected);
  snprintf(expected, sizeof expected, "only %llu bytes free", (unsigned long long)(needed - 1));
  SUPPORT_FAILS(greta_session_create(model, dev, &s), GRETA_RESOURCE_EXHAUSTED, expected);
  cr_assert_eq(fake->allocations, 0);
  fake->free_bytes = needed;
  SUPPORT_OK(greta_session_create(model, dev, &s));
  greta_session_destroy(s);
  greta_device_destroy(dev);
}

/* Regression (issue 12, defect 7): a FIFO made greta_model_open and the
 * safetensors binder wait forever for a writer; a directory gave
 * RESOURCE_EXHAUSTED / INTERNAL. Both are refused at once now. */
Test(session, special_files_are_refused_without_blocking, .timeout = 10) {
  char dir[] = "/tmp/greta_special_XXXXXX", fifo[64];
  cr_assert(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  greta_model_t *m = NULL;
  SUPPORT_FAILS(greta_model_open(fifo, &m), GRETA_INVALID_ARGUMENT, "is not a regular file (a FIFO)");
  SUPPORT_FAILS(greta_model_open(dir, &m), GRETA_INVALID_ARGUMENT, "is not a regular file (a directory)");
  cr_assert_null(m);
  SUPPORT_FAILS(greta_session_bind_safetensors(session, fifo), GRETA_INVALID_ARGUMENT,
        "is not a regular file (a FIFO)");
  SUPPORT_FAILS(greta_session_bind_safetensors(session, dir), GRETA_INVALID_ARGUMENT,
        "is not a regular file (a directory)");
  cr_assert_eq(unlink(fifo), 0);
  cr_assert_eq(rmdir(dir), 0);
}

Test(session, model_open_errors) {
  greta_model_t *m = NULL;
  SUPPORT_FAILS(greta_model_open("/nonexistent/model.hsaco", &m), GRETA_NOT_FOUND, "cannot open");
  static const char junk[] = "not a model at all";
  SUPPORT_FAILS(greta_model_open_memory(junk, sizeof junk, &m), GRETA_DATA_LOSS, "not a greta model");
  cr_assert_null(m);
  greta_device_t *auto_dev = NULL;
  SUPPORT_FAILS(greta_device_open((greta_backend_kind_t)9, 0, &auto_dev), GRETA_INVALID_ARGUMENT,
        "backend kind 9");
  cr_assert_null(auto_dev);
  SUPPORT_OK(greta_device_open(GRETA_BACKEND_AUTO, 0, &auto_dev));
  greta_device_destroy(auto_dev);
}
