/* Whole files: read in one call, written whole or not at all. */
#ifndef GRETA_FILE_IO_H
#define GRETA_FILE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "greta/greta.h"

/* Reads the whole file at `path` (a regular file, a pipe or a device).
 * On success *out_data is malloc'd (the caller frees it), holds *out_size
 * bytes and one NUL byte after them, so text can be used as a C string.
 * `max_size` is the largest size accepted in bytes (0: no limit).
 * Errors, each message naming the path (and strerror where the OS said why):
 *   GRETA_NOT_FOUND          "cannot open 'PATH': No such file or directory"
 *   GRETA_INVALID_ARGUMENT   "cannot open 'PATH': ..." (any other reason)
 *   GRETA_DATA_LOSS          "cannot read 'PATH': ..."
 *   GRETA_OUT_OF_RANGE       "'PATH' is too large (more than MAX bytes)"
 *   GRETA_RESOURCE_EXHAUSTED "cannot hold 'PATH' in memory"
 * On failure *out_data is NULL and *out_size 0. */
greta_status_t greta_file_read_whole(const char *path, size_t max_size, uint8_t **out_data,
                                     size_t *out_size);

/* As greta_file_read_whole, for files that must be regular files (compiled
 * models): a FIFO, a directory or a device is refused at once, without
 * blocking on it, with GRETA_INVALID_ARGUMENT "'PATH' is not a regular file
 * (a directory)". */
greta_status_t greta_file_read_regular(const char *path, size_t max_size, uint8_t **out_data,
                                       size_t *out_size);

/* Opens `path` read-only if it is a regular file, never blocking (a FIFO
 * is opened non-blocking, then refused). Returns the descriptor (close
 * it) and its size, or a status as greta_file_read_regular's, prefixed by
 * nothing: callers annotate. */
greta_status_t greta_file_open_regular(const char *path, int *out_fd, uint64_t *out_size);

/* Writes `size` bytes to `path` atomically: to a new temp file beside it
 * (created with `mode`, less the umask), then renamed over `path`, so a
 * reader sees the old file or the new one, never half of one. On failure
 * the temp file is removed and `path` is untouched; the status
 * (GRETA_INVALID_ARGUMENT) says "cannot write 'PATH': <strerror>". */
greta_status_t greta_file_write_atomic(const char *path, const void *data, size_t size,
                                       mode_t mode);

#endif /* GRETA_FILE_IO_H */
