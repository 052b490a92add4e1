/* Whole-file reads and atomic writes (file_io.h). */
#define _POSIX_C_SOURCE 200809L
#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

/* Reads all of `f` (closed here), named `path` in messages. */
static greta_status_t read_stream(FILE *f, const char *path, size_t max_size, uint8_t **out_data,
                                  size_t *out_size) {
  /* A regular file's size sizes the buffer at once; a pipe grows it. */
  struct stat st;
  size_t cap = 65536;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0)
    cap = (size_t)st.st_size + 1;
  if (max_size && cap > max_size + 1) cap = max_size + 1;
  uint8_t *data = malloc(cap + 1); /* + 1: the NUL after the bytes */
  size_t len = 0;
  greta_status_t status = NULL;
  if (!data) status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cannot hold '%s' in memory", path);
  while (!status) {
    if (len == cap) {
      size_t grown_cap = max_size && cap * 2 > max_size + 1 ? max_size + 1 : cap * 2;
      uint8_t *grown = realloc(data, grown_cap + 1);
      if (!grown) {
        status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cannot hold '%s' in memory", path);
        break;
      }
      data = grown;
      cap = grown_cap;
    }
    size_t n = fread(data + len, 1, cap - len, f);
    len += n;
    if (max_size && len > max_size)
      status = greta_status_make(GRETA_OUT_OF_RANGE, "'%s' is too large (more than %zu bytes)",
                                 path, max_size);
    else if (n == 0 && ferror(f))
      status = greta_status_make(GRETA_DATA_LOSS, "cannot read '%s': %s", path, strerror(errno));
    else if (n == 0)
      break; /* the end */
  }
  fclose(f);
  if (status) {
    free(data);
    return status;
  }
  data[len] = '\0';
  *out_data = data;
  *out_size = len;
  return NULL;
}

greta_status_t greta_file_read_whole(const char *path, size_t max_size, uint8_t **out_data,
                                     size_t *out_size) {
  *out_data = NULL;
  *out_size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return greta_status_make(errno == ENOENT ? GRETA_NOT_FOUND : GRETA_INVALID_ARGUMENT,
                             "cannot open '%s': %s", path, strerror(errno));
  return read_stream(f, path, max_size, out_data, out_size);
}

static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

greta_status_t greta_file_open_regular(const char *path, int *out_fd, uint64_t *out_size) {
  *out_fd = -1;
  *out_size = 0;
  /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return greta_status_make(errno == ENOENT ? GRETA_NOT_FOUND : GRETA_INVALID_ARGUMENT,
                             "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    greta_status_t s = greta_status_make(GRETA_INVALID_ARGUMENT, "cannot stat '%s': %s", path,
                                         strerror(errno));
    close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode) || st.st_size < 0) {
    close(fd);
    return greta_status_make(GRETA_INVALID_ARGUMENT, "'%s' is not a regular file (%s)", path,
                             file_kind(st.st_mode));
  }
  /* Reads of a regular file do not block; the flag would only confuse a reader. */
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  *out_fd = fd;
  *out_size = (uint64_t)st.st_size;
  return NULL;
}

greta_status_t greta_file_read_regular(const char *path, size_t max_size, uint8_t **out_data,
                                       size_t *out_size) {
  *out_data = NULL;
  *out_size = 0;
  int fd;
  uint64_t size;
  GRETA_RETURN_IF_ERROR(greta_file_open_regular(path, &fd, &size));
  FILE *f = fdopen(fd, "rb"); /* the checked descriptor: no second open to race */
  if (!f) {
    greta_status_t s = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cannot read '%s': %s", path,
                                         strerror(errno));
    close(fd);
    return s;
  }
  return read_stream(f, path, max_size, out_data, out_size);
}

greta_status_t greta_file_write_atomic(const char *path, const void *data, size_t size,
                                       mode_t mode) {
  /* The temp file is new (O_EXCL) and unique to this process and call. */
  static atomic_uint counter;
  size_t n = strlen(path) + 48;
  char *tmp = malloc(n);
  if (!tmp) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cannot write '%s': out of memory", path);
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  int err = 0;
  if (fd < 0) {
    err = errno;
  } else {
    FILE *f = fdopen(fd, "wb");
    if (!f) {
      err = errno;
      close(fd);
    } else {
      if (size && fwrite(data, 1, size, f) != size) err = errno ? errno : EIO;
      if (fclose(f) != 0 && !err) err = errno;
    }
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) unlink(tmp);
  }
  free(tmp);
  if (err)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "cannot write '%s': %s", path, strerror(err));
  return NULL;
}
