/* libFuzzer harness for the model reader and what a model then does on the
 * CPU backend: any bytes in, a refusal or a model out; a model that opens
 * gets a session, zero weights, inputs, a decode and a prefill step and a
 * profile, never a crash, leak or sanitizer report.
 *
 * A bare CPU plan's checksum and file digest are recomputed here before the
 * bytes are opened: mutations must reach the verifier and the backend, not
 * stop at the hash. Seeds: CPU plans written by gretac (tests/fuzz/models). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "greta/greta.h"
#include "hash.h"
#include "le.h"
#include "plan.h"
#include "session.h"

/* What one fuzz input may ask the CPU to allocate and run. */
enum { MAX_BYTES = 64 << 20 };

static void reseal(uint8_t *bytes, size_t size) {
  if (size < GRETA_PLAN_HEADER_BYTES || memcmp(bytes, GRETA_PLAN_MAGIC, 8) != 0) return;
  uint64_t total = le_u64(bytes + 16);
  if (total >= GRETA_PLAN_HEADER_BYTES && total <= size)
    le_put_u64(bytes + 24, fnv1a64(bytes + GRETA_PLAN_HEADER_BYTES,
                                   (size_t)total - GRETA_PLAN_HEADER_BYTES));
  greta_status_free(greta_plan_seal(bytes, size));
}

/* Sets every input to zeros for `tokens` rows; false when one does not fit. */
static int set_inputs(greta_model_t *model, greta_session_t *s, int64_t tokens) {
  for (int i = 0; i < greta_model_input_count(model); i++) {
    const greta_tensor_info_t *in = greta_model_input(model, i);
    uint64_t bytes = greta_dtype_size(in->dtype);
    for (int d = 0; d < in->rank; d++)
      bytes *= (uint64_t)in->dims[d].coeff * (in->dims[d].symbol ? (uint64_t)tokens : 1);
    if (bytes > MAX_BYTES) return 0;
    void *zeros = calloc(bytes ? bytes : 1, 1);
    greta_status_t st = zeros ? greta_session_set_input(s, in->name, zeros, bytes) : NULL;
    free(zeros);
    if (st) {
      greta_status_free(st);
      return 0;
    }
  }
  return 1;
}

static void run(greta_model_t *model, greta_device_t *cpu) {
  greta_memory_report_t mem;
  greta_model_memory(model, &mem);
  if (mem.weight_bytes > MAX_BYTES || mem.kv_cache_bytes > MAX_BYTES || mem.arena_bytes > MAX_BYTES)
    return;
  greta_session_t *s = NULL;
  greta_status_t st = greta_session_create(model, cpu, &s);
  if (st) {
    greta_status_free(st);
    return;
  }
  const greta_plan_t *plan = greta_session_plan(s);
  for (uint32_t i = 0; i < plan->n_weights; i++) {
    size_t count = (size_t)(plan->weights[i].bytes / greta_dtype_size(plan->weights[i].info.dtype));
    void *zeros = calloc(plan->weights[i].bytes ? plan->weights[i].bytes : 1, 1);
    if (zeros) greta_status_free(greta_session_bind_index(s, i, plan->weights[i].info.dtype, zeros, count));
    free(zeros);
  }
  const int64_t steps[2][2] = {{1, 0}, {mem.max_tokens < 3 ? mem.max_tokens : 3, 1}};
  for (int k = 0; k < 2; k++) {
    if (!set_inputs(model, s, steps[k][0])) break;
    st = greta_session_step(s, steps[k][0], steps[k][1]);
    if (st) {
      greta_status_free(st);
      break;
    }
  }
  if (set_inputs(model, s, 1)) {
    greta_launch_profile_t records[64];
    size_t n = 0;
    greta_status_free(greta_session_profile_step(s, 1, 0, 1, records, 64, &n));
  }
  greta_session_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static greta_device_t *cpu;
  if (!cpu && greta_device_open(GRETA_BACKEND_CPU, 0, &cpu)) abort();
  uint8_t *bytes = malloc(size ? size : 1);
  if (!bytes) return 0;
  memcpy(bytes, data, size);
  reseal(bytes, size);
  greta_model_t *model = NULL;
  greta_status_t st = greta_model_open_memory(bytes, size, &model);
  free(bytes);
  if (st) {
    if (greta_status_code(st) == GRETA_OK) abort(); /* a refusal has a code */
    greta_status_free(st);
    return 0;
  }
  run(model, cpu);
  greta_model_destroy(model);
  return 0;
}
