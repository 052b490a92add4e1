/* Binding a session's weights from a Hugging Face checkpoint: one
 * .safetensors file, or a directory holding model.safetensors, or shards
 * named by model.safetensors.index.json ({"metadata": {...}, "weight_map":
 * {"tensor name": "model-00001-of-00002.safetensors", ...}}), as
 * transformers' save_pretrained writes them. A single file is a checkpoint
 * of one shard, so greta_session_bind_safetensors is the same code.
 *
 * Every shard is mapped and its header read, every tensor the model needs
 * found and checked (dtype, shape, data range) before anything is bound:
 * a bad checkpoint binds nothing. The index is read with jansson, as the
 * safetensors headers are (safetensors.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_io.h"
#include "safetensors.h"
#include "session.h"
#include "status.h"

#define SINGLE_NAME "model.safetensors"
#define INDEX_NAME "model.safetensors.index.json"

/* A mapped shard. */
typedef struct shard_s {
  const char *file; /* its name in the checkpoint's directory (or the file's base name) */
  greta_st_file_t st;
} shard_t;

/* An opened checkpoint. */
typedef struct checkpoint_s {
  shard_t *shards; /* (n_shards), sorted by file name */
  size_t n_shards;
  json_t *index;      /* the index's JSON; NULL for a single file */
  json_t *weight_map; /* borrowed from index: tensor name -> shard file name */
  char *single_name;  /* the base name of a single file (owned) */
} checkpoint_t;

static void checkpoint_close(checkpoint_t *ck) {
  for (size_t i = 0; i < ck->n_shards; i++) greta_st_close(&ck->shards[i].st);
  free(ck->shards);
  json_decref(ck->index);
  free(ck->single_name);
  memset(ck, 0, sizeof *ck);
}

/* "DIR/NAME", malloc'd. */
static char *join_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *path = malloc(n);
  if (path) snprintf(path, n, "%s/%s", dir, name);
  return path;
}

static greta_status_t open_single(checkpoint_t *ck, const char *path) {
  const char *slash = strrchr(path, '/');
  ck->single_name = strdup(slash ? slash + 1 : path);
  ck->shards = calloc(1, sizeof *ck->shards);
  if (!ck->single_name || !ck->shards)
    return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  ck->shards[0].file = ck->single_name;
  GRETA_RETURN_IF_ERROR(greta_st_open(path, &ck->shards[0].st));
  ck->n_shards = 1;
  return NULL;
}

/* Is `name` a plain file name, one that stays inside the directory? */
static bool plain_file_name(const char *name) {
  return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
         strcmp(name, "..") != 0;
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_shards(const void *a, const void *b) {
  return strcmp(((const shard_t *)a)->file, ((const shard_t *)b)->file);
}

/* Reads the index at DIR/INDEX_NAME, checks every shard name in its
 * weight_map, then maps and reads every shard it names. */
static greta_status_t open_index(checkpoint_t *ck, const char *dir) {
  char *path = join_path(dir, INDEX_NAME);
  if (!path) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  uint8_t *text;
  size_t size;
  greta_status_t status = greta_file_read_regular(path, GRETA_ST_MAX_HEADER, &text, &size);
  free(path);
  if (status) return greta_status_annotate(status, INDEX_NAME);
  json_error_t err;
  ck->index = json_loadb((const char *)text, size, JSON_REJECT_DUPLICATES, &err);
  free(text);
  if (!ck->index)
    return greta_status_make(json_error_code(&err) == json_error_out_of_memory
                                 ? GRETA_RESOURCE_EXHAUSTED
                                 : GRETA_DATA_LOSS,
                             INDEX_NAME ": line %d, column %d: expected JSON: %s", err.line,
                             err.column, err.text);
  ck->weight_map = json_object_get(ck->index, "weight_map");
  if (!json_is_object(ck->weight_map))
    return greta_status_make(GRETA_DATA_LOSS,
                             INDEX_NAME ": expected \"weight_map\" (an object: tensor name -> "
                             "shard file name), found %s",
                             !ck->weight_map ? "none" : json_is_array(ck->weight_map) ? "an array"
                                                                                       : "another value");

  /* The distinct shard names, each checked before any file is opened. */
  size_t n_entries = json_object_size(ck->weight_map), n_names = 0;
  const char **names = malloc((n_entries + 1) * sizeof *names);
  if (!names) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  const char *tensor;
  json_t *file;
  json_object_foreach(ck->weight_map, tensor, file) {
    if (!json_is_string(file)) {
      status = greta_status_make(GRETA_DATA_LOSS,
                                 INDEX_NAME ": weight_map[\"%s\"]: expected a shard file name "
                                 "(a string), found another value",
                                 tensor);
      break;
    }
    const char *name = json_string_value(file);
    if (!plain_file_name(name)) {
      status = greta_status_make(GRETA_INVALID_ARGUMENT,
                                 INDEX_NAME ": weight_map puts tensor \"%s\" in \"%s\", which is "
                                 "not a plain file name in the checkpoint's directory (a name "
                                 "without '/', not '.' or '..')",
                                 tensor, name);
      break;
    }
    names[n_names++] = name;
  }
  if (!status) {
    qsort(names, n_names, sizeof *names, compare_strings);
    size_t distinct = 0;
    for (size_t i = 0; i < n_names; i++)
      if (distinct == 0 || strcmp(names[distinct - 1], names[i]) != 0) names[distinct++] = names[i];
    n_names = distinct;
    ck->shards = calloc(n_names + 1, sizeof *ck->shards);
    if (!ck->shards) status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  }
  /* Every shard is mapped and read, also one holding only tensors this
   * model does not use: a checkpoint missing a file is broken. */
  for (size_t i = 0; !status && i < n_names; i++) {
    char *shard_path = join_path(dir, names[i]);
    if (!shard_path) {
      status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    shard_t *shard = &ck->shards[ck->n_shards];
    shard->file = names[i]; /* owned by ck->index */
    status = greta_st_open(shard_path, &shard->st);
    free(shard_path);
    if (status && greta_status_code(status) == GRETA_NOT_FOUND)
      status = greta_status_annotate(status, "shard %s, named by " INDEX_NAME ", does not exist",
                                     names[i]);
    else if (status)
      status = greta_status_annotate(status, "shard %s", names[i]);
    else
      ck->n_shards++;
  }
  free(names); /* sorted already: ck->shards is in name order */
  return status;
}

/* Opens `path`: a file, or a directory with model.safetensors (preferred,
 * as transformers does) or the index. */
static greta_status_t checkpoint_open(checkpoint_t *ck, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return open_single(ck, path);
  char *single = join_path(path, SINGLE_NAME), *index = join_path(path, INDEX_NAME);
  greta_status_t status = NULL;
  if (!single || !index) {
    status = greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  } else if (stat(single, &st) == 0 || errno != ENOENT) {
    status = greta_status_annotate(open_single(ck, single), SINGLE_NAME);
  } else if (stat(index, &st) == 0 || errno != ENOENT) {
    status = open_index(ck, path);
  } else {
    status = greta_status_make(GRETA_NOT_FOUND,
                               "expected a checkpoint directory holding " SINGLE_NAME " or " INDEX_NAME
                               ", found neither");
  }
  free(single);
  free(index);
  return status;
}

/* The shard called `file` (one open_index mapped). */
static const shard_t *find_shard(const checkpoint_t *ck, const char *file) {
  shard_t key = {.file = file};
  return ck->n_shards ? bsearch(&key, ck->shards, ck->n_shards, sizeof key, compare_shards) : NULL;
}

/* ---- checking and binding --------------------------------------------------- */

static bool dtype_from_name(const char *name, greta_dtype_t *out) {
  static const struct {
    const char *name;
    greta_dtype_t dtype;
  } table[] = {{"F32", GRETA_F32}, {"F16", GRETA_F16}, {"BF16", GRETA_BF16}, {"I32", GRETA_I32}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(name, table[i].name) == 0) {
      *out = table[i].dtype;
      return true;
    }
  return false;
}

static void format_shape(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < rank && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)dims[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

/* Checks tensor `t` against plan weight `index`: dtype, shape, and that its
 * data range spans exactly its elements. *out_dtype is the tensor's dtype. */
static greta_status_t check_one(const greta_session_t *session, uint32_t index,
                                const greta_st_tensor_t *t, greta_dtype_t *out_dtype) {
  const greta_plan_weight_t *w = &greta_session_plan(session)->weights[index];
  greta_dtype_t dtype;
  bool float_storage = w->info.dtype != GRETA_I32;
  if (!dtype_from_name(t->dtype, &dtype) || (float_storage && dtype == GRETA_I32) ||
      (!float_storage && dtype != GRETA_I32))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "tensor %s: wrong dtype: expected %s (the plan stores %s), found %s",
                             t->name, float_storage ? "F32, F16 or BF16" : "I32",
                             greta_dtype_name(w->info.dtype), t->dtype);
  bool same_shape = t->rank == w->info.rank;
  for (int d = 0; same_shape && d < t->rank; d++) same_shape = t->shape[d] == w->info.dims[d].coeff;
  if (!same_shape) {
    int64_t expected[GRETA_MAX_RANK];
    for (int d = 0; d < w->info.rank; d++) expected[d] = w->info.dims[d].coeff;
    char want[128], got[512];
    format_shape(expected, w->info.rank, want, sizeof want);
    format_shape(t->shape, t->rank, got, sizeof got);
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "tensor %s: wrong shape: expected %s, found %s", t->name, want, got);
  }
  /* The shape equals the plan's, so this product cannot overflow. */
  uint64_t bytes = w->bytes / greta_dtype_size(w->info.dtype) * greta_dtype_size(dtype);
  if (t->end - t->begin != bytes)
    return greta_status_make(GRETA_DATA_LOSS,
                             "tensor %s: data_offsets [%llu, %llu) must span %llu bytes (its "
                             "shape in %s); the file is corrupt",
                             t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                             (unsigned long long)bytes, t->dtype);
  *out_dtype = dtype;
  return NULL;
}

/* Converts and uploads a tensor check_one accepted. */
static greta_status_t bind_one(greta_session_t *session, uint32_t index,
                               const greta_st_file_t *file, const greta_st_tensor_t *t,
                               greta_dtype_t dtype) {
  size_t bytes = (size_t)(t->end - t->begin), count = bytes / greta_dtype_size(dtype);
  const uint8_t *src = file->data + t->begin;
  /* The conversion reads typed elements: give it aligned memory. */
  if ((uintptr_t)src % greta_dtype_size(dtype) != 0) {
    void *aligned = malloc(bytes ? bytes : 1);
    if (!aligned) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
    memcpy(aligned, src, bytes);
    greta_status_t status = greta_session_bind_index(session, index, dtype, aligned, count);
    free(aligned);
    return status;
  }
  return greta_session_bind_index(session, index, dtype, src, count);
}

/* Where plan weight w comes from. */
typedef struct source_s {
  const shard_t *shard;
  const greta_st_tensor_t *tensor;
  greta_dtype_t dtype;
} source_t;

/* Finds and checks the tensor for plan weight `w`. */
static greta_status_t locate(const greta_session_t *session, const checkpoint_t *ck, uint32_t w,
                             source_t *out) {
  const greta_plan_t *plan = greta_session_plan(session);
  const char *name = plan->weights[w].info.name;
  if (ck->weight_map) {
    const json_t *file = json_object_get(ck->weight_map, name);
    if (!file)
      return greta_status_make(GRETA_NOT_FOUND,
                               "missing tensor \"%s\": not in weight_map of " INDEX_NAME
                               " (weight %u of the model's %u)",
                               name, w, plan->n_weights);
    out->shard = find_shard(ck, json_string_value(file));
    out->tensor = out->shard ? greta_st_find(&out->shard->st, name) : NULL;
    if (!out->tensor)
      return greta_status_make(GRETA_NOT_FOUND,
                               "missing tensor \"%s\": expected in shard %s (where weight_map "
                               "puts it), which does not hold it (weight %u of the model's %u)",
                               name, json_string_value(file), w, plan->n_weights);
    return greta_status_annotate(check_one(session, w, out->tensor, &out->dtype), "shard %s",
                                 out->shard->file);
  }
  out->shard = &ck->shards[0];
  out->tensor = greta_st_find(&out->shard->st, name);
  if (!out->tensor)
    return greta_status_make(GRETA_NOT_FOUND,
                             "missing tensor \"%s\" (weight %u of the model's %u; %s has %zu "
                             "tensors)",
                             name, w, plan->n_weights, out->shard->file, out->shard->st.count);
  return check_one(session, w, out->tensor, &out->dtype);
}

static greta_status_t bind_all(greta_session_t *session, const checkpoint_t *ck,
                               greta_bind_progress_fn progress, void *user) {
  const greta_plan_t *plan = greta_session_plan(session);
  source_t *sources = calloc(plan->n_weights + 1u, sizeof *sources);
  if (!sources) return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "out of memory");
  /* Check every weight before binding any: a bad checkpoint binds nothing,
   * and neither does one that would rebind a folded weight. */
  greta_status_t status = NULL;
  uint64_t bytes_total = 0, bytes_done = 0;
  for (uint32_t w = 0; !status && w < plan->n_weights; w++) {
    status = locate(session, ck, w, &sources[w]);
    if (!status) status = greta_session_check_rebind(session, w);
    if (!status) bytes_total += sources[w].tensor->end - sources[w].tensor->begin;
  }
  for (uint32_t w = 0; !status && w < plan->n_weights; w++) {
    status = bind_one(session, w, &sources[w].shard->st, sources[w].tensor, sources[w].dtype);
    bytes_done += sources[w].tensor->end - sources[w].tensor->begin;
    if (!status && progress) progress(user, (int64_t)w + 1, plan->n_weights, bytes_done, bytes_total);
  }
  free(sources);
  return status;
}

greta_status_t greta_session_bind_checkpoint(greta_session_t *session, const char *path,
                                             greta_bind_progress_fn progress, void *user) {
  checkpoint_t ck = {0};
  greta_status_t status = checkpoint_open(&ck, path);
  if (!status) status = bind_all(session, &ck, progress, user);
  checkpoint_close(&ck);
  return greta_status_annotate(status, "checkpoint %s", path);
}

greta_status_t greta_session_bind_safetensors(greta_session_t *session, const char *path) {
  checkpoint_t ck = {0};
  greta_status_t status = open_single(&ck, path);
  if (!status) status = bind_all(session, &ck, NULL, NULL);
  checkpoint_close(&ck);
  return greta_status_annotate(status, "safetensors %s", path);
}
