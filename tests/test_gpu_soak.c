/* Soak on a GPU: the Llama-2-7B block (examples/llama2_block.gm, f16
 * weights and KV cache) decoded one token a step from position 0 to
 * max_seq, twice in one session (truncated to 0 between the passes): both
 * passes must give bitwise the same outputs, and after the session is
 * destroyed the device's free memory must be back where it was before it,
 * and the host heap within the CUDA driver's small caches of it (measured after a first session, doing one such
 * pass, has warmed what lives as long as the process: the driver's
 * context and its caches, OpenMP). The CPU soak is tests/test_end_to_end.c's
 * cpu_soak_to_max_seq_twice (the tiny block).
 *
 * Skips, saying why, without a GPU (CUDA or HIP) or its toolchain. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "greta/greta.h"
#include "support.h"


static uint64_t free_bytes(greta_device_t *device) {
  greta_backend_t *backend = greta_device_backend(device);
  uint64_t bytes = 0;
  greta_status_t st = backend->vtable->memory_free(backend, &bytes);
  cr_assert_null(st, "%s", greta_status_message(st));
  return bytes;
}

/* Every weight from N(0, 1) / sqrt(fan-in), as f32 host data converted to
 * the plan's f16 at bind; norms near 1. */
static void bind_random_weights(greta_model_t *model, greta_session_t *session) {
  for (int i = 0; i < greta_model_weight_count(model); i++) {
    const greta_tensor_info_t *info = greta_model_weight(model, i);
    size_t count = 1;
    for (int d = 0; d < info->rank; d++) count *= (size_t)info->dims[d].coeff;
    float *data = malloc(count * sizeof *data);
    cr_assert(data);
    int64_t fan_in = info->dims[info->rank - 1].coeff;
    for (size_t e = 0; e < count; e++)
      data[e] = info->rank == 1 ? 1.0f + 0.1f * support_normal()
                                : support_normal() / sqrtf((float)fan_in);
    greta_status_t st = greta_session_bind_weight(session, info->name, GRETA_F32, data, count);
    cr_assert_null(st, "%s: %s", info->name, greta_status_message(st));
    free(data);
  }
}

/* From position 0 to max_seq, one token a step, outputs into y [max_seq,
 * dim]; then one step more, which must be refused. */
static void decode_pass(greta_session_t *session, const float *x, float *y, int64_t max_seq,
                        size_t dim, int pass_no) {
  cr_assert_null(greta_session_truncate(session, 0));
  for (int64_t pos = 0; pos < max_seq; pos++) {
    greta_status_t st =
        greta_session_set_input(session, "x", x + (size_t)pos * dim, dim * sizeof(float));
    if (!st) st = greta_session_step(session, 1, pos);
    if (!st) st = greta_session_get_output(session, "y", y + (size_t)pos * dim, dim * sizeof(float));
    cr_assert_null(st, "pass %d pos %lld: %s", pass_no, (long long)pos, greta_status_message(st));
  }
  greta_status_t st = greta_session_step(session, 1, max_seq);
  cr_assert_eq(greta_status_code(st), GRETA_OUT_OF_RANGE, "a step past max_seq was not refused");
  greta_status_free(st);
}

Test(gpu_soak, llama2_block_f16_to_max_seq_twice, .timeout = 600) {
  char why[1024] = "";
  greta_device_t *device = support_open_gpu(why, sizeof why);
  if (!device) cr_skip_test("no GPU: %s", why);
  char *log = NULL;
  greta_model_t *model =
      support_compile_file("llama2_block.gm", "f16", greta_device_target(device), 16, &log);
  if (!model) {
    greta_device_destroy(device);
    cr_skip_test("no toolchain for %s: %s", greta_device_target(device), log);
  }
  free(log);
  greta_memory_report_t report;
  greta_model_memory(model, &report);
  const int64_t max_seq = report.max_seq;
  const size_t dim = (size_t)greta_model_input(model, 0)->dims[1].coeff;

  support_seed(7);
  float *x = malloc((size_t)max_seq * dim * sizeof *x);
  float *pass[2] = {malloc((size_t)max_seq * dim * sizeof(float)),
                    malloc((size_t)max_seq * dim * sizeof(float))};
  cr_assert(x && pass[0] && pass[1]);
  for (size_t i = 0; i < (size_t)max_seq * dim; i++) x[i] = support_normal();

  greta_session_t *session = NULL;
  greta_status_t st = greta_session_create(model, device, &session);
  cr_assert_null(st, "%s", greta_status_message(st));
  bind_random_weights(model, session);
  decode_pass(session, x, pass[0], max_seq, dim, -1);
  greta_session_destroy(session);

  const uint64_t device_before = free_bytes(device);
  const size_t heap_before = mallinfo2().uordblks;
  st = greta_session_create(model, device, &session);
  cr_assert_null(st, "%s", greta_status_message(st));
  bind_random_weights(model, session);
  const uint64_t device_during = free_bytes(device);

  for (int p = 0; p < 2; p++) decode_pass(session, x, pass[p], max_seq, dim, p);
  for (int64_t pos = 0; pos < max_seq; pos++)
    cr_assert_eq(memcmp(pass[0] + (size_t)pos * dim, pass[1] + (size_t)pos * dim,
                        dim * sizeof(float)),
                 0, "the second pass differs at position %lld", (long long)pos);
  /* Not all zeros or NaN: the passes computed something. */
  double sum = 0;
  for (size_t i = 0; i < dim; i++) sum += fabs(pass[0][(size_t)(max_seq - 1) * dim + i]);
  cr_assert(sum > 0 && sum < 1e30, "the last output is degenerate: sum |y| = %g", sum);

  greta_session_destroy(session);
  const uint64_t device_after = free_bytes(device);
  const size_t heap_after = mallinfo2().uordblks;
  fprintf(stderr,
          "gpu_soak %s: 2 x %lld decode steps bitwise equal; device free %.1f MiB before, "
          "%.1f during, %.1f after; heap %zu -> %zu bytes\n",
          greta_device_name(device), (long long)max_seq, device_before / 1048576.0,
          device_during / 1048576.0, device_after / 1048576.0, heap_before, heap_after);
  cr_expect_eq(device_after, device_before, "device memory: %lld bytes not given back",
               (long long)(device_before - device_after));
  /* The CUDA driver keeps a few KiB of host caches per context that grow by
   * less with each session created on it (measured on the H200: eight
   * sessions of tiny_llama, each created, stepped and destroyed, left 11.2,
   * 6.8, 5.5, 3.5, 3.4, 3.0, 1.5 KiB more, while LeakSanitizer found none of
   * GRETA's allocations unfreed). Those are the driver's, reachable and
   * freed with the context. The bound still catches a per-session leak of
   * anything but a few small objects. */
  const long long driver_cache_bound = 16 * 1024;
  cr_expect_leq((long long)(heap_after - heap_before), driver_cache_bound,
                "the heap holds %lld bytes more after destroy (the driver's caches stay under "
                "%lld)",
                (long long)(heap_after - heap_before), driver_cache_bound);
  free(x);
  free(pass[0]);
  free(pass[1]);
  greta_model_destroy(model);
  greta_device_destroy(device);
}
