/* Human-readable views of a plan: gretac --emit=plan and the memory
 * report of --stats. */
#include "plan_dump.h"

#include <inttypes.h>

static const char *space_name[] = {"arena", "weights", "kv"};

static void print_bytes(FILE *out, uint64_t bytes) {
  if (bytes >= (1ull << 30))
    fprintf(out, "%.2f GiB", (double)bytes / (1ull << 30));
  else if (bytes >= (1ull << 20))
    fprintf(out, "%.1f MiB", (double)bytes / (1ull << 20));
  else
    fprintf(out, "%.1f KiB", (double)bytes / 1024.0);
}

static void print_tensor(FILE *out, const greta_tensor_info_t *t) {
  fprintf(out, "%s[", greta_dtype_name(t->dtype));
  for (int d = 0; d < t->rank; d++) {
    if (d) fputs(", ", out);
    if (t->dims[d].symbol && t->dims[d].coeff == 1)
      fputs(t->dims[d].symbol, out);
    else if (t->dims[d].symbol)
      fprintf(out, "%" PRId64 "*%s", t->dims[d].coeff, t->dims[d].symbol);
    else
      fprintf(out, "%" PRId64, t->dims[d].coeff);
  }
  fputc(']', out);
}

void plan_print_memory(const greta_plan_t *plan, FILE *out) {
  fputs("memory: weights ", out);
  print_bytes(out, plan->weight_bytes);
  fprintf(out, " (%u tensors), KV cache ", plan->n_weights);
  if (plan->n_caches) fprintf(out, "%s ", greta_dtype_name(plan->caches[0].dtype));
  print_bytes(out, plan->kv_bytes);
  fprintf(out, " (max_seq %" PRId64 ", %u caches", plan->max_seq, plan->n_caches);
  if (plan->max_seq > 0)
    fprintf(out, ", %" PRIu64 " bytes per token", plan->kv_bytes / (uint64_t)plan->max_seq);
  fputs("), arena ", out);
  print_bytes(out, plan->arena_bytes);
  fprintf(out, " (max_tokens %" PRId64 "); total ", plan->max_tokens);
  print_bytes(out, plan->weight_bytes + plan->kv_bytes + plan->arena_bytes);
  fputc('\n', out);
}

void plan_print(const greta_plan_t *plan, FILE *out) {
  fprintf(out, "plan %s  target=%s  toolchain=%s\n", plan->model_name, plan->target,
          plan->toolchain);
  plan_print_memory(plan, out);
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    fprintf(out, "input %s: ", plan->inputs[i].info.name);
    print_tensor(out, &plan->inputs[i].info);
    fprintf(out, " @arena+%" PRIu64 "\n", plan->inputs[i].offset);
  }
  for (uint32_t i = 0; i < plan->n_outputs; i++) {
    fprintf(out, "output %s: ", plan->outputs[i].info.name);
    print_tensor(out, &plan->outputs[i].info);
    fprintf(out, " @arena+%" PRIu64 "\n", plan->outputs[i].offset);
  }
  for (uint32_t i = 0; i < plan->n_weights; i++) {
    fprintf(out, "weight %s: ", plan->weights[i].info.name);
    print_tensor(out, &plan->weights[i].info);
    fprintf(out, " @weights+%" PRIu64 "\n", plan->weights[i].offset);
  }
  for (uint32_t i = 0; i < plan->n_caches; i++)
    fprintf(out, "cache %s: %s, %" PRIu64 " bytes @kv+%" PRIu64 "\n", plan->caches[i].name,
            greta_dtype_name(plan->caches[i].dtype),
            plan->caches[i].bytes, plan->caches[i].offset);
  for (uint32_t e = 0; e < plan->n_entries; e++) {
    const greta_plan_entry_t *entry = &plan->entries[e];
    fprintf(out, "entry %s (T in %" PRId64 "..%" PRId64 "): %u launches\n", entry->name,
            entry->min_tokens, entry->max_tokens, entry->n_launches);
    for (uint32_t i = 0; i < entry->n_launches; i++) {
      const greta_plan_launch_t *l = &entry->launches[i];
      fprintf(out, "  %-18s %-28s (", greta_op_name(l->op),
              l->kernel < plan->n_kernels ? plan->kernels[l->kernel] : "?");
      for (uint32_t a = 0; a < l->n_args; a++)
        fprintf(out, "%s%s+%" PRIu64, a ? ", " : "",
                l->args[a].space < 3 ? space_name[l->args[a].space] : "?", l->args[a].offset);
      fprintf(out, ") grid %ux%ux%u", l->grid[0], l->grid[1], l->grid[2]);
      if (l->grid_t_axis < 3)
        fprintf(out, " (axis %u = ceil(T*%u/%u))", l->grid_t_axis, l->grid_t_per_token,
                l->grid_t_tile);
      fprintf(out, " block %ux%ux%u", l->block[0], l->block[1], l->block[2]);
      if (l->shared_bytes) fprintf(out, " shared %u", l->shared_bytes);
      /* Activations stored in a half type (ops.def: prefill's GEMM x). */
      if (l->attr.xdtype) fprintf(out, " x %s", greta_dtype_name((greta_dtype_t)l->attr.xdtype));
      if (l->attr.outdtype)
        fprintf(out, " out %s", greta_dtype_name((greta_dtype_t)l->attr.outdtype));
      fputc('\n', out);
    }
  }
}
