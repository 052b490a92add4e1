/* Binding weights from a Hugging Face checkpoint (runtime/src/checkpoint.c):
 * a .safetensors file, a directory with model.safetensors, and shards named
 * by model.safetensors.index.json, written by tests/support/checkpoint.c as
 * save_pretrained lays them out. examples/tiny_llama.gm is compiled for the
 * CPU; its logits with weights bound from each layout must be bit for bit
 * those with the same tensors bound from host memory
 * (greta_session_bind_weight, which reads no file). Then each broken
 * checkpoint is refused with a message naming what is wrong, and binds
 * nothing. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "greta/greta.h"
#include "support.h"

enum { MAX_WEIGHTS = 64, VOCAB = 97, TOKENS = 4 };

#define INDEX "model.safetensors.index.json"

/* The model, its CPU device, and a full set of tensors for it. */
static greta_model_t *model;
static greta_device_t *device;
static int n_weights;
static support_tensor_t tensors[MAX_WEIGHTS + 2]; /* the model's, a scalar, an unused one */
static size_t n_tensors;
static void *data[MAX_WEIGHTS + 2];
static uint64_t model_bytes; /* bytes of the model's tensors in the file (their dtypes) */
static char dir[64];         /* a fresh temp directory per test */

/* Fills tensor i's data: normal values (norm weights near 1), stored as
 * f32, f16 or bf16 in turn, so that every conversion is exercised. */
static void make_tensor(size_t i, const char *name, int rank, const int64_t *dims, float scale,
                        float offset) {
  static const greta_dtype_t dtypes[3] = {GRETA_F32, GRETA_F16, GRETA_BF16};
  support_tensor_t *t = &tensors[i];
  t->name = name;
  t->rank = rank;
  t->dtype = dtypes[i % 3];
  size_t count = 1;
  for (int d = 0; d < rank; d++) count *= (size_t)(t->shape[d] = dims[d]);
  size_t esize = t->dtype == GRETA_F32 ? 4 : 2;
  uint8_t *bytes = malloc(count * esize);
  for (size_t e = 0; e < count; e++) {
    float v = offset + scale * support_normal();
    if (t->dtype == GRETA_F32) {
      memcpy(bytes + 4 * e, &v, 4);
    } else if (t->dtype == GRETA_F16) {
      _Float16 h = (_Float16)v;
      memcpy(bytes + 2 * e, &h, 2);
    } else { /* bf16: the top half of the f32, truncated (any bf16 will do) */
      uint32_t u;
      memcpy(&u, &v, 4);
      uint16_t b = (uint16_t)(u >> 16);
      memcpy(bytes + 2 * e, &b, 2);
    }
  }
  t->data = data[i] = bytes;
}

static void setup(void) {
  char *log = NULL;
  model = support_compile_file("tiny_llama.gm", "f32", "cpu", TOKENS, &log);
  cr_assert(model, "tiny_llama.gm: gretac failed for cpu: %s", log);
  free(log);
  greta_status_t st = greta_device_open(GRETA_BACKEND_CPU, 0, &device);
  cr_assert_null(st, "device: %s", greta_status_message(st));
  n_weights = greta_model_weight_count(model);
  cr_assert(n_weights > 3 && n_weights <= MAX_WEIGHTS, "tiny_llama has %d weights", n_weights);
  support_seed(42);
  model_bytes = 0;
  for (int i = 0; i < n_weights; i++) {
    const greta_tensor_info_t *w = greta_model_weight(model, i);
    int64_t dims[GRETA_MAX_RANK];
    for (int d = 0; d < w->rank; d++) dims[d] = w->dims[d].coeff;
    int is_norm = w->rank == 1;
    make_tensor((size_t)i, w->name, w->rank, dims, is_norm ? 0.1f : 0.2f, is_norm ? 1.0f : 0.0f);
    size_t count = 1;
    for (int d = 0; d < w->rank; d++) count *= (size_t)dims[d];
    model_bytes += count * (tensors[i].dtype == GRETA_F32 ? 4 : 2);
  }
  /* Real checkpoints hold tensors a model does not read, scalars among
   * them (shape []): they must not disturb the binding. */
  int64_t unused_dims[2] = {3, 5};
  make_tensor((size_t)n_weights, "model.rotary_emb.scale", 0, NULL, 1.0f, 0.0f);
  make_tensor((size_t)n_weights + 1, "model.unused.weight", 2, unused_dims, 1.0f, 0.0f);
  n_tensors = (size_t)n_weights + 2;
  snprintf(dir, sizeof dir, "/tmp/greta_checkpoint_XXXXXX");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) {
  for (size_t i = 0; i < n_tensors; i++) free(data[i]);
  greta_device_destroy(device);
  greta_model_destroy(model);
  char command[128];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);


/* ---- helpers ------------------------------------------------------------- */

/* DIR/sub (a static buffer per call site is not needed: callers copy). */
static void path_in(char *out, size_t size, const char *sub, const char *file) {
  snprintf(out, size, "%s/%s%s%s", dir, sub, file ? "/" : "", file ? file : "");
}

/* Writes the tensors into DIR/sub in `shards` shards. */
static void write_checkpoint(const char *sub, int shards) {
  char path[256];
  path_in(path, sizeof path, sub, NULL);
  cr_assert_eq(support_write_checkpoint(path, tensors, n_tensors, shards), 0, "writing %s", path);
}

static greta_session_t *new_session(void) {
  greta_session_t *s;
  SUPPORT_OK(greta_session_create(model, device, &s));
  return s;
}

/* A prefill of 3 tokens and a decode of 1: the logits of all 4 rows. */
static void run(greta_session_t *s, float *logits) {
  static const int32_t ids[TOKENS] = {5, 17, 96, 0};
  SUPPORT_OK(greta_session_set_input(s, "tokens", ids, 3 * sizeof(int32_t)));
  SUPPORT_OK(greta_session_step(s, 3, 0));
  SUPPORT_OK(greta_session_get_output(s, "logits", logits, 3 * VOCAB * sizeof(float)));
  SUPPORT_OK(greta_session_set_input(s, "tokens", ids + 3, sizeof(int32_t)));
  SUPPORT_OK(greta_session_step(s, 1, 3));
  SUPPORT_OK(greta_session_get_output(s, "logits", logits + 3 * VOCAB, VOCAB * sizeof(float)));
}

/* The logits with every weight bound from host memory: the reference. */
static void reference(float *logits) {
  greta_session_t *s = new_session();
  for (int i = 0; i < n_weights; i++) {
    size_t count = 1;
    for (int d = 0; d < tensors[i].rank; d++) count *= (size_t)tensors[i].shape[d];
    SUPPORT_OK(greta_session_bind_weight(s, tensors[i].name, tensors[i].dtype, tensors[i].data, count));
  }
  run(s, logits);
  greta_session_destroy(s);
}

static void expect_same_logits(const float *got, const float *want, const char *what) {
  double sum = 0;
  for (int i = 0; i < TOKENS * VOCAB; i++) sum += fabs(want[i]);
  cr_assert_gt(sum, 1.0, "the reference logits are near zero: the test would prove nothing");
  cr_assert_eq(memcmp(got, want, TOKENS * VOCAB * sizeof(float)), 0,
               "%s: logits differ from host-bound weights' (first: %g vs %g)", what, got[0],
               want[0]);
}

/* Replaces the first `from` in DIR/sub/file with `to` (which must be there).
 * The file may be binary (a shard: its length prefix holds NUL bytes). */
static void edit_file(const char *sub, const char *file, const char *from, const char *to) {
  char path[256];
  path_in(path, sizeof path, sub, file);
  size_t len, n = strlen(from);
  char *text = support_read_file(path, &len);
  size_t at = 0;
  while (at + n <= len && memcmp(text + at, from, n) != 0) at++;
  cr_assert(at + n <= len, "%s does not hold %s", path, from);
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  fwrite(text, 1, at, f);
  fwrite(to, 1, strlen(to), f);
  fwrite(text + at + n, 1, len - at - n, f);
  fclose(f);
  free(text);
}

static void write_text(const char *sub, const char *file, const char *text) {
  char path[256];
  path_in(path, sizeof path, sub, file);
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
}

/* The shard (1-based) the writer put tensor `name` in, read from the index. */
static int shard_of(const char *sub, const char *name, int shards) {
  char path[256], entry[256];
  path_in(path, sizeof path, sub, INDEX);
  size_t len;
  char *text = support_read_file(path, &len);
  int found = 0;
  for (int k = 1; k <= shards && !found; k++) {
    snprintf(entry, sizeof entry, "\"%s\": \"model-%05d-of-%05d.safetensors\"", name, k, shards);
    if (strstr(text, entry)) found = k;
  }
  free(text);
  cr_assert(found, "%s: no weight_map entry for %s", path, name);
  return found;
}

/* The index of the tensor called `name`. */
static int find_tensor(const char *name) {
  for (size_t i = 0; i < n_tensors; i++)
    if (strcmp(tensors[i].name, name) == 0) return (int)i;
  cr_assert_fail("tiny_llama has no weight %s", name);
  return -1;
}

/* A step must still refuse: every weight unbound. */
static void expect_nothing_bound(greta_session_t *s) {
  char needle[64];
  snprintf(needle, sizeof needle, "(%d of %d weights are unbound", n_weights, n_weights);
  static const int32_t id = 1;
  SUPPORT_OK(greta_session_set_input(s, "tokens", &id, sizeof id));
  SUPPORT_FAILS(greta_session_step(s, 1, 0), GRETA_FAILED_PRECONDITION, needle);
}

/* ---- binding ------------------------------------------------------------- */

Test(checkpoint, every_layout_binds_the_values_of_host_memory) {
  static float want[TOKENS * VOCAB], got[TOKENS * VOCAB];
  reference(want);
  write_checkpoint("one", 1);
  write_checkpoint("three", 3);
  struct {
    const char *sub, *file, *what;
  } layouts[] = {
      {"one", "model.safetensors", "a .safetensors file"},
      {"one", NULL, "a directory with model.safetensors"},
      {"three", NULL, "a directory with 3 shards and " INDEX},
  };
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
    char path[256];
    path_in(path, sizeof path, layouts[i].sub, layouts[i].file);
    greta_session_t *s = new_session();
    SUPPORT_OK(greta_session_bind_checkpoint(s, path, NULL, NULL));
    memset(got, 0xff, sizeof got);
    run(s, got);
    expect_same_logits(got, want, layouts[i].what);
    greta_session_destroy(s);
  }
  /* greta_session_bind_safetensors: the same code, one shard. */
  char path[256];
  path_in(path, sizeof path, "one", "model.safetensors");
  greta_session_t *s = new_session();
  SUPPORT_OK(greta_session_bind_safetensors(s, path));
  run(s, got);
  expect_same_logits(got, want, "greta_session_bind_safetensors");
  greta_session_destroy(s);
}

typedef struct progress_s {
  int calls;
  int64_t last_done, total;
  uint64_t last_bytes, bytes_total;
  int in_order; /* done rose by 1 and bytes never fell, every call */
} progress_t;

static void count_progress(void *user, int64_t done, int64_t total, uint64_t bytes_done,
                           uint64_t bytes_total) {
  progress_t *p = user;
  if (done != p->last_done + 1 || bytes_done < p->last_bytes || bytes_done > bytes_total)
    p->in_order = 0;
  p->calls++;
  p->last_done = done;
  p->total = total;
  p->last_bytes = bytes_done;
  p->bytes_total = bytes_total;
}

Test(checkpoint, progress_is_called_after_each_tensor) {
  write_checkpoint("three", 3);
  char path[256];
  path_in(path, sizeof path, "three", NULL);
  progress_t p = {.in_order = 1};
  greta_session_t *s = new_session();
  SUPPORT_OK(greta_session_bind_checkpoint(s, path, count_progress, &p));
  greta_session_destroy(s);
  cr_assert_eq(p.calls, n_weights, "%d calls for %d tensors", p.calls, n_weights);
  cr_assert(p.in_order, "progress did not count up one tensor at a time");
  cr_assert_eq(p.total, n_weights);
  /* Bytes as stored in the files (f32, f16 and bf16 mixed), the unused
   * tensors not counted. */
  cr_assert_eq(p.bytes_total, model_bytes, "bytes_total %llu, expected %llu",
               (unsigned long long)p.bytes_total, (unsigned long long)model_bytes);
  cr_assert_eq(p.last_bytes, model_bytes);
}

/* ---- refusals ------------------------------------------------------------ */

Test(checkpoint, each_broken_checkpoint_names_its_fault_and_binds_nothing, .timeout = 60) {
  greta_session_t *s = new_session();
  char path[256], name[256];
  int head = find_tensor("lm_head.weight"), embed = find_tensor("model.embed_tokens.weight");
  const char *lm_head = tensors[head].name;

  /* A directory with neither file. */
  path_in(path, sizeof path, "empty", NULL);
  cr_assert_eq(mkdir(path, 0700), 0);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND,
        "expected a checkpoint directory holding model.safetensors or " INDEX ", found neither");

  /* A shard missing. */
  write_checkpoint("missing", 3);
  path_in(path, sizeof path, "missing", "model-00002-of-00003.safetensors");
  cr_assert_eq(unlink(path), 0);
  path_in(path, sizeof path, "missing", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND,
        "shard model-00002-of-00003.safetensors, named by " INDEX ", does not exist: cannot open");

  /* An index naming a file that does not exist (for a tensor the model
   * does not even use: every shard named must be there). */
  write_checkpoint("ghost", 3);
  snprintf(name, sizeof name, "\"model.unused.weight\": \"model-%05d-of-00003.safetensors\"",
           shard_of("ghost", "model.unused.weight", 3));
  edit_file("ghost", INDEX, name, "\"model.unused.weight\": \"no-such-shard.safetensors\"");
  path_in(path, sizeof path, "ghost", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND,
        "shard no-such-shard.safetensors, named by " INDEX ", does not exist");

  /* weight_map naming a path, not a file of the directory. */
  static const char *const paths[] = {"../x", "a/b", "..", "/etc/passwd", ""};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    char text[256], needle[256];
    snprintf(text, sizeof text,
             "{\"metadata\": {\"total_size\": 4}, \"weight_map\": {\"%s\": \"%s\"}}",
             tensors[0].name, paths[i]);
    write_text("ghost", INDEX, text);
    snprintf(needle, sizeof needle, "weight_map puts tensor \"%s\" in \"%s\", which is not a plain file name",
             tensors[0].name, paths[i]);
    SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_INVALID_ARGUMENT, needle);
  }

  /* The index's JSON corrupt, or not what an index holds. */
  write_text("ghost", INDEX, "{\"metadata\": {},\n \"weight_map\": {\"a\": \"b\",");
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_DATA_LOSS,
        INDEX ": line 2, column");
  write_text("ghost", INDEX, "{\"metadata\": {}, \"weight_map\": []}");
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_DATA_LOSS,
        "expected \"weight_map\" (an object: tensor name -> shard file name), found an array");
  write_text("ghost", INDEX, "{\"weight_map\": {\"x\": 3}}");
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_DATA_LOSS,
        "weight_map[\"x\"]: expected a shard file name");
  /* A key twice: jansson refuses it (JSON_REJECT_DUPLICATES), it is not
   * resolved to either shard. */
  write_text("ghost", INDEX,
             "{\"weight_map\": {\"x\": \"model-00001-of-00003.safetensors\", "
             "\"x\": \"model-00002-of-00003.safetensors\"}}");
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_DATA_LOSS,
        "duplicate object key");

  /* A tensor the model needs missing from weight_map. */
  write_checkpoint("unlisted", 3);
  snprintf(name, sizeof name, "\"%s\":", lm_head);
  edit_file("unlisted", INDEX, name, "\"lm_head.renamed\":");
  path_in(path, sizeof path, "unlisted", NULL);
  char needle[256];
  snprintf(needle, sizeof needle, "missing tensor \"%s\": not in weight_map of " INDEX, lm_head);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND, needle);

  /* A tensor listed in the index, absent from the shard it names. */
  write_checkpoint("misplaced", 3);
  int k = shard_of("misplaced", lm_head, 3), other = k == 1 ? 2 : 1;
  char from[256], to[256];
  snprintf(from, sizeof from, "\"%s\": \"model-%05d-of-00003.safetensors\"", lm_head, k);
  snprintf(to, sizeof to, "\"%s\": \"model-%05d-of-00003.safetensors\"", lm_head, other);
  edit_file("misplaced", INDEX, from, to);
  path_in(path, sizeof path, "misplaced", NULL);
  snprintf(needle, sizeof needle,
           "missing tensor \"%s\": expected in shard model-%05d-of-00003.safetensors (where "
           "weight_map puts it), which does not hold it",
           lm_head, other);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND, needle);

  /* A shard truncated inside its data, then inside its header. */
  write_checkpoint("truncated", 3);
  path_in(path, sizeof path, "truncated", "model-00003-of-00003.safetensors");
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(truncate(path, st.st_size - 6), 0);
  path_in(name, sizeof name, "truncated", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, name, NULL, NULL), GRETA_DATA_LOSS,
        "shard model-00003-of-00003.safetensors: tensor ");
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, name, NULL, NULL), GRETA_DATA_LOSS,
        "must lie inside the");
  cr_assert_eq(truncate(path, 20), 0);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, name, NULL, NULL), GRETA_DATA_LOSS,
        "shard model-00003-of-00003.safetensors: the header length");

  /* A shard's header with a key twice. */
  write_checkpoint("twice", 3);
  k = shard_of("twice", lm_head, 3);
  snprintf(name, sizeof name, "model-%05d-of-00003.safetensors", k);
  /* "shape" renamed "dtype", the same length: the header length stays right. */
  snprintf(from, sizeof from, "\"shape\":[%lld,%lld]", (long long)tensors[head].shape[0],
           (long long)tensors[head].shape[1]);
  snprintf(to, sizeof to, "\"dtype\":[%lld,%lld]", (long long)tensors[head].shape[0],
           (long long)tensors[head].shape[1]);
  edit_file("twice", name, from, to);
  path_in(path, sizeof path, "twice", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_DATA_LOSS,
        "a key appears twice in one object (duplicate object key near '\"dtype\"')");

  /* A tensor of the wrong shape: both shapes, and the shard. */
  support_tensor_t saved = tensors[embed];
  int64_t swapped[2] = {saved.shape[1], saved.shape[0]};
  tensors[embed].shape[0] = swapped[0];
  tensors[embed].shape[1] = swapped[1];
  write_checkpoint("shape", 3);
  tensors[embed] = saved;
  path_in(path, sizeof path, "shape", NULL);
  snprintf(needle, sizeof needle, "shard model-%05d-of-00003.safetensors: tensor %s: wrong shape: "
           "expected [%lld, %lld], found [%lld, %lld]",
           shard_of("shape", saved.name, 3), saved.name, (long long)saved.shape[0],
           (long long)saved.shape[1], (long long)swapped[0], (long long)swapped[1]);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_INVALID_ARGUMENT, needle);

  /* A FIFO for a shard: refused at once, never waited on. */
  write_checkpoint("fifo", 3);
  path_in(path, sizeof path, "fifo", "model-00002-of-00003.safetensors");
  cr_assert_eq(unlink(path), 0);
  cr_assert_eq(mkfifo(path, 0600), 0);
  path_in(path, sizeof path, "fifo", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_INVALID_ARGUMENT,
        "is not a regular file (a FIFO)");

  /* A path that is not there. */
  path_in(path, sizeof path, "nowhere", NULL);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, path, NULL, NULL), GRETA_NOT_FOUND, "cannot open");

  /* After all of that, nothing is bound. */
  expect_nothing_bound(s);
  greta_session_destroy(s);
}

/* A checkpoint whose first tensors are fine and whose last is broken binds
 * none of them: the weights bound before keep their values. */
Test(checkpoint, a_late_error_leaves_earlier_weights_alone) {
  static float want[TOKENS * VOCAB], got[TOKENS * VOCAB];
  reference(want);
  write_checkpoint("good", 3);
  /* The same tensors scaled, with the last one's shape wrong. */
  for (int i = 0; i < n_weights; i++) {
    size_t count = 1, esize = tensors[i].dtype == GRETA_F32 ? 4 : 2;
    for (int d = 0; d < tensors[i].rank; d++) count *= (size_t)tensors[i].shape[d];
    uint8_t *bytes = data[i];
    for (size_t e = 0; e < count * esize; e += esize) bytes[e + esize - 1] ^= 0x01; /* sign/exp bit */
  }
  tensors[n_weights - 1].shape[0] -= 1;
  write_checkpoint("bad", 3);
  tensors[n_weights - 1].shape[0] += 1;

  char good[256], bad[256];
  path_in(good, sizeof good, "good", NULL);
  path_in(bad, sizeof bad, "bad", NULL);
  greta_session_t *s = new_session();
  SUPPORT_OK(greta_session_bind_checkpoint(s, good, NULL, NULL));
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, bad, NULL, NULL), GRETA_INVALID_ARGUMENT, "wrong shape");
  run(s, got);
  expect_same_logits(got, want, "the good checkpoint, after a bad one was refused");
  greta_session_destroy(s);
}

/* The first step folds RMSNorm weights into their matmuls (session.c):
 * those cannot be bound again. A whole-model bind after a step is refused
 * before it binds anything, also the weights that could be rebound. */
Test(checkpoint, a_bind_after_the_fold_is_refused_whole) {
  static float want[TOKENS * VOCAB], got[TOKENS * VOCAB];
  write_checkpoint("good", 1);
  for (int i = 0; i < n_weights; i++) { /* other values for every weight */
    size_t count = 1, esize = tensors[i].dtype == GRETA_F32 ? 4 : 2;
    for (int d = 0; d < tensors[i].rank; d++) count *= (size_t)tensors[i].shape[d];
    uint8_t *bytes = data[i];
    for (size_t e = 0; e < count * esize; e += esize) bytes[e + esize - 1] ^= 0x01;
  }
  write_checkpoint("other", 1);
  char good[256], other[256];
  path_in(good, sizeof good, "good", NULL);
  path_in(other, sizeof other, "other", NULL);
  greta_session_t *s = new_session();
  SUPPORT_OK(greta_session_bind_checkpoint(s, good, NULL, NULL));
  run(s, want);
  SUPPORT_FAILS(greta_session_bind_checkpoint(s, other, NULL, NULL), GRETA_FAILED_PRECONDITION,
        "it cannot be bound again in this session");
  run(s, got);
  expect_same_logits(got, want, "after a refused rebind");
  greta_session_destroy(s);
}
