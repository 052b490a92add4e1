/* compiler/passes: CSE, fusion and DCE on graphs the front end builds. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
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

/* ---- norm folding and sibling fusion ---------------------------------------- */

/* A Llama block over x [T, 8]: 2 heads of 4, 2 k/v heads, FFN 6. */
#define BLOCK_HEADER                                                                  \
  "model m\ndim T\ninput x: f32[T, 8]\n"                                              \
  "weight g1: [8] = \"g1\"\nweight g2: [8] = \"g2\"\n"                                \
  "weight wq: [8, 8] = \"wq\"\nweight wk: [8, 8] = \"wk\"\nweight wv: [8, 8] = \"wv\"\n" \
  "weight wo: [8, 8] = \"wo\"\nweight w1: [6, 8] = \"w1\"\nweight w3: [6, 8] = \"w3\"\n" \
  "weight w2: [8, 6] = \"w2\"\n"                                                      \
  "cache kc: [16, 2, 4]\ncache vc: [16, 2, 4]\n"

static const char block_body[] =
    "h = rmsnorm(x, g1, 1e-5)\n"
    "q = rope(reshape(h @ wq.T, [T, 2, 4]), 100.0)\n"
    "k = rope(reshape(h @ wk.T, [T, 2, 4]), 100.0)\n"
    "v = reshape(h @ wv.T, [T, 2, 4])\n"
    "a = reshape(attention(q, append(kc, k), append(vc, v)), [T, 8])\n"
    "x1 = x + a @ wo.T\n"
    "h2 = rmsnorm(x1, g2, 1e-5)\n"
    "output y = x1 + (silu(h2 @ w1.T) * (h2 @ w3.T)) @ w2.T\n";

static ir_graph_t *build_block(const char *body) {
  char text[2048];
  snprintf(text, sizeof text, "%s%s", BLOCK_HEADER, body);
  return build(text);
}

/* The node of op `op` (the first one), or -1. */
static int find_op(const ir_graph_t *g, ir_op_t op) {
  for (int id = 0; id < g->n_nodes; id++)
    if (g->nodes[id].op == op) return id;
  return -1;
}

static const char *input_name(const ir_graph_t *g, int node, int input) {
  return g->nodes[g->nodes[node].inputs[input]].name;
}

Test(passes, a_llama_block_fuses_into_five_compute_nodes) {
  ir_graph_t *g = build_block(block_body);
  cr_assert_eq(passes_run(g, stderr), 0);
  int qkv = find_op(g, IR_MATMUL_QKV), glu = find_op(g, IR_MATMUL_GLU);
  int attn = find_op(g, IR_ATTENTION);
  cr_assert(qkv >= 0 && glu >= 0 && attn >= 0);
  cr_expect_eq(count_op(g, IR_MATMUL_ADD), 2, "o_proj and down_proj keep their residual epilogue");
  cr_expect_eq(count_op(g, IR_RMSNORM) + count_op(g, IR_ROPE) + count_op(g, IR_CACHE_APPEND) +
                   count_op(g, IR_MATMUL) + count_op(g, IR_SILU_MUL) + count_op(g, IR_MATMUL_NORM),
               0, "every norm, rope, append and projection is inside a fused node");
  /* matmul_qkv(x, wq, wk, wv, kc, vc, g1): weights in stacking order, the
   * norm's weight last, eps and theta carried. */
  cr_expect_eq(g->nodes[qkv].n_inputs, 7);
  cr_expect_str_eq(input_name(g, qkv, 0), "x");
  cr_expect_str_eq(input_name(g, qkv, 1), "wq");
  cr_expect_str_eq(input_name(g, qkv, 2), "wk");
  cr_expect_str_eq(input_name(g, qkv, 3), "wv");
  cr_expect_str_eq(input_name(g, qkv, 6), "g1");
  cr_expect_eq(g->nodes[qkv].f[0], 1e-5);
  cr_expect_eq(g->nodes[qkv].f[1], 100.0);
  /* Attention reads q from it and the caches it wrote. */
  cr_expect_eq(g->nodes[attn].inputs[0], qkv);
  cr_expect_str_eq(input_name(g, attn, 1), "kc");
  /* matmul_glu(x1, w1, w3, g2): gate first. */
  cr_expect_eq(g->nodes[glu].n_inputs, 4);
  cr_expect_str_eq(input_name(g, glu, 1), "w1");
  cr_expect_str_eq(input_name(g, glu, 2), "w3");
  cr_expect_str_eq(input_name(g, glu, 3), "g2");
  ir_graph_destroy(g);
}

Test(passes, a_norm_also_read_elsewhere_is_not_folded) {
  /* h is an output too: it must be computed, so nothing folds and the
   * siblings stay plain matmuls (but still fuse: they share h). */
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\nweight g: [8] = \"g\"\n"
                        "weight w1: [6, 8] = \"w1\"\nweight w3: [6, 8] = \"w3\"\n"
                        "h = rmsnorm(x, g, 1e-5)\noutput hn = h\n"
                        "output y = silu(h @ w1.T) * (h @ w3.T)\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_RMSNORM), 1);
  cr_expect_eq(count_op(g, IR_MATMUL_NORM), 0);
  int glu = find_op(g, IR_MATMUL_GLU);
  cr_assert(glu >= 0);
  cr_expect_eq(g->nodes[glu].n_inputs, 3, "no norm inside: its input is the norm's value");
  ir_graph_destroy(g);
}

Test(passes, a_lone_normed_matmul_folds) {
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\nweight g: [8] = \"g\"\n"
                        "weight head: [11, 8] = \"lm_head\"\n"
                        "output logits = rmsnorm(x, g, 1e-6) @ head.T\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  int m = find_op(g, IR_MATMUL_NORM);
  cr_assert(m >= 0);
  cr_expect_eq(count_op(g, IR_RMSNORM), 0);
  cr_expect_str_eq(input_name(g, m, 2), "g");
  cr_expect_eq(g->nodes[m].f[0], 1e-6);
  ir_graph_destroy(g);
}

Test(passes, a_weight_read_twice_is_not_folded_or_stacked) {
  /* Tied weights: folding g into w would change the other reader. */
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\nweight g: [8] = \"g\"\n"
                        "weight w: [8, 8] = \"w\"\n"
                        "output a = rmsnorm(x, g, 1e-5) @ w.T\noutput b = x @ w.T\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_RMSNORM), 1);
  cr_expect_eq(count_op(g, IR_MATMUL_NORM), 0);
  ir_graph_destroy(g);
}

Test(passes, siblings_of_different_norms_do_not_stack) {
  ir_graph_t *g = build("model m\ndim T\ninput x: f32[T, 8]\n"
                        "weight g1: [8] = \"g1\"\nweight g2: [8] = \"g2\"\n"
                        "weight w1: [6, 8] = \"w1\"\nweight w3: [6, 8] = \"w3\"\n"
                        "output y = silu(rmsnorm(x, g1, 1e-5) @ w1.T) * (rmsnorm(x, g2, 1e-5) @ w3.T)\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_MATMUL_GLU), 0);
  cr_expect_eq(count_op(g, IR_MATMUL_NORM), 2, "each norm still folds into its own matmul");
  cr_expect_eq(count_op(g, IR_SILU_MUL), 1);
  ir_graph_destroy(g);
}

Test(passes, qkv_does_not_fuse_when_k_is_read_elsewhere) {
  ir_graph_t *g = build_block(
      "h = rmsnorm(x, g1, 1e-5)\n"
      "q = rope(reshape(h @ wq.T, [T, 2, 4]), 100.0)\n"
      "k = rope(reshape(h @ wk.T, [T, 2, 4]), 100.0)\n"
      "v = reshape(h @ wv.T, [T, 2, 4])\n"
      "output kk = k\n"
      "output a = attention(q, append(kc, k), append(vc, v))\n");
  cr_assert_eq(passes_run(g, stderr), 0);
  cr_expect_eq(count_op(g, IR_MATMUL_QKV), 0);
  cr_expect_eq(count_op(g, IR_CACHE_APPEND), 2);
  cr_expect_eq(count_op(g, IR_MATMUL_NORM), 3, "the norm still folds");
  ir_graph_destroy(g);
}

/* The head of a whole model: embedding, one norm, the LM head. */
static const char head_model[] =
    "model m\ndim T\ninput tokens: i32[T]\n"
    "weight embed: [16, 8] = \"model.embed_tokens.weight\"\n"
    "weight final_norm: [8] = \"model.norm.weight\"\n"
    "weight lm_head: [16, 8] = \"%s\"\n"
    "h = embedding(tokens, embed)\n"
    "output logits = rmsnorm(%s, final_norm, 1e-5) @ lm_head.T\n";

static ir_graph_t *build_head(const char *head_weight, const char *x) {
  char text[1024];
  snprintf(text, sizeof text, head_model, head_weight, x);
  ir_graph_t *g = build(text);
  cr_assert_eq(passes_run(g, stderr), 0);
  return g;
}

/* Untied: the final norm folds into the LM head, through last() too. */
Test(passes, the_final_norm_folds_into_an_untied_head) {
  for (int last = 0; last < 2; last++) {
    ir_graph_t *g = build_head("lm_head.weight", last ? "last(h)" : "h");
    cr_expect_eq(count_op(g, IR_MATMUL_NORM), 1, "last = %d", last);
    cr_expect_eq(count_op(g, IR_RMSNORM), 0, "last = %d", last);
    cr_expect_eq(count_op(g, IR_LAST), last);
    ir_graph_destroy(g);
  }
}

/* Tied embeddings: the head IS the embedding table (one weight node, read by
 * the embedding and the head). Folding the norm would rewrite the table the
 * embedding reads: the norm stays a launch. */
Test(passes, tied_embeddings_keep_the_final_norm) {
  for (int last = 0; last < 2; last++) {
    ir_graph_t *g = build_head("model.embed_tokens.weight", last ? "last(h)" : "h");
    cr_expect_eq(count_op(g, IR_WEIGHT), 2, "embed (shared by the head) and the norm");
    cr_expect_eq(count_op(g, IR_MATMUL_NORM), 0, "last = %d", last);
    cr_expect_eq(count_op(g, IR_RMSNORM), 1, "last = %d", last);
    int m = find_op(g, IR_MATMUL), e = find_op(g, IR_EMBEDDING);
    cr_assert(m >= 0 && e >= 0);
    cr_expect_eq(g->nodes[m].inputs[1], g->nodes[e].inputs[1], "one table for both");
    ir_graph_destroy(g);
  }
}
