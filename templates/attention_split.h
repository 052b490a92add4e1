/* Decode attention's splits as one small pure function: valid C (the CPU
 * backend, runtime/src/cpu/cpu_ops.c, splits as the GPU does) and device
 * code (attention.h, greta_attention_decode).
 *
 * A launch of T tokens whose plan gives `splits` splits of at least
 * `split_rows` cache rows: a token with `rows` rows cuts them into spans of
 * split_rows 2^q rows, q the least that leaves at most max(1, splits / T)
 * spans; span s covers rows [s span, min((s + 1) span, rows)). */
#ifndef GRETA_ATTENTION_SPLIT_H
#define GRETA_ATTENTION_SPLIT_H

#ifndef GRETA_LAYOUT_FN
#define GRETA_LAYOUT_FN static inline
#endif

GRETA_LAYOUT_FN long long greta_attn_decode_span(long long rows, long long split_rows,
                                                 long long splits, long long tokens) {
  const long long budget = splits / tokens > 1 ? splits / tokens : 1;
  long long span = split_rows;
  while ((rows + span - 1) / span > budget) span *= 2;
  return span;
}

#endif
