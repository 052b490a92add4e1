/* What several tests share: random data, half rounding, reading files and
 * compiling .gm text in-process through the same pipeline gretac runs. */
#ifndef GRETA_TEST_SUPPORT_H
#define GRETA_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greta/greta.h"

/* A seeded xorshift generator: uniform in [0, 1) and standard normal. */
void support_seed(uint64_t seed);
double support_uniform(void);
float support_normal(void);

/* `v` as stored in `dtype` ("f32", "f16" or "bf16") and read back. */
float support_stored(float v, const char *dtype);

/* ||got - want|| / ||want|| over n values, in double (NaN when got holds
 * one), and the largest |got - want|. */
double support_rel_error(const float *got, const float *want, long long n);
double support_max_abs_error(const float *got, const float *want, long long n);
/* The worst row's ||got - want|| / ||want|| against a double-precision
 * reference, over `rows` rows of `width` (NaN propagates). */
double support_worst_row_error_ref(const float *got, const double *want, int rows, long long width);
/* The worst row's support_rel_error over `rows` rows of `width`; each row's
 * figure is appended to `line` (of `size` bytes). */
double support_worst_row_error(const float *got, const float *want, int rows, long long width,
                               char *line, size_t size);

/* The first GPU device present (HIP, then CUDA), or NULL with each
 * backend's reason joined into `why` (of `size` bytes). */
greta_device_t *support_open_gpu(char *why, size_t size);
/* The device of `kind`; the test is skipped ("no device: ...") without one. */
greta_device_t *support_open_or_skip(greta_backend_kind_t kind);

/* Asserts that `expr` (a greta_status_t) is OK, showing its message if not. */
#define SUPPORT_OK(expr)                                             \
  do {                                                               \
    greta_status_t s_ = (expr);                                      \
    cr_assert_null(s_, "%s: %s", #expr, greta_status_message(s_));   \
  } while (0)

/* Asserts that `expr` fails with `code` and a message containing `needle`. */
#define SUPPORT_FAILS(expr, code, needle)                                                   \
  do {                                                                                      \
    greta_status_t s_ = (expr);                                                             \
    cr_assert_not_null(s_, "%s succeeded", #expr);                                          \
    cr_assert_eq(greta_status_code(s_), (code), "%s: code %d: %s", #expr,                   \
                 greta_status_code(s_), greta_status_message(s_));                          \
    cr_assert(strstr(greta_status_message(s_), (needle)), "%s: \"%s\" lacks \"%s\"", #expr, \
              greta_status_message(s_), (needle));                                          \
    greta_status_free(s_);                                                                  \
  } while (0)

/* Causal attention of one query row, in double: out[d] (D values) =
 * sum_j softmax_j(scale q . k_j) v_j over cache rows j < rows of kv head
 * g, caches [., kv_heads, D] f32 (values as the kernel sees them: rounded
 * by the caller where the kernel rounds, q included). */
void support_attention_row(const float *q, const float *kc, const float *vc, int rows,
                           int kv_heads, int g, int D, double scale, double *out);

/* Runs the shell command `cmd` with its stderr joined to its stdout; returns
 * its exit code (-1 when it did not exit normally) and all it printed in
 * *out, NUL-terminated (caller frees). Fails the test when it cannot start. */
int support_run(const char *cmd, char **out);

/* Starts the program argv[0] with argv, its stdout a pipe of one page (so
 * that it blocks once 4 KiB of its output are unread) whose read end is
 * *out_stdout, its stderr written to the file `stderr_path`, and, when
 * out_stdin is not NULL, its stdin a pipe whose write end is *out_stdin;
 * SIGINT as a shell leaves it for a foreground command. The caller closes
 * the descriptors and waits for the child. Fails the test when it cannot. */
pid_t support_spawn(char *const argv[], int *out_stdin, int *out_stdout, const char *stderr_path);

/* Everything left to read from `fd`, to its end, NUL-terminated (caller
 * frees); its length in *out_len when not NULL. */
char *support_read_fd(int fd, size_t *out_len);

/* The whole file, NUL-terminated (fails the test when unreadable). */
char *support_read_file(const char *path, size_t *out_len);

/* Compiles .gm source for `target` ("cpu", "sm_90", a device's target
 * ID...): with the line "weight_dtype = f32" swapped for `dtype` when dtype
 * is not NULL, prefill steps up to max_tokens (0: gretac's default). With
 * plan_only, no toolchain runs and the model holds the bare plan (the CPU
 * backend runs any plan). Returns NULL when gretac fails, with its messages
 * in *out_log (malloc'd; the caller frees). */
greta_model_t *support_compile(const char *name, const char *text, const char *dtype,
                               const char *target, int64_t max_tokens, int plan_only,
                               char **out_log);
/* The same for a file (a path, or a name under examples/). */
greta_model_t *support_compile_file(const char *path, const char *dtype, const char *target,
                                    int64_t max_tokens, char **out_log);

/* A safetensors file read whole, for fixtures (safetensors_reader.c): a
 * reader independent of the runtime's loader. Failures fail the test. */
typedef struct support_st_s {
  char *bytes;
  size_t size;
  char *header; /* NUL-terminated copy of the JSON header */
  const char *data;
  size_t data_size;
} support_st_t;

void support_st_open(support_st_t *f, const char *path);
void support_st_close(support_st_t *f);
/* Tensor `name` of dtype `dtype` ("F32", "I32": 4-byte elements) and rank
 * `rank`: a malloc'd copy of its data; its shape into `shape`. */
void *support_st_tensor(const support_st_t *f, const char *name, const char *dtype, int rank,
                        long long *shape);
/* The integer value of a metadata entry (stored as a string, "5"). */
long long support_st_meta_int(const support_st_t *f, const char *key);

#endif /* GRETA_TEST_SUPPORT_H */
