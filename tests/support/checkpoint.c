/* The checkpoint writer of checkpoint.h. Plain stdio and hand-built JSON:
 * nothing here shares code with the runtime's reader. */
#define _POSIX_C_SOURCE 200809L
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A growable text buffer; `failed` sticks once an allocation fails. */
typedef struct text_s {
  char *data;
  size_t len, cap;
  int failed;
} text_t;

static void text_put(text_t *t, const char *s, size_t n) {
  if (t->failed) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1) cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
      t->failed = 1;
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

static void text_str(text_t *t, const char *s) { text_put(t, s, strlen(s)); }

static void text_fmt(text_t *t, const char *fmt, long long v) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, fmt, v);
  text_put(t, buf, (size_t)n);
}

/* `s` as a JSON string: quotes, backslashes and control bytes escaped, the
 * rest (UTF-8) as is, as Python's json.dumps(ensure_ascii=False) would. */
static void text_json_string(text_t *t, const char *s) {
  text_str(t, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      text_put(t, esc, 2);
    } else if (c < 0x20) {
      text_fmt(t, "\\u%04llx", c);
    } else {
      text_put(t, (const char *)&c, 1);
    }
  }
  text_str(t, "\"");
}

static const char *dtype_tag(greta_dtype_t dtype) {
  switch (dtype) {
    case GRETA_F32: return "F32";
    case GRETA_F16: return "F16";
    case GRETA_BF16: return "BF16";
    case GRETA_I32: return "I32";
  }
  return NULL;
}

static size_t dtype_bytes(greta_dtype_t dtype) {
  return dtype == GRETA_F16 || dtype == GRETA_BF16 ? 2 : 4;
}

/* The bytes of tensor t's data, or -1 when its description is unusable. */
static long long tensor_bytes(const support_tensor_t *t) {
  if (!t->name || !dtype_tag(t->dtype) || t->rank < 0 || t->rank > 4 || !t->data) return -1;
  long long n = (long long)dtype_bytes(t->dtype);
  for (int d = 0; d < t->rank; d++) {
    if (t->shape[d] < 0 || (t->shape[d] > 0 && n > (1ll << 40) / t->shape[d])) return -1;
    n *= t->shape[d];
  }
  return n;
}

/* mkdir -p. */
static int make_dirs(const char *dir) {
  char *path = strdup(dir);
  if (!path) return -1;
  int rc = 0;
  for (char *p = path + 1; rc == 0; p++) {
    int last = *p == '\0';
    if (*p == '/' || last) {
      *p = '\0';
      if (mkdir(path, 0777) != 0 && errno != EEXIST) rc = -1;
      struct stat st;
      if (rc == 0 && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) rc = -1;
      if (last) break;
      *p = '/';
    }
  }
  if (rc) fprintf(stderr, "support_write_checkpoint: cannot create directory %s: %s\n", path,
                  strerror(errno));
  free(path);
  return rc;
}

static int write_file(const char *path, const void *a, size_t an, const support_tensor_t *tensors,
                      size_t first, size_t end) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "support_write_checkpoint: cannot create %s: %s\n", path, strerror(errno));
    return -1;
  }
  int ok = fwrite(a, 1, an, f) == an;
  for (size_t i = first; ok && i < end; i++) {
    size_t n = (size_t)tensor_bytes(&tensors[i]);
    ok = fwrite(tensors[i].data, 1, n, f) == n;
  }
  if (fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "support_write_checkpoint: cannot write %s\n", path);
  return ok ? 0 : -1;
}

/* One safetensors file holding tensors [first, end). */
static int write_shard(const char *path, const support_tensor_t *tensors, size_t first,
                       size_t end) {
  text_t h = {0};
  text_str(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
  long long offset = 0;
  for (size_t i = first; i < end; i++) {
    const support_tensor_t *t = &tensors[i];
    long long bytes = tensor_bytes(t);
    text_str(&h, ",");
    text_json_string(&h, t->name);
    text_str(&h, ":{\"dtype\":\"");
    text_str(&h, dtype_tag(t->dtype));
    text_str(&h, "\",\"shape\":[");
    for (int d = 0; d < t->rank; d++) text_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    text_fmt(&h, "],\"data_offsets\":[%lld,", offset);
    offset += bytes;
    text_fmt(&h, "%lld]}", offset);
  }
  text_str(&h, "}");
  while (h.len % 8) text_str(&h, " "); /* the data section starts 8-byte aligned */
  if (h.failed) {
    free(h.data);
    fprintf(stderr, "support_write_checkpoint: out of memory\n");
    return -1;
  }
  /* The 8-byte little-endian header length, then the header. */
  size_t total = 8 + h.len;
  unsigned char *head = malloc(total);
  if (!head) {
    free(h.data);
    fprintf(stderr, "support_write_checkpoint: out of memory\n");
    return -1;
  }
  for (int b = 0; b < 8; b++) head[b] = (unsigned char)((uint64_t)h.len >> (8 * b));
  memcpy(head + 8, h.data, h.len);
  free(h.data);
  int rc = write_file(path, head, total, tensors, first, end);
  free(head);
  return rc;
}

static int compare_names(const void *a, const void *b) {
  return strcmp((*(const support_tensor_t *const *)a)->name,
                (*(const support_tensor_t *const *)b)->name);
}

int support_write_checkpoint(const char *dir, const support_tensor_t *tensors, size_t count,
                             int shards) {
  if (!dir || !dir[0] || (count && !tensors) || shards < 1 || shards > 99999) {
    fprintf(stderr, "support_write_checkpoint: bad arguments (shards %d)\n", shards);
    return -1;
  }
  long long total_size = 0;
  for (size_t i = 0; i < count; i++) {
    long long bytes = tensor_bytes(&tensors[i]);
    if (bytes < 0) {
      fprintf(stderr, "support_write_checkpoint: tensor %zu (%s) has a bad dtype, rank or shape\n",
              i, tensors[i].name ? tensors[i].name : "(no name)");
      return -1;
    }
    total_size += bytes;
  }
  if (make_dirs(dir) != 0) return -1;

  size_t path_size = strlen(dir) + 64;
  char *path = malloc(path_size);
  const support_tensor_t **sorted = malloc((count ? count : 1) * sizeof *sorted);
  size_t *shard_of = malloc((count ? count : 1) * sizeof *shard_of);
  if (!path || !sorted || !shard_of) {
    free(path);
    free(sorted);
    free(shard_of);
    fprintf(stderr, "support_write_checkpoint: out of memory\n");
    return -1;
  }
  int rc = 0;
  for (int s = 0; rc == 0 && s < shards; s++) {
    size_t first = (size_t)s * count / (size_t)shards, end = (size_t)(s + 1) * count / (size_t)shards;
    if (shards == 1)
      snprintf(path, path_size, "%s/model.safetensors", dir);
    else
      snprintf(path, path_size, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, shards);
    for (size_t i = first; i < end; i++) shard_of[i] = (size_t)s;
    rc = write_shard(path, tensors, first, end);
  }
  if (rc == 0 && shards > 1) {
    /* json.dumps(index, indent=2, sort_keys=True) + "\n", as save_pretrained. */
    for (size_t i = 0; i < count; i++) sorted[i] = &tensors[i];
    qsort(sorted, count, sizeof *sorted, compare_names);
    text_t j = {0};
    text_str(&j, "{\n  \"metadata\": {\n    \"total_size\": ");
    text_fmt(&j, "%lld", total_size);
    text_str(&j, "\n  },\n  \"weight_map\": {");
    for (size_t i = 0; i < count; i++) {
      size_t s = shard_of[sorted[i] - tensors];
      char file[64];
      snprintf(file, sizeof file, "model-%05zu-of-%05d.safetensors", s + 1, shards);
      text_str(&j, i ? ",\n    " : "\n    ");
      text_json_string(&j, sorted[i]->name);
      text_str(&j, ": ");
      text_json_string(&j, file);
    }
    text_str(&j, count ? "\n  }\n}\n" : "}\n}\n");
    snprintf(path, path_size, "%s/model.safetensors.index.json", dir);
    if (j.failed) {
      fprintf(stderr, "support_write_checkpoint: out of memory\n");
      rc = -1;
    } else {
      rc = write_file(path, j.data, j.len, tensors, 0, 0);
    }
    free(j.data);
  }
  free(path);
  free(sorted);
  free(shard_of);
  return rc;
}
