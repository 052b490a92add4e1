/* greta bench MODEL: prefill and decode speed, as llama-bench reports them.
 *
 * ppN: a prompt of N random token ids run through prefill (steps of the
 * model's max_tokens) from an empty cache; tgN: N decode steps from an
 * empty cache, each sampling greedily and feeding the token back. Both go
 * through greta_generate, which times them with the host clock (a step's
 * GPU work has finished when its logits are read back). One untimed run of
 * each comes first (a GPU backend captures its graphs then). GB/s is the
 * bytes a step must read (every weight, and the KV cache up to its
 * position) over the time: how close decode is to the memory's bandwidth. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void) {
  printf("usage: greta bench MODEL [--weights DIR] [-p N] [-n N] [-r N] [--format md|json]\n\n"
         "Measures prefill (ppN: tokens/s over a prompt of N tokens) and decode\n"
         "(tgN: tokens/s over N tokens generated one by one), each repeated, and\n"
         "prints mean +- standard deviation and the bandwidth achieved (GB/s).\n\n"
         "options:\n"
         "  --weights PATH    a checkpoint directory or .safetensors file; without\n"
         "                    it the weights are random (the table says so)\n"
         "  -p, --n-prompt N  prompt tokens for the pp test (default 512; 0: skip it)\n"
         "  -n, --n-gen N     generated tokens for the tg test (default 128; 0: skip it)\n"
         "  -r, --repetitions N  timed runs of each test (default 5)\n"
         "  --format md|json  a markdown table (default) or JSON\n"
         "  -h, --help        this text\n");
}

typedef struct result_s {
  char test[32];
  int64_t n_prompt, n_gen;
  double mean, stddev; /* tokens/s */
  double gbps;         /* from the mean time */
} result_t;

static void summarise(const double *tps, int n, result_t *r) {
  double sum = 0, sq = 0;
  for (int i = 0; i < n; i++)
    sum += tps[i];
  r->mean = sum / n;
  for (int i = 0; i < n; i++)
    sq += (tps[i] - r->mean) * (tps[i] - r->mean);
  r->stddev = n > 1 ? sqrt(sq / (n - 1)) : 0.0;
}

enum { OPT_WEIGHTS = 256, OPT_FORMAT };

int cmd_bench(int argc, char **argv) {
  static const struct option options[] = {{"weights", required_argument, NULL, OPT_WEIGHTS},
                                          {"n-prompt", required_argument, NULL, 'p'},
                                          {"n-gen", required_argument, NULL, 'n'},
                                          {"repetitions", required_argument, NULL, 'r'},
                                          {"format", required_argument, NULL, OPT_FORMAT},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
  const char *weights = NULL, *format = "md";
  long long n_prompt = 512, n_gen = 128, reps = 5;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":p:n:r:h", options, NULL)) != -1) {
    switch (c) {
      case OPT_WEIGHTS: weights = optarg; break;
      case 'p':
        if (!cli_parse_int("bench", "-p", optarg, 0, 1 << 24, &n_prompt))
          return 1;
        break;
      case 'n':
        if (!cli_parse_int("bench", "-n", optarg, 0, 1 << 24, &n_gen))
          return 1;
        break;
      case 'r':
        if (!cli_parse_int("bench", "-r", optarg, 1, 1000, &reps))
          return 1;
        break;
      case OPT_FORMAT:
        if (strcmp(optarg, "md") && strcmp(optarg, "json"))
          return cli_error("bench", "--format needs md or json, got '%s'", optarg);
        format = optarg;
        break;
      case 'h': help(); return 0;
      default: return cli_bad_option("bench", c, argv);
    }
  }
  if (optind >= argc)
    return cli_error("bench", "no model file given (usage: greta bench MODEL)");
  if (optind + 1 < argc)
    return cli_error("bench", "more than one model file given");
  const char *path = argv[optind];

  cli_run_t run;
  greta_status_t st = cli_run_open(path, &run);
  if (st)
    return cli_status_error("bench", path, st);
  greta_memory_report_t m;
  greta_model_memory(run.model, &m);
  int rc = 1;
  if (n_prompt > m.max_seq || n_gen + 1 > m.max_seq) {
    cli_error("bench",
              "-p %lld / -n %lld do not fit in the model's KV cache of max_seq %lld "
              "tokens (-n needs one more for its first token)",
              n_prompt, n_gen, (long long)m.max_seq);
    goto done;
  }
  if (weights) {
    st = cli_run_bind(&run, weights);
    if (st) {
      cli_status_error("bench", weights, st);
      goto done;
    }
  } else if (!cli_run_bind_random("bench", &run, 1)) {
    goto done;
  }

  const greta_tensor_info_t *logits = NULL;
  for (int i = 0; i < greta_model_output_count(run.model); i++)
    if (!strcmp(greta_model_output(run.model, i)->name, "logits"))
      logits = greta_model_output(run.model, i);
  int64_t vocab = logits && logits->rank == 2 ? logits->dims[1].coeff : 1;
  int64_t n_ids = n_prompt > 1 ? n_prompt : 1;
  int32_t *ids = malloc((size_t)n_ids * sizeof *ids);
  double *tps = malloc((size_t)reps * sizeof *tps);
  if (!ids || !tps) {
    free(ids);
    free(tps);
    cli_error("bench", "out of memory");
    goto done;
  }
  uint64_t x = 12345;
  for (int64_t i = 0; i < n_ids; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = (int32_t)((x >> 33) % (uint64_t)vocab);
  }
  result_t results[2];
  int n_results = 0;
  for (int test = 0; test < 2; test++) {
    int64_t np = test == 0 ? n_prompt : 1, ng = test == 0 ? 1 : n_gen + 1;
    if ((test == 0 && n_prompt == 0) || (test == 1 && n_gen == 0))
      continue;
    greta_generate_params_t params = {.sampler = greta_sampler_params_default(),
                                      .max_new_tokens = ng};
    double bytes = test == 0
                       ? (double)m.weight_bytes * (double)((np + m.max_tokens - 1) / m.max_tokens)
                       : cli_decode_bytes(&m, 1, n_gen);
    double ms_sum = 0;
    for (long long r = -1; r < reps && !st; r++) {
      greta_generate_stats_t stats;
      st = greta_generate(run.session, ids, (size_t)np, 0, &params, NULL, NULL, &stats);
      if (st || r < 0)
        continue; /* r = -1: the warm-up */
      double ms = test == 0 ? stats.prompt_ms : stats.generate_ms;
      tps[r] = (double)(test == 0 ? np : n_gen) / (ms * 1e-3);
      ms_sum += ms;
    }
    if (st)
      break;
    result_t *res = &results[n_results++];
    snprintf(res->test, sizeof res->test, test == 0 ? "pp%lld" : "tg%lld",
             test == 0 ? n_prompt : n_gen);
    res->n_prompt = test == 0 ? np : 0;
    res->n_gen = test == 0 ? 0 : n_gen;
    summarise(tps, (int)reps, res);
    res->gbps = bytes / (ms_sum / (double)reps * 1e-3) * 1e-9;
  }
  free(ids);
  free(tps);
  if (st) {
    cli_status_error("bench", NULL, st);
    goto done;
  }

  const char *backend = greta_device_backend_name(run.device);
  const char *device = greta_device_name(run.device);
  if (!strcmp(format, "json")) {
    printf("[\n");
    for (int i = 0; i < n_results; i++)
      printf("  {\"model\": \"%s\", \"target\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", "
             "\"weights\": \"%s\", \"weight_bytes\": %llu, \"test\": \"%s\", \"n_prompt\": %lld, "
             "\"n_gen\": %lld, \"repetitions\": %lld, \"tokens_per_s\": %.3f, "
             "\"tokens_per_s_stddev\": %.3f, \"gb_per_s\": %.3f}%s\n",
             path, greta_model_target(run.model), backend, device, weights ? weights : "random",
             (unsigned long long)m.weight_bytes, results[i].test, (long long)results[i].n_prompt,
             (long long)results[i].n_gen, reps, results[i].mean, results[i].stddev, results[i].gbps,
             i + 1 < n_results ? "," : "");
    printf("]\n");
  } else {
    printf("%s on %s (%s), %s\n\n", path, backend, device,
           weights ? "weights from the checkpoint"
                   : "random weights (no --weights: the speed is real, the text would be noise)");
    printf("| model | size | backend | test | t/s | GB/s |\n");
    printf("| --- | ---: | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < n_results; i++)
      printf("| %s | %.2f MiB | %s | %s | %.2f ± %.2f | %.2f |\n", path,
             (double)m.weight_bytes / (1024.0 * 1024.0), backend, results[i].test, results[i].mean,
             results[i].stddev, results[i].gbps);
  }
  rc = 0;
done:
  cli_run_close(&run);
  return rc;
}
