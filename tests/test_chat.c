/* Chat templates (runtime/src/chat.c) against transformers: every
 * conversation below was rendered by apply_chat_template(tokenize=False)
 * with each model's Jinja template (bench/hf_chat_reference.py, run on the
 * GPU machine with transformers 5.17); the renderings are the fixtures in
 * tests/fixtures/chat/. Where the template raised, the fixture is a .error
 * file holding its message, and greta_chat_format must refuse with it. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "greta/greta.h"
#include "support.h"

#define FIXTURES GRETA_SOURCE_DIR "/tests/fixtures/chat/"

typedef struct chat_case_s {
  const char *name;
  greta_chat_message_t messages[4];
  size_t count;
  int nogen; /* also rendered with add_generation_prompt = False */
} chat_case_t;

/* bench/hf_chat_reference.py's CASES, in the same order. */
static const chat_case_t cases[] = {
    {"user", {{"user", "Hello, who are you?"}}, 1, 1},
    {"system_user",
     {{"system", "You are a pirate. Answer briefly."}, {"user", "What is the capital of France?"}},
     2,
     0},
    {"multi_turn",
     {{"system", "Be terse."},
      {"user", "Hi!"},
      {"assistant", "Hello. What do you need?"},
      {"user", "A haiku about the sea."}},
     4,
     1},
    {"turns", {{"user", "2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}}, 3, 0},
    {"assistant_last",
     {{"user", "2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}, {"assistant", "6."}},
     4,
     1},
    {"whitespace",
     {{"system", "  padded system \n"},
      {"user", "\t  padded user  \n\n"},
      {"assistant", " padded reply \u00a0"},
      {"user", "\u2003last\u3000\r\n"}},
     4,
     0},
    {"unicode", {{"user", "日本語で答えて 🙂👩‍👩‍👧 café\nنعم"}}, 1, 0},
    {"empty", {{"system", ""}, {"user", ""}}, 2, 0},
    {"bad_order", {{"user", "a"}, {"user", "b"}}, 2, 0},
    {"system_late", {{"user", "a"}, {"assistant", "b"}, {"system", "c"}, {"user", "d"}}, 4, 0},
    {"system_only", {{"system", "Only a system message."}}, 1, 0},
};

static const char *templates[] = {"llama2", "llama3", "chatml", "mistral", "zephyr"};

/* The fixture's bytes, or NULL when it does not exist. */
static char *read_optional(const char *path, size_t *len) {
  if (access(path, R_OK) != 0)
    return NULL;
  return support_read_file(path, len);
}

static void check(const char *tmpl_name, const chat_case_t *c, int gen) {
  greta_chat_template_t tmpl;
  greta_status_t st = greta_chat_template_from_name(tmpl_name, &tmpl);
  cr_assert_null(st);
  char path[512];
  size_t want_len = 0;
  snprintf(path, sizeof path, FIXTURES "%s.%s%s.txt", tmpl_name, c->name, gen ? "" : ".nogen");
  char *want = read_optional(path, &want_len);
  char got[2048];
  size_t len = 0;
  st = greta_chat_format(tmpl, c->messages, c->count, gen, got, sizeof got, &len);
  if (want) {
    cr_assert_null(st, "%s: %s", path, greta_status_message(st));
    cr_assert_lt(len, sizeof got);
    cr_expect(len == want_len && !memcmp(got, want, len),
              "%s %s: rendered\n[%.*s]\ntransformers rendered\n[%s]", tmpl_name, c->name, (int)len,
              got, want);
    free(want);
    return;
  }
  path[strlen(path) - 4] = 0;
  strcat(path, ".error");
  char *error = read_optional(path, &want_len);
  cr_assert(error, "no fixture %s(.txt|.error)", path);
  /* "TemplateError: <the message>\n": the message must be ours. */
  char *message = strstr(error, ": ");
  cr_assert(message);
  message += 2;
  message[strcspn(message, "\n")] = 0;
  cr_assert_not_null(st, "%s %s: transformers raised \"%s\", we rendered [%.*s]", tmpl_name,
                     c->name, message, (int)len, got);
  cr_expect_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  cr_expect(strstr(greta_status_message(st), message), "\"%s\" lacks \"%s\"",
            greta_status_message(st), message);
  greta_status_free(st);
  free(error);
}

Test(chat, renders_as_transformers) {
  int checked = 0;
  for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++)
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      check(templates[t], &cases[c], 1);
      if (cases[c].nogen)
        check(templates[t], &cases[c], 0);
      checked += 1 + cases[c].nogen;
    }
  cr_assert_eq(checked, 5 * 14);
}

Test(chat, writes_like_snprintf) {
  const chat_case_t *c = &cases[2];
  size_t full = 0, len = 0;
  greta_status_t st =
      greta_chat_format(GRETA_CHAT_LLAMA3, c->messages, c->count, 1, NULL, 0, &full);
  cr_assert_null(st);
  char *text = malloc(full + 1);
  memset(text, '#', full + 1);
  st = greta_chat_format(GRETA_CHAT_LLAMA3, c->messages, c->count, 1, text, 10, &len);
  cr_assert_null(st);
  cr_assert_eq(len, full, "the full length, whatever the room");
  cr_assert_eq(text[10], '#', "nothing past the capacity");
  cr_assert(!memcmp(text, "<|begin_of", 10));
  st = greta_chat_format(GRETA_CHAT_LLAMA3, c->messages, c->count, 1, text, full, &len);
  cr_assert_null(st);
  cr_assert_eq(text[full], '#', "no NUL added");
  free(text);
}

Test(chat, template_names) {
  greta_chat_template_t t;
  const char *n[] = {"none", "llama2", "llama3", "chatml", "mistral", "zephyr"};
  for (int i = 0; i < 6; i++) {
    greta_status_t st = greta_chat_template_from_name(n[i], &t);
    cr_assert_null(st);
    cr_assert_eq((int)t, i);
    cr_assert_str_eq(chat_template_name(t), n[i]);
  }
  greta_status_t st = greta_chat_template_from_name("vicuna", &t);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  cr_assert(strstr(greta_status_message(st),
                   "chat template \"vicuna\" is not one of llama2, llama3, chatml, mistral, "
                   "zephyr, none"),
            "%s", greta_status_message(st));
  greta_status_free(st);
}

Test(chat, none_is_the_text_as_it_is) {
  greta_chat_message_t m[2] = {{"system", "a "}, {"user", " b"}};
  char text[16];
  size_t len;
  greta_status_t st = greta_chat_format(GRETA_CHAT_NONE, m, 2, 1, text, sizeof text, &len);
  cr_assert_null(st);
  cr_assert_eq(len, 4);
  cr_assert(!memcmp(text, "a  b", 4));
}

Test(chat, detects_the_template_sources) {
  for (size_t t = 0; t < sizeof templates / sizeof templates[0]; t++) {
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s.jinja", templates[t]);
    size_t len;
    char *source = support_read_file(path, &len);
    greta_chat_template_t want;
    cr_assert_null(greta_chat_template_from_name(templates[t], &want));
    cr_expect_eq(chat_template_detect_source(source), want, "%s detected as %s", templates[t],
                 chat_template_name(chat_template_detect_source(source)));
    free(source);
  }
  cr_expect_eq(chat_template_detect_source(NULL), GRETA_CHAT_NONE);
  cr_expect_eq(chat_template_detect_source("{{ messages[0]['content'] }}"), GRETA_CHAT_NONE);
  /* Llama 3's first release wrote the generation header unconditionally;
   * Llama 3.1's template is long but has the same markers. */
  cr_expect_eq(chat_template_detect_source(
                   "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
                   "<|end_header_id|>{% endfor %}"),
               GRETA_CHAT_LLAMA3);
  greta_chat_template_t none = greta_chat_template_detect(NULL);
  cr_expect_eq(none, GRETA_CHAT_NONE);
}

Test(chat, refuses_bad_arguments) {
  greta_chat_message_t m[1] = {{"user", NULL}};
  size_t len;
  greta_status_t st = greta_chat_format(GRETA_CHAT_CHATML, m, 1, 1, NULL, 0, &len);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  cr_assert(strstr(greta_status_message(st), "message 0 has no content"));
  greta_status_free(st);
  st = greta_chat_format(GRETA_CHAT_LLAMA2, m, 0, 1, NULL, 0, &len);
  cr_assert_eq(greta_status_code(st), GRETA_INVALID_ARGUMENT);
  greta_status_free(st);
  st = greta_chat_format((greta_chat_template_t)42, m, 0, 1, NULL, 0, &len);
  cr_assert(strstr(greta_status_message(st), "unknown template 42"));
  greta_status_free(st);
}
