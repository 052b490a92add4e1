/* A program outside the tree that uses only the installed libgreta: opens
 * the plan file given as argv[1] (made by make_plan.c), runs it on the CPU
 * and checks y = 2 * x / rms(x) * g. */
#include <greta/greta.h>
#include <math.h>
#include <stdio.h>

#define CHECK(expr)                                                         \
  do {                                                                      \
    greta_status_t s_ = (expr);                                             \
    if (s_) {                                                               \
      fprintf(stderr, "%s: %s\n", #expr, greta_status_message(s_));         \
      greta_status_free(s_);                                                \
      return 1;                                                             \
    }                                                                       \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  greta_model_t *model;
  greta_device_t *device;
  greta_session_t *session;
  CHECK(greta_model_open(argv[1], &model));
  CHECK(greta_device_open(GRETA_BACKEND_CPU, 0, &device));
  CHECK(greta_session_create(model, device, &session));
  const greta_tensor_info_t *in = greta_model_input(model, 0);
  printf("model %s: input %s [%s, %lld], backend %s\n", greta_model_target(model), in->name,
         in->dims[0].symbol, (long long)in->dims[1].coeff, greta_device_backend_name(device));

  const float g[4] = {1.0f, 0.5f, -1.0f, 2.0f};
  const float x[2][4] = {{1, 2, 3, 4}, {-1, 0.5f, 0.25f, 8}};
  float y[2][4];
  CHECK(greta_session_bind_weight(session, "g", GRETA_F32, g, 4));
  CHECK(greta_session_set_input(session, "x", x, sizeof x));
  CHECK(greta_session_step(session, 2, 0));
  CHECK(greta_session_get_output(session, "y", y, sizeof y));
  int bad = 0;
  for (int t = 0; t < 2; t++) {
    double ss = 0;
    for (int i = 0; i < 4; i++) ss += (double)x[t][i] * x[t][i];
    for (int i = 0; i < 4; i++) {
      double expected = 2.0 * x[t][i] / sqrt(ss / 4 + 1e-6) * g[i];
      if (fabs(y[t][i] - expected) > 1e-5 * fmax(1.0, fabs(expected))) {
        fprintf(stderr, "y[%d][%d] = %g, expected %g\n", t, i, y[t][i], expected);
        bad = 1;
      }
    }
  }
  greta_session_destroy(session);
  greta_device_destroy(device);
  greta_model_destroy(model);
  if (!bad) printf("consumer: OK\n");
  return bad;
}
