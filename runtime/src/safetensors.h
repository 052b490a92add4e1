/* One .safetensors file, mapped and its header read (safetensors.c): what
 * the checkpoint binder (checkpoint.c) looks tensors up in. */
#ifndef GRETA_SAFETENSORS_H
#define GRETA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

enum { GRETA_ST_MAX_RANK = 16, GRETA_ST_MAX_HEADER = 100 * 1024 * 1024 };

/* One tensor of the header. Its data_offsets are checked to lie inside the
 * data section (begin <= end <= data_size); that they span
 * product(shape) * element size is checked where the tensor is used. */
typedef struct greta_st_tensor_s {
  char *name;     /* UTF-8, no NUL inside; owned by the file */
  char dtype[16]; /* as written ("F32", "BF16", "I64", ...), cut to 15 bytes */
  int rank;
  int64_t shape[GRETA_ST_MAX_RANK];
  uint64_t begin, end; /* data_offsets, relative to the data section */
} greta_st_tensor_t;

/* A file: its tensors sorted by name (each name once, no two data ranges
 * overlapping) and its data section. */
typedef struct greta_st_file_s {
  greta_st_tensor_t *tensors; /* (count), sorted by name */
  size_t count;
  const uint8_t *data; /* the data section, inside the mapping */
  uint64_t data_size;
  void *map; /* the mapping (NULL for an empty file or parsed memory) */
  size_t map_size;
} greta_st_file_t;

/* Reads the header of the `size` bytes at `bytes` (a whole .safetensors
 * file, borrowed: it must outlive *out). Every error is GRETA_DATA_LOSS
 * (or RESOURCE_EXHAUSTED), saying what was expected and what was found; on
 * error *out holds nothing to free. */
greta_status_t greta_st_parse(const uint8_t *bytes, size_t size, greta_st_file_t *out);

/* Opens `path` (a regular file: a FIFO or a directory is refused without
 * blocking), maps it and reads its header. Messages are not prefixed with
 * the path: callers annotate. Close with greta_st_close. */
greta_status_t greta_st_open(const char *path, greta_st_file_t *out);

/* Releases the tensors and the mapping; a zeroed file is fine. */
void greta_st_close(greta_st_file_t *file);

/* The tensor named `name`, or NULL. O(log count). */
const greta_st_tensor_t *greta_st_find(const greta_st_file_t *file, const char *name);

#endif /* GRETA_SAFETENSORS_H */
