/* greta: run models compiled by gretac. One sub-command a run:
 *
 *   greta generate MODEL --weights DIR --prompt TEXT ...   stream generated text
 *   greta tokenize / detokenize --tokenizer PATH            text <-> token ids
 *   greta bench MODEL [--weights DIR]                       prefill / decode speed
 *   greta info MODEL                                        what a compiled file holds
 *
 * Each sub-command lives in its own file (cmd_*.c) and has its own --help. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"generate", cmd_generate, "generate text from a prompt (or chat) with a compiled model"},
    {"tokenize", cmd_tokenize, "print the token ids of the text on stdin"},
    {"detokenize", cmd_detokenize, "print the text of the token ids on stdin"},
    {"bench", cmd_bench, "measure prefill and decode speed (llama-bench style table)"},
    {"info", cmd_info, "show a compiled model's target, interface and memory"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: greta COMMAND [options]   (greta COMMAND --help for its options)\n\n"
             "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nThe environment variable GRETA_BACKEND (auto, cpu, hip, cuda) picks the device.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("greta %d.%d.%d\n", GRETA_VERSION_MAJOR, GRETA_VERSION_MINOR, GRETA_VERSION_PATCH);
    return 0;
  }
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr,
          "greta: unknown command '%s' (commands: generate, tokenize, detokenize, bench, "
          "info; see greta --help)\n",
          argv[1]);
  return 1;
}
