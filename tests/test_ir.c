/* compiler/ir/ir.c: type inference per op (and its mismatch messages),
 * constant folding by sema, grouped-query shapes, compaction, verifier. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "ir.h"
#include "passes.h"

static const ir_loc_t here = {"test", 1, 1};

/* A type from a compact spec: dims > 0 are constants, -k is k*T. */
static ir_type_t ty(greta_dtype_t dtype, int rank, const int64_t *dims) {
  ir_type_t t = {dtype, rank, {{0, -1}}};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i] < 0 ? (ir_dim_t){-dims[i], 0} : (ir_dim_t){dims[i], -1};
  return t;
}
#define TY(dt, ...) ty(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static int leaf(ir_graph_t *g, ir_op_t op, const char *name, ir_type_t t) {
  int id = ir_add(g, op, 0, NULL, name, here);
  cr_assert_geq(id, 0);
  g->nodes[id].type = t;
  return id;
}

static ir_graph_t *graph(void) {
  ir_graph_t *g = ir_graph_create("t");
  cr_assert_not_null(g);
  cr_assert_eq(ir_symbol(g, "T"), 0);
  cr_assert_eq(ir_symbol(g, "T"), 0, "a known symbol keeps its index");
  return g;
}

/* Adds op over inputs; asserts inference succeeds with type `want`. */
static int op_ok(ir_graph_t *g, ir_op_t op, int n, const int *in, ir_type_t want) {
  int id = ir_add(g, op, n, in, NULL, here);
  greta_status_t s = ir_infer_type(g, id);
  cr_assert_null(s, "%s: %s", ir_op_name(op), greta_status_message(s));
  char a[128], b[128];
  const ir_type_t *got = &g->nodes[id].type;
  bool same = got->dtype == want.dtype && got->rank == want.rank;
  for (int i = 0; same && i < want.rank; i++)
    same = got->dims[i].coeff == want.dims[i].coeff && got->dims[i].sym == want.dims[i].sym;
  cr_assert(same, "%s: got %s, want %s", ir_op_name(op), ir_type_str(g, got, a, sizeof a),
            ir_type_str(g, &want, b, sizeof b));
  return id;
}

static void op_fails(ir_graph_t *g, ir_op_t op, int n, const int *in, int64_t i0, const char *msg) {
  int id = ir_add(g, op, n, in, NULL, here);
  g->nodes[id].i[0] = i0;
  greta_status_t s = ir_infer_type(g, id);
  cr_assert(s, "%s inferred a type", ir_op_name(op));
  cr_assert_str_eq(greta_status_message(s), msg);
  greta_status_free(s);
  g->nodes[id].op = IR_DEAD;
}

Test(ir, type_strings) {
  ir_graph_t *g = graph();
  char buf[64];
  ir_type_t t = TY(GRETA_F32, -1, 4096);
  cr_assert_str_eq(ir_type_str(g, &t, buf, sizeof buf), "f32[T, 4096]");
  t = TY(GRETA_BF16, -3, 2, 5);
  cr_assert_str_eq(ir_type_str(g, &t, buf, sizeof buf), "bf16[3*T, 2, 5]");
  cr_assert_eq(ir_type_elems(&t, 7), 3 * 7 * 2 * 5);
  cr_assert_str_eq(ir_op_name(IR_CACHE_APPEND), "cache_append");
  ir_graph_destroy(g);
}

Test(ir, elementwise_and_norm) {
  ir_graph_t *g = graph();
  int x = leaf(g, IR_INPUT, "x", TY(GRETA_F32, -1, 64));
  int y = leaf(g, IR_INPUT, "y", TY(GRETA_F32, -1, 32));
  int w = leaf(g, IR_WEIGHT, "w", TY(GRETA_F16, 64));
  int in[2] = {x, x};
  op_ok(g, IR_ADD, 2, in, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_MUL, 2, in, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_SILU_MUL, 2, in, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_SILU, 1, &x, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_SCALE, 1, &x, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_SOFTMAX, 1, &x, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_CAUSAL_MASK, 1, &x, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_MASKED_SOFTMAX, 1, &x, TY(GRETA_F32, -1, 64));
  op_ok(g, IR_TRANSPOSE, 1, &x, TY(GRETA_F32, 64, -1));
  int xw[2] = {x, w};
  op_ok(g, IR_RMSNORM, 2, xw, TY(GRETA_F32, -1, 64));
  int xy[2] = {x, y};
  op_fails(g, IR_ADD, 2, xy, 0, "add: shapes differ: f32[T, 64] + f32[T, 32]");
  int yw[2] = {y, w};
  op_fails(g, IR_RMSNORM, 2, yw, 0, "rmsnorm: the weight f16[64] does not match the last dimension of f32[T, 32]");
  ir_graph_destroy(g);
}

Test(ir, matmul_shapes) {
  ir_graph_t *g = graph();
  int x = leaf(g, IR_INPUT, "x", TY(GRETA_F32, -1, 64));
  int b = leaf(g, IR_WEIGHT, "b", TY(GRETA_F32, 64, 16));
  int w = leaf(g, IR_WEIGHT, "w", TY(GRETA_F16, 16, 64));
  int r = leaf(g, IR_INPUT, "r", TY(GRETA_F32, -1, 16));
  int xb[2] = {x, b}, xw[2] = {x, w};
  op_ok(g, IR_MATMUL, 2, xb, TY(GRETA_F32, -1, 16));
  int id = ir_add(g, IR_MATMUL, 2, xw, NULL, here);
  g->nodes[id].i[0] = 1;
  cr_assert_null(ir_infer_type(g, id));
  cr_assert_eq(g->nodes[id].type.dims[1].coeff, 16);
  int fused[3] = {x, w, r};
  id = ir_add(g, IR_MATMUL_ADD, 3, fused, NULL, here);
  g->nodes[id].i[0] = 1;
  cr_assert_null(ir_infer_type(g, id));
  op_fails(g, IR_MATMUL, 2, xw, 0, "matmul: inner dimensions differ: f32[T, 64] @ f16[16, 64]");
  op_fails(g, IR_MATMUL, 2, xb, 1, "matmul: inner dimensions differ: f32[T, 64] @ f32[64, 16].T");
  ir_graph_destroy(g);
}

Test(ir, embedding_rope_reshape) {
  ir_graph_t *g = graph();
  int tok = leaf(g, IR_INPUT, "tokens", TY(GRETA_I32, -1));
  int table = leaf(g, IR_WEIGHT, "e", TY(GRETA_F16, 97, 64));
  int in[2] = {tok, table};
  op_ok(g, IR_EMBEDDING, 2, in, TY(GRETA_F32, -1, 64));
  int bad[2] = {table, table};
  op_fails(g, IR_EMBEDDING, 2, bad, 0, "embedding: dtype mismatch: tokens must be i32, got f16[97, 64]");
  int q = leaf(g, IR_INPUT, "q", TY(GRETA_F32, -1, 4, 16));
  op_ok(g, IR_ROPE, 1, &q, TY(GRETA_F32, -1, 4, 16));
  int odd = leaf(g, IR_INPUT, "odd", TY(GRETA_F32, -1, 4, 15));
  op_fails(g, IR_ROPE, 1, &odd, 0, "rope: head_dim must be an even constant, got f32[T, 4, 15]");
  /* A reshape keeps the type it is given. */
  int r = ir_add(g, IR_RESHAPE, 1, &q, NULL, here);
  g->nodes[r].type = TY(GRETA_F32, -1, 64);
  cr_assert_null(ir_infer_type(g, r));
  cr_assert_eq(g->nodes[r].type.rank, 2);
  ir_graph_destroy(g);
}

Test(ir, grouped_query_attention) {
  ir_graph_t *g = graph();
  int q = leaf(g, IR_INPUT, "q", TY(GRETA_F32, -1, 4, 16));
  int k = leaf(g, IR_INPUT, "k", TY(GRETA_F32, -1, 2, 16));
  int kc = leaf(g, IR_CACHE, "k_cache", TY(GRETA_F32, 64, 2, 16));
  int vc = leaf(g, IR_CACHE, "v_cache", TY(GRETA_F32, 64, 2, 16));
  int ka[2] = {kc, k}, va[2] = {vc, k};
  int keys = op_ok(g, IR_CACHE_APPEND, 2, ka, TY(GRETA_F32, 64, 2, 16));
  int values = op_ok(g, IR_CACHE_APPEND, 2, va, TY(GRETA_F32, 64, 2, 16));
  int att[3] = {q, keys, values};
  op_ok(g, IR_ATTENTION, 3, att, TY(GRETA_F32, -1, 4, 16));
  int q3 = leaf(g, IR_INPUT, "q3", TY(GRETA_F32, -1, 3, 16));
  int att3[3] = {q3, keys, values};
  op_fails(g, IR_ATTENTION, 3, att3, 0,
           "attention: the q heads must be a multiple of the k/v heads (grouped-query): q f32[T, 3, 16], k f32[64, 2, 16]");
  int notcache[2] = {q, k};
  op_fails(g, IR_CACHE_APPEND, 2, notcache, 0, "append: the first argument must be a cache, got a input node");
  ir_graph_destroy(g);
}

/* A tiny GQA model through the whole front end: shapes as a reader works
 * them out by hand. */
Test(ir, front_end_gqa_shapes_and_folding) {
  const char *src =
      "dim T\nconst heads = 2 * (1 + 1)\nconst kv = heads / 2\nconst hd = 64 / heads % 32\n"
      "input x: f32[T, heads * hd]\n"
      "weight wk: [kv * hd, heads * hd] = \"k\"\ncache kc: [8, kv, hd]\ncache vc: [8, kv, hd]\n"
      "k = reshape(x @ wk.T, [T, kv, hd])\n"
      "a = attention(reshape(x, [T, heads, hd]), append(kc, k), append(vc, k))\n"
      "output y = (reshape(a, [T, heads * hd]) * 0.5) * 4.0\n";
  char *diag = NULL;
  size_t len = 0;
  FILE *d = open_memstream(&diag, &len);
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("t.gm", src, strlen(src), d, &errors);
  fclose(d);
  cr_assert_not_null(g, "%s", diag);
  free(diag);
  cr_assert_eq(ir_verify(g, stderr), 0);
  passes_prune(g); /* the (x * 0.5) the fold left behind goes */
  cr_assert_eq(ir_verify(g, stderr), 0);
  const ir_node_t *out = &g->nodes[g->outputs[0].node];
  /* (x * 0.5) * 4.0 folds into one scale by 2. */
  cr_assert_eq(out->op, IR_SCALE);
  cr_assert_float_eq(out->f[0], 2.0, 1e-12);
  cr_assert_neq(g->nodes[out->inputs[0]].op, IR_SCALE);
  int scales = 0;
  const ir_node_t *att = NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    scales += g->nodes[i].op == IR_SCALE;
    if (g->nodes[i].op == IR_ATTENTION) att = &g->nodes[i];
    if (g->nodes[i].op == IR_WEIGHT) {
      /* heads = 4, kv = 2, hd = 64 / 4 % 32 = 16 */
      cr_assert_eq(g->nodes[i].type.dims[0].coeff, 32);
      cr_assert_eq(g->nodes[i].type.dims[1].coeff, 64);
    }
  }
  cr_assert_eq(scales, 1, "the unused first scale is removed");
  cr_assert_not_null(att);
  cr_assert_eq(att->type.dims[1].coeff, 4);
  cr_assert_eq(g->nodes[att->inputs[1]].type.dims[1].coeff, 2);
  cr_assert_float_eq(att->f[0], 0.25, 1e-12); /* 1 / sqrt(16) */
  cr_assert_eq(g->max_seq, 8);
  ir_graph_destroy(g);
}

Test(ir, compact_renumbers) {
  ir_graph_t *g = graph();
  int x = leaf(g, IR_INPUT, "x", TY(GRETA_F32, -1, 8));
  int a = ir_add(g, IR_SILU, 1, &x, NULL, here);
  cr_assert_null(ir_infer_type(g, a));
  int b = ir_add(g, IR_SILU, 1, &x, NULL, here);
  cr_assert_null(ir_infer_type(g, b));
  int ab[2] = {x, b};
  int c = ir_add(g, IR_ADD, 2, ab, NULL, here);
  cr_assert_null(ir_infer_type(g, c));
  ir_add_output(g, "y", c);
  g->nodes[a].op = IR_DEAD;
  ir_compact(g);
  cr_assert_eq(g->n_nodes, 3);
  cr_assert_eq(g->nodes[1].op, IR_SILU);
  cr_assert_eq(g->nodes[2].op, IR_ADD);
  cr_assert_eq(g->nodes[2].inputs[0], 0);
  cr_assert_eq(g->nodes[2].inputs[1], 1);
  cr_assert_eq(g->outputs[0].node, 2);
  cr_assert_eq(ir_verify(g, NULL), 0);
  ir_graph_destroy(g);
}

static int verify_text(const ir_graph_t *g, char **text) {
  size_t len = 0;
  FILE *d = open_memstream(text, &len);
  int n = ir_verify(g, d);
  fclose(d);
  return n;
}

Test(ir, verifier_catches_broken_graphs) {
  ir_graph_t *g = graph();
  int x = leaf(g, IR_INPUT, "x", TY(GRETA_F32, -1, 8));
  int s = ir_add(g, IR_SILU, 1, &x, NULL, here);
  cr_assert_null(ir_infer_type(g, s));
  ir_add_output(g, "y", s);
  char *text = NULL;
  cr_assert_eq(verify_text(g, &text), 0, "%s", text);
  free(text);

  g->nodes[s].type.dims[1].coeff = 9; /* a wrong type */
  cr_assert_eq(verify_text(g, &text), 1);
  cr_assert(strstr(text, "ir: node %1: silu has type f32[T, 9], its inputs give f32[T, 8]"), "%s", text);
  free(text);
  g->nodes[s].type.dims[1].coeff = 8;

  g->nodes[s].inputs[0] = 5; /* a forward reference */
  cr_assert_geq(verify_text(g, &text), 1);
  cr_assert(strstr(text, "ir: node %1: input 0 is %5, not an earlier node"), "%s", text);
  free(text);
  g->nodes[s].inputs[0] = x;

  g->nodes[x].op = IR_DEAD; /* a dead input, and an output of nothing */
  cr_assert_geq(verify_text(g, &text), 1);
  cr_assert(strstr(text, "input 0 is %0, a dead node"), "%s", text);
  free(text);
  g->nodes[x].op = IR_INPUT;

  g->nodes[s].n_inputs = 2; /* a wrong arity */
  cr_assert_geq(verify_text(g, &text), 1);
  cr_assert(strstr(text, "silu takes 1 inputs, has 2"), "%s", text);
  free(text);
  g->nodes[s].n_inputs = 1;

  ir_add_output(g, "y", s); /* a duplicate output */
  cr_assert_eq(verify_text(g, &text), 1);
  cr_assert(strstr(text, "output \"y\" appears twice"), "%s", text);
  free(text);
  ir_graph_destroy(g);
}

Test(ir, printers) {
  ir_graph_t *g = graph();
  int x = leaf(g, IR_INPUT, "x", TY(GRETA_F32, -1, 8));
  int w = leaf(g, IR_WEIGHT, "w\"q", TY(GRETA_F32, 8));
  int in[2] = {x, w};
  int n = ir_add(g, IR_RMSNORM, 2, in, NULL, here);
  g->nodes[n].f[0] = 1e-5;
  cr_assert_null(ir_infer_type(g, n));
  ir_add_output(g, "y", n);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ir_print(g, f);
  fclose(f);
  cr_assert_str_eq(text, "model t  weight_dtype=f32  kv_dtype=f32  max_seq=0  symbols: T\n"
                         "  %0 = input \"x\" : f32[T, 8]\n"
                         "  %1 = weight \"w\"q\" : f32[8]\n"
                         "  %2 = rmsnorm %0, %1 {eps=1e-05} : f32[T, 8]\n"
                         "  output \"y\" = %2\n");
  free(text);
  f = open_memstream(&text, &len);
  ir_print_dot(g, f);
  fclose(f);
  cr_assert(strstr(text, "w\\\"q"), "DOT escapes quotes: %s", text);
  cr_assert(strstr(text, "n0 -> n2;") && strstr(text, "n1 -> n2;"));
  free(text);
  ir_graph_destroy(g);
}

/* The same resolved weight name twice is one node; each block call gets
 * its own caches. */
Test(ir, weights_shared_caches_per_instance) {
  const char *src =
      "dim T\ninput x: f32[T, 8]\n"
      "block f(a: f32[T, 8], layer: int) -> f32[T, 8] {\n"
      "  weight w: [8] = \"norm.weight\"\n  cache c: [4, 2, 4]\n"
      "  k = append(c, reshape(a, [T, 2, 4]))\n"
      "  return rmsnorm(a, w, 1e-6) + reshape(attention(reshape(a, [T, 2, 4]), k, k), [T, 8])\n}\n"
      "h = f(x, 0)\noutput y = f(h, 1) + f(h, 1)\n";
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("t.gm", src, strlen(src), stderr, &errors);
  cr_assert_not_null(g);
  int weights = 0, caches = 0;
  const char *names[4] = {0};
  for (int i = 0; i < g->n_nodes; i++) {
    weights += g->nodes[i].op == IR_WEIGHT;
    if (g->nodes[i].op == IR_CACHE && caches < 4) names[caches++] = g->nodes[i].name;
  }
  cr_assert_eq(weights, 1);
  cr_assert_eq(caches, 3);
  cr_assert_str_eq(names[0], "f.0.c");
  cr_assert_str_eq(names[1], "f.1.c");
  cr_assert_str_eq(names[2], "f.1.c.2");
  ir_graph_destroy(g);
}

/* A cache's name is its block instance path: each enclosing call's block
 * name and int arguments, outermost first, joined with '.'. */
Test(ir, cache_names_follow_the_instance_path) {
  const char *src =
      "dim T\ninput x: f32[T, 8]\n"
      "block attn(a: f32[T, 8]) -> f32[T, 8] {\n"
      "  cache kc: [4, 2, 4]\n"
      "  k = append(kc, reshape(a, [T, 2, 4]))\n"
      "  return reshape(attention(reshape(a, [T, 2, 4]), k, k), [T, 8])\n}\n"
      "block layer(a: f32[T, 8], i: int, scale: float, j: int) -> f32[T, 8] {\n"
      "  cache c: [4, 2, 4]\n"
      "  k = append(c, reshape(a, [T, 2, 4]))\n"
      "  return attn(a) + reshape(attention(reshape(a, [T, 2, 4]), k, k), [T, 8])\n}\n"
      "cache top: [4, 2, 4]\nt = append(top, reshape(x, [T, 2, 4]))\n"
      "output y = layer(attn(x), 3, 0.5, 7)\n";
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("t.gm", src, strlen(src), stderr, &errors);
  cr_assert_not_null(g);
  const char *want[] = {"top", "attn.kc", "layer.3.7.c", "layer.3.7.attn.kc"};
  int caches = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].op != IR_CACHE) continue;
    cr_assert_lt(caches, 4);
    cr_expect_str_eq(g->nodes[i].name, want[caches]);
    caches++;
  }
  cr_assert_eq(caches, 4);
  ir_graph_destroy(g);
}

/* Compiles `src` with the front end; asserts it succeeds. */
static ir_graph_t *front_end(const char *src) {
  char *diag = NULL;
  size_t len = 0;
  FILE *d = open_memstream(&diag, &len);
  int errors = 0;
  ir_graph_t *g = frontend_compile_string("t.gm", src, strlen(src), d, &errors);
  fclose(d);
  cr_assert_not_null(g, "%s", diag);
  free(diag);
  cr_assert_eq(ir_verify(g, stderr), 0);
  return g;
}

/* last(x): [T, ...] -> [1, ...], the last token; its output does not scale
 * with T. */
Test(ir, last_takes_the_last_token) {
  ir_graph_t *g = front_end("dim T\ninput x: f32[T, 4, 8]\noutput y = last(x)\n"
                            "output z = last(reshape(x, [T, 32]))\n");
  const ir_node_t *y = &g->nodes[g->outputs[0].node], *z = &g->nodes[g->outputs[1].node];
  cr_assert_eq(y->op, IR_LAST);
  cr_assert_eq(y->type.rank, 3);
  cr_assert(y->type.dims[0].sym < 0 && y->type.dims[0].coeff == 1, "dims[0] must be the constant 1");
  cr_assert_eq(y->type.dims[1].coeff, 4);
  cr_assert_eq(y->type.dims[2].coeff, 8);
  char buf[64];
  cr_assert_str_eq(ir_type_str(g, &z->type, buf, sizeof buf), "f32[1, 32]");
  ir_graph_destroy(g);

  /* Not a token axis: an error naming the type. */
  g = graph();
  int w = leaf(g, IR_WEIGHT, "w", ty(GRETA_F32, 2, (int64_t[]){4, 8}));
  op_fails(g, IR_LAST, 1, &w, 0,
           "last: the first dimension of x must be a symbolic dimension (tokens), got f32[4, 8]");
  ir_graph_destroy(g);
}

/* set rope_scaling = llama3(...): on the graph, printed on the model line. */
Test(ir, rope_scaling_setting) {
  ir_graph_t *g = front_end("dim T\nset rope_scaling = llama3(8.0, 1.0, 2 * 2, 8192)\n"
                            "input x: f32[T, 2, 16]\noutput y = rope(x, 500000.0)\n");
  cr_assert_float_eq(g->rope_scaling.factor, 8.0, 0);
  cr_assert_float_eq(g->rope_scaling.low_freq_factor, 1.0, 0);
  cr_assert_float_eq(g->rope_scaling.high_freq_factor, 4.0, 0);
  cr_assert_float_eq(g->rope_scaling.original_max, 8192.0, 0);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ir_print(g, f);
  fclose(f);
  cr_assert(strstr(text, "rope_scaling=llama3(8, 1, 4, 8192)\n"), "%s", text);
  free(text);
  ir_graph_destroy(g);
  /* Without the setting: none, and the model line says nothing of it. */
  g = front_end("dim T\ninput x: f32[T, 2, 16]\noutput y = rope(x)\n");
  cr_assert_float_eq(g->rope_scaling.factor, 0.0, 0);
  ir_graph_destroy(g);
}

/* x @ w.T + b with b a vector: a bias added to every row (either order);
 * a vector that is not the last dimension is an error. */
Test(ir, a_vector_plus_a_matrix_is_a_bias) {
  ir_graph_t *g = front_end("dim T\ninput x: f32[T, 8]\nweight w: [4, 8] = \"w\"\n"
                            "weight b: [4] = \"b\"\noutput y = x @ w.T + b\noutput z = b + x @ w.T\n"
                            "output u = x @ w.T - b\n");
  for (int o = 0; o < 3; o++) {
    const ir_node_t *y = &g->nodes[g->outputs[o].node];
    cr_assert_eq(y->op, IR_BIAS_ADD, "output %d", o);
    cr_assert_eq(g->nodes[y->inputs[0]].op, IR_MATMUL);
    cr_assert_eq(g->nodes[y->inputs[1]].op, o < 2 ? IR_WEIGHT : IR_SCALE);
    cr_assert_eq(y->type.rank, 2);
    cr_assert_eq(y->type.dims[1].coeff, 4);
  }
  ir_graph_destroy(g);
  g = graph();
  int x = leaf(g, IR_INPUT, "x", ty(GRETA_F32, 2, (int64_t[]){3, 8}));
  int b = leaf(g, IR_WEIGHT, "b", ty(GRETA_F32, 1, (int64_t[]){4}));
  op_fails(g, IR_BIAS_ADD, 2, (int[]){x, b}, 0,
           "bias_add: the bias f32[4] does not match the last dimension of f32[3, 8]");
  ir_graph_destroy(g);
}
