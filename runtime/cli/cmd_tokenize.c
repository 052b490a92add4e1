/* greta tokenize / greta detokenize: text <-> token ids through a Hugging
 * Face tokenizer, as the `tokenizers` library gives them. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void tokenize_help(void) {
  printf("usage: greta tokenize --tokenizer FILE_OR_DIR [--bos] [--no-special]\n\n"
         "Reads all of stdin as one UTF-8 string and prints its token ids on one\n"
         "line, separated by spaces.\n\n"
         "options:\n"
         "  --tokenizer PATH  a tokenizer.json, or the directory holding it\n"
         "  --bos             add what add_special_tokens=True adds (BOS)\n"
         "  --no-special      read special tokens written in the text (\"</s>\")\n"
         "                    as plain text (by default they are their ids)\n"
         "  -h, --help        this text\n");
}

static void detokenize_help(void) {
  printf("usage: greta detokenize --tokenizer FILE_OR_DIR [--skip-special]\n\n"
         "Reads token ids (whole numbers separated by white space) from stdin and\n"
         "prints their text as Hugging Face's decode() gives it (no newline added).\n\n"
         "options:\n"
         "  --tokenizer PATH  a tokenizer.json, or the directory holding it\n"
         "  --skip-special    leave special tokens (BOS, EOS) out of the text\n"
         "  -h, --help        this text\n");
}

enum { OPT_TOKENIZER = 256, OPT_BOS, OPT_NO_SPECIAL, OPT_SKIP_SPECIAL };

int cmd_tokenize(int argc, char **argv) {
  static const struct option options[] = {{"tokenizer", required_argument, NULL, OPT_TOKENIZER},
                                          {"bos", no_argument, NULL, OPT_BOS},
                                          {"no-special", no_argument, NULL, OPT_NO_SPECIAL},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
  const char *path = NULL;
  unsigned flags = GRETA_TOKENIZE_PARSE_SPECIAL;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_TOKENIZER: path = optarg; break;
      case OPT_BOS: flags |= GRETA_TOKENIZE_ADD_SPECIAL; break;
      case OPT_NO_SPECIAL: flags &= ~(unsigned)GRETA_TOKENIZE_PARSE_SPECIAL; break;
      case 'h': tokenize_help(); return 0;
      default: return cli_bad_option("tokenize", c, argv);
    }
  }
  if (optind < argc)
    return cli_error("tokenize", "unexpected argument '%s' (the text comes on stdin)",
                     argv[optind]);
  if (!path)
    return cli_error("tokenize", "no tokenizer given: --tokenizer FILE_OR_DIR");
  greta_tokenizer_t *tok;
  greta_status_t st = greta_tokenizer_open(path, &tok);
  if (st)
    return cli_status_error("tokenize", path, st);
  size_t len, count = 0;
  char *text = cli_read_all(stdin, &len);
  if (!text) {
    greta_tokenizer_destroy(tok);
    return cli_error("tokenize", "cannot read stdin");
  }
  st = greta_tokenizer_encode(tok, text, len, flags, NULL, 0, &count);
  int32_t *ids = st ? NULL : malloc((count ? count : 1) * sizeof *ids);
  if (!st && ids)
    st = greta_tokenizer_encode(tok, text, len, flags, ids, count, &count);
  int rc = 0;
  if (st)
    rc = cli_status_error("tokenize", NULL, st);
  else if (!ids)
    rc = cli_error("tokenize", "out of memory");
  else {
    for (size_t i = 0; i < count; i++)
      printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
  }
  free(ids);
  free(text);
  greta_tokenizer_destroy(tok);
  return rc;
}

int cmd_detokenize(int argc, char **argv) {
  static const struct option options[] = {{"tokenizer", required_argument, NULL, OPT_TOKENIZER},
                                          {"skip-special", no_argument, NULL, OPT_SKIP_SPECIAL},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
  const char *path = NULL;
  unsigned flags = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_TOKENIZER: path = optarg; break;
      case OPT_SKIP_SPECIAL: flags |= GRETA_DETOKENIZE_SKIP_SPECIAL; break;
      case 'h': detokenize_help(); return 0;
      default: return cli_bad_option("detokenize", c, argv);
    }
  }
  if (optind < argc)
    return cli_error("detokenize", "unexpected argument '%s' (the ids come on stdin)",
                     argv[optind]);
  if (!path)
    return cli_error("detokenize", "no tokenizer given: --tokenizer FILE_OR_DIR");
  size_t len, count;
  char *input = cli_read_all(stdin, &len);
  if (!input)
    return cli_error("detokenize", "cannot read stdin");
  int32_t *ids;
  bool ok = cli_parse_ids("detokenize", "stdin", input, &ids, &count);
  free(input);
  if (!ok)
    return 1;
  greta_tokenizer_t *tok;
  greta_status_t st = greta_tokenizer_open(path, &tok);
  if (st) {
    free(ids);
    return cli_status_error("detokenize", path, st);
  }
  size_t n = 0;
  st = greta_tokenizer_decode(tok, ids, count, flags, NULL, 0, &n);
  char *text = st ? NULL : malloc(n + 1);
  if (!st && text)
    st = greta_tokenizer_decode(tok, ids, count, flags, text, n, &n);
  int rc = 0;
  if (st)
    rc = cli_status_error("detokenize", NULL, st);
  else if (!text)
    rc = cli_error("detokenize", "out of memory");
  else
    fwrite(text, 1, n, stdout);
  free(text);
  free(ids);
  greta_tokenizer_destroy(tok);
  return rc;
}
