/* Code generation: instantiate each distinct kernel once, then embed the
 * plan. A 32-layer model repeats the same dozen launches per layer, so
 * deduplication keeps the translation unit (and compile time) to the size
 * of one layer. */
#define _POSIX_C_SOURCE 200809L
#include "codegen.h"

#include <stdlib.h>
#include <string.h>

#include "kernel_select.h"
#include "xalloc.h"

/* Two launches can share a kernel when everything compiled into it is equal. */
static int same_kernel(const greta_plan_launch_t *a, const greta_plan_entry_t *ea,
                       const greta_plan_launch_t *b, const greta_plan_entry_t *eb) {
  return a->op == b->op && a->n_args == b->n_args && a->rows_coeff == b->rows_coeff &&
         a->rows_per_token == b->rows_per_token && ea->min_tokens == eb->min_tokens &&
         ea->max_tokens == eb->max_tokens && memcmp(&a->attr, &b->attr, sizeof a->attr) == 0;
}

typedef struct kernel_ref_s {
  const greta_plan_launch_t *launch; /* the first launch that made it */
  const greta_plan_entry_t *entry;
} kernel_ref_t;

int codegen_kernels(greta_plan_t *plan, const target_t *target, strbuf_t *source, FILE *diag) {
  int errors = 0;
  uint32_t cap = 0;
  kernel_ref_t *made = NULL;
  if (target->arch != TARGET_CPU) kernels_source_prelude(target, source);

  for (uint32_t e = 0; e < plan->n_entries; e++) {
    greta_plan_entry_t *entry = &plan->entries[e];
    for (uint32_t i = 0; i < entry->n_launches; i++) {
      greta_plan_launch_t *launch = &entry->launches[i];
      uint32_t k = 0;
      while (k < plan->n_kernels && !same_kernel(made[k].launch, made[k].entry, launch, entry)) k++;
      if (k < plan->n_kernels) {
        /* Same kernel: same geometry. */
        const greta_plan_launch_t *first = made[k].launch;
        memcpy(launch->grid, first->grid, sizeof launch->grid);
        memcpy(launch->block, first->block, sizeof launch->block);
        launch->grid_t_axis = first->grid_t_axis;
        launch->grid_t_per_token = first->grid_t_per_token;
        launch->grid_t_tile = first->grid_t_tile;
        launch->shared_bytes = first->shared_bytes;
        launch->kernel = k;
        continue;
      }
      if (plan->n_kernels == cap) {
        cap = cap ? 2 * cap : 64;
        made = xrealloc(made, sizeof *made * cap);
        plan->kernels = xrealloc(plan->kernels, sizeof *plan->kernels * cap);
      }
      char name[64];
      snprintf(name, sizeof name, "greta_%s_%u", greta_op_name(launch->op), plan->n_kernels);
      greta_status_t status =
          target->arch == TARGET_CPU
              ? NULL
              : kernels_instantiate(target, launch, entry->min_tokens, entry->max_tokens, name,
                                    source);
      if (status) {
        fprintf(diag, "gretac: error: %s entry, %s: %s\n", entry->name,
                greta_op_name(launch->op), greta_status_message(status));
        greta_status_free(status);
        errors++;
      }
      plan->kernels[plan->n_kernels] = xstrdup(name);
      made[plan->n_kernels] = (kernel_ref_t){launch, entry};
      launch->kernel = plan->n_kernels++;
    }
  }
  free(made);
  return errors;
}

void codegen_embed_plan(const uint8_t *bytes, size_t size, strbuf_t *source) {
  strbuf_printf(source,
                "\n/* The execution plan (docs/plan-format.md), read by libgreta from the "
                "code object. */\nextern \"C\" __device__ const char %s[%zu] = {",
                GRETA_PLAN_SYMBOL, size);
  for (size_t i = 0; i < size; i++)
    /* Signed values: a brace initialiser of `char` must not narrow. */
    strbuf_printf(source, "%s%d,", i % 24 ? "" : "\n  ", (int)(signed char)bytes[i]);
  strbuf_append(source, "\n};\n");
}
