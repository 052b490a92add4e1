/* Every example compiles for every target, and what gretac writes the
 * runtime reads back to the same plan.
 *
 * Targets: gfx942 (clang), gfx90a (hiprtc from Debian's ROCm 5.2), sm_90
 * (NVRTC) and cpu. Code objects hold every kernel of the plan and none
 * spills registers (AMD metadata, NVIDIA stack frames). A target whose toolchain is not installed is skipped
 * with the reason; scripts/bootstrap.sh installs clang-19 and hiprtc. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "frontend.h"
#include "greta/greta.h"
#include "plan.h"
#include "stats.h"

enum { EM_CUDA = 190, EM_AMDGPU = 224 };

/* The .gm files under examples/, sorted; the caller frees. */
static int list_examples(char names[][64], int max) {
  DIR *d = opendir(GRETA_SOURCE_DIR "/examples");
  cr_assert(d, "cannot list examples/");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    size_t len = strlen(e->d_name);
    if (len > 3 && len < 64 && !strcmp(e->d_name + len - 3, ".gm")) strcpy(names[n++], e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
  return n;
}

static void check_example(const char *name, const char *target_name, int *skipped) {
  char path[4096];
  snprintf(path, sizeof path, "%s/examples/%.64s", GRETA_SOURCE_DIR, name);
  int errors = 0;
  ir_graph_t *graph = frontend_compile_file(path, stderr, &errors);
  cr_assert(graph, "%s: %d errors", name, errors);
  target_t target;
  greta_status_t target_status = target_parse(target_name, &target);
  cr_assert(!target_status, "%s", greta_status_message(target_status));
  driver_options_t o = {.target = &target, .toolchain = "auto", .use_cache = 1, .quiet = 1,
                        .stop = DRIVER_STOP_FILE};
  driver_result_t r;
  char *log = NULL;
  size_t log_size = 0;
  FILE *diag = open_memstream(&log, &log_size);
  int rc = driver_compile(graph, &o, &r, diag);
  fclose(diag);
  ir_graph_destroy(graph);
  if (rc != 0 && strstr(log, "no toolchain")) {
    fprintf(stderr, "examples_compile: %s for %s skipped: %s", name, target_name, log);
    (*skipped)++;
    free(log);
    driver_result_free(&r);
    return;
  }
  cr_assert_eq(rc, 0, "%s for %s: %s", name, target_name, log);
  free(log);

  /* The file: a code object of the right machine, or bare plan bytes. */
  if (target.arch != TARGET_CPU) {
    cr_assert(r.file_size > 64 && !memcmp(r.file, "\177ELF", 4), "%s: not an ELF file", name);
    uint16_t machine;
    memcpy(&machine, r.file + 18, 2);
    cr_expect_eq(machine, target.arch == TARGET_AMD ? EM_AMDGPU : EM_CUDA, "%s for %s: e_machine %u",
                 name, target_name, machine);
    /* Every kernel of the plan is in the object, with its code, and none spills. */
    kernel_stats_t *stats;
    size_t count;
    greta_status_t s = stats_collect(&target, r.file, r.file_size, &stats, &count);
    cr_assert_null(s, "%s for %s: %s", name, target_name, greta_status_message(s));
    cr_expect_eq(count, r.plan->n_kernels, "%s for %s: %zu kernels in the object, %u in the plan",
                 name, target_name, count, r.plan->n_kernels);
    for (size_t k = 0; k < count; k++) {
      cr_expect(stats[k].vgpr_spills <= 0 && stats[k].sgpr_spills <= 0 && stats[k].private_bytes <= 0,
                "%s for %s: kernel %s spills (vgpr %lld, sgpr %lld, private %lld bytes)", name,
                target_name, stats[k].name, (long long)stats[k].vgpr_spills,
                (long long)stats[k].sgpr_spills, (long long)stats[k].private_bytes);
      cr_expect(stats[k].code_bytes > 0 && (size_t)stats[k].code_bytes < r.file_size,
                "%s for %s: kernel %s: %lld bytes of code in a file of %zu", name, target_name,
                stats[k].name, (long long)stats[k].code_bytes, r.file_size);
    }
    free(stats);
  }

  /* Round trip: the plan the runtime finds in the file equals gretac's. */
  const uint8_t *embedded;
  size_t embedded_size;
  greta_status_t st = greta_plan_locate(r.file, r.file_size, &embedded, &embedded_size);
  cr_assert_null(st, "%s for %s: %s", name, target_name, greta_status_message(st));
  greta_plan_t *parsed;
  st = greta_plan_parse(embedded, embedded_size, &parsed);
  cr_assert_null(st, "%s for %s: %s", name, target_name, greta_status_message(st));
  uint8_t *again, *original;
  size_t again_size, original_size;
  cr_assert_null(greta_plan_serialize(parsed, &again, &again_size));
  cr_assert_null(greta_plan_serialize(r.plan, &original, &original_size));
  cr_expect(again_size == original_size && !memcmp(again, original, again_size),
            "%s for %s: the plan read back differs from the one written", name, target_name);
  cr_expect_str_eq(parsed->target, target.id);
  cr_expect_eq(parsed->n_kernels, r.plan->n_kernels);
  free(again);
  free(original);
  greta_plan_destroy(parsed);

  /* And the public API opens it. */
  greta_model_t *model;
  st = greta_model_open_memory(r.file, r.file_size, &model);
  cr_assert_null(st, "%s for %s: %s", name, target_name, greta_status_message(st));
  cr_expect_str_eq(greta_model_target(model), target.id);
  greta_model_destroy(model);
  driver_result_free(&r);
}

static void check_target(const char *target) {
  char names[32][64];
  int n = list_examples(names, 32), skipped = 0;
  cr_assert_geq(n, 4, "examples/ should hold the Llama examples");
  for (int i = 0; i < n; i++) check_example(names[i], target, &skipped);
  if (skipped == n) cr_skip_test("no toolchain for %s (see stderr)", target);
  fprintf(stderr, "examples_compile: %d examples for %s, %d skipped\n", n, target, skipped);
}

Test(examples, gfx942_clang) { check_target("gfx942"); }
Test(examples, gfx90a_hiprtc) { check_target("gfx90a"); }
Test(examples, sm_90_nvrtc) { check_target("sm_90"); }
Test(examples, cpu) { check_target("cpu"); }
