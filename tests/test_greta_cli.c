/* The `greta` command line (runtime/cli/), run as a user would: --help of
 * each sub-command (and every option it names is one the code takes), bad
 * input with its message and exit 1, `greta info` and `greta bench` on
 * examples/tiny_llama.gm compiled for the CPU by gretac, and `greta
 * generate --output ids` against a greedy loop written here over the C API
 * on the same file and weights; Ctrl-C during `greta generate`. */
#define _GNU_SOURCE /* F_GETPIPE_SZ */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "greta/greta.h"
#include "support/support.h"

#define GRETA GRETA_BINARY_DIR "/runtime/cli/greta"
#define GRETAC GRETA_BINARY_DIR "/compiler/gretac"
#define WEIGHTS GRETA_SOURCE_DIR "/tests/fixtures/hf_tiny_llama_f32.safetensors"

/* Runs `greta ARGS` (a shell fragment) with GRETA_BACKEND=cpu and `input`
 * (no quotes in it) on stdin; returns its exit code, stdout + stderr in
 * *out (caller frees). */
static int run_input(const char *input, const char *args, char **out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "printf '%s' | GRETA_BACKEND=cpu %s %s", input, GRETA, args);
  return support_run(cmd, out);
}

static int run(const char *args, char **out) { return run_input("", args, out); }

static void expect(const char *args, int code, const char *needle) {
  char *out;
  int rc = run(args, &out);
  cr_expect_eq(rc, code, "greta %s: exit %d, expected %d; output:\n%s", args, rc, code, out);
  cr_expect(strstr(out, needle), "greta %s: output lacks \"%s\":\n%s", args, needle, out);
  free(out);
}

/* `gm` compiled by gretac for the CPU (prefill steps of up to 4 tokens)
 * into a temporary file; the caller unlinks it. */
static void compile_cpu(const char *gm, char *path) {
  strcpy(path, "/tmp/greta_cli_XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -q %s --target=cpu --max-tokens=4 -o %s", GRETAC, gm, path);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* examples/tiny_llama.gm (max_seq 64), compiled as compile_cpu does. */
static void compile_tiny(char *path) {
  compile_cpu(GRETA_SOURCE_DIR "/examples/tiny_llama.gm", path);
}

Test(greta_cli, help) {
  expect("--help", 0, "usage: greta COMMAND [options]");
  expect("--version", 0, "greta 0.1.0");
  expect("generate --help", 0, "usage: greta generate MODEL --weights DIR");
  expect("tokenize --help", 0,
         "usage: greta tokenize --tokenizer FILE_OR_DIR [--bos] [--no-special]");
  expect("detokenize --help", 0,
         "usage: greta detokenize --tokenizer FILE_OR_DIR [--skip-special]");
  expect("bench --help", 0, "usage: greta bench MODEL [--weights DIR] [-p N] [-n N] [-r N]");
  expect("info --help", 0, "usage: greta info MODEL");
}

/* Every "--option" a sub-command's --help names is taken by its parser: run
 * with it, the command may fail for other reasons but never calls it
 * unknown. */
Test(greta_cli, help_matches_the_options_taken) {
  const char *commands[] = {"generate", "tokenize", "detokenize", "bench", "info"};
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
    char args[256], *help;
    snprintf(args, sizeof args, "%s --help", commands[c]);
    cr_assert_eq(run(args, &help), 0);
    int named = 0;
    for (char *p = help; (p = strstr(p, "--")) != NULL; p += 2) {
      if (p > help && !isspace((unsigned char)p[-1]) && p[-1] != '[' && p[-1] != '(')
        continue;
      size_t n = 2;
      while (isalnum((unsigned char)p[n]) || p[n] == '-')
        n++;
      if (n == 2)
        continue;
      char opt[64], *out;
      snprintf(opt, sizeof opt, "%.*s", (int)n, p);
      snprintf(args, sizeof args, "%s /nonexistent/model %s 1", commands[c], opt);
      run(args, &out);
      cr_expect(!strstr(out, "unknown option"), "greta %s: %s is in --help but refused:\n%s",
                commands[c], opt, out);
      free(out);
      named++;
    }
    cr_expect_gt(named, 0, "greta %s --help names no options", commands[c]);
    free(help);
  }
}

Test(greta_cli, bad_input_exits_1_with_a_message) {
  expect("", 1, "usage: greta COMMAND");
  expect("frobnicate", 1, "unknown command 'frobnicate'");
  expect("info", 1, "no model file given");
  expect("info /nonexistent/model.gplan", 1, "/nonexistent/model.gplan");
  expect("info a b", 1, "more than one model file");
  expect("info --bogus x", 1, "unknown option '--bogus' (see greta info --help)");
  expect("bench x -z", 1, "unknown option '-z'");
  expect("bench x -p", 1, "option '-p' needs a value");
  expect("bench x -p 12x", 1, "-p needs a whole number from 0 to 16777216, got '12x'");
  expect("bench x -r 0", 1, "-r needs a whole number from 1 to 1000, got '0'");
  expect("bench x --format csv", 1, "--format needs md or json, got 'csv'");
  expect("bench /nonexistent/model.gplan", 1, "/nonexistent/model.gplan");
  expect("generate", 1, "no model file given");
  expect("generate m.gplan --prompt hi", 1, "no weights given: --weights CHECKPOINT_DIR");
  expect("generate m.gplan --weights w", 1, "no prompt given");
  expect("generate m.gplan --weights w --prompt a --prompt-ids 1", 1, "not both");
  expect("generate m.gplan --weights w --prompt hi --temp -1", 1,
         "--temp needs a number from 0 to 1e+06, got '-1'");
  expect("generate m.gplan --weights w --prompt hi --top-p 1.5", 1, "--top-p needs a number");
  expect("generate m.gplan --weights w --prompt hi --seed x", 1, "--seed needs a whole number");
  expect("generate m.gplan --weights w --prompt hi --output json", 1,
         "--output needs text or ids, got 'json'");
  expect("generate m.gplan --weights w --prompt hi --template vicuna", 1,
         "chat template \"vicuna\" is not one of llama2, llama3, chatml, mistral, zephyr, none");
  expect("generate m.gplan --weights w --prompt-ids '1 x 3' --output ids", 1,
         "--prompt-ids: 'x' is not a token id");
  expect("generate m.gplan --weights w --prompt-ids '1 2' --output ids", 1, "m.gplan");
  expect("generate m.gplan --weights /nonexistent/dir --prompt hi", 1,
         "--weights /nonexistent/dir: No such file or directory");
  expect("tokenize", 1, "no tokenizer given: --tokenizer FILE_OR_DIR");
  expect("tokenize --tokenizer t extra", 1, "unexpected argument 'extra'");
  expect("detokenize", 1, "no tokenizer given");
  char *out;
  cr_expect_eq(run_input("1 2 -3", "detokenize --tokenizer /nonexistent", &out), 1);
  cr_expect(strstr(out, "greta detokenize: stdin: '-3' is not a token id"), "%s", out);
  free(out);
}

Test(greta_cli, info_on_a_cpu_model) {
  char path[64], args[256];
  compile_tiny(path);
  snprintf(args, sizeof args, "info %s", path);
  expect(args, 0, "target:     cpu");
  expect(args, 0, "  tokens                   i32[T]");
  expect(args, 0, "  logits                   f32[T, 97]");
  expect(args, 0, "weights:    21 tensors");
  expect(args, 0, "(f32, max_seq 64 tokens");
  expect(args, 0, "(steps of up to 4 tokens)");
  unlink(path);
}

Test(greta_cli, bench_table_and_json) {
  char path[64], args[512], *out;
  compile_tiny(path);
  snprintf(args, sizeof args, "bench %s -p 8 -n 4 -r 2", path);
  cr_assert_eq(run(args, &out), 0, "%s", out);
  cr_expect(strstr(out, "random weights"), "%s", out);
  cr_expect(strstr(out, "| model | size | backend | test | t/s | GB/s |"), "%s", out);
  cr_expect(strstr(out, " | cpu | pp8 | "), "%s", out);
  cr_expect(strstr(out, " | cpu | tg4 | "), "%s", out);
  cr_expect(strstr(out, " ± "), "%s", out);
  free(out);
  snprintf(args, sizeof args, "bench %s -p 8 -n 4 -r 2 --format json --weights %s", path, WEIGHTS);
  cr_assert_eq(run(args, &out), 0, "%s", out);
  cr_expect(out[0] == '[', "%s", out);
  cr_expect(strstr(out, "\"test\": \"pp8\", \"n_prompt\": 8, \"n_gen\": 0, \"repetitions\": 2"),
            "%s", out);
  cr_expect(strstr(out, "\"test\": \"tg4\", \"n_prompt\": 0, \"n_gen\": 4"), "%s", out);
  cr_expect(strstr(out, "\"tokens_per_s_stddev\": "), "%s", out);
  cr_expect(!strstr(out, "random"), "%s", out);
  free(out);
  snprintf(args, sizeof args, "bench %s -p 100", path);
  expect(args, 1, "do not fit in the model's KV cache of max_seq 64 tokens");
  unlink(path);
}

/* Greedy ids over the C API: the prompt one token a step, then argmax. */
static void reference(const char *path, const int32_t *prompt, int count, int n, int32_t *out) {
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *s;
  cr_assert_null(greta_model_open(path, &model));
  cr_assert_null(greta_device_open(GRETA_BACKEND_CPU, 0, &device));
  cr_assert_null(greta_session_create(model, device, &s));
  cr_assert_null(greta_session_bind_safetensors(s, WEIGHTS));
  float logits[97];
  int32_t token = prompt[0];
  for (int pos = 0, i = 0; i < n; pos++) {
    token = pos < count ? prompt[pos] : token;
    cr_assert_null(greta_session_set_input(s, "tokens", &token, sizeof token));
    cr_assert_null(greta_session_step(s, 1, pos));
    cr_assert_null(greta_session_get_output(s, "logits", logits, sizeof logits));
    if (pos + 1 < count)
      continue;
    int32_t best = 0;
    for (int32_t v = 1; v < 97; v++)
      if (logits[v] > logits[best])
        best = v;
    out[i++] = token = best;
  }
  greta_session_destroy(s);
  greta_device_destroy(device);
  greta_model_destroy(model);
}

Test(greta_cli, generate_ids_equal_a_greedy_loop) {
  char path[64], args[512], *out;
  compile_tiny(path);
  const int32_t prompt[] = {1, 15, 42, 7, 88, 3, 61};
  int32_t want[12];
  reference(path, prompt, 7, 12, want);
  snprintf(args, sizeof args,
           "generate %s --weights %s --prompt-ids '1 15 42 7 88 3 61' --greedy -n 12 --output ids",
           path, WEIGHTS);
  cr_assert_eq(run(args, &out), 0, "%s", out);
  char line[256] = "";
  for (int i = 0; i < 12; i++)
    snprintf(line + strlen(line), sizeof line - strlen(line), i ? " %d" : "%d", want[i]);
  strcat(line, "\n"); /* the ids' line comes first (stdout is flushed before the stats) */
  cr_expect(!strncmp(out, line, strlen(line)), "greta generate printed [%s], the loop gives [%s]",
            out, line);
  free(out);
  /* The stats and the stop reason go to stderr. */
  snprintf(args, sizeof args,
           "generate %s --weights %s --prompt-ids '1 15 42' --greedy -n 5 --output ids", path,
           WEIGHTS);
  cr_assert_eq(run(args, &out), 0, "%s", out);
  cr_expect(strstr(out, "prompt 3 tokens"), "%s", out);
  cr_expect(strstr(out, "generated 5 tokens"), "%s", out);
  cr_expect(strstr(out, "GB/s"), "%s", out);
  cr_expect(strstr(out, "stopped: 5 tokens generated (-n)"), "%s", out);
  free(out);
  snprintf(args, sizeof args,
           "generate %s --weights %s --prompt-ids '1 2 3' --greedy -n 0 --output ids", path,
           WEIGHTS);
  expect(args, 0, "stopped: the KV cache is full (max_seq 64 tokens)");
  snprintf(args, sizeof args, "generate %s --weights %s --prompt-ids '1 2 500' --output ids", path,
           WEIGHTS);
  expect(args, 1, "prompt id 500 at index 2 is outside the vocabulary");
  snprintf(args, sizeof args,
           "generate %s --weights /nonexistent.safetensors --prompt-ids 1 "
           "--output ids",
           path);
  expect(args, 1, "/nonexistent.safetensors");
  unlink(path);
}

/* examples/tiny_llama.gm with a KV cache of 4096 positions, compiled for
 * the CPU into `path` (its source in `gm`): greta generate -n 0 on it
 * blocks on a one-page stdout pipe (about 1400 ids of at most 3 bytes)
 * long before the cache is full. */
static void compile_long_cache(char *gm, char *path) {
  size_t len;
  char *text = support_read_file(GRETA_SOURCE_DIR "/examples/tiny_llama.gm", &len);
  const char *from = "const max_seq = 64\n";
  char *at = strstr(text, from);
  cr_assert(at, "examples/tiny_llama.gm no longer says \"%s\"", from);
  int fd = mkstemp(gm);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "%.*sconst max_seq = 4096\n%s", (int)(at - text), text, at + strlen(from));
  fclose(f);
  free(text);
  compile_cpu(gm, path);
}

/* Ctrl-C stops `greta generate` at its next token: the ids generated so
 * far are printed whole (a prefix of the greedy loop's), then the timings
 * and the reason, and it exits 130. No timing in it: greta's stdout is a
 * pipe of one page that is read only after the signal, so greta blocks on
 * it long before its KV cache is full. */
Test(greta_cli, ctrl_c_stops_generate_at_the_next_token) {
  size_t len;
  char gm[] = "/tmp/greta_cli_gm_XXXXXX", path[64];
  compile_long_cache(gm, path);

  char err_path[] = "/tmp/greta_cli_err_XXXXXX";
  close(mkstemp(err_path));
  setenv("GRETA_BACKEND", "cpu", 1);
  char *argv[] = {GRETA, "generate", path, "--weights", WEIGHTS, "--prompt-ids", "1 15 42",
                  "--greedy", "-n", "0", "--output", "ids", NULL};
  int out;
  pid_t pid = support_spawn(argv, NULL, &out, err_path);
  /* Its first id is out: it is generating (Ctrl-C is caught from then on). */
  struct pollfd ready = {.fd = out, .events = POLLIN};
  cr_assert_eq(poll(&ready, 1, -1), 1);
  cr_assert_eq(kill(pid, SIGINT), 0);
  char *all = support_read_fd(out, NULL);
  close(out);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  char *err = support_read_file(err_path, &len);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 130,
            "greta generate: status %#x, expected exit 130; stderr:\n%s", status, err);
  cr_expect(strstr(err, "stopped: interrupted (Ctrl-C)"), "stderr:\n%s", err);

  /* Its ids: one line, a prefix of the greedy loop's, as many as it says. */
  int32_t ids[4096];
  int n = 0;
  char *p = all;
  while (n < 4096 && isdigit((unsigned char)*p)) {
    ids[n++] = (int32_t)strtol(p, &p, 10);
    if (*p != ' ')
      break;
    p++;
  }
  cr_expect_str_eq(p, "\n", "after %d ids greta printed [%s]", n, p);
  cr_expect(n >= 1 && n < 4093, "%d ids: the signal did not stop it", n);
  char said[64];
  snprintf(said, sizeof said, "generated %d tokens", n);
  cr_expect(strstr(err, said), "%d ids printed; stderr:\n%s", n, err);
  const int32_t prompt[] = {1, 15, 42};
  int check = n < 32 ? n : 32;
  int32_t want[32];
  reference(path, prompt, 3, check, want);
  for (int i = 0; i < check; i++)
    cr_expect_eq(ids[i], want[i], "id %d: %d, the greedy loop's %d", i, ids[i], want[i]);
  free(all);
  free(err);
  unlink(err_path);
  unlink(path);
  unlink(gm);
}

/* Bytes of spaces a shell writes into greta's stdout pipe (support_spawn's
 * page of 4096) before it runs greta: greta's first hundred bytes of ids
 * fill it, so greta blocks a few dozen tokens into its reply. */
#define PIPE_FILLER 4000
/* greta writes each id as it comes (" 12345": at most 12 bytes), and a
 * pipe takes a write of a few bytes whole or not at all: with fewer bytes
 * than this free, greta is blocked or a token from it. */
#define PIPE_NEARLY_FULL 16

/* A `greta generate` run of the tiny Llama with a 4096-token cache on the
 * CPU: greedy from "1 15 42" for `n_predict` tokens, ids out, spawned as
 * support_spawn does behind PIPE_FILLER spaces in its stdout pipe, with
 * Ctrl-C ignored from the start when `ignore_sigint` (a background job's).
 * generate_behind_a_full_pipe returns once the pipe is nearly full: greta
 * is into its reply and blocked on the pipe, or about to be. */
typedef struct blocked_run_s {
  char gm[32], plan[64], err_path[32];
  int out;
  pid_t pid;
} blocked_run_t;

static void generate_behind_a_full_pipe(blocked_run_t *r, bool ignore_sigint,
                                        const char *n_predict) {
  strcpy(r->gm, "/tmp/greta_cli_gm_XXXXXX");
  strcpy(r->err_path, "/tmp/greta_cli_err_XXXXXX");
  compile_long_cache(r->gm, r->plan);
  close(mkstemp(r->err_path));
  char script[128];
  snprintf(script, sizeof script, "%sprintf '%%%ds' ''; exec \"$0\" \"$@\"",
           ignore_sigint ? "trap '' INT; " : "", PIPE_FILLER);
  char *argv[] = {"/bin/sh", "-c", script, GRETA, "generate", r->plan, "--weights", WEIGHTS,
                  "--prompt-ids", "1 15 42", "--greedy", "-n", (char *)n_predict, "--output", "ids",
                  NULL};
  setenv("GRETA_BACKEND", "cpu", 1);
  r->pid = support_spawn(argv, NULL, &r->out, r->err_path);
  const int pipe_size = fcntl(r->out, F_GETPIPE_SZ);
  cr_assert_gt(pipe_size, PIPE_FILLER);
  for (int queued = 0, tries = 0; queued <= pipe_size - PIPE_NEARLY_FULL; tries++) {
    cr_assert_lt(tries, 60000, "greta's stdout never filled its pipe (%d bytes)", queued);
    cr_assert_eq(ioctl(r->out, FIONREAD, &queued), 0);
    if (queued <= pipe_size - PIPE_NEARLY_FULL)
      nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
}

static void blocked_run_remove(blocked_run_t *r) {
  close(r->out);
  unlink(r->err_path);
  unlink(r->plan);
  unlink(r->gm);
}

/* A second Ctrl-C before the first is seen quits at once (exit 130): here
 * greta is blocked writing to a full stdout pipe that the test never reads,
 * so the first one is never seen. Ctrl-C is sent every 50 ms until greta
 * is gone (two sent at once may arrive as one). */
Test(greta_cli, a_second_ctrl_c_quits_at_once) {
  blocked_run_t r;
  generate_behind_a_full_pipe(&r, false, "0");
  int status = 0;
  pid_t gone = 0;
  for (int tries = 0; gone == 0 && tries < 1200; tries++) { /* 60 s */
    cr_assert_eq(kill(r.pid, SIGINT), 0);
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    gone = waitpid(r.pid, &status, WNOHANG);
  }
  if (gone == 0) {
    kill(r.pid, SIGKILL);
    waitpid(r.pid, &status, 0);
    cr_assert_fail("greta did not quit on repeated Ctrl-C while blocked on its stdout");
  }
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %#x, expected exit 130",
            status);
  blocked_run_remove(&r);
}

/* Started with Ctrl-C ignored (a background job of a shell without job
 * control: `greta generate ... &`), greta leaves it ignored: the reply runs
 * to its -n tokens and greta exits 0. The signals are sent once greta is
 * blocked on its full stdout pipe, well past where it would catch them. */
Test(greta_cli, ctrl_c_ignored_at_start_stays_ignored) {
  blocked_run_t r;
  generate_behind_a_full_pipe(&r, true, "200");
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(kill(r.pid, SIGINT), 0);
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
  }
  char *all = support_read_fd(r.out, NULL);
  int status;
  cr_assert_eq(waitpid(r.pid, &status, 0), r.pid);
  size_t len;
  char *err = support_read_file(r.err_path, &len);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "greta generate: status %#x, expected exit 0; stderr:\n%s", status, err);
  cr_expect(strstr(err, "generated 200 tokens"), "stderr:\n%s", err);
  int n = 0;
  for (char *p = all; *p; p++)
    n += isdigit((unsigned char)p[0]) && !isdigit((unsigned char)p[1]);
  cr_expect_eq(n, 200, "%d ids printed, expected 200", n);
  free(all);
  free(err);
  blocked_run_remove(&r);
}
