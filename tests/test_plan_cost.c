/* plan_cost.c: the byte and FLOP floors of launches, worked out by hand. */
#include <criterion/criterion.h>

#include "plan.h"

static greta_plan_launch_t launch(uint32_t op, uint32_t n_args, greta_op_attrs_t attr,
                                  int64_t rows_coeff) {
  greta_plan_launch_t l = {.op = op, .n_args = n_args, .attr = attr, .rows_coeff = rows_coeff,
                           .rows_per_token = 1};
  return l;
}

Test(plan_cost, matmul_with_residual) {
  /* T = 3 rows of x [3, 8] f32, B [16, 8] f16, out and residual [3, 16] f32. */
  greta_plan_launch_t l = launch(GRETA_OP_MATMUL, 4,
                                 (greta_op_attrs_t){.n = 16, .k = 8, .transpose_b = 1,
                                                    .residual = 1, .wdtype = GRETA_F16},
                                 1);
  uint64_t bytes, flops;
  greta_plan_launch_cost(&l, 3, 0, &bytes, &flops);
  cr_assert_eq(bytes, 3 * 8 * 4 + 16 * 8 * 2 + 2 * 3 * 16 * 4);
  cr_assert_eq(flops, 2 * 3 * 16 * 8 + 3 * 16);
}

Test(plan_cost, elementwise_counts_each_operand_once) {
  greta_op_attrs_t a = {.n = 10};
  uint64_t bytes, flops;
  greta_plan_launch_t silu_mul = launch(GRETA_OP_SILU_MUL, 3, a, 2); /* rows = 2T */
  greta_plan_launch_cost(&silu_mul, 5, 7, &bytes, &flops);
  cr_assert_eq(bytes, 3 * 10 * 10 * 4);
  cr_assert_eq(flops, 5 * 10 * 10);
  greta_plan_launch_t copy = launch(GRETA_OP_COPY, 2, a, 2);
  greta_plan_launch_cost(&copy, 5, 7, &bytes, &flops);
  cr_assert_eq(bytes, 2 * 10 * 10 * 4);
  cr_assert_eq(flops, 0);
}

Test(plan_cost, decode_attention_reads_the_visible_cache) {
  /* One token at pos 99 sees 100 rows of K and V: 2 kv heads of 4. */
  greta_op_attrs_t a = {.heads = 4, .kv_heads = 2, .head_dim = 4, .max_seq = 128, .splits = 8,
                        .split_rows = 16, .scale = 0.5f};
  greta_plan_launch_t l = launch(GRETA_OP_ATTENTION, 4, a, 4);
  uint64_t bytes, flops;
  greta_plan_launch_cost(&l, 1, 99, &bytes, &flops);
  cr_assert_eq(bytes, 4 * 4 * 4 + 2 * 100 * 2 * 4 * 4 + 4 * 4 * 4);
  cr_assert_eq(flops, 4 * 4 * 4 * 100);
  /* In one launch with the same floor; an f16 cache halves the cache bytes. */
  greta_plan_launch_t decode = launch(GRETA_OP_ATTENTION_DECODE, 6, a, 4);
  greta_plan_launch_cost(&decode, 1, 99, &bytes, &flops);
  cr_assert_eq(bytes, 4 * 4 * 4 + 2 * 100 * 2 * 4 * 4 + 4 * 4 * 4);
  decode.attr.kvdtype = GRETA_F16;
  greta_plan_launch_cost(&decode, 1, 99, &bytes, &flops);
  cr_assert_eq(bytes, 4 * 4 * 4 + 2 * 100 * 2 * 4 * 2 + 4 * 4 * 4);
  cr_assert_eq(flops, 4 * 4 * 4 * 100);
}

Test(plan_cost, unknown_op_costs_nothing) {
  greta_plan_launch_t l = launch(0, 0, (greta_op_attrs_t){0}, 1);
  uint64_t bytes = 1, flops = 1;
  greta_plan_launch_cost(&l, 1, 0, &bytes, &flops);
  cr_assert(bytes == 0 && flops == 0);
}
