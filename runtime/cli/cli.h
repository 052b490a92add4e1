/* The `greta` command: its sub-commands and what they share. Each
 * sub-command is called with argv[0] = its own name and returns the
 * process's exit status: 0 on success, 1 with a message on stderr for any
 * bad input or failure. */
#ifndef GRETA_CLI_H
#define GRETA_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "greta/greta.h"

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* ---- cli_args.c: option values and messages ------------------------------- */

/* Prints "greta CMD: message\n" to stderr and returns 1 (the exit status). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "greta CMD: <status message>" (prefixed by `what` when not NULL),
 * frees the status and returns 1. */
int cli_status_error(const char *cmd, const char *what, greta_status_t status);
/* The message for getopt_long's '?' or ':' (opterr = 0, optstring starting
 * with ':'); returns 1. `c` is getopt's return value. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* A whole number in [min, max] for option `opt`; false (after printing why)
 * otherwise. */
bool cli_parse_int(const char *cmd, const char *opt, const char *text, long long min, long long max,
                   long long *out);
/* A finite number in [min, max] for option `opt`. */
bool cli_parse_float(const char *cmd, const char *opt, const char *text, double min, double max,
                     double *out);
/* Whitespace-separated token ids, each in [0, INT32_MAX]; *out_ids is
 * malloc'd (the caller frees). False after printing why (naming the bad
 * word) otherwise. */
bool cli_parse_ids(const char *cmd, const char *what, const char *text, int32_t **out_ids,
                   size_t *out_count);
/* All of a stream, NUL-terminated (malloc'd); NULL when unreadable. */
char *cli_read_all(FILE *f, size_t *out_len);

/* ---- cli_session.c: a model running on a device --------------------------- */

typedef struct cli_run_s {
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *session;
  double load_s; /* open, session and weights, host clock */
} cli_run_t;

/* Opens `model_path` on the default device (GRETA_BACKEND chooses) and
 * creates a session. */
greta_status_t cli_run_open(const char *model_path, cli_run_t *run);
/* Binds the weights from a checkpoint directory or a .safetensors file,
 * with a progress line on stderr when it takes more than a second. */
greta_status_t cli_run_bind(cli_run_t *run, const char *weights);
/* Binds random weights (norms 1, other weights uniform in +-0.02, from
 * `seed`): for benchmarks without a checkpoint. False after printing why. */
bool cli_run_bind_random(const char *cmd, cli_run_t *run, uint64_t seed);
void cli_run_close(cli_run_t *run);

/* Bytes a run of `steps` decode steps from position `pos` reads: every
 * weight once a step, and the K and V of every layer for the positions up
 * to and including the step's own. */
double cli_decode_bytes(const greta_memory_report_t *m, int64_t pos, int64_t steps);
/* Monotonic seconds. */
double cli_seconds(void);

#endif /* GRETA_CLI_H */
