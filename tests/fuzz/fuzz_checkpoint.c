/* libFuzzer harness for the checkpoint binder (runtime/src/checkpoint.c):
 * the input is split at its first NUL byte. The bytes before it are the
 * directory's model.safetensors.index.json; the bytes after it, when there
 * is a NUL, replace the second shard's file (else the shard is the fixed
 * one). Beside them lies a fixed first shard. The directory is bound into
 * a session of a small model (fuzz_small_model.h): refused with a status
 * or bound, never a crash, leak, sanitizer report or progress figure out
 * of range. The shards are written once, at start-up, by the tests' own
 * checkpoint writer (tests/support/checkpoint.c, no Criterion in it).
 * Seeds: tests/fuzz/corpus_checkpoint (an index as save_pretrained writes
 * it for these shards, and the same with a shard after a NUL). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fuzz_small_model.h"
#include "greta/greta.h"

enum { DIM = 8, FFN = 16 };

static char dir[64];
static uint8_t *shard2;  /* the fixed second shard's bytes */
static size_t shard2_size;

static char *path_of(const char *name) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void write_bytes(const char *name, const void *data, size_t size) {
  FILE *f = fopen(path_of(name), "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

/* Removes the directory at exit (the fuzzer exits through exit()). */
static void remove_dir(void) {
  static const char *const files[] = {"model.safetensors.index.json",
                                      "model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(path_of(files[i]));
  rmdir(dir);
}

/* The shards: norm and q_proj in the first, down_proj and an unused scalar
 * in the second. */
static void write_shards(void) {
  static float norm[DIM], scalar = 2.0f;
  static uint16_t q[DIM * DIM], down[DIM * FFN];
  for (int i = 0; i < DIM; i++) norm[i] = 1.0f + 0.01f * (float)i;
  for (int i = 0; i < DIM * DIM; i++) q[i] = (uint16_t)(0x3c00 + i); /* f16 near 1 */
  for (int i = 0; i < DIM * FFN; i++) down[i] = (uint16_t)(0x3f80 + i); /* bf16 near 1 */
  support_tensor_t t[4] = {
      {"model.layers.0.input_layernorm.weight", GRETA_F32, 1, {DIM}, norm},
      {"model.layers.0.self_attn.q_proj.weight", GRETA_F16, 2, {DIM, DIM}, q},
      {"model.layers.0.mlp.down_proj.weight", GRETA_BF16, 2, {DIM, FFN}, down},
      {"model.scale", GRETA_F32, 0, {0}, &scalar}};
  snprintf(dir, sizeof dir, "/tmp/greta_fuzz_checkpoint_XXXXXX");
  if (!mkdtemp(dir) || support_write_checkpoint(dir, t, 4, 2) != 0) abort();
  atexit(remove_dir);
  FILE *f = fopen(path_of("model-00002-of-00002.safetensors"), "rb");
  if (!f) abort();
  shard2 = malloc(1 << 16);
  shard2_size = fread(shard2, 1, 1 << 16, f);
  fclose(f);
}

static void check_progress(void *user, int64_t done, int64_t total, uint64_t bytes_done,
                           uint64_t bytes_total) {
  (void)user;
  if (done < 1 || done > total || bytes_done > bytes_total) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static greta_device_t *cpu;
  static greta_model_t *model;
  static greta_session_t *session;
  if (!session) {
    if (greta_device_open(GRETA_BACKEND_CPU, 0, &cpu) || !(model = fuzz_small_model(DIM, FFN)) ||
        greta_session_create(model, cpu, &session))
      abort();
    write_shards();
  }
  const uint8_t *nul = memchr(data, 0, size);
  size_t index_size = nul ? (size_t)(nul - data) : size;
  write_bytes("model.safetensors.index.json", data, index_size);
  if (nul)
    write_bytes("model-00002-of-00002.safetensors", nul + 1, size - index_size - 1);
  else
    write_bytes("model-00002-of-00002.safetensors", shard2, shard2_size);
  greta_status_t st = greta_session_bind_checkpoint(session, dir, check_progress, NULL);
  if (st && greta_status_code(st) == GRETA_OK) abort(); /* a refusal has a code */
  greta_status_free(st);
  return 0;
}
