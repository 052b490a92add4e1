/* grammar/ and compiler/frontend/sema*.c: every example compiles to verified IR; the
 * printed IR of the small and the Llama-2 block equals the reviewed dumps in
 * tests/expected/. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "ir.h"
#include "passes.h"

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, m);
  fclose(f);
  fclose(m);
  return buf;
}

/* Compiles examples/<name>.gm, asserting no diagnostics. */
static ir_graph_t *compile_example(const char *name) {
  char path[512];
  snprintf(path, sizeof path, GRETA_SOURCE_DIR "/examples/%s.gm", name);
  char *diag = NULL;
  size_t diag_len = 0;
  FILE *d = open_memstream(&diag, &diag_len);
  int errors = -1;
  ir_graph_t *g = frontend_compile_file(path, d, &errors);
  fclose(d);
  cr_assert_not_null(g, "%s failed:\n%s", name, diag);
  cr_assert_eq(errors, 0);
  cr_assert_eq(diag_len, 0, "unexpected diagnostics:\n%s", diag);
  free(diag);
  passes_prune(g); /* as gretac --emit=ir: the graph after the pipeline's DCE */
  return g;
}

static char *print_ir(const ir_graph_t *g) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ir_print(g, f);
  fclose(f);
  return text;
}

static void check_example(const char *name) {
  ir_graph_t *g = compile_example(name);
  char *diag = NULL;
  size_t len = 0;
  FILE *d = open_memstream(&diag, &len);
  int problems = ir_verify(g, d);
  fclose(d);
  cr_assert_eq(problems, 0, "%s: ir_verify:\n%s", name, diag);
  free(diag);
  char *text = print_ir(g);
  cr_assert(strlen(text) > 0);
  char *dot = NULL;
  FILE *f = open_memstream(&dot, &len);
  ir_print_dot(g, f);
  fclose(f);
  cr_assert(strncmp(dot, "digraph", 7) == 0);
  free(dot);
  free(text);
  ir_graph_destroy(g);
}

Test(examples, llama2_block) { check_example("llama2_block"); }
Test(examples, llama2_7b) { check_example("llama2_7b"); }
Test(examples, tiny_llama) { check_example("tiny_llama"); }
Test(examples, tiny_block) { check_example("tiny_block"); }

/* The printed IR must equal the reviewed file byte for byte. To regenerate
 * deliberately: GRETA_UPDATE_EXPECTED=1 ./build/tests/test_parser. */
static void check_expected(const char *name) {
  ir_graph_t *g = compile_example(name);
  char *text = print_ir(g);
  char path[512];
  snprintf(path, sizeof path, GRETA_SOURCE_DIR "/tests/expected/%s.ir", name);
  if (getenv("GRETA_UPDATE_EXPECTED")) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
  }
  char *expected = read_all(path);
  cr_assert_not_null(expected, "missing %s", path);
  /* Report the first differing line, not two 100-line blobs. */
  const char *a = text, *b = expected;
  int line = 1;
  while (*a && *a == *b) {
    if (*a == '\n') line++;
    a++, b++;
  }
  cr_assert(*a == '\0' && *b == '\0', "%s.ir differs at line %d:\n got: %.120s\nwant: %.120s", name, line, a, b);
  free(expected);
  free(text);
  ir_graph_destroy(g);
}

Test(expected, tiny_block) { check_expected("tiny_block"); }
Test(expected, llama2_block) { check_expected("llama2_block"); }

/* Facts of the Llama-2-7B graph, counted independently of the printer. */
Test(examples, llama2_7b_structure) {
  ir_graph_t *g = compile_example("llama2_7b");
  int weights = 0, caches = 0, attention = 0, transposed = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node_t *n = &g->nodes[i];
    weights += n->op == IR_WEIGHT;
    caches += n->op == IR_CACHE;
    attention += n->op == IR_ATTENTION;
    transposed += n->op == IR_MATMUL && n->i[0] == 1;
    cr_assert(n->loc.line > 0, "node %d has no source position", i);
    cr_assert_not_null(n->loc.file);
    if (n->op == IR_WEIGHT) cr_assert_eq(n->type.dtype, GRETA_F16);
  }
  cr_assert_eq(weights, 32 * 9 + 3);
  cr_assert_eq(caches, 64);
  cr_assert_eq(attention, 32);
  cr_assert_eq(transposed, 32 * 7 + 1);
  cr_assert_eq(g->max_seq, 2048);
  cr_assert_eq(g->weight_dtype, GRETA_F16);
  cr_assert_eq(g->n_symbols, 1);
  cr_assert_str_eq(g->symbols[0], "T");
  cr_assert_eq(g->n_outputs, 1);
  cr_assert_str_eq(g->outputs[0].name, "logits");
  const ir_type_t *t = &g->nodes[g->outputs[0].node].type;
  cr_assert_eq(t->rank, 2);
  cr_assert_eq(t->dims[0].sym, 0);
  cr_assert_eq(t->dims[1].coeff, 32000);
  int found = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op == IR_WEIGHT && strcmp(g->nodes[i].name, "model.layers.31.mlp.down_proj.weight") == 0) found++;
  cr_assert_eq(found, 1);
  found = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op == IR_CACHE && strcmp(g->nodes[i].name, "decoder.31.k_cache") == 0) found++;
  cr_assert_eq(found, 1);
  ir_graph_destroy(g);
}
