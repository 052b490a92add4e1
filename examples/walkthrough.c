/* The README's walkthrough: compile a model with gretac, then run it from C.
 *
 *   gretac examples/llama2_block.gm --target=sm_90 -o block.cubin
 *   walkthrough block.cubin model-00001-of-00002.safetensors
 */
#include <greta/greta.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x) do { greta_status_t s = (x); if (s) { \
  fprintf(stderr, "%s\n", greta_status_message(s)); return 1; } } while (0)

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: walkthrough MODEL WEIGHTS.safetensors\n"); return 2; }
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *session;
  CHECK(greta_model_open(argv[1], &model));                 /* reads + verifies the plan */
  CHECK(greta_device_open(GRETA_BACKEND_AUTO, 0, &device)); /* HIP, else CUDA, else CPU */
  CHECK(greta_session_create(model, device, &session));     /* weights, arena, KV cache */
  CHECK(greta_session_bind_safetensors(session, argv[2]));  /* checked by name, shape, dtype */

  size_t dim = (size_t)greta_model_input(model, 0)->dims[1].coeff; /* x: f32[T, dim] */
  float *x = calloc(16 * dim, sizeof *x), *y = calloc(16 * dim, sizeof *y);
  for (size_t i = 0; i < 16 * dim; i++) x[i] = (float)(i % 7) - 3.0f;
  CHECK(greta_session_set_input(session, "x", x, 16 * dim * sizeof *x));
  CHECK(greta_session_step(session, 16, 0));                /* prefill 16 tokens at pos 0 */
  CHECK(greta_session_get_output(session, "y", y, 16 * dim * sizeof *y));
  for (int pos = 16; pos < 24; pos++) {                     /* decode, one token a step */
    CHECK(greta_session_set_input(session, "x", x, dim * sizeof *x));
    CHECK(greta_session_step(session, 1, pos));
    CHECK(greta_session_get_output(session, "y", y, dim * sizeof *y));
  }
  printf("y[0] = %g after 16 + 8 tokens on %s\n", y[0], greta_device_name(device));
  free(x);
  free(y);
  greta_session_destroy(session);
  greta_device_destroy(device);
  greta_model_destroy(model);
  return 0;
}
