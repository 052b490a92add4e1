/* tokenizer_bench: how long a tokenizer takes to open, and how fast it
 * encodes and decodes one text. Prints one JSON line.
 *
 *   tokenizer_bench TOKENIZER(.json or dir) TEXT_FILE [--repeats N]
 *
 * Build against a build tree (nothing in CMake builds it):
 *   cc -O2 -Iruntime/include bench/tokenizer_bench.c build/dev/runtime/libgreta.a \
 *      $(pkg-config --libs jansson libpcre2-8 libutf8proc) -fopenmp -lm -ldl -o tokenizer_bench
 * The corpus of the exactness test, as one text:
 *   python3 tests/tokenizer/make_corpus.py /tmp/corpus && tr '\036' '\n' </tmp/corpus >/tmp/corpus.txt
 * Each figure is the best of N runs (default 5): open, encode of the whole
 * text (PARSE_SPECIAL), decode of its ids. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "greta/greta.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check(greta_status_t st, const char *what) {
  if (!st) return;
  fprintf(stderr, "tokenizer_bench: %s: %s\n", what, greta_status_message(st));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tokenizer_bench TOKENIZER TEXT_FILE [--repeats N]\n");
    return 2;
  }
  int repeats = argc > 4 && strcmp(argv[3], "--repeats") == 0 ? atoi(argv[4]) : 5;
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  if (fread(text, 1, (size_t)size, f) != (size_t)size) return 1;
  fclose(f);
  double best_open = 1e9, best_enc = 1e9, best_dec = 1e9;
  size_t n = 0, len = 0;
  for (int r = 0; r < repeats; r++) {
    greta_tokenizer_t *tok;
    double t0 = now();
    check(greta_tokenizer_open(argv[1], &tok), "open");
    double t1 = now();
    check(greta_tokenizer_encode(tok, text, (size_t)size, GRETA_TOKENIZE_PARSE_SPECIAL, NULL, 0, &n),
          "encode");
    int32_t *ids = malloc(n * sizeof *ids);
    double t2 = now();
    check(greta_tokenizer_encode(tok, text, (size_t)size, GRETA_TOKENIZE_PARSE_SPECIAL, ids, n, &n),
          "encode");
    double t3 = now();
    check(greta_tokenizer_decode(tok, ids, n, 0, NULL, 0, &len), "decode");
    double t4 = now();
    best_open = t1 - t0 < best_open ? t1 - t0 : best_open;
    best_enc = t3 - t2 < best_enc ? t3 - t2 : best_enc;
    best_dec = t4 - t3 < best_dec ? t4 - t3 : best_dec;
    free(ids);
    greta_tokenizer_destroy(tok);
  }
  printf("{\"tokenizer\": \"%s\", \"bytes\": %ld, \"ids\": %zu, \"open_ms\": %.1f, "
         "\"encode_MB_s\": %.2f, \"decode_MB_s\": %.2f, \"repeats\": %d}\n",
         argv[1], size, n, best_open * 1e3, (double)size / best_enc / 1e6,
         (double)len / best_dec / 1e6, repeats);
  free(text);
  return 0;
}
