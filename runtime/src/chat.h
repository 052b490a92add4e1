/* Chat templates (greta.h): the part the tests reach without a tokenizer. */
#ifndef GRETA_CHAT_H
#define GRETA_CHAT_H

#include "greta/greta.h"

/* The built-in template a Jinja chat_template source is, recognised by the
 * markers it writes ("<|start_header_id|>", "<|im_start|>", "<|user|>",
 * "<<SYS>>", "[INST]"), or GRETA_CHAT_NONE (also for NULL). */
greta_chat_template_t chat_template_detect_source(const char *source);

/* The template's name ("llama2", ...), static storage. */
const char *chat_template_name(greta_chat_template_t tmpl);

#endif /* GRETA_CHAT_H */
