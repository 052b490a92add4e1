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

#include "fuzz_small_model.h"
#include "greta/greta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static greta_device_t *cpu;
  static greta_model_t *model;
  static greta_session_t *session;
  if (!session && (greta_device_open(GRETA_BACKEND_CPU, 0, &cpu) || !(model = fuzz_small_model(64, 160)) ||
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
