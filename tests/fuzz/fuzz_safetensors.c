/* libFuzzer harness for the safetensors reader: any bytes, as a file bound
 * into a session of a small model (a norm weight and two matrices, f32 and
 * f16), are refused or bound, never a crash, leak or sanitizer report. The
 * bytes reach the binder through a memfd, the same path as a file on disk.
 * Seeds: safetensors files written by the tests (tests/fixtures). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "greta/greta.h"
#include "plan.h"

/* A CPU plan with three weights and one launch using them. */
static greta_model_t *small_model(void) {
  static greta_plan_weight_t weights[3] = {
      {{"model.layers.0.input_layernorm.weight", GRETA_F32, 1, {{64, NULL}}}, 0, 256},
      {{"model.layers.0.self_attn.q_proj.weight", GRETA_F16, 2, {{64, NULL}, {64, NULL}}},
       256, 64 * 64 * 2},
      {{"model.layers.0.mlp.down_proj.weight", GRETA_BF16, 2, {{64, NULL}, {160, NULL}}},
       256 + 8192, 64 * 160 * 2}};
  static greta_plan_io_t x = {{"x", GRETA_F32, 2, {{1, "T"}, {64, NULL}}}, 0};
  static greta_plan_io_t y = {{"y", GRETA_F32, 2, {{1, "T"}, {64, NULL}}}, 256};
  static greta_plan_launch_t launch = {
      .op = GRETA_OP_RMSNORM, .n_args = 3,
      .args = {{GRETA_SPACE_ARENA, 0}, {GRETA_SPACE_WEIGHTS, 0}, {GRETA_SPACE_ARENA, 256}},
      .attr = {.n = 64, .wdtype = GRETA_F32, .eps = 1e-5f}, .rows_coeff = 1, .rows_per_token = 1};
  static greta_plan_entry_t entry = {"decode", 1, 1, 1, &launch};
  greta_plan_t plan = {.target = "cpu", .toolchain = "fuzz", .model_name = "fuzz",
                       .max_seq = 8, .max_tokens = 1, .arena_bytes = 512,
                       .weight_bytes = 256 + 8192 + 64 * 160 * 2, .n_inputs = 1,
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static greta_device_t *cpu;
  static greta_model_t *model;
  static greta_session_t *session;
  if (!session && (greta_device_open(GRETA_BACKEND_CPU, 0, &cpu) || !(model = small_model()) ||
                   greta_session_create(model, cpu, &session)))
    abort();
  int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) == (ssize_t)size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    greta_status_t st = greta_session_bind_safetensors(session, path);
    if (st && greta_status_code(st) == GRETA_OK) abort(); /* a refusal has a code */
    greta_status_free(st);
  }
  close(fd);
  return 0;
}
