/* bench/gfx942_model.py, the static throughput model of the gfx942 GEMM
 * kernels, on examples/llama2_block.gm compiled by the built gretac for
 * gfx942 (f32 and f16 weights), and its loop finder on a hand-written
 * disassembly (--selftest; the expected answers are in its docstring).
 *
 * The expected MFMA counts come from the templates, not from the script.
 * GEMMs (templates/gemm_mfma.h): each wave owns MB x NB blocks of 32 x 32, K
 * advances by BK per loop iteration (16 for f32 weights, 32 for halves), a
 * block takes BK / K_mfma MFMAs per iteration (K_mfma = 2 for
 * v_mfma_f32_32x32x2_f32, 8 for v_mfma_f32_32x32x8_f16):
 *   small tile (MB 1, NB 2): f32 1 x 2 x 16 / 2 = 16, f16 1 x 2 x 32 / 8 = 8;
 *   large tile (MB 2, NB 4): f32 2 x 4 x 16 / 2 = 64, f16 2 x 4 x 32 / 8 = 32.
 * Which tile (kernel_select.c mfma_big_tile_wins: tiles spread over 304 CUs,
 * a CU's share x tile area, x 1.19 for the small tile with 16-bit weights,
 * the large tile on a tie), f16 block:
 *   max_tokens 512: q/k/v (N 12288) small 768 tiles -> 3 x 8192 x 1.19 =
 *     29245 vs large 192 -> 32768; o, down (N 4096) 256 -> 9748 vs 32768;
 *     gate/up (N 22016) 1376 -> 48742 vs 344 -> 65536: 4 small;
 *   max_tokens 2048: q/k/v 3072 -> 11 x 9748 = 107233 vs 768 -> 98304; o,
 *     down 1024 -> 38993 vs 256 -> 32768; gate/up 5504 -> 185221 vs 1376 ->
 *     163840: 4 large.
 * Prefill attention with the f16 cache (templates/attention_mfma.h), per
 * 32-key tile per wave: S^T = K Q^T D / 8 = 16 and O^T += V^T P^T
 * (D / 32) x 4 = 16, so 32 v_mfma_f32_32x32x8_f16 at head_dim 128, in each
 * of its two key loops (the tiles every query sees whole, the diagonal
 * tiles under the mask); the f32 block's f32 cache takes the MFMA-free
 * greta_attention.
 *
 * Needs python3, clang-19 and llvm-objdump-19 / llvm-readelf-19
 * (scripts/bootstrap.sh installs them); skips, saying which is missing. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../templates/launch_constants.h"
#include "support/support.h"
#include "../templates/mfma_layout.h"

#define GRETAC GRETA_BINARY_DIR "/compiler/gretac"
#define MODEL GRETA_SOURCE_DIR "/bench/gfx942_model.py"
#define BLOCK_GM GRETA_SOURCE_DIR "/examples/llama2_block.gm"

/* templates/launch_constants.h's tiles, as blocks of 32 x 32 per wave. */
enum {
  SMALL_BLOCKS = GRETA_MFMA_SMALL_MB * GRETA_MFMA_SMALL_NB,
  BIG_BLOCKS = GRETA_MFMA_BIG_MB * GRETA_MFMA_BIG_NB,
  HEAD_DIM = 128, /* examples/llama2_block.gm */
};

static int have(const char *tool) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
  return system(cmd) == 0;
}

static void skip_without_tools(int need_gpu_tools) {
  static const char *const tools[] = {"python3", "clang-19", "llvm-objdump-19", "llvm-readelf-19"};
  for (size_t i = 0; i < (need_gpu_tools ? 4u : 1u); i++)
    if (!have(tools[i])) cr_skip_test("%s not installed (scripts/bootstrap.sh installs it)", tools[i]);
}


Test(gfx942_model, loop_finder_selftest) {
  skip_without_tools(0);
  char *out = NULL;
  int rc = support_run("python3 " MODEL " --selftest", &out);
  cr_expect_eq(rc, 0, "gfx942_model.py --selftest exited %d:\n%s", rc, out);
  cr_expect(strstr(out, "selftest: ok"), "selftest output:\n%s", out);
  free(out);
}

/* One kernel's facts, flattened from the script's --json by a one-line
 * json.load (no model logic in it): name, loop found (1/0), MFMA instruction
 * (the only one), its count per wave, flops per wave, roofline and
 * pessimistic % of peak, VGPR and SGPR spills. */
typedef struct fact_s {
  char name[64], mfma[64];
  int loop, count, vspill, sspill, n_kinds;
  long flops;
  double roof, pess;
  /* The causal attention's table (the model's defaults, T = 512 and 2048,
   * 32 heads): whole and diagonal wave-tiles, the longest wave's tiles; -1
   * on rows without it. */
  long att[2][3];
} fact_t;

static const char *const FLATTEN =
    "import json,sys; d=json.load(sys.stdin)\n"
    "for k in d['kernels']:\n"
    "  p=k['per_wave']; m=p['mfma']; mo=k['model']; me=k['meta']\n"
    "  print(k['kernel'], int(k['loop'] is not None), m[0]['instruction'] if m else '-',"
    " p['mfma_count'], p['flops'], '%.6f' % mo['pct_peak_roofline'],"
    " '%.6f' % mo['pct_peak_pessimistic'], me['vgpr_spills'], me['sgpr_spills'], len(m),"
    " *[v for a in (k.get('attention') or [{}] * 2)[:2]"
    " for v in (a.get('whole_tiles', -1), a.get('diagonal_tiles', -1), a.get('longest_wave_tiles', -1))])\n";

static int model_block(const char *dtype, int max_tokens, fact_t *facts, int max) {
  char dir[] = "/tmp/greta_gfx942_model_XXXXXX";
  cr_assert(mkdtemp(dir), "mkdtemp failed");
  char gm[512], hsaco[512], py[512], cmd[4096];
  snprintf(gm, sizeof gm, "%s/block.gm", dir);
  snprintf(hsaco, sizeof hsaco, "%s/block.hsaco", dir);
  snprintf(py, sizeof py, "%s/flatten.py", dir);
  /* The example is f32; the f16 block is the same file with one line changed. */
  snprintf(cmd, sizeof cmd,
           "sed 's/weight_dtype = f32/weight_dtype = %s/' %s > %s && grep -q 'weight_dtype = %s' %s",
           dtype, BLOCK_GM, gm, dtype, gm);
  cr_assert_eq(system(cmd), 0, "could not write the %s block: %s", dtype, cmd);
  FILE *f = fopen(py, "w");
  cr_assert(f);
  fputs(FLATTEN, f);
  fclose(f);

  char *out = NULL;
  snprintf(cmd, sizeof cmd, "%s -q %s --target=gfx942 --max-tokens=%d -o %s", GRETAC, gm, max_tokens, hsaco);
  int rc = support_run(cmd, &out);
  cr_assert_eq(rc, 0, "%s exited %d:\n%s", cmd, rc, out);
  free(out);
  snprintf(cmd, sizeof cmd, "python3 %s %s --json | python3 %s", MODEL, hsaco, py);
  rc = support_run(cmd, &out);
  cr_assert_eq(rc, 0, "%s exited %d:\n%s", cmd, rc, out);

  int n = 0;
  for (char *line = strtok(out, "\n"); line && n < max; line = strtok(NULL, "\n")) {
    fact_t *k = &facts[n];
    int got = sscanf(line, "%63s %d %63s %d %ld %lf %lf %d %d %d %ld %ld %ld %ld %ld %ld", k->name, &k->loop,
                     k->mfma, &k->count, &k->flops, &k->roof, &k->pess, &k->vspill, &k->sspill, &k->n_kinds,
                     &k->att[0][0], &k->att[0][1], &k->att[0][2], &k->att[1][0], &k->att[1][1], &k->att[1][2]);
    cr_assert_eq(got, 16, "unexpected line from the model: \"%s\"", line);
    n++;
  }
  free(out);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  (void)system(cmd);
  return n;
}

/* The attention's causal table, derived here from the template's loops:
 * a block of Q rows (GRETA_ATTN_MFMA_QUERIES) at t0 = Q b computes its
 * t0 / 32 whole tiles in each of its 4 waves, and wave w of it w + 1
 * diagonal ones (32 rows a wave, 32 keys a tile, pos 0). So at T tokens
 * (B = T / Q blocks, n = T / 32 waves a head) and H heads: whole = H x 4 x
 * (Q / 32) x (0 + 1 + .. + (B - 1)), diagonal = H x B x (1 + 2 + 3 + 4),
 * the longest wave n tiles. */
static void check_causal_tiles(const fact_t *facts, int n) {
  static const long tokens[2] = {512, 2048};
  const long H = 32, Q = GRETA_ATTN_MFMA_QUERIES, waves = Q / 32;
  int rows = 0;
  for (int i = 0; i < n; i++) {
    if (facts[i].att[0][0] < 0) continue;
    rows++;
    for (int s = 0; s < 2; s++) {
      const long T = tokens[s], B = T / Q;
      const long whole = H * waves * (Q / 32) * (B * (B - 1) / 2), diag = H * B * waves * (waves + 1) / 2;
      cr_expect_eq(facts[i].att[s][0], whole, "T %ld: %ld whole wave-tiles, expected %ld", T,
                   facts[i].att[s][0], whole);
      cr_expect_eq(facts[i].att[s][1], diag, "T %ld: %ld diagonal wave-tiles, expected %ld", T,
                   facts[i].att[s][1], diag);
      cr_expect_eq(facts[i].att[s][2], T / 32, "T %ld: longest wave %ld tiles, expected %ld", T,
                   facts[i].att[s][2], T / 32);
    }
  }
  cr_expect_eq(rows, 1, "%d attention rows carry the causal table, expected 1", rows);
}

/* per_block: MFMAs per 32 x 32 block per iteration; attention: the
 * attention kernel's MFMAs per key tile in each of its key loops (0: no
 * MFMA attention); the GEMMs expected on each tile. */
static void check_block(const char *dtype, int max_tokens, const char *mfma, int per_block,
                        long flop_per_mfma, int attention, int want_small, int want_big) {
  skip_without_tools(1);
  fact_t facts[32];
  int n = model_block(dtype, max_tokens, facts, 32);
  int small = 0, big = 0, attn = 0;
  for (int i = 0; i < n; i++) {
    fact_t *k = &facts[i];
    const bool is_attention = strncmp(k->name, "greta_attention", 15) == 0;
    cr_expect(is_attention || strncmp(k->name, "greta_matmul", 12) == 0,
              "%s: MFMAs in a kernel neither GEMM nor attention: %s", dtype, k->name);
    cr_expect_eq(k->loop, 1, "%s %s: no K loop found", dtype, k->name);
    cr_expect_eq(k->n_kinds, 1, "%s %s: %d kinds of MFMA, expected one", dtype, k->name, k->n_kinds);
    cr_expect_str_eq(k->mfma, mfma, "%s %s: MFMA %s, expected %s", dtype, k->name, k->mfma, mfma);
    if (is_attention) {
      attn++;
      cr_expect_eq(k->count, attention, "%s %s: %d MFMAs per wave per key tile, expected %d", dtype,
                   k->name, k->count, attention);
    } else {
      small += k->count == per_block * SMALL_BLOCKS;
      big += k->count == per_block * BIG_BLOCKS;
      cr_expect(k->count == per_block * SMALL_BLOCKS || k->count == per_block * BIG_BLOCKS,
                "%s %s: %d MFMAs per wave per iteration, expected %d (small tile) or %d (large)",
                dtype, k->name, k->count, per_block * SMALL_BLOCKS, per_block * BIG_BLOCKS);
    }
    cr_expect_eq(k->flops, (long)k->count * flop_per_mfma,
                 "%s %s: %ld flops per wave, expected %d x %ld", dtype, k->name, k->flops, k->count,
                 flop_per_mfma);
    cr_expect(k->roof > 0 && k->roof <= 100.0 + 1e-9, "%s %s: roofline %% of peak %f outside (0, 100]",
              dtype, k->name, k->roof);
    cr_expect(k->pess > 0 && k->pess <= k->roof + 1e-9, "%s %s: pessimistic %f outside (0, roofline %f]",
              dtype, k->name, k->pess, k->roof);
    cr_expect_eq(k->vspill, 0, "%s %s: %d VGPR spills", dtype, k->name, k->vspill);
    cr_expect_eq(k->sspill, 0, "%s %s: %d SGPR spills", dtype, k->name, k->sspill);
  }
  cr_expect_eq(small, want_small, "%s block, max_tokens %d: %d small-tile GEMMs, expected %d", dtype,
               max_tokens, small, want_small);
  cr_expect_eq(big, want_big, "%s block, max_tokens %d: %d large-tile GEMMs, expected %d", dtype,
               max_tokens, big, want_big);
  cr_expect_eq(attn, attention ? 2 : 0, "%s block: %d MFMA attention key loops, expected %d", dtype, attn,
               attention ? 2 : 0);
  if (attention) check_causal_tiles(facts, n);
}

Test(gfx942_model, block_f32) {
  check_block("f32", 512, "v_mfma_f32_32x32x2_f32", GRETA_MFMA_BK_F32 / GRETA_MFMA32_F32_K,
              2L * 32 * 32 * GRETA_MFMA32_F32_K, 0, 4, 0);
}

Test(gfx942_model, block_f16) {
  check_block("f16", 512, "v_mfma_f32_32x32x8_f16", GRETA_MFMA_BK_F16 / GRETA_MFMA32_F16_K,
              2L * 32 * 32 * GRETA_MFMA32_F16_K, HEAD_DIM / 8 + HEAD_DIM / 32 * 32 / 8, 4, 0);
}

Test(gfx942_model, block_f16_max_tokens_2048) {
  check_block("f16", 2048, "v_mfma_f32_32x32x8_f16", GRETA_MFMA_BK_F16 / GRETA_MFMA32_F16_K,
              2L * 32 * 32 * GRETA_MFMA32_F16_K, HEAD_DIM / 8 + HEAD_DIM / 32 * 32 / 8, 0, 4);
}
