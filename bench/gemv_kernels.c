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
 * 22016x4096, down 4096x11008), each also with UNROLL 1, 2, 4 and 8
 * beside the default GRETA_GEMV_UNROLL, for comparison. Checked shapes: odd sizes
 * (the scalar and tail paths), grouped-query heads, f32/f16/bf16. */
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
 * unroll != GRETA_GEMV_UNROLL re-instantiates a GEMV with that unroll. */
static void add(const target_t *t, const char *purpose, const char *name, uint32_t op,
                greta_op_attrs_t a, int64_t rows_coeff, int rows_per_token, int64_t max_tokens,
                int64_t T, int64_t pos, int unroll) {
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.attr = a;
  l.rows_coeff = rows_coeff;
  l.rows_per_token = (uint32_t)rows_per_token;
  l.n_args = greta_launch_operand_count(&l);
  strbuf_t text = {0};
  die(kernels_instantiate(t, &l, 1, max_tokens, name, &text), name);
  if (unroll != GRETA_GEMV_UNROLL) {
    char from[32], to[32];
    snprintf(from, sizeof from, ", %d>(params", GRETA_GEMV_UNROLL);
    snprintf(to, sizeof to, ", %d>(params", unroll);
    char *at = strstr(text.data, from);
    if (!at) {
      fprintf(stderr, "gemv_kernels: %s: no UNROLL argument in the instantiation\n", name);
      exit(1);
    }
    *at = 0;
    strbuf_printf(&source, "%s%s%s", text.data, to, at + strlen(from));
  } else {
    strbuf_append(&source, text.data);
  }
  strbuf_free(&text);
  uint32_t grid[3];
  greta_plan_launch_grid(&l, T, grid);
  fprintf(manifest,
          "{\"name\": \"%s\", \"purpose\": \"%s\", \"op\": \"%s\", \"T\": %lld, \"pos\": %lld, "
          "\"grid\": [%u, %u, %u], \"block\": %u, \"rows_coeff\": %lld, \"unroll\": %d, "
          "\"n\": %lld, \"k\": %lld, \"residual\": %lld, \"norm\": %lld, \"wdtype\": %lld, "
          "\"heads\": %lld, \"kv_heads\": %lld, \"head_dim\": %lld, \"max_seq\": %lld, "
          "\"kvdtype\": %lld, \"eps\": %.9g, \"theta\": %.9g}\n",
          name, purpose, greta_op_name(op), (long long)T, (long long)pos, grid[0], grid[1], grid[2],
          l.block[0], (long long)rows_coeff, unroll, (long long)a.n, (long long)a.k,
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
  static const int unrolls[] = {GRETA_GEMV_UNROLL, 1, 2, 4, 8};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (size_t u = 0; u < sizeof unrolls / sizeof unrolls[0]; u++) {
      if (u > 0 && unrolls[u] == GRETA_GEMV_UNROLL) continue; /* the default came first */
      char name[64];
      snprintf(name, sizeof name, "time_%s_u%d", shapes[s].name, unrolls[u]);
      add(&t, "time", name, GRETA_OP_MATMUL,
          (greta_op_attrs_t){.n = shapes[s].n, .k = shapes[s].k, .transpose_b = 1,
                             .residual = shapes[s].residual, .wdtype = F16, .eps = 1e-5f},
          1, 1, 1, 1, 0, unrolls[u]);
    }
  const int D = GRETA_GEMV_UNROLL;
  add(&t, "time", "time_matmul_qkv", GRETA_OP_MATMUL_QKV,
      (greta_op_attrs_t){.heads = 32, .kv_heads = 32, .head_dim = 128, .max_seq = 2048, .k = 4096,
                         .norm = 1, .wdtype = F16, .kvdtype = F16, .eps = 1e-5f, .theta = 10000.f},
      1, 1, 1, 1, 1024, D);
  add(&t, "time", "time_matmul_glu", GRETA_OP_MATMUL_GLU,
      (greta_op_attrs_t){.n = 11008, .k = 4096, .norm = 1, .wdtype = F16, .eps = 1e-5f}, 1, 1, 1, 1,
      0, D);
  add(&t, "time", "time_o_norm", GRETA_OP_MATMUL,
      (greta_op_attrs_t){.n = 4096, .k = 4096, .transpose_b = 1, .norm = 1, .wdtype = F16,
                         .eps = 1e-5f},
      1, 1, 1, 1, 0, D);

  /* Checks: each op at odd sizes and dtypes, against float64 in torch. */
  static const char *const dn[] = {"f32", "f16", "bf16"};
  for (int dt = F32; dt <= BF16; dt++) {
    char name[64];
    snprintf(name, sizeof name, "check_matmul_odd_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 45, .k = 67, .transpose_b = 1, .residual = 1, .norm = 1, .wdtype = dt,
                           .eps = 1e-5f},
        1, 1, 1, 1, 0, D);
    snprintf(name, sizeof name, "check_matmul_vec_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 4095, .k = 4104, .transpose_b = 1, .norm = 1, .wdtype = dt,
                           .eps = 1e-5f},
        1, 1, 1, 1, 0, D);
    snprintf(name, sizeof name, "check_matmul_bigk_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL,
        (greta_op_attrs_t){.n = 300, .k = 12040, .transpose_b = 1, .residual = 1, .norm = 1,
                           .wdtype = dt, .eps = 1e-5f},
        1, 1, 1, 1, 0, D);
    snprintf(name, sizeof name, "check_glu_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL_GLU,
        (greta_op_attrs_t){.n = 333, .k = 520, .norm = 1, .wdtype = dt, .eps = 1e-5f}, 1, 1, 1, 1, 0,
        D);
    snprintf(name, sizeof name, "check_qkv_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_MATMUL_QKV,
        (greta_op_attrs_t){.heads = 6, .kv_heads = 2, .head_dim = 24, .max_seq = 80, .k = 67,
                           .norm = 1, .wdtype = dt, .kvdtype = dt, .eps = 1e-5f, .theta = 10000.f},
        1, 1, 1, 1, 37, D);
    snprintf(name, sizeof name, "check_fold_norm_%s", dn[dt]);
    add(&t, "check", name, GRETA_OP_FOLD_NORM, (greta_op_attrs_t){.n = 67, .wdtype = dt}, 45, 0, 64,
        1, 0, D);
  }
  add(&t, "check", "check_qkv_plain_7b", GRETA_OP_MATMUL_QKV,
      (greta_op_attrs_t){.heads = 32, .kv_heads = 8, .head_dim = 128, .max_seq = 2048, .k = 4096,
                         .wdtype = F16, .kvdtype = F16, .theta = 500000.f},
      1, 1, 1, 1, 1500, D);
  add(&t, "check", "check_qkv_rope_append", GRETA_OP_QKV_ROPE_APPEND,
      (greta_op_attrs_t){.heads = 6, .kv_heads = 2, .head_dim = 24, .max_seq = 80, .kvdtype = F16,
                         .theta = 10000.f},
      1, 1, 64, 37, 11, D);
  add(&t, "check", "check_rms_scale", GRETA_OP_RMS_SCALE, (greta_op_attrs_t){.n = 4097, .eps = 1e-5f},
      1, 1, 64, 37, 0, D);
  add(&t, "check", "check_glu", GRETA_OP_GLU, (greta_op_attrs_t){.n = 333}, 1, 1, 64, 37, 0, D);
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
