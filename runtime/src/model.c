/* A model: the file gretac wrote, read into memory and its plan verified. */
#include <stdlib.h>
#include <string.h>

#include "file_io.h"
#include "model.h"
#include "status.h"

struct greta_model_s {
  uint8_t *file; /* the whole file: a GPU backend loads it as the code object */
  size_t file_size;
  greta_plan_t *plan;
};

/* Takes ownership of `file`. */
static greta_status_t model_from_file(uint8_t *file, size_t size, greta_model_t **out_model) {
  greta_model_t *model = calloc(1, sizeof *model);
  if (!model) {
    free(file);
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "model: out of memory");
  }
  model->file = file;
  model->file_size = size;
  const uint8_t *plan_bytes;
  size_t plan_size;
  /* The whole file's digest first: nothing of a changed file is trusted. */
  greta_status_t status = greta_plan_check_seal(file, size);
  if (!status) status = greta_plan_locate(file, size, &plan_bytes, &plan_size);
  if (!status) status = greta_plan_parse(plan_bytes, plan_size, &model->plan);
  if (status) {
    greta_model_destroy(model);
    return status;
  }
  *out_model = model;
  return NULL;
}

greta_status_t greta_model_open(const char *path, greta_model_t **out_model) {
  *out_model = NULL;
  uint8_t *file;
  size_t size;
  GRETA_RETURN_IF_ERROR(
      greta_status_annotate(greta_file_read_regular(path, 0, &file, &size), "model"));
  return greta_status_annotate(model_from_file(file, size, out_model), "model %s", path);
}

greta_status_t greta_model_open_memory(const void *data, size_t size, greta_model_t **out_model) {
  *out_model = NULL;
  uint8_t *file = malloc(size ? size : 1);
  if (!file) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "model: out of memory");
  if (size) memcpy(file, data, size);
  return greta_status_annotate(model_from_file(file, size, out_model), "model");
}

void greta_model_destroy(greta_model_t *model) {
  if (!model) return;
  greta_plan_destroy(model->plan);
  free(model->file);
  free(model);
}

const greta_plan_t *greta_model_plan(const greta_model_t *model) { return model->plan; }

const uint8_t *greta_model_file(const greta_model_t *model, size_t *out_size) {
  *out_size = model->file_size;
  return model->file;
}

const char *greta_model_target(const greta_model_t *model) { return model->plan->target; }
const char *greta_model_toolchain(const greta_model_t *model) { return model->plan->toolchain; }

int greta_model_input_count(const greta_model_t *model) { return (int)model->plan->n_inputs; }
int greta_model_output_count(const greta_model_t *model) { return (int)model->plan->n_outputs; }
int greta_model_weight_count(const greta_model_t *model) { return (int)model->plan->n_weights; }

const greta_tensor_info_t *greta_model_input(const greta_model_t *model, int index) {
  if (index < 0 || (uint32_t)index >= model->plan->n_inputs) return NULL;
  return &model->plan->inputs[index].info;
}

const greta_tensor_info_t *greta_model_output(const greta_model_t *model, int index) {
  if (index < 0 || (uint32_t)index >= model->plan->n_outputs) return NULL;
  return &model->plan->outputs[index].info;
}

const greta_tensor_info_t *greta_model_weight(const greta_model_t *model, int index) {
  if (index < 0 || (uint32_t)index >= model->plan->n_weights) return NULL;
  return &model->plan->weights[index].info;
}

void greta_model_memory(const greta_model_t *model, greta_memory_report_t *out_report) {
  const greta_plan_t *plan = model->plan;
  out_report->weight_bytes = plan->weight_bytes;
  out_report->kv_cache_bytes = plan->kv_bytes;
  out_report->arena_bytes = plan->arena_bytes;
  out_report->max_seq = plan->max_seq;
  out_report->max_tokens = plan->max_tokens;
  out_report->kv_dtype = plan->n_caches ? plan->caches[0].dtype : GRETA_F32;
}
