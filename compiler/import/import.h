/* Importing a Hugging Face checkpoint directory: its config.json becomes a
 * readable .gm model (`gretac import DIR`), which the front end then
 * compiles like any other. */
#ifndef GRETA_IMPORT_H
#define GRETA_IMPORT_H

#include <stdint.h>

#include "greta/greta.h"
#include "strbuf.h"

/* The KV-cache capacity when the config allows more: a 128k-token cache of
 * an 8B model would be 16 GiB, so the import caps it (--max-seq raises it). */
#define IMPORT_DEFAULT_MAX_SEQ 4096

typedef struct import_options_s {
  int64_t max_seq;      /* 0: the config's max_position_embeddings, at most
                           IMPORT_DEFAULT_MAX_SEQ */
  const char *dtype;    /* weight storage "f32" | "f16" | "bf16"; NULL: the config's torch_dtype */
  const char *kv_dtype; /* NULL: the language's default (the weight dtype when half) */
} import_options_t;

/* Reads DIR/config.json and appends the .gm text of the model to `out`.
 * model_type llama (Llama 2, Llama 3 / 3.1 / 3.2, TinyLlama, SmolLM2),
 * mistral and qwen2 (a bias on q/k/v): RMSNorm, RoPE (rope_theta at the top
 * or in transformers 5's rope_parameters; rope_scaling of type llama3 becomes
 * `set rope_scaling`), grouped-query attention, SiLU MLP, an untied or tied
 * LM head, logits of the last position only (last()). What the language
 * cannot express (mixture of experts, ALiBi, another RoPE scaling type, a
 * Llama attention_bias or mlp_bias, another activation, partial RoPE, a used
 * sliding window shorter than max_seq, another model_type) is
 * GRETA_UNIMPLEMENTED naming the config field and its value; a missing or
 * malformed field is GRETA_INVALID_ARGUMENT naming it. */
greta_status_t import_checkpoint(const char *dir, const import_options_t *options, strbuf_t *out);

/* The same from config.json's text (`size` bytes, not NUL-terminated);
 * `dir` names the model. */
greta_status_t import_config_text(const char *text, size_t size, const char *dir,
                                  const import_options_t *options, strbuf_t *out);

#endif /* GRETA_IMPORT_H */
