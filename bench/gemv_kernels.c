/* gemv_kernels: the decode-projection kernels of gemv.h (and the prefill
 * helpers rms_scale, glu, qkv_rope_append, fold_norm) instantiated through
 * the compiler's own kernel selection and compiled for sm_90 with NVRTC,
 * for bench/gemv_bench.py to check and time on the GPU machine without a
 * .gm model (the passes that emit the fused ops live elsewhere).
 *
 *   gemv_kernels OUT_DIR    writes OUT_DIR/gemv.cubin and OUT_DIR/gemv.jsonl
 *                           (one line per kernel: name, op, attributes,
 *                           launch geometry for the T it is run at)
 *
 * Built by bench/gemv_bench.sh prepare against build/dev's static libraries.
 * Timed shapes: Llama-2-7B f16 decode (qkv 12288x4096, o 4096x4096, gate+up
 * 22016x4096, down 4096x11008) as the selector instantiates them; o and
 * down also with SPLIT 1, 2, 4, 8 and a few UNROLLs forced, for comparison.
 * Checked shapes: odd sizes (the scalar and partial-chunk paths), split-K
 * forced off and on, grouped-query heads, f32/f16/bf16. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_select.h"
#include "launch_constants.h"
#include "toolchain.h"

static strbuf_t source;
static FILE *manifest;

static void die(greta_status_t s, const char *what) {
  if (!s) return;
  fprintf(stderr, "gemv_kernels: %s: %s\n", what, greta_status_message(s));
  exit(1);
}

/* One kernel: instantiated as `name`, launched for T tokens at pos;
 * unroll > 0 / split > 0 re-instantiate a GEMV with that UNROLL / SPLIT
 * (its last two template arguments) instead of the selector's. */
static void add(const target_t *t, const char *purpose, const char *name, uint32_t op,
                greta_op_attrs_t a, int64_t rows_coeff, int rows_per_token, int64_t max_tokens,
                int64_t T, int64_t pos, int unroll, int split) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.attr = a;
  l.rows_coeff = rows_coeff;
  l.rows_per_token = (uint32_t)rows_per_token;
  l.n_args = greta_launch_operand_count(&l);
  strbuf_t text = {0};
  die(kernels_instantiate(t, &l, 1, max_tokens, name, &text), name);
  int chosen_unroll = 0, chosen_split = 1;
  char *at = strstr(text.data, ">(params");
  char *c1 = NULL, *c2 = NULL; /* the commas before UNROLL and SPLIT */
  if (at) {
    for (char *q = at; q > text.data && !c1; q--)
      if (*q == ',') c2 ? (void)(c1 = q) : (void)(c2 = q);
  }
  if (c1 && (op == GRETA_OP_MATMUL ? a.transpose_b != 0 : 1) &&
      (op == GRETA_OP_MATMUL || op == GRETA_OP_MATMUL_GLU || op == GRETA_OP_MATMUL_QKV)) {
    chosen_unroll = atoi(c1 + 1);
    chosen_split = atoi(c2 + 1);
    int u = unroll > 0 ? unroll : chosen_unroll, sp = split > 0 ? split : chosen_split;
    *c1 = 0;
    strbuf_printf(&source, "%s, %d, %d%s", text.data, u, sp, at);
    /* Grid x: pairs * split waves, GRETA_GEMV_NT / 32 to a block on sm_90. */
    int64_t pairs = op == GRETA_OP_MATMUL       ? (a.n + 1) / 2
                    : op == GRETA_OP_MATMUL_GLU ? a.n
                                                : (a.heads + 2 * a.kv_heads) * (a.head_dim / 2);
    l.grid[0] = (uint32_t)((pairs * sp + GRETA_GEMV_NT / 32 - 1) / (GRETA_GEMV_NT / 32));
    chosen_unroll = u;
    chosen_split = sp;
  } else {
    if (unroll > 0 || split > 0) {
      fprintf(stderr, "gemv_kernels: %s: no UNROLL, SPLIT arguments in the instantiation\n", name);
      exit(1);
    }
    strbuf_append(&source, text.data);
  }
  strbuf_free(&text);
  uint32_t grid[3];
  greta_plan_launch_grid(&l, T, grid);
  fprintf(manifest,
          "{\"name\": \"%s\", \"purpose\": \"%s\", \"op\": \"%s\", \"T\": %lld, \"pos\": %lld, "
          "\"grid\": [%u, %u, %u], \"block\": %u, \"rows_coeff\": %lld, \"unroll\": %d, \"split\": %d, "
          "\"n\": %lld, \"k\": %lld, \"residual\": %lld, \"norm\": %lld, \"wdtype\": %lld, "
          "\"heads\": %lld, \"kv_heads\": %lld, \"head_dim\": %lld, \"max_seq\": %lld, "
          "\"kvdtype\": %lld, \"eps\": %.9g, \"theta\": %.9g}\n",
          name, purpose, greta_op_name(op), (long long)T, (long long)pos, grid[0], grid[1], grid[2],
          l.block[0], (long long)rows_coeff, chosen_unroll, chosen_split, (long long)a.n, (long long)a.k,
          (long long)a.residual, (long long)a.norm, (long long)a.wdtype, (long long)a.heads,
          (long long)a.kv_heads, (long long)a.head_dim, (long long)a.max_seq, (long long)a.kvdtype,
          (double)a.eps, (double)a.theta);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gemv_kernels OUT_DIR\n");
    return 2;
  }
  target_t t;
  die(target_parse("sm_90", &t), "target");
  char path[4096];
  snprintf(path, sizeof path, "%s/gemv.jsonl", argv[1]);
  manifest = fopen(path, "w");
  if (!manifest) return perror(path), 1;
  kernels_source_prelude(&t, &source);

  const int F32 = GRETA_F32, F16 = GRETA_F16, BF16 = GRETA_BF16;
  /* Timing: Llama-2-7B f16 decode projections. */
  static const struct {
    const char *name;
    int64_t n, k;
    int residual;
  } shapes[] = {{"qkv", 12288, 4096, 0}, {"o", 4096, 4096, 1}, {"gateup", 22016, 4096, 0},
                {"down", 4096, 11008, 1}};
  /* The selector's choice first (time_<shape>), then for the N = 4096
   * shapes each SPLIT and two UNROLLs beside it. */
  static const struct {
    int unroll, split;
  } variants[] = {{0, 0}, {0, 1}, {0, 2}, {0, 4}, {0, 8}, {2, 2}, {2, 4}, {2, 8}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
      if (v > 0 && shapes[s].n != 4096) break;
      char name[64];
      if (v == 0)
        snprintf(name, sizeof name, "time_%s", shapes[s].name);
      else
        snprintf(name, sizeof name, "time_%s_s%d_u%d", shapes[s].name, variants[v].split,
                 variants[v].unroll ? variants[v].unroll : GRETA_GEMV_UNROLL);
      add(&t, "time", name, GRETA_OP_MATMUL,
          (greta_op_attrs_t){.n = shapes[s].n, .k = shapes[s].k, .transpose_b = 1,
                             .residual = shapes[s].residual, .wdtype = F16, .eps = 1e-5f},
          1, 1, 1, 1, 0, variants[v].unroll, variants[v].split);
    }
  const int D = 0, S = 0; /* the selector's UNROLL and SPLIT */
  add(&t, "time", "time_matmul_qkv", GRETA_OP_MATMUL_QKV,
      (greta_op_attrs_t){.heads = 32, .kv_heads = 32, .head_dim = 128, .max_seq = 2048, .k = 4096,
                         .norm = 1, .wdtype = F16, .kvdtype = F16, .eps = 1e-5f, .theta = 10000.f},
      1, 1, 1, 1, 1024, D, S);
  add(&t, "time", "time_matmul_glu", GRETA_OP_MATMUL_GLU,
      (greta_op_attrs_t){.n = 11008, .k = 4096, .norm = 1, .wdtype = F16, .eps = 1e-5f}, 1, 1, 1, 1,
      0, D, S);
  add(&t, "time", "time_o_norm", GRETA_OP_MATMUL,
      (greta_op_attrs_t){.n = 4096, .k = 4096, .transpose_b = 1, .norm = 1, .wdtype = F16,
                         .eps = 1e-5f},
      1, 1, 1, 1, 0, D, S);

  /* Checks: each op at odd sizes and dtypes, against float64 in torch. */
  static const char *const dn[] = {"f32", "f16", "bf16"};
  for (int dt = F32; dt <= BF16; dt++) {
    char name[64];
    snprintf(name, sizeof name, "check_matmul_odd_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 45, .k = 67, .transpose_b = 1, .residual = 1, .norm = 1, .wdtype = dt,
                           .eps = 1e-5f},
        1, 1, 1, 1, 0, D, S);
    snprintf(name, sizeof name, "check_matmul_vec_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 4095, .k = 4104, .transpose_b = 1, .norm = 1, .wdtype = dt,
                           .eps = 1e-5f},
        1, 1, 1, 1, 0, D, S);
    snprintf(name, sizeof name, "check_matmul_bigk_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 300, .k = 12040, .transpose_b = 1, .residual = 1, .norm = 1,
                           .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, 1, 0, D, S);
    /* Split-K forced off and to 8 (the partial last chunk, both ways). */
    for (int sp = 1; sp <= 8; sp += 7) {
      snprintf(name, sizeof name, "check_matmul_vec_s%d_%s", sp, dn[dt]);
      add(&t, "check", name, GRETA_OP_MATMUL,
          (greta_op_attrs_t){.n = 4095, .k = 4104, .transpose_b = 1, .residual = 1, .norm = 1,
                             .wdtype = dt, .eps = 1e-5f},
          1, 1, 1, 1, 0, D, sp);
    }
    snprintf(name, sizeof name, "check_glu_bigk_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL_GLU,
        (greta_op_attrs_t){.n = 333, .k = 4104, .norm = 1, .wdtype = dt, .eps = 1e-5f}, 1, 1, 1, 1, 0,
        D, S);
    snprintf(name, sizeof name, "check_glu_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL_GLU,
        (greta_op_attrs_t){.n = 333, .k = 520, .norm = 1, .wdtype = dt, .eps = 1e-5f}, 1, 1, 1, 1, 0,
        D, S);
    snprintf(name, sizeof name, "check_qkv_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL_QKV,
        (greta_op_attrs_t){.heads = 6, .kv_heads = 2, .head_dim = 24, .max_seq = 80, .k = 67,
                           .norm = 1, .wdtype = dt, .kvdtype = dt, .eps = 1e-5f, .theta = 10000.f},
        1, 1, 1, 1, 37, D, S);
    snprintf(name, sizeof name, "check_fold_norm_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_FOLD_NORM, (greta_op_attrs_t){.n = 67, .wdtype = dt}, 45, 0, 64,
        1, 0, D, S);
  }
  add(&t, "check", "check_qkv_plain_7b", GRETA_OP_MATMUL_QKV,
      (greta_op_attrs_t){.heads = 32, .kv_heads = 8, .head_dim = 128, .max_seq = 2048, .k = 4096,
                         .wdtype = F16, .kvdtype = F16, .theta = 500000.f},
      1, 1, 1, 1, 1500, D, S);
  add(&t, "check", "check_qkv_rope_append", GRETA_OP_QKV_ROPE_APPEND,
      (greta_op_attrs_t){.heads = 6, .kv_heads = 2, .head_dim = 24, .max_seq = 80, .kvdtype = F16,
                         .theta = 10000.f},
      1, 1, 64, 37, 11, D, S);
  add(&t, "check", "check_rms_scale", GRETA_OP_RMS_SCALE, (greta_op_attrs_t){.n = 4097, .eps = 1e-5f},
      1, 1, 64, 37, 0, D, S);
  add(&t, "check", "check_glu", GRETA_OP_GLU, (greta_op_attrs_t){.n = 333}, 1, 1, 64, 37, 0, D, S);
  fclose(manifest);

  const toolchain_t *tc = NULL;
  const char *version = NULL;
  die(toolchain_pick(&t, "nvrtc", &tc, &version), "toolchain");
  uint8_t *obj = NULL;
  size_t size = 0;
  char *log = NULL;
  die(toolchain_compile(tc, &t, source.data, 0, &obj, &size, &log), "compile");
  snprintf(path, sizeof path, "%s/gemv.cubin", argv[1]);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(obj, 1, size, f) != size) return perror(path), 1;
  fclose(f);
  snprintf(path, sizeof path, "%s/gemv.cu", argv[1]);
  f = fopen(path, "w");
  if (f) fputs(source.data, f), fclose(f);
  printf("%s: %zu bytes of sm_90 code (%s)\n", argv[1], size, version);
  free(obj);
  free(log);
  strbuf_free(&source);
  return 0;
}
