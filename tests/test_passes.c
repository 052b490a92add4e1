/* compiler/passes: CSE, fusion and DCE on graphs the front end builds. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <string.h>

#include "frontend.h"
#include "passes.h"

static ir_graph_t *build(const char *text) {
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("passes.gm", text, strlen(text), stderr, &errors);
  cr_assert(g, "does not compile (%d errors):\n%s", errors, text);
  return g;
}

static int count_op(const ir_graph_t *g, ir_op_t op) {
  int n = 0;
  for (int id = 0; id < g->n_nodes; id++) n += g->nodes[id].op == op;
  return n;
}

Test(passes, fusion_rewrites_the_three_patterns) {
  ir_graph_t *g = build("model m\ndim T\n"
                        "input x: f32[T, 8]\ninput r: f32[T, 4]\ninput s: f32[T, 2, 5]\n"
                        "weight w: [4, 8] = \"w\"\n"
                        "output a = r + x @ w.T\n"
                        "output b = silu(x) * x\n"
                        "output c = softmax(causal_mask(s))\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_MATMUL_ADD), 1);
  cr_expect_eq(count_op(g, IR_MATMUL), 0);
  cr_expect_eq(count_op(g, IR_SILU_MUL), 1);
  cr_expect_eq(count_op(g, IR_SILU), 0);
  cr_expect_eq(count_op(g, IR_MASKED_SOFTMAX), 1);
  cr_expect_eq(count_op(g, IR_CAUSAL_MASK) + count_op(g, IR_SOFTMAX), 0);
  ir_graph_destroy(g);
}

Test(passes, no_fusion_when_the_inner_value_is_used_twice) {
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\ninput y: f32[T, 8]\n"
                        "output a = silu(x) * y\noutput b = silu(x)\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_SILU), 1, "silu(x) is an output too: it must stay");
  cr_expect_eq(count_op(g, IR_SILU_MUL), 0);
  cr_expect_eq(count_op(g, IR_MUL), 1);
  ir_graph_destroy(g);
}

Test(passes, cse_merges_equal_nodes) {
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\n"
                        "weight w: [8, 8] = \"w\"\n"
                        "a = x @ w.T\nb = x @ w.T\noutput y = a + b\n");
  int before = count_op(g, IR_MATMUL);
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(before, 2);
  cr_expect_eq(count_op(g, IR_MATMUL) + count_op(g, IR_MATMUL_ADD), 1,
               "the two equal matmuls become one");
  ir_graph_destroy(g);
}

Test(passes, a_cache_append_nobody_reads_is_kept) {
  /* Its write outlives the step: a later step's attention reads it. */
  ir_graph_t *g = build("model m\ndim T\ninput k: f32[T, 2, 8]\ninput x: f32[T, 4]\n"
                        "cache kc: [16, 2, 8]\nkk = append(kc, k)\noutput y = x * 2.0\n");
  cr_expect_eq(count_op(g, IR_CACHE_APPEND), 1, "sema must keep the append");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_CACHE_APPEND), 1, "DCE must keep the append");
  ir_graph_destroy(g);
}

Test(passes, dce_drops_what_no_output_needs) {
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 4]\n"
                        "unused = silu(x)\noutput y = x * 2.0\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_SILU), 0);
  cr_expect_eq(count_op(g, IR_SCALE), 1);
  ir_graph_destroy(g);
}
