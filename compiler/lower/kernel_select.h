/* Kernel selection: for each plan launch and target, which template to
 * instantiate, with which compile-time constants and launch geometry.
 * Templates live in templates/ and are embedded into gretac. */
#ifndef GRETA_KERNEL_SELECT_H
#define GRETA_KERNEL_SELECT_H

#include "plan.h"
#include "strbuf.h"
#include "target.h"

/* Chooses the kernel for `launch` (op, args, attr, rows_* already set by the
 * scheduler) when run in an entry of tokens in [min_tokens, max_tokens]:
 * fills launch->grid, block, grid_t_*, shared_bytes, and appends to `source`
 * the instantiation of the template as an extern "C" kernel named `name`
 * (the caller chooses a unique name). Never fails for a launch the
 * scheduler produced; INVALID_ARGUMENT for an unsupported one. */
greta_status_t kernels_instantiate(const target_t *target, greta_plan_launch_t *launch,
                                   int64_t min_tokens, int64_t max_tokens, const char *name,
                                   strbuf_t *source);

/* sm_90a's prefill GEMMs over x in the weight's half type take both
 * operands through the copy engine (tensor maps the runtime encodes;
 * docs/gemm.md, "The copy engine"), a paired weight where its pairs come in
 * whole runs (pair_layout.h), unless GRETA_TMA=0 is in gretac's
 * environment: the weight map's rows, the launch's attr tma (lower_tma),
 * or 0. */
int64_t kernels_gemm_tma_rows(const target_t *target, const greta_plan_launch_t *l);
/* The most parts prefill matmul `l` (attributes set) may split its GEMM
 * tiles' K into on `target` (templates/gemm_wgmma.h, split-K; the plan's
 * split_k), or 0: sm_90a's wgmma GEMM over a half Linear weight with 64 | K
 * and K >= 256. The kernel splits only the tail of a step's 128-wide tiles
 * that leaves SMs idle (greta_wgmma_split_of_block). GRETA_SPLIT_K=0 in
 * gretac's environment turns it off (for timing the unsplit GEMM). */
int kernels_gemm_split_k(const target_t *target, const greta_plan_launch_t *l);
/* Bytes of the step's split-K workspace on `target`. */
uint64_t kernels_split_k_workspace_bytes(const target_t *target);

/* The translation unit's head: the prelude for `target` and every template
 * (appended once, before any instantiation). */
void kernels_source_prelude(const target_t *target, strbuf_t *source);

/* Embedded template text by file name ("gemm.h"), or NULL. Generated at build
 * time from templates/ (cmake/embed_templates.cmake). */
const char *template_source(const char *name);

#endif /* GRETA_KERNEL_SELECT_H */
