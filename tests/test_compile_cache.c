/* The compile cache: a hit on identical input (same bytes, no toolchain
 * run), a miss when any part of the key changes, a corrupt entry ignored and
 * rewritten, use_cache = 0 bypassing it. Compiles a tiny kernel with clang
 * for gfx942 (skipped when clang is missing); the key tests need no
 * toolchain. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "compile_cache.h"
#include "kernel_select.h"
#include "toolchain.h"
#include "toolchain_impl.h"

static char cache_dir[] = "/tmp/greta-cache-test-XXXXXX";

static void setup(void) {
  cr_assert_not_null(mkdtemp(cache_dir));
  setenv("GRETA_CACHE_DIR", cache_dir, 1);
}

static void teardown(void) {
  DIR *d = opendir(cache_dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[4200];
      snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
      unlink(path);
    }
    closedir(d);
  }
  rmdir(cache_dir);
}

/* A small but real translation unit: the prelude and templates plus one
 * elementwise kernel. */
static char *tiny_source(const target_t *t, const char *kernel_name) {
  strbuf_t sb = {0};
  kernels_source_prelude(t, &sb);
  greta_plan_launch_t l;
  memset(&l, 0, sizeof l);
  l.op = GRETA_OP_ADD;
  l.n_args = 3;
  l.attr.n = 64;
  l.rows_coeff = 1;
  l.rows_per_token = 1;
  greta_status_t s = kernels_instantiate(t, &l, 1, 8, kernel_name, &sb);
  cr_assert(!s, "%s", greta_status_message(s));
  return strbuf_take(&sb);
}

static const toolchain_t *clang_or_skip(target_t *t) {
  cr_assert(!target_parse("gfx942", t));
  const toolchain_t *tc = NULL;
  const char *version = NULL;
  greta_status_t st = toolchain_pick(t, "clang", &tc, &version);
  if (st) {
    fprintf(stderr, "%s\n", greta_status_message(st)); /* cr_log_warn would fail the run */
    greta_status_free(st);
    return NULL;
  }
  return tc;
}

static int count_entries(void) {
  int n = 0;
  DIR *d = opendir(cache_dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".co") && !strstr(e->d_name, ".tmp")) n++;
  closedir(d);
  return n;
}

Test(compile_cache, hit_miss_bypass, .init = setup, .fini = teardown) {
  target_t t;
  const toolchain_t *tc = clang_or_skip(&t);
  if (!tc) {
    cr_skip_test("clang not installed");
    return;
  }
  char *src = tiny_source(&t, "k_add");
  uint8_t *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  size_t na = 0, nb = 0, nc = 0, nd = 0;
  long runs = toolchain_invocation_count();
  double t0 = clock_seconds();
  greta_status_t st = toolchain_compile(tc, &t, src, 1, &a, &na, NULL);
  double first = clock_seconds() - t0;
  cr_assert_null(st, "%s", greta_status_message(st));
  cr_assert_eq(toolchain_invocation_count(), runs + 1, "first compile must run the toolchain");
  cr_assert_eq(count_entries(), 1);

  t0 = clock_seconds();
  st = toolchain_compile(tc, &t, src, 1, &b, &nb, NULL);
  double second = clock_seconds() - t0;
  cr_assert_null(st);
  cr_assert_eq(toolchain_invocation_count(), runs + 1, "a hit must not run the toolchain");
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(a, b, na), 0, "a hit must return identical bytes");
  cr_assert_lt(second, first, "hit %.3fs not faster than compile %.3fs", second, first);

  /* A different source is a miss. */
  char *src2 = tiny_source(&t, "k_add2");
  st = toolchain_compile(tc, &t, src2, 1, &c, &nc, NULL);
  cr_assert_null(st);
  cr_assert_eq(toolchain_invocation_count(), runs + 2, "a changed source must miss");
  cr_assert_eq(count_entries(), 2);

  /* use_cache = 0 always compiles and stores nothing. */
  st = toolchain_compile(tc, &t, src, 0, &d, &nd, NULL);
  cr_assert_null(st);
  cr_assert_eq(toolchain_invocation_count(), runs + 3);
  cr_assert_eq(count_entries(), 2);
  free(a);
  free(b);
  free(c);
  free(d);
  free(src);
  free(src2);
}

Test(compile_cache, corrupt_entry_is_ignored_and_rewritten, .init = setup, .fini = teardown) {
  target_t t;
  const toolchain_t *tc = clang_or_skip(&t);
  if (!tc) {
    cr_skip_test("clang not installed");
    return;
  }
  char *src = tiny_source(&t, "k_corrupt");
  uint8_t *a = NULL, *b = NULL, *c = NULL;
  size_t na = 0, nb = 0, nc = 0;
  cr_assert_null(toolchain_compile(tc, &t, src, 1, &a, &na, NULL));
  /* Flip a byte in the middle of every entry (there is one). */
  DIR *dir = opendir(cache_dir);
  struct dirent *e;
  int flipped = 0;
  while ((e = readdir(dir))) {
    if (!strstr(e->d_name, ".co")) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    flipped++;
  }
  closedir(dir);
  cr_assert_eq(flipped, 1);
  long runs = toolchain_invocation_count();
  cr_assert_null(toolchain_compile(tc, &t, src, 1, &b, &nb, NULL));
  cr_assert_eq(toolchain_invocation_count(), runs + 1, "a corrupt entry must not be used");
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(a, b, na), 0);
  /* ... and it was rewritten: the next compile hits. */
  cr_assert_null(toolchain_compile(tc, &t, src, 1, &c, &nc, NULL));
  cr_assert_eq(toolchain_invocation_count(), runs + 1, "the rewritten entry must hit");
  cr_assert_eq(memcmp(a, c, na), 0);
  free(a);
  free(b);
  free(c);
  free(src);
}

/* Every part of the key matters (no toolchain needed). */
Test(compile_cache, key_covers_every_part) {
  const char *base[5] = {"source", "gfx942:sramecc+:xnack-", "clang", "clang 19.1.7", "-O3"};
  char k0[33], k[33];
  compile_cache_key(base[0], base[1], base[2], base[3], base[4], k0);
  cr_assert_eq(strlen(k0), 32);
  compile_cache_key(base[0], base[1], base[2], base[3], base[4], k);
  cr_assert_str_eq(k0, k, "the key must be deterministic");
  for (int part = 0; part < 5; part++) {
    const char *p[5];
    memcpy(p, base, sizeof p);
    p[part] = part == 1 ? "gfx942" : "changed";
    compile_cache_key(p[0], p[1], p[2], p[3], p[4], k);
    cr_assert_str_neq(k0, k, "changing part %d did not change the key", part);
  }
  /* Boundaries between parts count. */
  compile_cache_key("ab", "c", "", "", "", k0);
  compile_cache_key("a", "bc", "", "", "", k);
  cr_assert_str_neq(k0, k);
}

Test(compile_cache, load_store_roundtrip_and_truncation, .init = setup, .fini = teardown) {
  uint8_t obj[100];
  for (int i = 0; i < 100; i++) obj[i] = (uint8_t)(i * 7);
  char key[33];
  compile_cache_key("x", "y", "z", "v", "f", key);
  uint8_t *out = NULL;
  size_t n = 0;
  cr_assert_not(compile_cache_load(key, &out, &n), "empty cache hit");
  compile_cache_store(key, obj, sizeof obj);
  cr_assert(compile_cache_load(key, &out, &n));
  cr_assert_eq(n, sizeof obj);
  cr_assert_eq(memcmp(out, obj, n), 0);
  free(out);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s.co", cache_dir, key);
  cr_assert_eq(truncate(path, 60), 0);
  cr_assert_not(compile_cache_load(key, &out, &n), "truncated entry used");
}
