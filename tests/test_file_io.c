/* runtime/src/file_io.c: whole-file reads (regular files, pipes, refusals
 * that name the path) and atomic writes. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"

static char dir[] = "/tmp/greta_file_io_XXXXXX";

static void make_dir(void) { cr_assert(mkdtemp(dir)); }
static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}
TestSuite(file_io, .init = make_dir, .fini = remove_dir);

static char *path_in_dir(const char *name) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

/* The status's message, freed by the caller's next call (test helper). */
static void assert_fails(greta_status_t s, greta_status_code_t code, const char *part) {
  cr_assert(s, "expected a failure mentioning '%s'", part);
  cr_assert_eq(greta_status_code(s), code, "%s", greta_status_message(s));
  cr_assert(strstr(greta_status_message(s), part), "%s", greta_status_message(s));
  greta_status_free(s);
}

Test(file_io, write_then_read_round_trip_with_a_nul_after) {
  const char *path = path_in_dir("a.bin");
  const char bytes[5] = {'a', 0, 'b', 'c', 'd'};
  cr_assert_null(greta_file_write_atomic(path, bytes, sizeof bytes, 0600));
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_mode & 0077, 0); /* 0600, less the umask: no group or other bits */
  uint8_t *data;
  size_t size;
  cr_assert_null(greta_file_read_whole(path, 0, &data, &size));
  cr_assert_eq(size, sizeof bytes);
  cr_assert(memcmp(data, bytes, size) == 0);
  cr_assert_eq(data[size], 0);
  free(data);
  /* Overwriting replaces the file whole. */
  cr_assert_null(greta_file_write_atomic(path, "xy", 2, 0600));
  cr_assert_null(greta_file_read_whole(path, 0, &data, &size));
  cr_assert(size == 2 && memcmp(data, "xy", 2) == 0);
  free(data);
}

Test(file_io, refusals_name_the_path) {
  uint8_t *data = (uint8_t *)"untouched";
  size_t size = 7;
  assert_fails(greta_file_read_whole(path_in_dir("missing"), 0, &data, &size), GRETA_NOT_FOUND,
               "missing': No such file");
  cr_assert(data == NULL && size == 0);
  assert_fails(greta_file_read_whole(dir, 0, &data, &size), GRETA_DATA_LOSS, "cannot read");
  const char *big = path_in_dir("big");
  cr_assert_null(greta_file_write_atomic(big, "0123456789", 10, 0600));
  assert_fails(greta_file_read_whole(big, 9, &data, &size), GRETA_OUT_OF_RANGE,
               "too large (more than 9 bytes)");
  cr_assert_null(greta_file_read_whole(big, 10, &data, &size));
  free(data);
  assert_fails(greta_file_write_atomic(path_in_dir("no/such/dir"), "x", 1, 0600),
               GRETA_INVALID_ARGUMENT, "cannot write");
}

Test(file_io, read_regular_refuses_what_is_not_a_file_at_once, .timeout = 10) {
  const char *fifo = path_in_dir("fifo");
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  uint8_t *data = (uint8_t *)"x";
  size_t size = 7;
  /* No writer ever opens it: a blocking open would hang the test. */
  assert_fails(greta_file_read_regular(fifo, 0, &data, &size), GRETA_INVALID_ARGUMENT,
               "is not a regular file (a FIFO)");
  cr_assert(data == NULL && size == 0);
  assert_fails(greta_file_read_regular(dir, 0, &data, &size), GRETA_INVALID_ARGUMENT,
               "is not a regular file (a directory)");
  assert_fails(greta_file_read_regular(path_in_dir("absent"), 0, &data, &size), GRETA_NOT_FOUND,
               "cannot open");
  const char *path = path_in_dir("regular.bin");
  cr_assert_null(greta_file_write_atomic(path, "abc", 3, 0600));
  cr_assert_null(greta_file_read_regular(path, 0, &data, &size));
  cr_assert(size == 3 && memcmp(data, "abc", 4) == 0);
  free(data);
}

Test(file_io, a_pipe_is_read_to_its_end) {
  /* No size to ask for: the buffer grows past its first 64 KiB. */
  char cmd[768];
  snprintf(cmd, sizeof cmd, "head -c 200000 /dev/zero | tr '\\0' 'g' > %s/fifo_src", dir);
  cr_assert_eq(system(cmd), 0);
  const char *fifo = path_in_dir("fifo");
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  snprintf(cmd, sizeof cmd, "cat %s/fifo_src > %s &", dir, fifo);
  cr_assert_eq(system(cmd), 0);
  uint8_t *data;
  size_t size;
  cr_assert_null(greta_file_read_whole(fifo, 0, &data, &size));
  cr_assert_eq(size, 200000);
  cr_assert(data[0] == 'g' && data[size - 1] == 'g' && data[size] == 0);
  free(data);
}
