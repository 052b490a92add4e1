/* A Hugging Face-style checkpoint writer for tests: safetensors files (one,
 * or shards with model.safetensors.index.json), written independently of
 * the runtime's loader so that the loader is tested against what
 * transformers' save_pretrained produces, not against itself. */
#ifndef GRETA_TEST_CHECKPOINT_H
#define GRETA_TEST_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

/* One tensor to write. `shape` holds `rank` dims (rank 0: a scalar, one
 * element); `data` holds the elements of `dtype`, row-major, in the host's
 * (little-endian) byte order. Borrowed: the writer copies nothing. */
typedef struct support_tensor_s {
  const char *name;
  greta_dtype_t dtype;
  int rank;
  int64_t shape[4];
  const void *data;
} support_tensor_t;

/* Writes `count` tensors into directory `dir` (created if missing): as
 * model.safetensors when shards == 1, else as model-0000i-of-0000n.safetensors
 * files (tensors spread in order: shard s holds tensors
 * [s * count / shards, (s + 1) * count / shards)) plus
 * model.safetensors.index.json with metadata.total_size (the bytes of all
 * tensors' data) and weight_map (tensor name -> shard file name, names
 * sorted), as transformers' save_pretrained writes them. Each header is
 * padded with spaces to a multiple of 8 bytes and opens with
 * "__metadata__": {"format": "pt"}, as the safetensors library writes it.
 * Returns 0 on success, -1 (with a message on stderr) otherwise. */
int support_write_checkpoint(const char *dir, const support_tensor_t *tensors, size_t count,
                             int shards);

#endif /* GRETA_TEST_CHECKPOINT_H */
