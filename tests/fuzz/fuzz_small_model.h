/* The small CPU model the weight harnesses bind into (fuzz_safetensors.c,
 * fuzz_checkpoint.c): three weights under Llama checkpoint names, a norm
 * weight f32[dim], q_proj f16[dim, dim] and down_proj bf16[dim, ffn], and
 * one RMSNorm launch reading the first. Static: each harness is one file. */
#ifndef GRETA_FUZZ_SMALL_MODEL_H
#define GRETA_FUZZ_SMALL_MODEL_H

#include <stdint.h>
#include <stdlib.h>

#include "greta/greta.h"
#include "plan.h"

static greta_model_t *fuzz_small_model(int64_t dim, int64_t ffn) {
  uint64_t norm = 4u * (uint64_t)dim, q = 2u * (uint64_t)(dim * dim),
           down = 2u * (uint64_t)(dim * ffn);
  greta_plan_weight_t weights[3] = {
      {{"model.layers.0.input_layernorm.weight", GRETA_F32, 1, {{dim, NULL}}}, 0, norm},
      {{"model.layers.0.self_attn.q_proj.weight", GRETA_F16, 2, {{dim, NULL}, {dim, NULL}}},
       norm, q},
      {{"model.layers.0.mlp.down_proj.weight", GRETA_BF16, 2, {{dim, NULL}, {ffn, NULL}}},
       norm + q, down}};
  greta_plan_io_t x = {{"x", GRETA_F32, 2, {{1, "T"}, {dim, NULL}}}, 0};
  greta_plan_io_t y = {{"y", GRETA_F32, 2, {{1, "T"}, {dim, NULL}}}, norm};
  greta_plan_launch_t launch = {
      .op = GRETA_OP_RMSNORM, .n_args = 3,
      .args = {{GRETA_SPACE_ARENA, 0}, {GRETA_SPACE_WEIGHTS, 0}, {GRETA_SPACE_ARENA, norm}},
      .attr = {.n = dim, .wdtype = GRETA_F32, .eps = 1e-5f}, .rows_coeff = 1, .rows_per_token = 1};
  greta_plan_entry_t entry = {"decode", 1, 1, 1, &launch};
  greta_plan_t plan = {.target = "cpu", .toolchain = "fuzz", .model_name = "fuzz",
                       .max_seq = 8, .max_tokens = 1, .arena_bytes = 2 * norm,
                       .weight_bytes = norm + q + down, .n_inputs = 1,
                       .n_outputs = 1, .n_weights = 3, .n_entries = 1, .inputs = &x,
                       .outputs = &y, .weights = weights, .entries = &entry};
  uint8_t *bytes;
  size_t size;
  greta_model_t *model = NULL;
  if (greta_plan_serialize(&plan, &bytes, &size) || greta_plan_seal(bytes, size) ||
      greta_model_open_memory(bytes, size, &model))
    abort();
  free(bytes);
  return model;
}

#endif /* GRETA_FUZZ_SMALL_MODEL_H */
