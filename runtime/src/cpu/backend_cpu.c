/* The CPU backend: host memory, and each launch of an entry run in order by
 * the reference kernels (cpu_ops.c). It runs any plan, whatever its target,
 * because it is what GPU results are checked against. */
#define _GNU_SOURCE /* sysconf(_SC_AVPHYS_PAGES) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "status.h"

typedef struct cpu_backend_s {
  greta_backend_t base; /* first: a greta_backend_t * points here */
} cpu_backend_t;

struct greta_program_s {
  const greta_plan_t *plan; /* borrowed from the model */
  greta_spaces_t spaces;
};

static void cpu_destroy(greta_backend_t *backend) { free(backend); }

static greta_status_t cpu_alloc(greta_backend_t *backend, size_t bytes, void **out_ptr) {
  /* Zeroed, so a fresh KV cache and arena hold no garbage. */
  *out_ptr = calloc(1, bytes ? bytes : 1);
  if (!*out_ptr)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cpu: cannot allocate %zu bytes", bytes);
  return NULL;
}

static void cpu_free(greta_backend_t *backend, void *ptr) { free(ptr); }

static greta_status_t cpu_memory_free(greta_backend_t *backend, uint64_t *out_bytes) {
  long pages = sysconf(_SC_AVPHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages < 0 || page_size < 0)
    return greta_status_make(GRETA_INTERNAL, "cpu: sysconf cannot tell the free memory");
  *out_bytes = (uint64_t)pages * (uint64_t)page_size;
  return NULL;
}

static greta_status_t cpu_upload(greta_backend_t *backend, void *device, size_t offset,
                                 const void *host, size_t bytes) {
  memcpy((char *)device + offset, host, bytes);
  return NULL;
}

static greta_status_t cpu_download(greta_backend_t *backend, void *host, const void *device,
                                   size_t offset, size_t bytes) {
  memcpy(host, (const char *)device + offset, bytes);
  return NULL;
}

static greta_status_t cpu_program_create(greta_backend_t *backend, const uint8_t *file,
                                         size_t size, const greta_plan_t *plan,
                                         const greta_spaces_t *spaces,
                                         greta_program_t **out_program) {
  greta_program_t *program = calloc(1, sizeof *program);
  if (!program) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cpu: out of memory");
  program->plan = plan;
  program->spaces = *spaces;
  *out_program = program;
  return NULL;
}

static void cpu_program_destroy(greta_program_t *program) { free(program); }

static greta_status_t cpu_program_run(greta_program_t *program, const greta_plan_entry_t *entry,
                                      int64_t tokens, int64_t pos) {
  /* The parameter block is what GPU kernels read T and pos from; keep it
   * current here too so both backends leave the same state behind. */
  int32_t *params = program->spaces.params;
  params[0] = (int32_t)tokens;
  params[1] = (int32_t)pos;
  for (uint32_t i = 0; i < entry->n_launches; i++)
    GRETA_RETURN_IF_ERROR(greta_status_annotate(
        greta_cpu_run_launch(&entry->launches[i], &program->spaces, tokens, pos),
        "%s launch %u (%s)", entry->name, i, greta_op_name(entry->launches[i].op)));
  return NULL;
}

static greta_status_t cpu_program_profile(greta_program_t *program,
                                          const greta_plan_entry_t *entry, int64_t tokens,
                                          int64_t pos, int repeats, double *out_ms) {
  int32_t *params = program->spaces.params;
  params[0] = (int32_t)tokens;
  params[1] = (int32_t)pos;
  for (uint32_t i = 0; i < entry->n_launches; i++)
    for (int r = 0; r < repeats; r++) {
      double start = clock_ms();
      GRETA_RETURN_IF_ERROR(greta_status_annotate(
          greta_cpu_run_launch(&entry->launches[i], &program->spaces, tokens, pos),
          "%s launch %u (%s)", entry->name, i, greta_op_name(entry->launches[i].op)));
      out_ms[(size_t)i * (size_t)repeats + (size_t)r] = clock_ms() - start;
    }
  return NULL;
}

static greta_status_t cpu_program_time_except(greta_program_t *program,
                                              const greta_plan_entry_t *entry, int64_t tokens,
                                              int64_t pos, uint32_t skip, int repeats,
                                              double *out_ms) {
  int32_t *params = program->spaces.params;
  params[0] = (int32_t)tokens;
  params[1] = (int32_t)pos;
  for (int r = 0; r < repeats; r++) {
    double start = clock_ms();
    for (uint32_t i = 0; i < entry->n_launches; i++)
      if (i != skip)
        GRETA_RETURN_IF_ERROR(greta_status_annotate(
            greta_cpu_run_launch(&entry->launches[i], &program->spaces, tokens, pos),
            "%s launch %u (%s)", entry->name, i, greta_op_name(entry->launches[i].op)));
    out_ms[r] = clock_ms() - start;
  }
  return NULL;
}

static const greta_backend_vtable_t cpu_vtable = {
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memory_free = cpu_memory_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .program_create = cpu_program_create,
    .program_destroy = cpu_program_destroy,
    .program_run = cpu_program_run,
    .program_profile = cpu_program_profile,
    .program_time_except = cpu_program_time_except,
};

greta_status_t greta_backend_cpu_create(greta_backend_t **out_backend) {
  *out_backend = NULL;
  cpu_backend_t *cpu = calloc(1, sizeof *cpu);
  if (!cpu) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "cpu: out of memory");
  cpu->base.vtable = &cpu_vtable;
  cpu->base.kind_name = "cpu";
  long threads = sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(cpu->base.device_name, sizeof cpu->base.device_name, "host CPU (%ld threads)",
           threads);
  strcpy(cpu->base.target, "cpu");
  *out_backend = &cpu->base;
  return NULL;
}
