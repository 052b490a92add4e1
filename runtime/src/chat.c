/* Chat templates (greta.h): five models' Jinja chat_template sources,
 * rendered in C.
 *
 * Each function below follows one template as Hugging Face's
 * apply_chat_template runs it (Jinja with trim_blocks and lstrip_blocks);
 * the sources are in bench/hf_chat_reference.py and, with transformers'
 * renderings of them, in tests/fixtures/chat/. Where a template calls
 * raise_exception, the same message comes back as GRETA_INVALID_ARGUMENT.
 * Jinja's `trim` filter and Python's str.strip() drop Unicode whitespace
 * (str.isspace), not only ASCII: strip_span does the same. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "greta/greta.h"
#include "status.h"

static const struct {
  greta_chat_template_t tmpl;
  const char *name;
} names[] = {
    {GRETA_CHAT_NONE, "none"},     {GRETA_CHAT_LLAMA2, "llama2"},   {GRETA_CHAT_LLAMA3, "llama3"},
    {GRETA_CHAT_CHATML, "chatml"}, {GRETA_CHAT_MISTRAL, "mistral"}, {GRETA_CHAT_ZEPHYR, "zephyr"},
};
#define N_NAMES (sizeof names / sizeof names[0])

const char *chat_template_name(greta_chat_template_t tmpl) {
  for (size_t i = 0; i < N_NAMES; i++)
    if (names[i].tmpl == tmpl)
      return names[i].name;
  return "unknown";
}

greta_status_t greta_chat_template_from_name(const char *name, greta_chat_template_t *out) {
  for (size_t i = 0; name && i < N_NAMES; i++)
    if (!strcmp(name, names[i].name)) {
      *out = names[i].tmpl;
      return NULL;
    }
  return greta_status_make(GRETA_INVALID_ARGUMENT,
                           "chat template \"%s\" is not one of llama2, llama3, chatml, mistral, "
                           "zephyr, none",
                           name ? name : "(null)");
}

greta_chat_template_t chat_template_detect_source(const char *source) {
  if (!source)
    return GRETA_CHAT_NONE;
  /* The most specific markers first: Llama 2's and Mistral's both write
   * [INST], only Llama 2's writes <<SYS>>. */
  if (strstr(source, "<|start_header_id|>"))
    return GRETA_CHAT_LLAMA3;
  if (strstr(source, "<|im_start|>"))
    return GRETA_CHAT_CHATML;
  if (strstr(source, "<|user|>") && strstr(source, "<|assistant|>"))
    return GRETA_CHAT_ZEPHYR;
  if (strstr(source, "[INST]") && strstr(source, "<<SYS>>"))
    return GRETA_CHAT_LLAMA2;
  if (strstr(source, "[INST]"))
    return GRETA_CHAT_MISTRAL;
  return GRETA_CHAT_NONE;
}

greta_chat_template_t greta_chat_template_detect(const greta_tokenizer_t *tokenizer) {
  return tokenizer ? chat_template_detect_source(greta_tokenizer_chat_template_source(tokenizer))
                   : GRETA_CHAT_NONE;
}

/* ---- output, like snprintf: everything counted, what fits written --------- */

typedef struct out_s {
  char *text;
  size_t capacity;
  size_t len;
} out_t;

static void put_n(out_t *o, const char *s, size_t n) {
  if (o->len < o->capacity) {
    size_t room = o->capacity - o->len;
    memcpy(o->text + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void put(out_t *o, const char *s) { put_n(o, s, strlen(s)); }

/* ---- Python's str.strip() -------------------------------------------------- */

/* str.isspace(): White_Space-like code points Python counts (bidi class WS,
 * B or S, or category Zs). */
static bool py_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

/* The code point of the UTF-8 sequence at s[0..n), its length in *len; a
 * malformed sequence is one byte that is not a space. */
static uint32_t decode(const unsigned char *s, size_t n, size_t *len) {
  unsigned char b = s[0];
  size_t need = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (need == 0 || need > n) {
    *len = 1;
    return 0xfffd;
  }
  uint32_t c = need == 1 ? b : need == 2 ? b & 0x1fu : need == 3 ? b & 0x0fu : b & 0x07u;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      *len = 1;
      return 0xfffd;
    }
    c = (c << 6) | (s[i] & 0x3fu);
  }
  *len = need;
  return c;
}

/* put(s.strip()). */
static void put_stripped(out_t *o, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  size_t begin = 0, end = strlen(text), len;
  while (begin < end && py_space(decode(s + begin, end - begin, &len)))
    begin += len;
  while (end > begin) {
    size_t start = end - 1; /* back to the first byte of the last character */
    while (start > begin && (s[start] & 0xc0) == 0x80 && end - start < 4)
      start--;
    uint32_t c = decode(s + start, end - start, &len);
    if (start + len != end)
      start = end - 1, c = 0xfffd; /* malformed: one byte */
    if (!py_space(c))
      break;
    end = start;
  }
  put_n(o, text + begin, end - begin);
}

/* ---- the templates --------------------------------------------------------- */

static bool is(const greta_chat_message_t *m, const char *role) { return !strcmp(m->role, role); }

static greta_status_t raise_exception(const char *message) {
  return greta_status_make(GRETA_INVALID_ARGUMENT, "chat template: %s", message);
}

/* meta-llama/Llama-2-7b-chat-hf: a leading system message goes into the
 * first turn between <<SYS>> markers; every user turn opens with BOS; turns
 * are stripped; add_generation_prompt changes nothing. */
static greta_status_t format_llama2(const greta_chat_message_t *m, size_t count, out_t *o) {
  if (count == 0)
    return raise_exception("expected at least one message");
  const char *system = is(&m[0], "system") ? m[0].content : NULL;
  size_t first = system ? 1 : 0;
  for (size_t i = first; i < count; i++) {
    size_t k = i - first;
    if (is(&m[i], "user") != (k % 2 == 0))
      return raise_exception("Conversation roles must alternate user/assistant/user/assistant/...");
    char *joined = NULL;
    const char *content = m[i].content;
    if (k == 0 && system) {
      size_t n = strlen(system) + strlen(content) + 32;
      joined = malloc(n);
      if (!joined)
        return greta_status_make(GRETA_RESOURCE_EXHAUSTED, "chat template: out of memory");
      snprintf(joined, n, "<<SYS>>\n%s\n<</SYS>>\n\n%s", system, content);
      content = joined;
    }
    if (is(&m[i], "user")) {
      put(o, "<s>[INST] ");
      put_stripped(o, content);
      put(o, " [/INST]");
    } else if (is(&m[i], "assistant")) {
      put(o, " ");
      put_stripped(o, content);
      put(o, " </s>");
    }
    free(joined);
  }
  return NULL;
}

/* meta-llama/Meta-Llama-3-8B-Instruct: BOS before the first header, each
 * message's content trimmed. */
static greta_status_t format_llama3(const greta_chat_message_t *m, size_t count, int gen,
                                    out_t *o) {
  for (size_t i = 0; i < count; i++) {
    if (i == 0)
      put(o, "<|begin_of_text|>");
    put(o, "<|start_header_id|>");
    put(o, m[i].role);
    put(o, "<|end_header_id|>\n\n");
    put_stripped(o, m[i].content);
    put(o, "<|eot_id|>");
  }
  if (gen)
    put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
  return NULL;
}

/* ChatML: every role as it is, contents untouched. */
static greta_status_t format_chatml(const greta_chat_message_t *m, size_t count, int gen,
                                    out_t *o) {
  for (size_t i = 0; i < count; i++) {
    put(o, "<|im_start|>");
    put(o, m[i].role);
    put(o, "\n");
    put(o, m[i].content);
    put(o, "<|im_end|>\n");
  }
  if (gen)
    put(o, "<|im_start|>assistant\n");
  return NULL;
}

/* mistralai/Mistral-7B-Instruct-v0.2: BOS once, a leading system message
 * prepended to the first user turn, contents untouched. */
static greta_status_t format_mistral(const greta_chat_message_t *m, size_t count, out_t *o) {
  if (count == 0)
    return raise_exception("expected at least one message");
  const char *system = is(&m[0], "system") ? m[0].content : NULL;
  size_t first = system ? 1 : 0;
  put(o, "<s>");
  for (size_t i = first; i < count; i++) {
    size_t k = i - first;
    if (is(&m[i], "user") != (k % 2 == 0))
      return raise_exception("After the optional system message, conversation roles must "
                             "alternate user/assistant/user/assistant/...");
    if (is(&m[i], "user")) {
      put(o, " [INST] ");
      if (k == 0 && system) {
        put(o, system);
        put(o, "\n\n");
      }
      put(o, m[i].content);
      put(o, " [/INST]");
    } else if (is(&m[i], "assistant")) {
      put(o, " ");
      put(o, m[i].content);
      put(o, "</s>");
    } else {
      return raise_exception("Only user and assistant roles are supported, with the exception of "
                             "an initial optional system message!");
    }
  }
  return NULL;
}

/* HuggingFaceH4/zephyr-7b-beta: user, system and assistant turns each end in
 * EOS and a newline; other roles write nothing; the generation prompt comes
 * after the last message only (none for an empty conversation). */
static greta_status_t format_zephyr(const greta_chat_message_t *m, size_t count, int gen,
                                    out_t *o) {
  for (size_t i = 0; i < count; i++) {
    if (is(&m[i], "user") || is(&m[i], "system") || is(&m[i], "assistant")) {
      put(o, "<|");
      put(o, m[i].role);
      put(o, "|>\n");
      put(o, m[i].content);
      put(o, "</s>\n");
    }
    if (i + 1 == count && gen)
      put(o, "<|assistant|>\n");
  }
  return NULL;
}

greta_status_t greta_chat_format(greta_chat_template_t tmpl, const greta_chat_message_t *messages,
                                 size_t count, int add_generation_prompt, char *text,
                                 size_t capacity, size_t *out_len) {
  if (!out_len || (capacity && !text) || (count && !messages))
    return greta_status_make(GRETA_INVALID_ARGUMENT,
                             "chat_format: expected messages, a buffer for `capacity` bytes and "
                             "out_len");
  for (size_t i = 0; i < count; i++)
    if (!messages[i].role || !messages[i].content)
      return greta_status_make(GRETA_INVALID_ARGUMENT, "chat_format: message %zu has no %s", i,
                               messages[i].role ? "content" : "role");
  out_t o = {text, capacity, 0};
  greta_status_t status = NULL;
  switch (tmpl) {
    case GRETA_CHAT_NONE:
      for (size_t i = 0; i < count; i++)
        put(&o, messages[i].content);
      break;
    case GRETA_CHAT_LLAMA2: status = format_llama2(messages, count, &o); break;
    case GRETA_CHAT_LLAMA3:
      status = format_llama3(messages, count, add_generation_prompt, &o);
      break;
    case GRETA_CHAT_CHATML:
      status = format_chatml(messages, count, add_generation_prompt, &o);
      break;
    case GRETA_CHAT_MISTRAL: status = format_mistral(messages, count, &o); break;
    case GRETA_CHAT_ZEPHYR:
      status = format_zephyr(messages, count, add_generation_prompt, &o);
      break;
    default:
      return greta_status_make(GRETA_INVALID_ARGUMENT, "chat_format: unknown template %d",
                               (int)tmpl);
  }
  if (status)
    return status;
  *out_len = o.len;
  return NULL;
}
