/* RoPE's inverse frequencies (runtime/src/rope_freq.c) against transformers
 * itself: tests/fixtures/hf_import/rope_inv_freq.txt holds the f32 bits of
 * LlamaRotaryEmbedding(config).inv_freq, computed by transformers 5.17 on the
 * CPU (bench/hf_import_reference.py) for default RoPE and llama3 scaling,
 * one config a line: "theta head_dim factor low high original : hex ...".
 * The CPU reference and the tables gretac bakes into kernels both come from
 * greta_rope_inv_freq, so every bit must match. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rope_freq.h"

Test(rope_freq, bit_identical_to_transformers) {
  const char *path = GRETA_SOURCE_DIR "/tests/fixtures/hf_import/rope_inv_freq.txt";
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot open %s", path);
  char line[8192];
  int configs = 0, scaled = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    double theta, factor, low, high, original;
    long long head_dim;
    int used = 0;
    cr_assert_eq(sscanf(line, "%lf %lld %lf %lf %lf %lf :%n", &theta, &head_dim, &factor, &low,
                        &high, &original, &used),
                 6, "bad fixture line: %s", line);
    greta_op_attrs_t a = {.theta = (float)theta, .rope_factor = (float)factor,
                          .rope_low_freq_factor = (float)low,
                          .rope_high_freq_factor = (float)high,
                          .rope_original_max = (float)original};
    char *p = line + used;
    for (long long i = 0; i < head_dim / 2; i++) {
      char *end;
      uint32_t want = (uint32_t)strtoul(p, &end, 16);
      cr_assert(end != p, "theta %g head_dim %lld: value %lld missing", theta, head_dim, i);
      p = end;
      float got = greta_rope_inv_freq(&a, head_dim, i);
      uint32_t bits;
      memcpy(&bits, &got, sizeof bits);
      cr_expect_eq(bits, want,
                   "theta %g head_dim %lld scaling (%g, %g, %g, %g): inv_freq[%lld] = %08x (%.9g), "
                   "transformers %08x",
                   theta, head_dim, factor, low, high, original, i, bits, (double)got, want);
    }
    configs++;
    scaled += factor != 0;
  }
  fclose(f);
  cr_assert(configs >= 6 && scaled >= 3, "the fixture has %d configs, %d scaled", configs, scaled);
}
