/* greta generate MODEL --weights DIR --prompt TEXT: text in, streamed text
 * out, through the tokenizer, greta_generate and the detokenizer.
 *
 * --chat is a conversation on stdin, one user turn a line. The KV cache
 * lives across turns: each turn renders the whole conversation with the chat
 * template (as apply_chat_template would for the next reply), tokenizes it,
 * and runs only what differs from what the cache already holds (usually the
 * end of the last reply and the new user turn); the cache is truncated where
 * they part, so the result is the same as starting afresh. When the
 * conversation and room for the reply no longer fit in the cache, its
 * oldest exchanges (a user turn and its reply; the system message stays)
 * are dropped until they do.
 *
 * Ctrl-C stops a reply at its next token: the text so far and the timings
 * are printed, then `greta generate` exits 130 and --chat goes on to the
 * next turn. At --chat's prompt it ends the conversation as end of input
 * does. A second Ctrl-C before the first is honoured (during a long
 * prefill, say) quits at once. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void help(void) {
  printf("usage: greta generate MODEL --weights DIR (--prompt TEXT | --prompt-ids IDS | --chat)\n"
         "                      [options]\n\n"
         "Generates text with MODEL (a file written by gretac) and the checkpoint's\n"
         "weights, streaming it to stdout; timings go to stderr.\n\n"
         "options:\n"
         "  --weights PATH        checkpoint directory (model.safetensors or shards with\n"
         "                        model.safetensors.index.json) or one .safetensors file\n"
         "  --tokenizer PATH      tokenizer.json or its directory (default: the weights'\n"
         "                        directory)\n"
         "  --prompt TEXT         the prompt (BOS added as the tokenizer adds it); with\n"
         "                        --chat, the first user turn\n"
         "  --prompt-ids IDS      the prompt as token ids (\"1 450 7483\"), no tokenizer needed\n"
         "                        with --output ids\n"
         "  -n, --n-predict N     generate at most N tokens (default 128; 0: until EOS or\n"
         "                        a full KV cache)\n"
         "  --temp T              temperature (default 0.8; 0: greedy)\n"
         "  --top-k K             keep the K most likely tokens (default 40; 0: off)\n"
         "  --top-p P             keep the most likely tokens up to probability P\n"
         "                        (default 0.95; 1: off)\n"
         "  --min-p P             drop tokens less than P times as likely as the best\n"
         "                        (default 0.05; 0: off)\n"
         "  --repeat-penalty R    penalise tokens already seen (default 1: off)\n"
         "  --seed S              the sampler's seed (default 0): the same seed, the same text\n"
         "  --greedy              always the most likely token (--temp 0)\n"
         "  --chat                a conversation: user turns are read from stdin, one a line\n"
         "                        (a line ending in \\ goes on on the next), until end of\n"
         "                        input\n"
         "  --template NAME       the chat template: llama2, llama3, chatml, mistral,\n"
         "                        zephyr, none (default: recognised from the tokenizer's\n"
         "                        chat_template); with --prompt alone, the prompt becomes\n"
         "                        one user turn\n"
         "  --system TEXT         a system message before the first user turn (implies a\n"
         "                        chat template)\n"
         "  --output text|ids     stream text (default), or print the generated token ids\n"
         "                        on one line\n"
         "  -h, --help            this text\n\n"
         "Ctrl-C stops the reply at its next token and prints the timings (exit 130;\n"
         "with --chat, the conversation goes on, and Ctrl-C at its prompt ends it);\n"
         "a second Ctrl-C quits at once.\n");
}

/* Set by Ctrl-C, read by on_token. A signal handler may do no more than set
 * such a flag, hence the one variable at file scope. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  if (interrupted)
    _exit(128 + sig); /* the second Ctrl-C before the first was seen */
  interrupted = 1;
}

/* Ctrl-C to on_sigint from here on, unless SIGINT was ignored when greta
 * started (a background job's, which stays ignored). `restart`: the system
 * calls it interrupts carry on (stdout's writes); otherwise they fail with
 * EINTR (--chat's read of a user line, so that Ctrl-C ends it). */
static void catch_sigint(bool restart) {
  struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = restart ? SA_RESTART : 0}, old;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
    sigaction(SIGINT, &sa, NULL);
}

typedef struct options_s {
  const char *model, *weights, *tokenizer, *prompt, *prompt_ids, *template_name, *system;
  long long n_predict;
  greta_sampler_params_t sampler;
  bool chat, output_ids;
} options_t;

/* What streams out as tokens come. */
typedef struct stream_s {
  greta_detokenizer_t *detok; /* NULL: print ids */
  int32_t *reply;             /* (capacity) this call's tokens */
  size_t n_reply, capacity;
  bool failed;
} stream_t;

static int on_token(void *user, int32_t token) {
  stream_t *s = user;
  if (s->n_reply == s->capacity) {
    size_t cap = s->capacity ? s->capacity * 2 : 256;
    int32_t *more = realloc(s->reply, cap * sizeof *more);
    if (!more) {
      s->failed = true;
      return 1;
    }
    s->reply = more;
    s->capacity = cap;
  }
  s->reply[s->n_reply++] = token;
  if (!s->detok) {
    printf(s->n_reply > 1 ? " %d" : "%d", token);
  } else {
    const char *text;
    greta_status_t st = greta_detokenizer_push(s->detok, token, &text);
    if (st) {
      cli_status_error("generate", "detokenizing", st);
      s->failed = true;
      return 1;
    }
    fputs(text, stdout);
  }
  fflush(stdout);
  return interrupted ? 1 : 0;
}

static const char *stop_text(const greta_generate_stats_t *stats, const stream_t *s,
                             const greta_memory_report_t *m, char *buf, size_t size) {
  switch (stats->stop) {
    case GRETA_STOP_EOS:
      snprintf(buf, size, "stopped: end of sequence (EOS id %d)", s->reply[s->n_reply - 1]);
      break;
    case GRETA_STOP_LENGTH:
      snprintf(buf, size, "stopped: %lld tokens generated (-n)",
               (long long)stats->generated_tokens);
      break;
    case GRETA_STOP_CACHE_FULL:
      snprintf(buf, size, "stopped: the KV cache is full (max_seq %lld tokens)",
               (long long)m->max_seq);
      break;
    case GRETA_STOP_CALLBACK: snprintf(buf, size, "stopped: interrupted (Ctrl-C)"); break;
    default: snprintf(buf, size, "stopped: reason %d", (int)stats->stop); break;
  }
  return buf;
}

/* Load time, prompt and generation speed, the bandwidth decode achieved,
 * and why it stopped. `first_pos` is where this call's prompt began. */
static void print_stats(const cli_run_t *run, const greta_generate_stats_t *st, const stream_t *s,
                        int64_t first_pos, bool with_load) {
  greta_memory_report_t m;
  greta_model_memory(run->model, &m);
  int64_t decode_pos = first_pos + st->prompt_tokens;
  int64_t steps = st->pos - decode_pos; /* the last token is sampled, not run */
  double gen_s = st->generate_ms * 1e-3, prompt_s = st->prompt_ms * 1e-3;
  char why[128];
  if (with_load)
    fprintf(stderr, "\ngreta: load %.2f s | ", run->load_s);
  else
    fprintf(stderr, "\ngreta: ");
  fprintf(stderr, "prompt %lld tokens, %.1f tokens/s | generated %lld tokens, %.1f tokens/s",
          (long long)st->prompt_tokens, prompt_s > 0 ? (double)st->prompt_tokens / prompt_s : 0.0,
          (long long)st->generated_tokens, gen_s > 0 ? (double)st->generated_tokens / gen_s : 0.0);
  if (steps > 0 && gen_s > 0)
    fprintf(stderr, ", %.2f GB/s", cli_decode_bytes(&m, decode_pos, steps) / gen_s * 1e-9);
  fprintf(stderr, "\ngreta: %s\n", stop_text(st, s, &m, why, sizeof why));
}

static bool parse(int argc, char **argv, options_t *o, int *rc) {
  enum {
    OPT_WEIGHTS = 256,
    OPT_TOKENIZER,
    OPT_PROMPT,
    OPT_PROMPT_IDS,
    OPT_TEMP,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_REPEAT,
    OPT_SEED,
    OPT_GREEDY,
    OPT_CHAT,
    OPT_TEMPLATE,
    OPT_SYSTEM,
    OPT_OUTPUT
  };
  static const struct option options[] = {{"weights", required_argument, NULL, OPT_WEIGHTS},
                                          {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
                                          {"prompt", required_argument, NULL, OPT_PROMPT},
                                          {"prompt-ids", required_argument, NULL, OPT_PROMPT_IDS},
                                          {"n-predict", required_argument, NULL, 'n'},
                                          {"temp", required_argument, NULL, OPT_TEMP},
                                          {"top-k", required_argument, NULL, OPT_TOP_K},
                                          {"top-p", required_argument, NULL, OPT_TOP_P},
                                          {"min-p", required_argument, NULL, OPT_MIN_P},
                                          {"repeat-penalty", required_argument, NULL, OPT_REPEAT},
                                          {"seed", required_argument, NULL, OPT_SEED},
                                          {"greedy", no_argument, NULL, OPT_GREEDY},
                                          {"chat", no_argument, NULL, OPT_CHAT},
                                          {"template", required_argument, NULL, OPT_TEMPLATE},
                                          {"system", required_argument, NULL, OPT_SYSTEM},
                                          {"output", required_argument, NULL, OPT_OUTPUT},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
  *o = (options_t){.n_predict = 128, .sampler = greta_sampler_params_default()};
  o->sampler.temperature = 0.8f;
  o->sampler.top_k = 40;
  o->sampler.top_p = 0.95f;
  o->sampler.min_p = 0.05f;
  bool greedy = false;
  long long n;
  double v;
  *rc = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
    switch (c) {
      case OPT_WEIGHTS: o->weights = optarg; break;
      case OPT_TOKENIZER: o->tokenizer = optarg; break;
      case OPT_PROMPT: o->prompt = optarg; break;
      case OPT_PROMPT_IDS: o->prompt_ids = optarg; break;
      case 'n':
        if (!cli_parse_int("generate", "-n", optarg, 0, INT32_MAX, &o->n_predict))
          return false;
        break;
      case OPT_TEMP:
        if (!cli_parse_float("generate", "--temp", optarg, 0, 1e6, &v))
          return false;
        o->sampler.temperature = (float)v;
        break;
      case OPT_TOP_K:
        if (!cli_parse_int("generate", "--top-k", optarg, 0, INT32_MAX, &n))
          return false;
        o->sampler.top_k = (int32_t)n;
        break;
      case OPT_TOP_P:
        if (!cli_parse_float("generate", "--top-p", optarg, 1e-9, 1, &v))
          return false;
        o->sampler.top_p = (float)v;
        break;
      case OPT_MIN_P:
        if (!cli_parse_float("generate", "--min-p", optarg, 0, 1, &v))
          return false;
        o->sampler.min_p = (float)v;
        break;
      case OPT_REPEAT:
        if (!cli_parse_float("generate", "--repeat-penalty", optarg, 1, 1e6, &v))
          return false;
        o->sampler.repetition_penalty = (float)v;
        break;
      case OPT_SEED:
        if (!cli_parse_int("generate", "--seed", optarg, 0, INT64_MAX, &n))
          return false;
        o->sampler.seed = (uint64_t)n;
        break;
      case OPT_GREEDY: greedy = true; break;
      case OPT_CHAT: o->chat = true; break;
      case OPT_TEMPLATE: o->template_name = optarg; break;
      case OPT_SYSTEM: o->system = optarg; break;
      case OPT_OUTPUT:
        if (strcmp(optarg, "text") && strcmp(optarg, "ids")) {
          cli_error("generate", "--output needs text or ids, got '%s'", optarg);
          return false;
        }
        o->output_ids = !strcmp(optarg, "ids");
        break;
      case 'h':
        help();
        *rc = 0;
        return false;
      default: cli_bad_option("generate", c, argv); return false;
    }
  }
  if (greedy)
    o->sampler.temperature = 0;
  if (optind >= argc) {
    cli_error("generate", "no model file given (usage: greta generate MODEL --weights DIR "
                          "--prompt TEXT)");
    return false;
  }
  if (optind + 1 < argc) {
    cli_error("generate", "unexpected argument '%s' (one model file; quote the prompt)",
              argv[optind + 1]);
    return false;
  }
  o->model = argv[optind];
  if (!o->weights) {
    cli_error("generate", "no weights given: --weights CHECKPOINT_DIR");
    return false;
  }
  if (o->prompt && o->prompt_ids) {
    cli_error("generate", "give --prompt or --prompt-ids, not both");
    return false;
  }
  if (!o->prompt && !o->prompt_ids && !o->chat) {
    cli_error("generate", "no prompt given: --prompt TEXT, --prompt-ids IDS or --chat");
    return false;
  }
  if (o->chat && o->prompt_ids) {
    cli_error("generate", "--chat takes text turns, not --prompt-ids");
    return false;
  }
  if (o->prompt_ids && (o->template_name || o->system)) {
    cli_error("generate", "--template and --system format text, not --prompt-ids");
    return false;
  }
  if (o->chat && o->output_ids) {
    cli_error("generate", "--chat prints text, not --output ids");
    return false;
  }
  return true;
}

/* The tokenizer's place: --tokenizer, else the weights' directory (the
 * directory a .safetensors file is in). */
static char *tokenizer_path(const options_t *o) {
  if (o->tokenizer)
    return strdup(o->tokenizer);
  struct stat sb;
  char *path = strdup(o->weights);
  if (path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
    char *slash = strrchr(path, '/');
    if (slash)
      *slash = 0;
    else
      strcpy(path, ".");
  }
  return path;
}

/* Text to ids: HF's tokenizer(text) (BOS added, special tokens read) for a
 * plain prompt; a rendered chat already holds its BOS as text. */
static greta_status_t encode(const greta_tokenizer_t *tok, const char *text, size_t len,
                             bool rendered, int32_t **out_ids, size_t *out_count) {
  unsigned flags = GRETA_TOKENIZE_PARSE_SPECIAL | (rendered ? 0u : GRETA_TOKENIZE_ADD_SPECIAL);
  size_t count = 0;
  greta_status_t st = greta_tokenizer_encode(tok, text, len, flags, NULL, 0, &count);
  if (st)
    return st;
  *out_ids = malloc((count ? count : 1) * sizeof **out_ids);
  if (!*out_ids)
    return greta_tokenizer_encode(tok, text, len, flags, NULL, 0, out_count);
  return greta_tokenizer_encode(tok, text, len, flags, *out_ids, count, out_count);
}

/* A conversation's messages; the strings are owned here. */
typedef struct conversation_s {
  greta_chat_message_t *m;
  size_t n, cap;
} conversation_t;

static bool add_message(conversation_t *c, const char *role, const char *content, size_t len) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    greta_chat_message_t *more = realloc(c->m, cap * sizeof *more);
    if (!more)
      return false;
    c->m = more;
    c->cap = cap;
  }
  char *text = malloc(len + 1);
  if (!text)
    return false;
  memcpy(text, content, len);
  text[len] = 0;
  c->m[c->n++] = (greta_chat_message_t){role, text};
  return true;
}

/* Drops messages at .. at + count - 1. */
static void drop_messages(conversation_t *c, size_t at, size_t count) {
  for (size_t i = at; i < at + count; i++)
    free((char *)c->m[i].content);
  memmove(c->m + at, c->m + at + count, (c->n - at - count) * sizeof *c->m);
  c->n -= count;
}

static void free_conversation(conversation_t *c) {
  for (size_t i = 0; i < c->n; i++)
    free((char *)c->m[i].content);
  free(c->m);
}

static greta_status_t render(greta_chat_template_t tmpl, const conversation_t *c, char **out,
                             size_t *out_len) {
  size_t len = 0;
  greta_status_t st = greta_chat_format(tmpl, c->m, c->n, 1, NULL, 0, &len);
  if (st)
    return st;
  *out = malloc(len + 1);
  if (!*out)
    return greta_chat_format(tmpl, c->m, c->n, 1, NULL, 0, &len);
  st = greta_chat_format(tmpl, c->m, c->n, 1, *out, len, out_len);
  if (!st)
    (*out)[len] = 0;
  return st;
}

/* The conversation rendered with the template (its generation prompt
 * added) and tokenized: the ids a fresh run would take. On failure,
 * *out_what names the stage. */
static greta_status_t conversation_ids(greta_chat_template_t tmpl, const greta_tokenizer_t *tok,
                                       const conversation_t *c, int32_t **out_ids,
                                       size_t *out_count, const char **out_what) {
  char *text;
  size_t len;
  *out_what = "chat template";
  greta_status_t st = render(tmpl, c, &text, &len);
  if (st)
    return st;
  *out_what = "tokenizing the conversation";
  st = encode(tok, text, len, true, out_ids, out_count);
  free(text);
  return st;
}

/* One user turn from stdin into *buf (of *cap bytes, NUL-terminated), its
 * line ending dropped: a line, or several when each but the last ends in a
 * backslash, which becomes a newline. Returns its length, or -1 at end of
 * input or on error with nothing read (errno EINTR: Ctrl-C). */
static ssize_t read_turn(char **buf, size_t *cap) {
  char *line = NULL;
  size_t line_cap = 0, len = 0;
  ssize_t got;
  while ((got = getline(&line, &line_cap, stdin)) >= 0) {
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
      line[--got] = 0;
    bool more = got > 0 && line[got - 1] == '\\';
    if (more)
      line[got - 1] = '\n';
    if (len + (size_t)got + 1 > *cap) {
      size_t want = 2 * (len + (size_t)got + 1);
      char *grown = realloc(*buf, want);
      if (!grown) {
        free(line);
        errno = ENOMEM;
        return -1;
      }
      *buf = grown;
      *cap = want;
    }
    memcpy(*buf + len, line, (size_t)got);
    len += (size_t)got;
    (*buf)[len] = 0;
    if (!more)
      break;
  }
  int saved = errno;
  free(line);
  errno = saved;
  /* Ctrl-C in a turn of several lines drops it too. */
  return got < 0 && (len == 0 || saved == EINTR) ? -1 : (ssize_t)len;
}

/* The chat loop: one reply per user turn. `cached` holds the ids the KV
 * cache holds, in order. */
static int chat(const options_t *o, cli_run_t *run, const greta_tokenizer_t *tok,
                greta_chat_template_t tmpl, greta_generate_params_t *params,
                greta_detokenizer_t *detok) {
  conversation_t conv = {0};
  int32_t *cached = NULL;
  size_t n_cached = 0;
  char *line = NULL;
  size_t line_cap = 0;
  int rc = 1;
  /* first: the --prompt turn is still to come; show_load: the load time
   * goes with the next reply (the first one). */
  bool first = true, show_load = true, interactive = isatty(0);
  stream_t s = {.detok = detok};
  /* Room a turn keeps for its reply: -n tokens, at most half the cache; a
   * quarter of it with -n 0. */
  greta_memory_report_t mem;
  greta_model_memory(run->model, &mem);
  int64_t max_seq = mem.max_seq, room = max_seq / 4;
  if (params->max_new_tokens > 0)
    room = params->max_new_tokens < max_seq / 2 ? params->max_new_tokens : max_seq / 2;
  if (o->system && !add_message(&conv, "system", o->system, strlen(o->system)))
    goto oom;
  for (;;) {
    const char *turn;
    size_t turn_len;
    if (first && o->prompt) {
      turn = o->prompt;
      turn_len = strlen(turn);
    } else {
      if (interrupted)
        break; /* Ctrl-C between the reply's end and the prompt: at the prompt */
      if (interactive)
        fprintf(stderr, "> "), fflush(stderr);
      catch_sigint(false);
      errno = 0;
      ssize_t got = read_turn(&line, &line_cap);
      bool eintr = got < 0 && errno == EINTR;
      catch_sigint(true);
      if (got < 0) {
        if (eintr && interactive)
          fputs("\n", stderr);
        break;
      }
      if (got == 0)
        continue;
      turn = line;
      turn_len = (size_t)got;
    }
    /* A turn the tokenizer refuses (not UTF-8) is dropped, said against
     * the turn itself; the chat goes on. */
    size_t n_turn;
    greta_status_t bad = greta_tokenizer_encode(tok, turn, turn_len, 0, NULL, 0, &n_turn);
    if (bad) {
      fprintf(stderr, "greta: this turn is dropped: %s\n", greta_status_message(bad));
      greta_status_free(bad);
      first = false;
      continue;
    }
    if (!add_message(&conv, "user", turn, turn_len))
      goto oom;
    int32_t *ids;
    size_t n_ids, dropped = 0;
    /* The conversation is [system] (user assistant)* user: drop its oldest
     * exchanges while it and the reply's room do not fit. */
    size_t oldest = conv.n && !strcmp(conv.m[0].role, "system") ? 1 : 0;
    greta_status_t st;
    const char *what;
    while (!(st = conversation_ids(tmpl, tok, &conv, &ids, &n_ids, &what)) &&
           (int64_t)n_ids + room > max_seq && conv.n - oldest >= 3) {
      free(ids);
      drop_messages(&conv, oldest, 2);
      dropped++;
    }
    if (st) {
      cli_status_error("generate", what, st);
      goto done;
    }
    if (dropped == 1)
      fprintf(stderr, "greta: the conversation's oldest exchange was dropped to fit the KV cache "
                      "(max_seq %lld)\n",
              (long long)max_seq);
    else if (dropped)
      fprintf(stderr, "greta: the conversation's %zu oldest exchanges were dropped to fit the KV "
                      "cache (max_seq %lld)\n",
              dropped, (long long)max_seq);
    if ((int64_t)n_ids >= max_seq) {
      /* The turn alone leaves no room: it is dropped, the chat goes on. */
      fprintf(stderr, "greta: this turn is %zu tokens with the template: it does not fit in the KV "
                      "cache (max_seq %lld); it is dropped\n",
              n_ids, (long long)max_seq);
      free(ids);
      drop_messages(&conv, conv.n - 1, 1);
      first = false;
      continue;
    }
    /* Run only what the cache does not hold yet: at least the last id. */
    size_t keep = 0;
    while (keep < n_cached && keep + 1 < n_ids && cached[keep] == ids[keep])
      keep++;
    st = greta_session_truncate(run->session, (int64_t)keep);
    s.n_reply = 0;
    greta_generate_stats_t stats;
    if (!st)
      st = greta_generate(run->session, ids + keep, n_ids - keep, (int64_t)keep, params, on_token,
                          &s, &stats);
    if (st) {
      free(ids);
      cli_status_error("generate", NULL, st);
      goto done;
    }
    if (s.failed) {
      free(ids);
      goto done;
    }
    /* A Ctrl-C during the reply was meant for the reply; one after its
     * timings (which a caller may wait for) is one at the prompt. */
    interrupted = 0;
    fputs(greta_detokenizer_finish(detok), stdout);
    fputs("\n", stdout);
    fflush(stdout);
    print_stats(run, &stats, &s, (int64_t)keep, show_load);
    show_load = false;
    /* The cache now holds the conversation's ids and the reply but its last
     * token (sampled, never run). */
    int32_t *more = realloc(cached, ((size_t)stats.pos + 1) * sizeof *more);
    if (!more) {
      free(ids);
      goto oom;
    }
    cached = more;
    memcpy(cached, ids, n_ids * sizeof *ids);
    memcpy(cached + n_ids, s.reply, ((size_t)stats.pos - n_ids) * sizeof *ids);
    n_cached = (size_t)stats.pos;
    free(ids);
    /* The reply as text, without the EOS, is the assistant's turn. */
    size_t n_text = s.n_reply - (stats.stop == GRETA_STOP_EOS ? 1 : 0), reply_len = 0;
    char *reply = NULL;
    st = greta_tokenizer_decode(tok, s.reply, n_text, GRETA_DETOKENIZE_SKIP_SPECIAL, NULL, 0,
                                &reply_len);
    if (!st && !(reply = malloc(reply_len + 1)))
      goto oom;
    if (!st)
      st = greta_tokenizer_decode(tok, s.reply, n_text, GRETA_DETOKENIZE_SKIP_SPECIAL, reply,
                                  reply_len, &reply_len);
    if (st) {
      free(reply);
      cli_status_error("generate", "decoding the reply", st);
      goto done;
    }
    bool added = add_message(&conv, "assistant", reply, reply_len);
    free(reply);
    if (!added)
      goto oom;
    first = false;
    if (stats.stop == GRETA_STOP_CACHE_FULL)
      fprintf(stderr, "greta: the KV cache is full: the reply was cut, and the next turn drops "
                      "the conversation's oldest exchanges\n");
  }
  rc = 0;
  goto done;
oom:
  cli_error("generate", "out of memory");
done:
  free(line);
  free(cached);
  free(s.reply);
  free_conversation(&conv);
  return rc;
}

int cmd_generate(int argc, char **argv) {
  options_t o;
  int rc;
  if (!parse(argc, argv, &o, &rc))
    return rc;
  rc = 1;
  greta_chat_template_t tmpl = GRETA_CHAT_NONE;
  if (o.template_name) {
    greta_status_t st = greta_chat_template_from_name(o.template_name, &tmpl);
    if (st)
      return cli_status_error("generate", "--template", st);
  }
  int32_t *ids = NULL;
  size_t n_ids = 0;
  if (o.prompt_ids && !cli_parse_ids("generate", "--prompt-ids", o.prompt_ids, &ids, &n_ids))
    return 1;
  if (o.prompt_ids && n_ids == 0) {
    free(ids);
    return cli_error("generate", "--prompt-ids holds no ids");
  }

  /* The tokenizer: needed for text in or out; otherwise used when present
   * (its EOS ids stop generation). */
  greta_tokenizer_t *tok = NULL;
  greta_detokenizer_t *detok = NULL;
  char *tok_path = tokenizer_path(&o);
  bool need_tok = !o.prompt_ids || !o.output_ids;
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/tokenizer.json", tok_path ? tok_path : ".");
  struct stat sb;
  bool have_tok = o.tokenizer || (tok_path && stat(probe, &sb) == 0);
  cli_run_t run = {0};
  stream_t s = {0};
  if (need_tok || have_tok) {
    /* The tokenizer is looked for beside the weights before they are read:
     * a --weights that is not there is the error to report. */
    if (!o.tokenizer && stat(o.weights, &sb) != 0) {
      cli_error("generate", "--weights %s: %s", o.weights, strerror(errno));
      goto done;
    }
    greta_status_t st = greta_tokenizer_open(tok_path, &tok);
    if (st) {
      cli_status_error("generate",
                       o.tokenizer ? o.tokenizer
                                   : "the tokenizer (none given: looked in the weights' directory; "
                                     "give --tokenizer PATH)",
                       st);
      goto done;
    }
  }
  if (!o.output_ids) {
    greta_status_t st = greta_detokenizer_create(tok, GRETA_DETOKENIZE_SKIP_SPECIAL, &detok);
    if (st) {
      cli_status_error("generate", NULL, st);
      goto done;
    }
  }
  if (tok && (o.chat || o.system) && tmpl == GRETA_CHAT_NONE && !o.template_name) {
    tmpl = greta_chat_template_detect(tok);
    if (tmpl == GRETA_CHAT_NONE) {
      cli_error("generate", "the tokenizer has no chat template greta knows: give --template "
                            "llama2|llama3|chatml|mistral|zephyr");
      goto done;
    }
  }

  greta_status_t st = cli_run_open(o.model, &run);
  if (st) {
    cli_status_error("generate", o.model, st);
    goto done;
  }
  st = cli_run_bind(&run, o.weights);
  if (st) {
    cli_status_error("generate", o.weights, st);
    goto done;
  }
  size_t n_eos = 0;
  const int32_t *eos = tok ? greta_tokenizer_eos(tok, &n_eos) : NULL;
  greta_generate_params_t params = {
      .sampler = o.sampler, .max_new_tokens = o.n_predict, .eos = eos, .n_eos = n_eos};
  catch_sigint(true);
  if (o.chat) {
    rc = chat(&o, &run, tok, tmpl, &params, detok);
    goto done;
  }

  if (!ids) {
    conversation_t conv = {0};
    char *text = NULL;
    size_t len = strlen(o.prompt);
    bool templated = o.template_name || o.system;
    if (templated) {
      if ((o.system && !add_message(&conv, "system", o.system, strlen(o.system))) ||
          !add_message(&conv, "user", o.prompt, len)) {
        free_conversation(&conv);
        cli_error("generate", "out of memory");
        goto done;
      }
      st = render(tmpl, &conv, &text, &len);
      free_conversation(&conv);
      if (st) {
        cli_status_error("generate", "chat template", st);
        goto done;
      }
    }
    st = encode(tok, text ? text : o.prompt, len, templated && tmpl != GRETA_CHAT_NONE, &ids,
                &n_ids);
    free(text);
    if (st) {
      cli_status_error("generate", "tokenizing the prompt", st);
      goto done;
    }
  }
  s.detok = detok;
  greta_generate_stats_t stats;
  st = greta_generate(run.session, ids, n_ids, 0, &params, on_token, &s, &stats);
  if (st) {
    cli_status_error("generate", NULL, st);
    goto done;
  }
  if (s.failed)
    goto done;
  if (detok)
    fputs(greta_detokenizer_finish(detok), stdout);
  fputs("\n", stdout);
  fflush(stdout);
  print_stats(&run, &stats, &s, 0, true);
  rc = stats.stop == GRETA_STOP_CALLBACK ? 128 + SIGINT : 0;
done:
  free(s.reply);
  free(ids);
  free(tok_path);
  cli_run_close(&run);
  if (detok)
    greta_detokenizer_destroy(detok);
  if (tok)
    greta_tokenizer_destroy(tok);
  return rc;
}
