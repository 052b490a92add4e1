/* TEMPORARY, branch `generate` only: stand-ins for the text API that other
 * branches implement (greta_session_bind_checkpoint on `weights`, the
 * tokenizer and detokenizer on `tokenizer`), so that this branch links
 * while they are written. Each returns GRETA_UNIMPLEMENTED.
 *
 * DELETE THIS FILE when merging `weights` and `tokenizer`: left in, the
 * library fails to link with "multiple definition" (on purpose: never a
 * silent stand-in). */
#include <stddef.h>

#include "greta/greta.h"
#include "status.h"

static greta_status_t pending(const char *what, const char *branch) {
  return greta_status_make(GRETA_UNIMPLEMENTED, "%s: not in this build yet (branch `%s`)", what,
                           branch);
}

greta_status_t greta_tokenizer_open(const char *path, greta_tokenizer_t **out_tokenizer) {
  return pending("greta_tokenizer_open", "tokenizer");
}
void greta_tokenizer_destroy(greta_tokenizer_t *tokenizer) {}
int32_t greta_tokenizer_vocab_size(const greta_tokenizer_t *tokenizer) { return 0; }
int32_t greta_tokenizer_bos(const greta_tokenizer_t *tokenizer) { return -1; }
const int32_t *greta_tokenizer_eos(const greta_tokenizer_t *tokenizer, size_t *out_count) {
  *out_count = 0;
  return NULL;
}
const char *greta_tokenizer_token(const greta_tokenizer_t *tokenizer, int32_t id) { return NULL; }
const char *greta_tokenizer_chat_template_source(const greta_tokenizer_t *tokenizer) {
  return NULL;
}
greta_status_t greta_tokenizer_encode(const greta_tokenizer_t *tokenizer, const char *text,
                                      size_t len, unsigned flags, int32_t *ids, size_t capacity,
                                      size_t *out_count) {
  return pending("greta_tokenizer_encode", "tokenizer");
}
greta_status_t greta_tokenizer_decode(const greta_tokenizer_t *tokenizer, const int32_t *ids,
                                      size_t count, unsigned flags, char *text, size_t capacity,
                                      size_t *out_len) {
  return pending("greta_tokenizer_decode", "tokenizer");
}
greta_status_t greta_detokenizer_create(const greta_tokenizer_t *tokenizer, unsigned flags,
                                        greta_detokenizer_t **out_detokenizer) {
  return pending("greta_detokenizer_create", "tokenizer");
}
void greta_detokenizer_destroy(greta_detokenizer_t *detokenizer) {}
greta_status_t greta_detokenizer_push(greta_detokenizer_t *detokenizer, int32_t id,
                                      const char **out_text) {
  return pending("greta_detokenizer_push", "tokenizer");
}
const char *greta_detokenizer_finish(greta_detokenizer_t *detokenizer) { return ""; }
