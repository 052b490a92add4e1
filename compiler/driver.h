/* The compile pipeline after the front end, shared by gretac and the tests:
 * passes -> schedule -> codegen -> plan bytes -> toolchain. */
#ifndef GRETA_DRIVER_H
#define GRETA_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"
#include "plan.h"
#include "target.h"

typedef enum driver_stop_e {
  DRIVER_STOP_PLAN,   /* schedule and pick kernels; no source, no toolchain */
  DRIVER_STOP_SOURCE, /* also generate the translation unit */
  DRIVER_STOP_FILE,   /* also compile: the file gretac writes */
} driver_stop_t;

typedef struct driver_options_s {
  const target_t *target;
  const char *toolchain; /* "auto", "hiprtc", "clang", "nvrtc" */
  int64_t max_tokens;    /* largest prefill T; 0: min(512, the model's max_seq) */
  int use_cache;
  driver_stop_t stop;
  int quiet, verbose;    /* progress lines / timings on `diag` */
} driver_options_t;

typedef struct driver_result_s {
  greta_plan_t *plan;  /* as scheduled, kernels named */
  char *source;        /* the translation unit (GPU targets, STOP_SOURCE+) */
  uint8_t *file;       /* STOP_FILE: a code object with the plan, or plan bytes (cpu) */
  size_t file_size;
  char *log;           /* the toolchain's log, may be NULL */
} driver_result_t;

/* Runs the pipeline on `graph` (which the passes rewrite). Returns an exit
 * code: 0, 1 (the model cannot be compiled as written) or 2 (internal or
 * toolchain errors); messages go to `diag`. */
int driver_compile(ir_graph_t *graph, const driver_options_t *options, driver_result_t *out,
                   FILE *diag);
void driver_result_free(driver_result_t *result);

#endif /* GRETA_DRIVER_H */
