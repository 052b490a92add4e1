/* The compile pipeline after the front end. */
#define _POSIX_C_SOURCE 200809L
#include "driver.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codegen.h"
#include "passes.h"
#include "schedule.h"
#include "strbuf.h"
#include "toolchain.h"

static int fail_status(greta_status_t st, const char *what, FILE *diag) {
  fprintf(diag, "gretac: %s%s\n", what, greta_status_message(st));
  greta_status_free(st);
  return 2;
}

/* Decode attention's cache rows per split: enough splits that heads x
 * splits fills the chip about twice over at a full cache, as few as that
 * (each split pays a fixed cost: its launch slot, the fence and counter, a
 * partial to merge). A power of two in 16 .. 1024; 256 for Llama-2-7B
 * (max_seq 2048, 32 heads) on the H200's 132 SMs, 128 on MI300X. */
static int64_t attention_split_rows(const ir_graph_t *graph, const target_t *target) {
  int64_t heads = 1;
  for (int id = 0; id < graph->n_nodes; id++)
    if (graph->nodes[id].op == IR_ATTENTION) heads = graph->nodes[id].type.dims[1].coeff;
  double ideal = (double)graph->max_seq * (double)heads / (2.0 * target->compute_units);
  int64_t rows = 16;
  while (rows < 1024 && (double)rows * 1.5 < ideal) rows *= 2;
  return rows;
}

int driver_compile(ir_graph_t *graph, const driver_options_t *o, driver_result_t *out,
                   FILE *diag) {
  memset(out, 0, sizeof *out);
  const target_t *target = o->target;
  double t0 = clock_seconds();
  if (passes_run(graph, diag) != 0) {
    fprintf(diag, "gretac: internal error: the IR failed verification after the passes\n");
    return 2;
  }

  /* The toolchain is picked before scheduling: the plan records it. */
  const toolchain_t *toolchain = NULL;
  const char *toolchain_version = target->arch == TARGET_CPU ? "cpu reference" : "none";
  if (target->arch != TARGET_CPU && o->stop == DRIVER_STOP_FILE) {
    greta_status_t st = toolchain_pick(target, o->toolchain, &toolchain, &toolchain_version);
    if (st) return fail_status(st, "error: ", diag);
  }

  /* A step can never hold more tokens than the KV cache. */
  int64_t max_tokens = o->max_tokens ? o->max_tokens : 512;
  if (graph->max_seq > 0 && max_tokens > graph->max_seq) {
    if (o->max_tokens) {
      fprintf(diag, "gretac: error: --max-tokens=%lld exceeds the model's max_seq %lld\n",
              (long long)o->max_tokens, (long long)graph->max_seq);
      return 1;
    }
    max_tokens = graph->max_seq;
  }
  schedule_options_t so = {.target = target, .max_tokens = max_tokens,
                           .attention_split_rows = attention_split_rows(graph, target),
                           .toolchain = toolchain_version};
  out->plan = schedule_build(graph, &so, diag);
  if (!out->plan) return 1;
  strbuf_t source = {0};
  int errors = codegen_kernels(out->plan, target, &source, diag);
  if (errors) {
    strbuf_free(&source);
    return 2;
  }
  uint8_t *plan_bytes = NULL;
  size_t plan_size = 0;
  greta_status_t st = greta_plan_serialize(out->plan, &plan_bytes, &plan_size);
  if (st) {
    strbuf_free(&source);
    return fail_status(st, "internal error: ", diag);
  }
  if (o->verbose)
    fprintf(diag, "gretac: %u kernels, %u + %u launches, plan %zu bytes (%.3f s)\n",
            out->plan->n_kernels, out->plan->entries[0].n_launches,
            out->plan->n_entries > 1 ? out->plan->entries[1].n_launches : 0, plan_size,
            clock_seconds() - t0);

  if (target->arch == TARGET_CPU) {
    strbuf_free(&source);
    if (o->stop == DRIVER_STOP_FILE) {
      out->file = plan_bytes;
      out->file_size = plan_size;
      st = greta_plan_seal(out->file, out->file_size); /* the bare plan is the whole file */
      if (st) return fail_status(st, "internal error: ", diag);
    } else {
      free(plan_bytes);
    }
    return 0;
  }
  codegen_embed_plan(plan_bytes, plan_size, &source);
  free(plan_bytes);
  out->source = strbuf_take(&source);
  if (o->stop != DRIVER_STOP_FILE) return 0;

  if (!o->quiet)
    fprintf(diag, "gretac: compiling %u kernels for %s with %s...\n", out->plan->n_kernels,
            target->id, toolchain_version);
  double t1 = clock_seconds();
  st = toolchain_compile(toolchain, target, out->source, o->use_cache, &out->file,
                         &out->file_size, &out->log);
  if (st) {
    if (out->log && *out->log) fprintf(diag, "%s\n", out->log);
    return fail_status(st, "error: ", diag);
  }
  if (o->verbose) fprintf(diag, "gretac: toolchain: %.3f s\n", clock_seconds() - t1);
  /* The digest over the finished code object, kernels and all (plan_seal.c). */
  st = greta_plan_seal(out->file, out->file_size);
  if (st) return fail_status(st, "internal error: sealing the code object: ", diag);
  return 0;
}

void driver_result_free(driver_result_t *r) {
  greta_plan_destroy(r->plan);
  free(r->source);
  free(r->file);
  free(r->log);
  memset(r, 0, sizeof *r);
}
