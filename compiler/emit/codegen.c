/* Code generation: each launch's kernel instantiated and compared with the
 * kernels before it, each distinct one written once, then the plan
 * embedded. A 32-layer model repeats the same dozen launches per layer, so
 * deduplication keeps the translation unit (and compile time) to the size
 * of one layer. */
#define _POSIX_C_SOURCE 200809L
#include "codegen.h"

#include <stdlib.h>
#include <string.h>

#include "kernel_select.h"
#include "xalloc.h"

/* Launches of a CPU plan (which has no source to compare) share a kernel
 * name when everything a kernel would be compiled from is equal. */
static int same_cpu_kernel(const greta_plan_launch_t *a, const greta_plan_entry_t *ea,
                           const greta_plan_launch_t *b, const greta_plan_entry_t *eb) {
  return a->op == b->op && a->n_args == b->n_args && a->rows_coeff == b->rows_coeff &&
         a->rows_per_token == b->rows_per_token && ea->min_tokens == eb->min_tokens &&
         ea->max_tokens == eb->max_tokens && memcmp(&a->attr, &b->attr, sizeof a->attr) == 0;
}

/* The name a launch's instantiation is written under to be compared with
 * the kernels made before it. */
#define CANDIDATE_NAME "greta_candidate"

typedef struct kernel_ref_s {
  const greta_plan_launch_t *launch; /* the first launch that made it */
  const greta_plan_entry_t *entry;
  char *text; /* its instantiation as CANDIDATE_NAME; NULL: a CPU plan's, or failed */
} kernel_ref_t;

/* Does a launch share kernel `k`? `text`: the launch's instantiation as
 * CANDIDATE_NAME, NULL where it has none (a CPU plan) or its selection
 * failed; then it shares the kernel of an equal launch without one, so
 * that a failure is reported once. */
static bool shares_kernel(const kernel_ref_t *k, const char *text,
                          const greta_plan_launch_t *launch, const greta_plan_entry_t *entry) {
  if (text) return k->text && strcmp(k->text, text) == 0;
  return !k->text && same_cpu_kernel(k->launch, k->entry, launch, entry);
}

int codegen_kernels(greta_plan_t *plan, const target_t *target, strbuf_t *source, FILE *diag) {
  int errors = 0;
  uint32_t cap = 0;
  kernel_ref_t *made = NULL;
  const bool gpu = target->arch != TARGET_CPU;
  if (gpu) kernels_source_prelude(target, source);

  for (uint32_t e = 0; e < plan->n_entries; e++) {
    greta_plan_entry_t *entry = &plan->entries[e];
    for (uint32_t i = 0; i < entry->n_launches; i++) {
      greta_plan_launch_t *launch = &entry->launches[i];
      /* GPU: launches share a kernel when their instantiations are the same
       * text (two entries' launches of an op whose kernel does not depend on
       * the token range, every layer's launch of one op); each launch keeps
       * the geometry its selection gave it. */
      strbuf_t text = {0};
      greta_status_t status = NULL;
      if (gpu)
        status = kernels_instantiate(target, launch, entry->min_tokens, entry->max_tokens,
                                     CANDIDATE_NAME, &text);
      const char *instance = gpu && !status ? text.data : NULL;
      uint32_t k = 0;
      while (k < plan->n_kernels && !shares_kernel(&made[k], instance, launch, entry)) k++;
      if (k < plan->n_kernels) {
        strbuf_free(&text);
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
      if (gpu && !status)
        status = kernels_instantiate(target, launch, entry->min_tokens, entry->max_tokens, name,
                                     source);
      if (status) {
        fprintf(diag, "gretac: error: %s entry, %s: %s\n", entry->name,
                greta_op_name(launch->op), greta_status_message(status));
        greta_status_free(status);
        errors++;
      }
      plan->kernels[plan->n_kernels] = xstrdup(name);
      made[plan->n_kernels] = (kernel_ref_t){launch, entry, instance ? xstrdup(instance) : NULL};
      strbuf_free(&text);
      launch->kernel = plan->n_kernels++;
    }
  }
  for (uint32_t k = 0; k < plan->n_kernels; k++) free(made[k].text);
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
