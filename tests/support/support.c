#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "file_io.h"
#include "frontend.h"
#include "plan.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

void support_seed(uint64_t seed) { rng = seed ? seed : 0x9E3779B97F4A7C15ull; }

double support_uniform(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

float support_normal(void) {
  double u = support_uniform() + 1e-12, v = support_uniform();
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

float support_stored(float v, const char *dtype) {
  if (!strcmp(dtype, "f16")) return (float)(_Float16)v; /* the compiler's own IEEE half */
  if (!strcmp(dtype, "bf16")) {                          /* top 16 bits, nearest even */
    uint32_t u;
    memcpy(&u, &v, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&v, &u, 4);
  }
  return v;
}

double support_rel_error(const float *got, const float *want, long long n) {
  double num = 0, den = 0;
  for (long long i = 0; i < n; i++) {
    double d = (double)got[i] - (double)want[i];
    num += d * d;
    den += (double)want[i] * (double)want[i];
  }
  return sqrt(num / den);
}

double support_max_abs_error(const float *got, const float *want, long long n) {
  double m = 0;
  for (long long i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]);
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  return m;
}

double support_worst_row_error_ref(const float *got, const double *want, int rows,
                                   long long width) {
  double worst = 0;
  for (int t = 0; t < rows; t++) {
    double num = 0, den = 0;
    for (long long i = 0; i < width; i++) {
      double d = got[t * width + i] - want[t * width + i];
      num += d * d;
      den += want[t * width + i] * want[t * width + i];
    }
    double e = sqrt(num / den);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

double support_worst_row_error(const float *got, const float *want, int rows, long long width,
                               char *line, size_t size) {
  double worst = 0;
  size_t used = strlen(line);
  for (int t = 0; t < rows; t++) {
    double e = support_rel_error(got + t * width, want + t * width, width);
    if (!(e <= worst)) worst = e; /* NaN propagates */
    if (used < size) used += (size_t)snprintf(line + used, size - used, " %.1e", e);
  }
  return worst;
}

char *support_read_fd(int fd, size_t *out_len) {
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  cr_assert(text, "out of memory");
  for (;;) {
    if (len + 1 == cap) {
      text = realloc(text, cap *= 2);
      cr_assert(text, "out of memory");
    }
    ssize_t n = read(fd, text + len, cap - len - 1);
    cr_assert_geq(n, 0, "read");
    if (n == 0)
      break;
    len += (size_t)n;
  }
  text[len] = 0;
  if (out_len)
    *out_len = len;
  return text;
}

char *support_read_file(const char *path, size_t *out_len) {
  uint8_t *text = NULL;
  greta_status_t st = greta_file_read_whole(path, 0, &text, out_len);
  cr_assert_null(st, "%s", greta_status_message(st));
  return (char *)text;
}

greta_model_t *support_compile(const char *name, const char *text, const char *dtype,
                               const char *target_name, int64_t max_tokens, int plan_only,
                               char **out_log) {
  /* text with "weight_dtype = f32" -> "weight_dtype = <dtype>" */
  const char *key = "weight_dtype = f32";
  size_t len = strlen(text);
  char *source = malloc(len + 16);
  const char *at = dtype ? strstr(text, key) : NULL;
  if (dtype) cr_assert(at, "%s must say 'set weight_dtype = f32'", name);
  if (at)
    len = (size_t)sprintf(source, "%.*sweight_dtype = %s%s", (int)(at - text), text, dtype,
                          at + strlen(key));
  else
    memcpy(source, text, len + 1);

  int errors = 0;
  ir_graph_t *graph = frontend_compile_string(name, source, len, stderr, &errors);
  free(source);
  cr_assert(graph, "%s does not compile (%d errors)", name, errors);
  target_t target;
  greta_status_t target_status = target_parse(target_name, &target);
  cr_assert(!target_status, "%s", greta_status_message(target_status));
  driver_options_t o = {.target = &target, .toolchain = "auto", .max_tokens = max_tokens,
                        .use_cache = 1, .quiet = 1,
                        .stop = plan_only ? DRIVER_STOP_PLAN : DRIVER_STOP_FILE};
  driver_result_t r;
  size_t log_size = 0;
  *out_log = NULL;
  FILE *diag = open_memstream(out_log, &log_size);
  int rc = driver_compile(graph, &o, &r, diag);
  fclose(diag);
  ir_graph_destroy(graph);

  greta_model_t *model = NULL;
  if (rc == 0) {
    uint8_t *bytes = r.file;
    size_t size = r.file_size;
    if (plan_only) { /* a bare plan file, sealed as gretac seals one */
      greta_status_t st = greta_plan_serialize(r.plan, &bytes, &size);
      cr_assert_null(st, "%s", greta_status_message(st));
      st = greta_plan_seal(bytes, size);
      cr_assert_null(st, "%s", greta_status_message(st));
    }
    greta_status_t st = greta_model_open_memory(bytes, size, &model);
    cr_assert_null(st, "the runtime must read what gretac wrote: %s", greta_status_message(st));
    if (plan_only) free(bytes);
  }
  driver_result_free(&r);
  return model;
}

greta_model_t *support_compile_file(const char *path, const char *dtype, const char *target,
                                    int64_t max_tokens, char **out_log) {
  char full[4096];
  if (strchr(path, '/'))
    snprintf(full, sizeof full, "%s", path);
  else
    snprintf(full, sizeof full, "%s/examples/%s", GRETA_SOURCE_DIR, path);
  size_t len;
  char *text = support_read_file(full, &len);
  const char *name = strrchr(full, '/') + 1;
  greta_model_t *model = support_compile(name, text, dtype, target, max_tokens, 0, out_log);
  free(text);
  return model;
}

greta_device_t *support_open_gpu(char *why, size_t size) {
  const greta_backend_kind_t kinds[] = {GRETA_BACKEND_HIP, GRETA_BACKEND_CUDA};
  if (size) why[0] = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    greta_device_t *device = NULL;
    greta_status_t st = greta_device_open(kinds[i], 0, &device);
    if (!st) return device;
    size_t used = strlen(why);
    if (used + 1 < size)
      snprintf(why + used, size - used, "%s%s", used ? "; " : "", greta_status_message(st));
    greta_status_free(st);
  }
  return NULL;
}

greta_device_t *support_open_or_skip(greta_backend_kind_t kind) {
  greta_device_t *device = NULL;
  greta_status_t st = greta_device_open(kind, 0, &device);
  if (st) {
    char msg[512];
    snprintf(msg, sizeof msg, "no device: %s", greta_status_message(st));
    greta_status_free(st);
    cr_skip_test("%s", msg);
  }
  return device;
}

int support_run(const char *cmd, char **out) {
  size_t cmd_len = strlen(cmd) + 8;
  char *full = malloc(cmd_len);
  cr_assert(full, "out of memory");
  snprintf(full, cmd_len, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  cr_assert(p, "cannot run %s", full);
  free(full);
  *out = support_read_fd(fileno(p), NULL);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t support_spawn(char *const argv[], int *out_stdin, int *out_stdout, const char *stderr_path) {
  int in[2] = {-1, -1}, out[2];
  cr_assert_eq(pipe(out), 0, "pipe");
  /* One page: the child blocks once that much of its output is unread. */
  cr_assert_geq(fcntl(out[0], F_SETPIPE_SZ, 4096), 4096, "F_SETPIPE_SZ");
  if (out_stdin)
    cr_assert_eq(pipe(in), 0, "pipe");
  /* Opened here, so that it exists (empty) once this returns. */
  int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  cr_assert_geq(err, 0, "cannot create %s", stderr_path);
  pid_t pid = fork();
  cr_assert_geq(pid, 0, "fork");
  if (pid == 0) {
    if (dup2(out[1], 1) < 0 || dup2(err, 2) < 0 ||
        (out_stdin && dup2(in[0], 0) < 0))
      _exit(127);
    close(out[0]);
    close(out[1]);
    close(err);
    if (out_stdin)
      close(in[0]), close(in[1]);
    signal(SIGINT, SIG_DFL); /* as a shell starts a foreground command */
    execv(argv[0], argv);
    _exit(127);
  }
  close(out[1]);
  close(err);
  *out_stdout = out[0];
  if (out_stdin) {
    close(in[0]);
    *out_stdin = in[1];
  }
  return pid;
}

void support_attention_row(const float *q, const float *kc, const float *vc, int rows,
                           int kv_heads, int g, int D, double scale, double *out) {
  double *p = malloc(sizeof(double) * (rows > 0 ? rows : 1));
  cr_assert(p, "out of memory");
  double mx = -INFINITY, sum = 0;
  for (int j = 0; j < rows; j++) {
    double dot = 0;
    for (int d = 0; d < D; d++) dot += (double)q[d] * kc[((size_t)j * kv_heads + g) * D + d];
    p[j] = dot * scale;
    mx = fmax(mx, p[j]);
  }
  for (int j = 0; j < rows; j++) sum += p[j] = exp(p[j] - mx);
  for (int d = 0; d < D; d++) {
    double acc = 0;
    for (int j = 0; j < rows; j++) acc += p[j] / sum * vc[((size_t)j * kv_heads + g) * D + d];
    out[d] = acc;
  }
  free(p);
}
