/* greta info MODEL: what a compiled file holds, read on the host (no
 * device is opened). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <string.h>

#include "cli.h"

static void help(void) {
  printf("usage: greta info MODEL\n\n"
         "Shows what MODEL (a file written by gretac) holds: its target and\n"
         "toolchain, its inputs and outputs with their shapes, its weights, and\n"
         "the memory it needs (weights, KV cache, activations). Opens no device.\n\n"
         "options:\n"
         "  -h, --help   this text\n");
}

static void print_tensor(const greta_tensor_info_t *t) {
  printf("  %-24s %s[", t->name, greta_dtype_name(t->dtype));
  for (int d = 0; d < t->rank; d++) {
    const greta_dim_t *dim = &t->dims[d];
    if (d)
      printf(", ");
    if (dim->symbol && dim->coeff == 1)
      printf("%s", dim->symbol);
    else if (dim->symbol)
      printf("%lld*%s", (long long)dim->coeff, dim->symbol);
    else
      printf("%lld", (long long)dim->coeff);
  }
  printf("]\n");
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

int cmd_info(int argc, char **argv) {
  static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == 'h') {
      help();
      return 0;
    }
    return cli_bad_option("info", c, argv);
  }
  if (optind >= argc)
    return cli_error("info", "no model file given (usage: greta info MODEL)");
  if (optind + 1 < argc)
    return cli_error("info", "more than one model file given");
  const char *path = argv[optind];
  greta_model_t *model;
  greta_status_t st = greta_model_open(path, &model);
  if (st)
    return cli_status_error("info", path, st);
  printf("model:      %s\ntarget:     %s\ntoolchain:  %s\n", path, greta_model_target(model),
         greta_model_toolchain(model));
  printf("inputs (%d):\n", greta_model_input_count(model));
  for (int i = 0; i < greta_model_input_count(model); i++)
    print_tensor(greta_model_input(model, i));
  printf("outputs (%d):\n", greta_model_output_count(model));
  for (int i = 0; i < greta_model_output_count(model); i++)
    print_tensor(greta_model_output(model, i));
  greta_memory_report_t m;
  greta_model_memory(model, &m);
  int n = greta_model_weight_count(model);
  printf("weights:    %d tensors, %.2f MiB\n", n, mib(m.weight_bytes));
  printf("memory:\n");
  printf("  weights    %12.2f MiB\n", mib(m.weight_bytes));
  printf("  KV cache   %12.2f MiB (%s, max_seq %lld tokens: %.1f KiB a token)\n",
         mib(m.kv_cache_bytes), greta_dtype_name(m.kv_dtype), (long long)m.max_seq,
         m.max_seq ? (double)m.kv_cache_bytes / (double)m.max_seq / 1024.0 : 0.0);
  printf("  activations%12.2f MiB (steps of up to %lld tokens)\n", mib(m.arena_bytes),
         (long long)m.max_tokens);
  printf("  total      %12.2f MiB\n", mib(m.weight_bytes + m.kv_cache_bytes + m.arena_bytes));
  greta_model_destroy(model);
  return 0;
}
