/* libFuzzer harness for the front end: any bytes in, a graph or
 * diagnostics out, never a crash, leak or sanitizer report. A graph that
 * comes out must verify. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "frontend.h"
#include "ir.h"
#include "passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *sink = fopen("/dev/null", "w");
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("fuzz.gm", (const char *)data, size, sink, &errors);
  if (g) {
    if (errors != 0 || ir_verify(g, stderr) != 0) abort();
    /* What gretac --emit=ir prints: the graph after the pipeline's DCE. */
    passes_prune(g);
    if (ir_verify(g, stderr) != 0) abort();
    ir_print(g, sink);
    ir_print_dot(g, sink);
    ir_graph_destroy(g);
  } else if (errors == 0) {
    abort(); /* a failure must be explained */
  }
  if (sink) fclose(sink);
  return 0;
}
