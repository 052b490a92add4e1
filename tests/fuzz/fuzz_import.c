/* libFuzzer harness for gretac import: any bytes as a checkpoint's
 * config.json are refused, naming why, or become .gm text that the front
 * end compiles; never a crash, leak or sanitizer report. Seeds:
 * tests/fuzz/corpus_import. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "import.h"
#include "ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  strbuf_t gm = {0};
  import_options_t options = {0};
  greta_status_t st = import_config_text((const char *)data, size, "fuzz", &options, &gm);
  if (st) {
    if (greta_status_code(st) == GRETA_OK || !greta_status_message(st)[0]) abort();
    greta_status_free(st);
    strbuf_free(&gm);
    return 0;
  }
  /* What import writes must be a model the front end accepts: the config
   * is bounded (positive integers), so only its size can fail it. */
  FILE *sink = fopen("/dev/null", "w");
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("imported.gm", gm.data, gm.len, sink, &errors);
  ir_graph_destroy(g);
  if (sink) fclose(sink);
  strbuf_free(&gm);
  return 0;
}
