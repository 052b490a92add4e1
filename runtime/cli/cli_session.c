/* Opening a model on a device and binding its weights, for the
 * sub-commands that run one. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

double cli_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

greta_status_t cli_run_open(const char *model_path, cli_run_t *run) {
  memset(run, 0, sizeof *run);
  double start = cli_seconds();
  greta_status_t st = greta_model_open(model_path, &run->model);
  if (!st)
    st = greta_device_open(GRETA_BACKEND_AUTO, 0, &run->device);
  if (!st)
    st = greta_session_create(run->model, run->device, &run->session);
  run->load_s = cli_seconds() - start;
  if (st)
    cli_run_close(run);
  return st;
}

void cli_run_close(cli_run_t *run) {
  if (run->session)
    greta_session_destroy(run->session);
  if (run->device)
    greta_device_destroy(run->device);
  if (run->model)
    greta_model_destroy(run->model);
  memset(run, 0, sizeof *run);
}

/* The progress line: shown once a bind has taken a second, redrawn in
 * place, ended with a newline by cli_run_bind. */
typedef struct progress_s {
  double start;
  bool shown;
} progress_t;

static void on_progress(void *user, int64_t done, int64_t total, uint64_t bytes_done,
                        uint64_t bytes_total) {
  progress_t *p = user;
  if (!p->shown && cli_seconds() - p->start < 1.0)
    return;
  p->shown = true;
  fprintf(stderr, "\rbinding weights: %lld/%lld tensors, %.2f/%.2f GB", (long long)done,
          (long long)total, (double)bytes_done * 1e-9, (double)bytes_total * 1e-9);
  fflush(stderr);
}

greta_status_t cli_run_bind(cli_run_t *run, const char *weights) {
  struct stat sb;
  double start = cli_seconds();
  greta_status_t st;
  if (stat(weights, &sb) == 0 && S_ISREG(sb.st_mode)) {
    st = greta_session_bind_safetensors(run->session, weights);
  } else {
    progress_t p = {start, false};
    st = greta_session_bind_checkpoint(run->session, weights, on_progress, &p);
    if (p.shown)
      fputc('\n', stderr);
  }
  run->load_s += cli_seconds() - start;
  return st;
}

/* splitmix64: the random weights need no quality, only a seed. */
static uint64_t next(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool cli_run_bind_random(const char *cmd, cli_run_t *run, uint64_t seed) {
  double start = cli_seconds();
  int n = greta_model_weight_count(run->model);
  for (int w = 0; w < n; w++) {
    const greta_tensor_info_t *info = greta_model_weight(run->model, w);
    size_t count = 1;
    for (int d = 0; d < info->rank; d++)
      count *= (size_t)info->dims[d].coeff;
    float *data = malloc(count * sizeof *data);
    if (!data) {
      cli_error(cmd, "out of memory for the random weight %s (%zu floats)", info->name, count);
      return false;
    }
    bool norm = strstr(info->name, "norm") != NULL;
    for (size_t i = 0; i < count; i++)
      data[i] = norm ? 1.0f : (float)((double)(next(&seed) >> 11) * 0x1.0p-53 * 0.04 - 0.02);
    greta_status_t st = greta_session_bind_weight(run->session, info->name, GRETA_F32, data, count);
    free(data);
    if (st) {
      cli_status_error(cmd, "binding random weights", st);
      return false;
    }
  }
  run->load_s += cli_seconds() - start;
  return true;
}

double cli_decode_bytes(const greta_memory_report_t *m, int64_t pos, int64_t steps) {
  double bytes = 0;
  for (int64_t p = pos; p < pos + steps; p++)
    bytes += (double)m->weight_bytes +
             (m->max_seq ? (double)m->kv_cache_bytes * (double)(p + 1) / (double)m->max_seq : 0.0);
  return bytes;
}
