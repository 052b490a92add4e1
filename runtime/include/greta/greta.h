/* libgreta: load a model compiled by gretac and run it.
 *
 * Ownership, once for the whole API: an object returned through an `out_`
 * parameter of a `_create` / `_open` function is owned by the caller, who
 * releases it with the matching `_destroy`. Pointers passed in are borrowed
 * for the duration of the call unless a comment says otherwise. A
 * greta_status_t that is not GRETA_OK owns a message: read it with
 * greta_status_message() and free it with greta_status_free().
 *
 * Every fallible function returns a greta_status_t. Nothing here calls
 * exit() or aborts on bad input.
 *
 * Threads, once for the whole API: nothing locks. A model is read-only once
 * opened: any number of sessions, on any threads, may share it. A session
 * (its weights, KV cache, inputs and outputs) belongs to one thread at a
 * time. A GPU device has one stream that all its sessions use: call into a
 * GPU device's sessions from one thread at a time. The CPU device keeps no
 * state between calls: sessions on it may run on different threads at once
 * (tests/threads/two_sessions.c runs two so, also under TSan). Status objects are plain heap values.
 */
#ifndef GRETA_GRETA_H
#define GRETA_GRETA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRETA_VERSION_MAJOR 0
#define GRETA_VERSION_MINOR 1
#define GRETA_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------ */

typedef enum greta_status_code_e {
  GRETA_OK = 0,
  GRETA_INVALID_ARGUMENT = 1, /* the caller passed something wrong */
  GRETA_NOT_FOUND = 2,        /* a file, name or symbol does not exist */
  GRETA_OUT_OF_RANGE = 3,     /* e.g. pos + T > max_seq */
  GRETA_DATA_LOSS = 4,        /* a corrupt, truncated or foreign file */
  GRETA_UNAVAILABLE = 5,      /* a library or device is not present */
  GRETA_RESOURCE_EXHAUSTED = 6, /* not enough memory */
  GRETA_FAILED_PRECONDITION = 7, /* e.g. target ID mismatch, weights unbound */
  GRETA_INTERNAL = 8,         /* a GPU API failed or an invariant broke */
  GRETA_UNIMPLEMENTED = 9,
} greta_status_code_t;

/* NULL means OK; anything else is a heap object with a code and a message. */
typedef struct greta_status_s *greta_status_t;

/* The code of a status (GRETA_OK for NULL). */
greta_status_code_t greta_status_code(greta_status_t status);
/* The message of a status ("OK" for NULL). Owned by the status. */
const char *greta_status_message(greta_status_t status);
/* Releases a status. NULL is fine. */
void greta_status_free(greta_status_t status);

/* ---- types --------------------------------------------------------------- */

typedef enum greta_dtype_e {
  GRETA_F32 = 0,
  GRETA_F16 = 1,
  GRETA_BF16 = 2,
  GRETA_I32 = 3,
} greta_dtype_t;

/* Bytes per element of a dtype. */
size_t greta_dtype_size(greta_dtype_t dtype);
/* "f32", "f16", "bf16", "i32". */
const char *greta_dtype_name(greta_dtype_t dtype);

#define GRETA_MAX_RANK 4

/* One dimension: `coeff * symbol` when symbol is non-NULL (e.g. 1 * "T"),
 * else the constant `coeff`. */
typedef struct greta_dim_s {
  int64_t coeff;
  const char *symbol; /* owned by the model; NULL for a constant */
} greta_dim_t;

/* A named tensor of the model's interface: an input, output or weight. */
typedef struct greta_tensor_info_s {
  const char *name; /* owned by the model */
  greta_dtype_t dtype;
  int rank;
  greta_dim_t dims[GRETA_MAX_RANK];
} greta_tensor_info_t;

/* What the model needs in memory, in bytes. */
typedef struct greta_memory_report_s {
  uint64_t weight_bytes;   /* all weights, in their storage dtype */
  uint64_t kv_cache_bytes; /* K and V of every layer for max_seq tokens */
  uint64_t arena_bytes;    /* activations for the largest step */
  int64_t max_seq;         /* KV-cache capacity in tokens */
  int64_t max_tokens;      /* largest T one step accepts */
  greta_dtype_t kv_dtype;  /* the KV cache's element dtype (f32 when there is no cache) */
} greta_memory_report_t;

/* ---- model: a compiled file, read on the host ---------------------------- */

typedef struct greta_model_s greta_model_t;

/* Reads and verifies a file written by gretac (a code object with the plan
 * inside, or a CPU plan file). Needs no GPU. */
greta_status_t greta_model_open(const char *path, greta_model_t **out_model);
/* Same, from bytes in memory; the bytes are copied. */
greta_status_t greta_model_open_memory(const void *data, size_t size,
                                       greta_model_t **out_model);
void greta_model_destroy(greta_model_t *model);

/* The full target ID the file was compiled for: "gfx942:sramecc+:xnack-",
 * "sm_90", "cpu". Owned by the model. */
const char *greta_model_target(const greta_model_t *model);
/* The toolchain and its version that compiled it, e.g. "clang 19.1.7". */
const char *greta_model_toolchain(const greta_model_t *model);

int greta_model_input_count(const greta_model_t *model);
int greta_model_output_count(const greta_model_t *model);
int greta_model_weight_count(const greta_model_t *model);
/* Index must be in range; returns NULL otherwise. Owned by the model. */
const greta_tensor_info_t *greta_model_input(const greta_model_t *model, int index);
const greta_tensor_info_t *greta_model_output(const greta_model_t *model, int index);
const greta_tensor_info_t *greta_model_weight(const greta_model_t *model, int index);
void greta_model_memory(const greta_model_t *model, greta_memory_report_t *out_report);

/* ---- device ------------------------------------------------------------ */

typedef enum greta_backend_kind_e {
  GRETA_BACKEND_AUTO = 0, /* HIP if an AMD GPU is present, else CUDA, else CPU */
  GRETA_BACKEND_CPU = 1,
  GRETA_BACKEND_HIP = 2,
  GRETA_BACKEND_CUDA = 3,
} greta_backend_kind_t;

typedef struct greta_device_s greta_device_t;

/* Opens a device. `ordinal` picks among GPUs (ignored for the CPU). AUTO
 * honours the environment variable GRETA_BACKEND (auto, cpu, hip, cuda)
 * when it is set, e.g. to run a CPU plan on a machine that has a GPU. */
greta_status_t greta_device_open(greta_backend_kind_t kind, int ordinal,
                                 greta_device_t **out_device);
void greta_device_destroy(greta_device_t *device);
/* "cpu", "hip", "cuda". */
const char *greta_device_backend_name(const greta_device_t *device);
/* The device's name and target ID (e.g. "NVIDIA H100 80GB HBM3", "sm_90").
 * Owned by the device. */
const char *greta_device_name(const greta_device_t *device);
const char *greta_device_target(const greta_device_t *device);

/* ---- session: weights, activation arena and KV cache on one device ------- */

typedef struct greta_session_s greta_session_t;

/* Allocates everything the model needs once. Fails before allocating when
 * the device has too little memory, saying how much was needed. Refuses a
 * model compiled for another target ID than the device's. The session
 * borrows `model` and `device`: both must outlive it. */
greta_status_t greta_session_create(greta_model_t *model, greta_device_t *device,
                                    greta_session_t **out_session);
void greta_session_destroy(greta_session_t *session);

/* Binds every weight of the model from a safetensors file (mapped, not
 * read whole). Each weight is looked up by its checkpoint name; its shape
 * must match the plan's and its dtype (f32, f16, bf16) is converted to the
 * plan's storage dtype. Tensors the model does not use are ignored. A
 * missing tensor, a wrong shape or dtype, or a corrupt file is an error
 * naming the tensor, and binds nothing. */
greta_status_t greta_session_bind_safetensors(greta_session_t *session, const char *path);
/* Progress of a long bind, called after each tensor: `done` of `total`
 * tensors, `bytes_done` of `bytes_total` bytes read from the checkpoint.
 * `user` is the pointer given to the bind call. */
typedef void (*greta_bind_progress_fn)(void *user, int64_t done, int64_t total,
                                       uint64_t bytes_done, uint64_t bytes_total);

/* Binds every weight of the model from a Hugging Face checkpoint: `path` is
 * a .safetensors file, or a directory holding model.safetensors or shards
 * named by model.safetensors.index.json (its "weight_map"). Each shard is
 * mapped; conversions and checks are those of
 * greta_session_bind_safetensors. A missing tensor is an error naming it and
 * the shard it was expected in; on any error nothing is bound. `progress`
 * may be NULL. Once a step has folded RMSNorm weights into matmuls, a
 * bind of the whole model is refused before it binds anything
 * (docs/weights.md). */
greta_status_t greta_session_bind_checkpoint(greta_session_t *session, const char *path,
                                             greta_bind_progress_fn progress, void *user);
/* Binds one weight from host memory, `dtype` converted to the storage dtype.
 * `count` is the element count, checked against the weight's shape. */
greta_status_t greta_session_bind_weight(greta_session_t *session, const char *name,
                                         greta_dtype_t dtype, const void *data,
                                         size_t count);

/* Sets input `name` for the next step. `data` holds T rows of the input's
 * shape (T the step's token count). Copied before the call returns. */
greta_status_t greta_session_set_input(greta_session_t *session, const char *name,
                                       const void *data, size_t bytes);
/* Runs one step of `tokens` tokens at KV-cache position `pos` (decode when
 * tokens == 1, prefill otherwise). Fails with GRETA_OUT_OF_RANGE, writing
 * nothing, when pos + tokens > max_seq or tokens > max_tokens. */
greta_status_t greta_session_step(greta_session_t *session, int64_t tokens, int64_t pos);
/* Copies output `name` of the last step (its T rows) into `data`. */
greta_status_t greta_session_get_output(greta_session_t *session, const char *name,
                                        void *data, size_t bytes);
/* Forgets every cached token at positions >= pos (pos = 0 resets). */
greta_status_t greta_session_truncate(greta_session_t *session, int64_t pos);

/* Times one step for benchmarks. Runs greta_session_step(session, tokens,
 * pos) once (which checks everything the same way, and captures the GPU
 * graph), two more times untimed as a warm-up, then `repeats` more times,
 * each timed alone: with device events around each graph replay on a GPU,
 * with the host clock on the CPU. Writes the median in milliseconds to
 * `*out_median_ms`.
 *
 * Every run computes the same step from the same inputs (inputs stay put in
 * the arena for the whole step, and the KV cache below pos is only read), so
 * afterwards the session is as after one plain step: the outputs and the
 * cache hold what that step made, and inputs must be set again. Repeating a
 * step over the same buffers keeps them warm in cache: data that fits in
 * the GPU's L2 is timed from L2. */
greta_status_t greta_session_time_step(greta_session_t *session, int64_t tokens, int64_t pos,
                                       int repeats, double *out_median_ms);

/* One launch of a step, as greta_session_profile_step measured it. */
typedef struct greta_launch_profile_s {
  const char *op;     /* "matmul", "attention", ... (static storage) */
  const char *kernel; /* the kernel's symbol (owned by the model) */
  double median_ms;   /* the launch alone (on a GPU: a one-kernel graph) */
  uint64_t bytes;     /* fewest bytes it must move: inputs read once, outputs written once */
  uint64_t flops;     /* floating-point operations */
} greta_launch_profile_t;

/* Times every launch of one step on its own, for a per-kernel view (which
 * kernel takes the time, and how far each is from its floors). Runs the
 * step once as greta_session_step does, then each launch in step order
 * `repeats` times back to back, timed with device events on a GPU (each
 * launch as a one-kernel graph) or the host clock on the CPU. Writes up to
 * `capacity` records to `out` and the step's launch count to *out_count.
 * Afterwards the session is as after one plain step (every launch computes
 * the same values again). */
greta_status_t greta_session_profile_step(greta_session_t *session, int64_t tokens, int64_t pos,
                                          int repeats, greta_launch_profile_t *out,
                                          size_t capacity, size_t *out_count);

/* What each launch of one step costs the step: the median time of the
 * whole step minus the median of the same step with that launch left out,
 * the two timed `repeats` times each, one after the other, launch by
 * launch (on a GPU each a graph of its own, captured as the step's is).
 * Launches overlap in a step (sm_90's early launches: a kernel reads ahead
 * while the one before it finishes), so a launch may cost the step less
 * than it takes alone (greta_session_profile_step); within timing noise a
 * value may even be negative. Writes up to `capacity` values in ms to
 * out_ms in step order and the step's launch count to *out_count.
 * Afterwards the session is as after one plain step (a step with a launch
 * left out computes wrong values, so a whole step runs last). */
greta_status_t greta_session_profile_in_step(greta_session_t *session, int64_t tokens,
                                             int64_t pos, int repeats, double *out_ms,
                                             size_t capacity, size_t *out_count);

/* ---- sampler: the next token from a step's logits ----------------------- */

/* How to pick a token, in Hugging Face generate()'s order: the repetition
 * penalty on the raw logits, then temperature, then top-k, top-p and min-p
 * filters on the tempered distribution, then one draw. */
typedef struct greta_sampler_params_s {
  float temperature;        /* 0: greedy (the largest logit, the lowest id on a tie) */
  int32_t top_k;            /* keep the k most likely tokens; 0: off */
  float top_p;              /* keep the fewest most likely tokens whose probability
                               sums to >= top_p; 1: off; in (0, 1] */
  float min_p;              /* keep tokens at least min_p times as likely as the most
                               likely one; 0: off; in [0, 1] */
  float repetition_penalty; /* >= 1 (1: off): a token seen in the history has its logit
                               divided by it when positive, multiplied when negative */
  int32_t repeat_last_n;    /* how much of the history the penalty sees; 0: all of it */
  uint64_t seed;            /* the same seed and calls give the same tokens, anywhere */
} greta_sampler_params_t;

typedef struct greta_sampler_s greta_sampler_t;

/* Greedy: temperature 0, the filters and the penalty off, seed 0. */
greta_sampler_params_t greta_sampler_params_default(void);

/* A sampler over `vocab` token ids. INVALID_ARGUMENT, naming the field,
 * for a parameter outside its range. */
greta_status_t greta_sampler_create(const greta_sampler_params_t *params, int32_t vocab,
                                    greta_sampler_t **out_sampler);
void greta_sampler_destroy(greta_sampler_t *sampler);

/* Picks the next token from `logits` (vocab floats, read only) given the
 * tokens so far (`history`, n_history ids, for the penalty; may be NULL
 * when n_history is 0). INVALID_ARGUMENT for a history id outside the
 * vocabulary or logits that are all NaN or -inf. */
greta_status_t greta_sampler_sample(greta_sampler_t *sampler, const float *logits,
                                    const int32_t *history, size_t n_history,
                                    int32_t *out_token);

/* ---- tokenizer: text <-> token ids, as Hugging Face `tokenizers` ---------- */

typedef struct greta_tokenizer_s greta_tokenizer_t;

/* Loads a Hugging Face tokenizer. `path` is a tokenizer.json, or a
 * directory holding one; tokenizer_config.json and generation_config.json
 * beside it, when present, give BOS, the EOS ids and the chat template.
 * Supported: BPE with byte fallback and the SentencePiece "▁" normalizer
 * (Llama 2, TinyLlama, Mistral) and byte-level BPE with a regex
 * pre-tokenizer (Llama 3, Qwen2). Anything else is GRETA_UNIMPLEMENTED
 * naming the field and value; a corrupt file is GRETA_DATA_LOSS. */
greta_status_t greta_tokenizer_open(const char *path, greta_tokenizer_t **out_tokenizer);
void greta_tokenizer_destroy(greta_tokenizer_t *tokenizer);

/* Ids run 0 .. vocab_size - 1 (added tokens included). */
int32_t greta_tokenizer_vocab_size(const greta_tokenizer_t *tokenizer);
/* The BOS id, or -1 when the tokenizer has none. */
int32_t greta_tokenizer_bos(const greta_tokenizer_t *tokenizer);
/* The EOS ids: the union of tokenizer_config.json's eos_token and
 * generation_config.json's eos_token_id (one id or a list). Writes the
 * count to *out_count; the array is owned by the tokenizer. */
const int32_t *greta_tokenizer_eos(const greta_tokenizer_t *tokenizer, size_t *out_count);
/* The text of one id as stored in the vocabulary ("▁the", "Ġthe", "<s>"),
 * or NULL when out of range. Owned by the tokenizer. */
const char *greta_tokenizer_token(const greta_tokenizer_t *tokenizer, int32_t id);
/* tokenizer_config.json's "chat_template" (a Jinja source), or NULL. */
const char *greta_tokenizer_chat_template_source(const greta_tokenizer_t *tokenizer);

enum {
  /* Add what HF's add_special_tokens=True adds: the post_processor's
   * template (BOS for Llama 2 and Meta's Llama 3 files; nothing for a
   * Llama 3 file whose post_processor is ByteLevel alone, as HF). */
  GRETA_TOKENIZE_ADD_SPECIAL = 1u << 0,
  /* Recognise added tokens ("<|eot_id|>", "</s>") written in the text, as
   * HF does by default; without it they are plain text. */
  GRETA_TOKENIZE_PARSE_SPECIAL = 1u << 1,
};

/* Encodes `len` bytes of UTF-8 `text` (need not end in NUL). Writes up to
 * `capacity` ids to `ids` and the full count to *out_count, like snprintf:
 * when *out_count > capacity call again with more room. Text that is not
 * valid UTF-8 is GRETA_INVALID_ARGUMENT naming the byte offset. */
greta_status_t greta_tokenizer_encode(const greta_tokenizer_t *tokenizer, const char *text,
                                      size_t len, unsigned flags, int32_t *ids,
                                      size_t capacity, size_t *out_count);

enum {
  /* Leave special tokens (BOS, EOS, <|eot_id|>) out of decoded text. */
  GRETA_DETOKENIZE_SKIP_SPECIAL = 1u << 0,
};

/* Decodes `count` ids as HF's decode() does. Writes up to `capacity` bytes
 * (no NUL added) and the full length to *out_len, like encode. */
greta_status_t greta_tokenizer_decode(const greta_tokenizer_t *tokenizer, const int32_t *ids,
                                      size_t count, unsigned flags, char *text,
                                      size_t capacity, size_t *out_len);

/* Streams text token by token without breaking a UTF-8 character: bytes of
 * a character that is not complete yet are held until it is. The text of a
 * whole stream equals greta_tokenizer_decode of its ids. Borrows the
 * tokenizer, which must outlive it. */
typedef struct greta_detokenizer_s greta_detokenizer_t;
greta_status_t greta_detokenizer_create(const greta_tokenizer_t *tokenizer, unsigned flags,
                                        greta_detokenizer_t **out_detokenizer);
void greta_detokenizer_destroy(greta_detokenizer_t *detokenizer);
/* The text `id` completes, NUL-terminated, owned by the detokenizer and
 * valid until the next call ("" while a character is incomplete). */
greta_status_t greta_detokenizer_push(greta_detokenizer_t *detokenizer, int32_t id,
                                      const char **out_text);
/* Ends the stream: bytes still held (an incomplete character) come out as
 * U+FFFD, as HF's decode gives them. Then the stream starts afresh. */
const char *greta_detokenizer_finish(greta_detokenizer_t *detokenizer);

/* ---- chat templates --------------------------------------------------------- */

typedef enum greta_chat_template_e {
  GRETA_CHAT_NONE = 0, /* no template: the text as it is */
  GRETA_CHAT_LLAMA2 = 1,
  GRETA_CHAT_LLAMA3 = 2,
  GRETA_CHAT_CHATML = 3,
  GRETA_CHAT_MISTRAL = 4,
  GRETA_CHAT_ZEPHYR = 5,
} greta_chat_template_t;

typedef struct greta_chat_message_s {
  const char *role;    /* "system", "user" or "assistant" */
  const char *content; /* UTF-8 */
} greta_chat_message_t;

/* The built-in template a tokenizer's chat_template source is (recognised
 * by its markers), or GRETA_CHAT_NONE. */
greta_chat_template_t greta_chat_template_detect(const greta_tokenizer_t *tokenizer);
/* The template of a name ("llama2", "llama3", "chatml", "mistral",
 * "zephyr", "none"); GRETA_INVALID_ARGUMENT listing the names otherwise. */
greta_status_t greta_chat_template_from_name(const char *name, greta_chat_template_t *out);
/* Renders `count` messages as the template's Jinja source would (BOS as
 * text, as HF's apply_chat_template writes it), ending with the assistant's
 * header when `add_generation_prompt`. Writes like greta_tokenizer_decode. */
greta_status_t greta_chat_format(greta_chat_template_t tmpl, const greta_chat_message_t *messages,
                                 size_t count, int add_generation_prompt, char *text,
                                 size_t capacity, size_t *out_len);

/* ---- generation: prompt ids in, tokens out, one callback per token ------- */

typedef enum greta_stop_reason_e {
  GRETA_STOP_EOS = 0,        /* the model produced an EOS id */
  GRETA_STOP_LENGTH = 1,     /* max_new_tokens were generated */
  GRETA_STOP_CACHE_FULL = 2, /* the KV cache holds max_seq tokens */
  GRETA_STOP_CALLBACK = 3,   /* the callback returned nonzero */
} greta_stop_reason_t;

typedef struct greta_generate_params_s {
  greta_sampler_params_t sampler;
  int64_t max_new_tokens; /* 0: until EOS or a full cache */
  const int32_t *eos;     /* stop ids (e.g. greta_tokenizer_eos); NULL: none */
  size_t n_eos;
} greta_generate_params_t;

typedef struct greta_generate_stats_s {
  int64_t prompt_tokens;    /* ids run through prefill */
  int64_t generated_tokens; /* ids sampled (the EOS included) */
  double prompt_ms;         /* prefill, host clock, GPU work finished */
  double generate_ms;       /* decode steps and sampling */
  greta_stop_reason_t stop;
  int64_t pos;              /* the KV position after the last step: where a
                               following call continues */
} greta_generate_stats_t;

/* Called once per sampled token; return nonzero to stop. */
typedef int (*greta_token_fn)(void *user, int32_t token);

/* Runs `count` prompt ids through prefill at KV position `pos` (steps of at
 * most the model's max_tokens), then samples and decodes one token a step
 * until an EOS id, max_new_tokens, a full cache or the callback stops it.
 * The model must have an input `tokens` (i32[T]) and an output `logits`
 * ([T, vocab] or [1, vocab]: the last row is sampled). A prompt that does
 * not fit before max_seq is GRETA_OUT_OF_RANGE before any step runs.
 * `out_stats` may be NULL. */
greta_status_t greta_generate(greta_session_t *session, const int32_t *prompt, size_t count,
                              int64_t pos, const greta_generate_params_t *params,
                              greta_token_fn on_token, void *user,
                              greta_generate_stats_t *out_stats);

#ifdef __cplusplus
}
#endif
#endif /* GRETA_GRETA_H */
