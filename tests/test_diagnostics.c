/* One test per diagnostic class: the message text and where it points
 * (file:line:col), the source line and the caret under it. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "ir.h"

typedef struct {
  char *text; /* everything printed to diag */
  int errors;
  bool compiled;
} result_t;

static result_t compile(const char *src) {
  result_t r = {0};
  size_t len = 0;
  FILE *d = open_memstream(&r.text, &len);
  ir_graph_t *g = frontend_compile_string("t.gm", src, strlen(src), d, &r.errors);
  fclose(d);
  r.compiled = g != NULL;
  ir_graph_destroy(g);
  return r;
}

/* Asserts that `want` ("t.gm:3:5: error: ...") starts a line of the output. */
static void expect(const result_t *r, const char *want) {
  const char *p = r->text;
  bool found = false;
  while (p && *p && !found) {
    found = strncmp(p, want, strlen(want)) == 0;
    p = strchr(p, '\n');
    if (p) p++;
  }
  cr_assert(found, "expected a line starting\n  %s\ngot:\n%s", want, r->text);
  cr_assert(!r->compiled, "compiled despite errors");
  cr_assert(r->errors > 0);
}

static void expect_one(const char *src, const char *want) {
  result_t r = compile(src);
  expect(&r, want);
  cr_assert_eq(r.errors, 1, "expected exactly one error, got %d:\n%s", r.errors, r.text);
  free(r.text);
}

#define HEAD "dim T\ninput x: f32[T, 64]\n"

Test(diagnostics, syntax_error_names_token_and_expectation) {
  expect_one(HEAD "output y = x x\n",
             "t.gm:3:14: error: syntax error: unexpected identifier 'x', expecting end of line");
}

Test(diagnostics, caret_under_the_token) {
  result_t r = compile(HEAD "output y = x + nope\n");
  cr_assert(strstr(r.text, "t.gm:3:16: error: unknown identifier 'nope'\n"
                           "output y = x + nope\n"
                           "               ^~~~\n"),
            "got:\n%s", r.text);
  free(r.text);
}

Test(diagnostics, recovery_reports_errors_on_several_lines) {
  result_t r = compile(HEAD "const a = = 1\nconst b = 2 +\noutput y = x\n");
  expect(&r, "t.gm:3:11: error: syntax error: unexpected '='");
  expect(&r, "t.gm:4:14: error: syntax error: unexpected end of line");
  cr_assert_eq(r.errors, 2, "%s", r.text);
  free(r.text);
}

Test(diagnostics, unterminated_block) {
  expect_one(HEAD "block f(a: f32[T, 64]) -> f32[T, 64] {\n  return a\noutput y = f(x)\n",
             "t.gm:3:38: error: unterminated block: this '{' has no matching '}'");
}

Test(diagnostics, unterminated_string) {
  result_t r = compile(HEAD "weight w: [64] = \"model.norm.weight\noutput y = x\n");
  expect(&r, "t.gm:3:18: error: unterminated string: missing closing '\"' on this line");
  free(r.text);
}

Test(diagnostics, unknown_identifier) { expect_one(HEAD "output y = x + z\n", "t.gm:3:16: error: unknown identifier 'z'"); }

Test(diagnostics, unknown_op) { expect_one(HEAD "output y = gelu(x)\n", "t.gm:3:12: error: unknown op 'gelu'"); }

Test(diagnostics, wrong_number_of_arguments) {
  expect_one(HEAD "output y = silu(x, x)\n",
             "t.gm:3:12: error: wrong number of arguments: silu takes 1 (x), got 2");
}

Test(diagnostics, wrong_kind_of_argument) {
  expect_one(HEAD "weight w: [64] = \"w\"\noutput y = rmsnorm(x, w, x)\n",
             "t.gm:4:26: error: rmsnorm: argument 3 (eps) must be a number, got a tensor f32[T, 64]");
}

Test(diagnostics, redefinition_with_note) {
  result_t r = compile(HEAD "const a = 1\nconst a = 2\noutput y = x\n");
  expect(&r, "t.gm:4:7: error: redefinition of 'a'");
  expect(&r, "t.gm:3:7: note: 'a' was defined here");
  cr_assert_eq(r.errors, 1);
  free(r.text);
}

Test(diagnostics, matmul_inner_dimensions) {
  expect_one(HEAD "weight w: [32, 16] = \"w\"\noutput y = x @ w\n",
             "t.gm:4:14: error: matmul: inner dimensions differ: f32[T, 64] @ f32[32, 16]");
}

Test(diagnostics, matmul_transposed_weight) {
  expect_one(HEAD "weight w: [16, 32] = \"w\"\noutput y = x @ w.T\n",
             "t.gm:4:14: error: matmul: inner dimensions differ: f32[T, 64] @ f32[16, 32].T");
}

Test(diagnostics, add_shapes_differ) {
  expect_one(HEAD "input z: f32[T, 32]\noutput y = x + z\n",
             "t.gm:4:14: error: add: shapes differ: f32[T, 64] + f32[T, 32]");
}

Test(diagnostics, dtype_mismatch) {
  expect_one(HEAD "input z: i32[T, 64]\noutput y = x * z\n",
             "t.gm:4:14: error: mul: dtype mismatch: f32[T, 64] * i32[T, 64]");
}

/* Every op computes in f32: a half input would be read as f32 (the plan
 * check refused it as an internal error, or the GEMM read its f16 bytes
 * as f32). */
Test(diagnostics, half_input) {
  expect_one(HEAD "input h: f16[T, 64]\noutput y = x + h\n",
             "t.gm:3:10: error: input 'h' is f16: inputs are f32 (activations) or i32 (token ids)");
  expect_one(HEAD "input h: bf16[T, 64]\noutput y = x + h\n",
             "t.gm:3:10: error: input 'h' is bf16: inputs are f32");
}

/* A half weight as an activation: every op would read it as f32 (an
 * internal plan error for add and silu, a wrong product for w @ v). */
Test(diagnostics, half_weight_as_activation) {
#define HALF "set weight_dtype = f16\nweight w: [16, 64] = \"w\"\nweight v: [64, 16] = \"v\"\n"
  expect_one(HEAD HALF "output y = x @ w.T\noutput z = w @ v\n",
             "t.gm:7:14: error: matmul: dtype mismatch: the left operand must be an f32 activation, "
             "got f16[16, 64] (a half tensor is a weight or a cache");
  expect_one(HEAD HALF "output y = x @ w.T\noutput z = w + w\n",
             "t.gm:7:14: error: add: dtype mismatch: a must be an f32 activation, got f16[16, 64]");
  expect_one(HEAD HALF "output y = x @ w.T\noutput z = silu(w)\n",
             "t.gm:7:12: error: silu: dtype mismatch: x must be an f32 activation, got f16[16, 64]");
#undef HALF
}

Test(diagnostics, block_argument_dtype_mismatch) {
  expect_one("dim T\ninput t: i32[T, 64]\nblock f(a: f32[T, 64]) -> f32[T, 64] {\n  return a\n}\noutput y = f(t)\n",
             "t.gm:6:14: error: dtype mismatch: argument 1 ('a') of 'f' expects f32[T, 64], got i32[T, 64]");
}

Test(diagnostics, non_integer_dimension) {
  expect_one("dim T\ninput x: f32[T, 2.5]\noutput y = x\n", "t.gm:2:17: error: dimension must be an integer, got 2.5");
}

Test(diagnostics, negative_dimension) {
  expect_one("dim T\nconst n = 4\ninput x: f32[T, 2 - n]\noutput y = x\n",
             "t.gm:3:17: error: dimension must be positive, got -2");
}

Test(diagnostics, zero_dimension) {
  expect_one("dim T\ninput x: f32[T, 0]\noutput y = x\n", "t.gm:2:17: error: dimension must be positive, got 0");
}

Test(diagnostics, division_by_zero_in_constant) {
  expect_one(HEAD "const a = 4 / (2 - 2)\noutput y = x\n",
             "t.gm:3:13: error: division by zero in constant expression");
}

Test(diagnostics, constant_overflow) {
  expect_one(HEAD "const a = 4611686018427387904 * 4\noutput y = x\n",
             "t.gm:3:31: error: integer overflow in constant expression");
}

Test(diagnostics, recursive_block_is_a_cycle) {
  expect_one(HEAD "block f(a: f32[T, 64]) -> f32[T, 64] {\n  return g(a)\n}\n"
                  "block g(a: f32[T, 64]) -> f32[T, 64] {\n  return f(a)\n}\noutput y = f(x)\n",
             "t.gm:7:10: error: recursive call: block 'f' calls itself through g (blocks cannot recurse)");
}

Test(diagnostics, unused_input) {
  expect_one(HEAD "input z: f32[T, 64]\noutput y = x\n", "t.gm:3:7: error: input 'z' is never used");
}

Test(diagnostics, output_never_produced) {
  expect_one(HEAD "output y = x\noutput z: f32[T, 64]\n", "t.gm:4:8: error: output 'z' is declared but never produced");
}

Test(diagnostics, declared_output_produced_later) {
  result_t r = compile(HEAD "output y: f32[T, 64]\ny = x * 2.0\n");
  cr_assert(r.compiled, "%s", r.text);
  free(r.text);
}

Test(diagnostics, block_without_return) {
  expect_one(HEAD "block f(a: f32[T, 64]) -> f32[T, 64] {\n  b = a\n}\noutput y = f(x)\n",
             "t.gm:3:7: error: block 'f' never produces its result: it has no 'return'");
}

Test(diagnostics, no_outputs) {
  expect_one("model m\ndim T\n", "t.gm:1:1: error: the model has no outputs");
}

Test(diagnostics, unknown_placeholder_in_weight_pattern) {
  expect_one(HEAD "block f(a: f32[T, 64], layer: int) -> f32[T, 64] {\n"
                  "  weight w: [64] = \"model.layers.{lyr}.input_layernorm.weight\"\n"
                  "  return rmsnorm(a, w, 1e-5)\n}\noutput y = f(x, 0)\n",
             "t.gm:4:34: error: weight name pattern names unknown placeholder '{lyr}'");
}

Test(diagnostics, grouped_query_heads_must_divide) {
  expect_one("dim T\ninput q: f32[T, 4, 16]\ninput k: f32[T, 3, 16]\ncache kc: [8, 3, 16]\ncache vc: [8, 3, 16]\n"
             "output y = attention(q, append(kc, k), append(vc, k))\n",
             "t.gm:6:12: error: attention: the q heads must be a multiple of the k/v heads (grouped-query): q f32[T, 4, 16], k f32[8, 3, 16]");
}

Test(diagnostics, reshape_element_count) {
  expect_one(HEAD "output y = reshape(x, [T, 4, 8])\n",
             "t.gm:3:12: error: reshape: element count differs: f32[T, 64] -> f32[T, 4, 8]");
}

Test(diagnostics, rebinding_outside_a_loop_is_a_redefinition) {
  expect_one(HEAD "h = x\nh = x * 2.0\noutput y = h\n", "t.gm:4:1: error: redefinition of 'h'");
}

Test(diagnostics, empty_file) {
  result_t r = compile("");
  cr_assert(strstr(r.text, "t.gm: error: file is empty"), "%s", r.text);
  cr_assert_eq(r.errors, 1);
  free(r.text);
}

Test(diagnostics, nul_byte_is_not_text) {
  const char src[] = "dim T\nin\0put";
  result_t r = {0};
  size_t len = 0;
  FILE *d = open_memstream(&r.text, &len);
  ir_graph_t *g = frontend_compile_string("t.gm", src, sizeof src - 1, d, &r.errors);
  fclose(d);
  cr_assert_null(g);
  cr_assert(strstr(r.text, "t.gm:2:3: error: file is not text: it contains a NUL byte"), "%s", r.text);
  free(r.text);
}

Test(diagnostics, invalid_utf8_is_not_text) {
  result_t r = compile("dim T\n# caf\xe9\n");
  cr_assert(strstr(r.text, "t.gm:2:6: error: file is not text: invalid UTF-8 byte 0xe9"), "%s", r.text);
  free(r.text);
}

Test(diagnostics, missing_file) {
  char *text = NULL;
  size_t len = 0;
  int errors = 0;
  FILE *d = open_memstream(&text, &len);
  ir_graph_t *g = frontend_compile_file("/nonexistent/m.gm", d, &errors);
  fclose(d);
  cr_assert_null(g);
  cr_assert_eq(errors, 1);
  cr_assert(strstr(text, "gretac: error: cannot open '/nonexistent/m.gm': No such file or directory"), "%s", text);
  free(text);
}

Test(diagnostics, stray_character) {
  expect_one(HEAD "output y = x $\n", "t.gm:3:14: error: unexpected character '$'");
}

Test(diagnostics, at_most_twenty_errors) {
  char src[4096] = HEAD;
  for (int i = 0; i < 30; i++) strcat(src, "const a = b\n");
  result_t r = compile(src);
  cr_assert_eq(r.errors, 20, "%s", r.text);
  cr_assert(strstr(r.text, "t.gm: too many errors (20), stopping"), "%s", r.text);
  free(r.text);
}

Test(diagnostics, deep_parentheses_are_bounded) {
  char src[8192] = HEAD "output y = ";
  for (int i = 0; i < 1000; i++) strcat(src, "(");
  strcat(src, "x\n");
  result_t r = compile(src);
  cr_assert(strstr(r.text, "error: nesting too deep (more than 64 levels"), "%s", r.text);
  cr_assert_eq(r.errors, 1, "%s", r.text);
  free(r.text);
}

Test(diagnostics, long_expressions_are_bounded) {
  static char src[300000] = HEAD "output y = x";
  for (int i = 0; i < 50000; i++) strcat(src + strlen(src) - 4, " + x");
  strcat(src, "\n");
  result_t r = compile(src);
  cr_assert(strstr(r.text, "error: expression nested too deeply (more than 200 levels)"), "%s", r.text);
  free(r.text);
}

Test(diagnostics, unary_minus_chains_are_bounded) {
  static char src[100000] = HEAD "const a = ";
  for (int i = 0; i < 20000; i++) strcat(src + strlen(src) - 2, "- ");
  strcat(src, "1\noutput y = x\n");
  result_t r = compile(src);
  cr_assert(r.errors >= 1 && !r.compiled);
  cr_assert(strstr(r.text, "too deep") || strstr(r.text, "too complex"), "%s", r.text);
  free(r.text);
}

Test(diagnostics, huge_repeat_is_bounded) {
  result_t r = compile(HEAD "repeat i in 0 .. 1000000000 {\n}\noutput y = x\n");
  expect(&r, "t.gm:3:18: error: repeat runs 1000000000 times; the limit is 4096");
  free(r.text);
}

Test(diagnostics, unclosed_parenthesis) {
  expect_one(HEAD "output y = silu(x\n\n", "t.gm:3:16: error: unclosed '(': no matching ')' before the end of the file");
}

Test(diagnostics, rope_scaling_forms) {
  expect_one(HEAD "set rope_scaling = yarn(8.0, 1.0, 4.0, 8192)\noutput y = x\n",
             "t.gm:3:20: error: rope_scaling must be llama3(factor, low_freq_factor, "
             "high_freq_factor, original_max_position_embeddings)");
  expect_one(HEAD "set rope_scaling = llama3(8.0, 4.0, 1.0, 8192)\noutput y = x\n",
             "t.gm:3:37: error: llama3: high_freq_factor 1 must be greater than low_freq_factor 4");
  expect_one(HEAD "set rope_scaling = llama3(0.0, 1.0, 4.0, 8192)\noutput y = x\n",
             "t.gm:3:27: error: llama3: factor must be a positive number");
  expect_one(HEAD "set rope_scaling = llama3(8.0, 1.0, 4.0, 8192)\n"
                  "set rope_scaling = llama3(8.0, 1.0, 4.0, 8192)\noutput y = x\n",
             "t.gm:4:5: error: redefinition of 'rope_scaling'");
  expect_one(HEAD "set rope_skaling = f16\noutput y = x\n",
             "t.gm:3:5: error: unknown setting 'rope_skaling' (known: weight_dtype, kv_dtype, "
             "rope_scaling)");
}

Test(diagnostics, last_needs_a_token_axis) {
  expect_one(HEAD "weight w: [4, 64] = \"w\"\noutput y = last(w) @ x.T\n",
             "t.gm:4:12: error: last: the first dimension of x must be a symbolic dimension "
             "(tokens), got f32[4, 64]");
}
