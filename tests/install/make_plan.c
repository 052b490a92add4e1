/* Writes the tiny CPU plan the installed consumer runs:
 *   y = 2 * rmsnorm(x) * g,  x and y [T, 4] f32, weight g [4] f32.
 * Built by run.sh against the build tree (it needs the private plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT.plan\n", argv[0]);
    return 2;
  }
  greta_plan_launch_t l[2];
  memset(l, 0, sizeof l);
  l[0].op = GRETA_OP_RMSNORM;
  l[0].n_args = 3;
  l[0].args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, 0};
  l[0].args[1] = (greta_plan_buffer_t){GRETA_SPACE_WEIGHTS, 0};
  l[0].args[2] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, 64};
  l[0].attr.n = 4;
  l[0].attr.eps = 1e-6f;
  l[1].op = GRETA_OP_SCALE;
  l[1].n_args = 2;
  l[1].args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, 64};
  l[1].args[1] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, 64};
  l[1].attr.n = 4;
  l[1].attr.factor = 2.0f;
  for (int i = 0; i < 2; i++) l[i].rows_coeff = l[i].rows_per_token = 1;
  greta_plan_io_t x = {{"x", GRETA_F32, 2, {{1, "T"}, {4, NULL}}}, 0};
  greta_plan_io_t y = {{"y", GRETA_F32, 2, {{1, "T"}, {4, NULL}}}, 64};
  greta_plan_weight_t g = {{"g", GRETA_F32, 1, {{4, NULL}}}, 0, 16};
  greta_plan_entry_t entry = {"any", 1, 4, 2, l};
  greta_plan_t plan = {
      .target = "cpu", .toolchain = "make_plan", .model_name = "consumer",
      .max_seq = 8, .max_tokens = 4, .arena_bytes = 128, .weight_bytes = 16, .kv_bytes = 0,
      .n_inputs = 1, .n_outputs = 1, .n_weights = 1, .n_entries = 1,
      .inputs = &x, .outputs = &y, .weights = &g, .entries = &entry};
  uint8_t *bytes;
  size_t size;
  greta_status_t s = greta_plan_serialize(&plan, &bytes, &size);
  if (!s) s = greta_plan_seal(bytes, size); /* as gretac seals a CPU plan file */
  if (s) {
    fprintf(stderr, "make_plan: %s\n", greta_status_message(s));
    return 1;
  }
  FILE *f = fopen(argv[1], "wb");
  if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
    perror(argv[1]);
    return 1;
  }
  free(bytes);
  return 0;
}
