/* gretac: compile a .gm model into one code object that carries its plan.
 *
 *   .gm ──frontend──▶ IR ──passes──▶ fused IR ──schedule──▶ plan
 *       ──codegen──▶ translation unit (+ plan bytes) ──toolchain──▶ file
 *
 * Exit codes: 0 success, 1 errors in the input, 2 usage or internal errors
 * (including a toolchain that is missing or fails).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "driver.h"
#include "file_io.h"
#include "frontend.h"
#include "import.h"
#include "ir.h"
#include "passes.h"
#include "plan_dump.h"
#include "stats.h"
#include "target.h"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

typedef enum emit_e { EMIT_OBJECT, EMIT_IR, EMIT_IR_FUSED, EMIT_DOT, EMIT_PLAN, EMIT_SRC } emit_t;

typedef struct options_s {
  const char *input, *output, *target, *toolchain;
  emit_t emit;
  int64_t max_tokens;
  int stats, use_cache, quiet, verbose;
  int import_only;        /* `gretac import DIR`: write the .gm, compile nothing */
  import_options_t import; /* for a checkpoint directory as the input */
} options_t;

static const char usage_text[] =
    "usage: gretac [options] input.gm -o output\n"
    "       gretac [options] CHECKPOINT_DIR -o output\n"
    "       gretac import CHECKPOINT_DIR [-o model.gm] [--max-seq N] [--dtype D] [--kv-dtype D]\n"
    "\n"
    "Compiles a model written in the .gm language into one code object that\n"
    "carries its execution plan (load it with libgreta). A Hugging Face\n"
    "checkpoint directory is imported from its config.json first (Llama 2/3,\n"
    "TinyLlama, Mistral, SmolLM2, Qwen2 configs); `gretac import` writes that\n"
    ".gm (to stdout without -o).\n"
    "\n"
    "options:\n"
    "  -o FILE             write the compiled model to FILE\n"
    "  --target=T          gfx942 (default: MI300X, gfx942:sramecc+:xnack-), a full\n"
    "                      AMD target ID, gfx90a, sm_90, sm_80, or cpu (a plan-only\n"
    "                      file for the CPU backend)\n"
    "  --toolchain=NAME    auto (default), hiprtc, clang or nvrtc\n"
    "  --emit=WHAT         instead of a code object, print (or write to -o):\n"
    "                        ir        the typed IR as written\n"
    "                        ir-fused  the IR after CSE, fusion and DCE\n"
    "                        dot       the IR as a Graphviz graph\n"
    "                        plan      the execution plan: memory, launches\n"
    "                        src       the generated translation unit\n"
    "  --max-tokens=N      largest T of a prefill step (default: 512, or max_seq\n"
    "                      when the KV cache is smaller)\n"
    "  --max-seq=N         import: the KV cache's capacity (default: the config's\n"
    "                      max_position_embeddings, at most 4096)\n"
    "  --dtype=D           import: weight storage f32, f16 or bf16 (default: the\n"
    "                      config's torch_dtype)\n"
    "  --kv-dtype=D        import: KV-cache storage (default: the weight dtype when\n"
    "                      half, else f32)\n"
    "  --stats             per kernel: registers, LDS, spills, occupancy, code bytes;\n"
    "                      and the memory report\n"
    "  --no-cache          do not use the compile cache (~/.cache/greta)\n"
    "  -q, --quiet         no progress lines\n"
    "  -v, --verbose       time each stage\n"
    "  -h, --help          this text\n"
    "  --version           gretac's version\n"
    "\n"
    "Environment:\n"
    "  GRETA_CACHE_DIR     the compile cache's directory (default\n"
    "                      $XDG_CACHE_HOME/greta, else ~/.cache/greta)\n"
    "  GRETA_WGMMA=0       sm_90: plain sm_90 with mma.sync prefill GEMMs instead of\n"
    "                      sm_90a with wgmma ones (docs/gemm.md)\n"
    "  GRETA_NVIDIA_FLASH_ATTENTION=0\n"
    "                      NVIDIA: the one-row-per-wave prefill attention instead\n"
    "                      of the tensor-core flash attention\n"
    "  GRETA_ATTN_WGMMA=0  sm_90: the mma.sync prefill flash attention instead of\n"
    "                      the wgmma one at head_dim 128 (docs/gemm.md)\n"
    "  GRETA_SPLIT_K=0     sm_90: prefill GEMMs with few output tiles keep one block\n"
    "                      per tile instead of splitting its K over 2 or 4 blocks\n"
    "                      (a workspace in the arena; docs/gemm.md)\n"
    "  GRETA_WGMMA_192=0   sm_90: prefill GEMMs take 128- or 256-wide tiles only, not\n"
    "                      192-wide ones too (docs/gemm.md)\n"
    "  GRETA_TMA=0         sm_90: prefill GEMMs copy their operands with cp.async\n"
    "                      instead of the copy engine (tensor maps the runtime\n"
    "                      encodes; docs/gemm.md)\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "gretac: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(run 'gretac --help' for usage)\n");
  return EXIT_USAGE;
}

/* Writes the file whole or not at all (file_io.h). */
static int write_file(const char *path, const void *data, size_t size) {
  greta_status_t st = greta_file_write_atomic(path, data, size, 0666);
  if (!st) return 1;
  fprintf(stderr, "gretac: error: %s\n", greta_status_message(st));
  greta_status_free(st);
  return 0;
}

/* Text output goes to -o when given, else stdout. */
static int emit_text(const options_t *o, const char *text) {
  if (!o->output) {
    fputs(text, stdout);
    return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
  }
  return write_file(o->output, text, strlen(text)) ? 0 : EXIT_USAGE;
}

static int parse_options(int argc, char **argv, options_t *o) {
  static const struct option longopts[] = {
      {"target", required_argument, 0, 't'},   {"toolchain", required_argument, 0, 'T'},
      {"emit", required_argument, 0, 'e'},     {"max-tokens", required_argument, 0, 'm'},
      {"stats", no_argument, 0, 's'},          {"no-cache", no_argument, 0, 'n'},
      {"quiet", no_argument, 0, 'q'},          {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
      {"output", required_argument, 0, 'o'},   {"max-seq", required_argument, 0, 'S'},
      {"dtype", required_argument, 0, 'D'},    {"kv-dtype", required_argument, 0, 'K'},
      {0, 0, 0, 0}};
  static const char *emit_names[] = {"", "ir", "ir-fused", "dot", "plan", "src"};
  *o = (options_t){.target = "gfx942", .toolchain = "auto", .use_cache = 1};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:qvh", longopts, NULL)) != -1) {
    switch (c) {
      case 'o': o->output = optarg; break;
      case 't': o->target = optarg; break;
      case 'T': o->toolchain = optarg; break;
      case 's': o->stats = 1; break;
      case 'n': o->use_cache = 0; break;
      case 'q': o->quiet = 1; break;
      case 'v': o->verbose = 1; break;
      case 'h': fputs(usage_text, stdout); return -1;
      case 'V': printf("gretac %d.%d.%d\n", GRETA_VERSION_MAJOR, GRETA_VERSION_MINOR,
                       GRETA_VERSION_PATCH); return -1;
      case 'e': {
        int k = 1;
        while (k < 6 && strcmp(optarg, emit_names[k]) != 0) k++;
        if (k == 6) return usage_error("unknown --emit '%s' (expected ir, ir-fused, dot, plan or src)", optarg);
        o->emit = (emit_t)k;
        break;
      }
      case 'S': {
        char *end;
        errno = 0;
        long long v = strtoll(optarg, &end, 10);
        if (errno || *end || v < 1 || v > 1 << 24)
          return usage_error("--max-seq needs a whole number from 1 to 16777216, not '%s'", optarg);
        o->import.max_seq = v;
        break;
      }
      case 'D': o->import.dtype = optarg; break;
      case 'K':
        if (strcmp(optarg, "f32") && strcmp(optarg, "f16") && strcmp(optarg, "bf16"))
          return usage_error("--kv-dtype '%s': expected f32, f16 or bf16", optarg);
        o->import.kv_dtype = optarg;
        break;
      case 'm': {
        char *end;
        errno = 0;
        long long v = strtoll(optarg, &end, 10);
        if (errno || *end || v < 1 || v > 1 << 20)
          return usage_error("--max-tokens needs a whole number from 1 to 1048576, not '%s'", optarg);
        o->max_tokens = v;
        break;
      }
      case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
      default: return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc && strcmp(argv[optind], "import") == 0) {
    o->import_only = 1;
    optind++;
  }
  if (optind == argc)
    return usage_error("%s", o->import_only ? "no checkpoint directory" : "no input file");
  if (optind + 1 < argc) return usage_error("more than one input file ('%s' is the second)", argv[optind + 1]);
  o->input = argv[optind];
  if (strcmp(o->toolchain, "auto") && strcmp(o->toolchain, "hiprtc") &&
      strcmp(o->toolchain, "clang") && strcmp(o->toolchain, "nvrtc"))
    return usage_error("unknown --toolchain '%s' (expected auto, hiprtc, clang or nvrtc)", o->toolchain);
  return 0;
}

static int print_to_text(const options_t *o, const ir_graph_t *graph, int dot) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (!f) return EXIT_USAGE;
  if (dot) ir_print_dot(graph, f); else ir_print(graph, f);
  fclose(f);
  int rc = emit_text(o, text);
  free(text);
  return rc;
}

/* Everything after the front end. */
static int compile(const options_t *o, ir_graph_t *graph, const target_t *target) {
  if (o->emit == EMIT_IR_FUSED) {
    if (passes_run(graph, stderr) != 0) return EXIT_USAGE;
    return print_to_text(o, graph, 0);
  }
  if (o->emit == EMIT_SRC && target->arch == TARGET_CPU) {
    fprintf(stderr, "gretac: error: --target=cpu generates no source: the CPU backend runs the plan directly\n");
    return EXIT_USAGE;
  }
  if (o->emit == EMIT_OBJECT && !o->output) {
    fprintf(stderr, "gretac: error: no output file: give -o FILE (or --emit=ir|ir-fused|dot|plan|src)\n");
    return EXIT_USAGE;
  }
  driver_options_t d = {.target = target, .toolchain = o->toolchain, .max_tokens = o->max_tokens,
                        .use_cache = o->use_cache, .quiet = o->quiet, .verbose = o->verbose,
                        .stop = o->emit == EMIT_PLAN  ? DRIVER_STOP_PLAN
                                : o->emit == EMIT_SRC ? DRIVER_STOP_SOURCE
                                                      : DRIVER_STOP_FILE};
  driver_result_t r;
  int rc = driver_compile(graph, &d, &r, stderr);
  if (rc == 0) {
    if (o->emit == EMIT_PLAN) {
      char *text = NULL;
      size_t size = 0;
      FILE *f = open_memstream(&text, &size);
      plan_print(r.plan, f);
      fclose(f);
      rc = emit_text(o, text);
      free(text);
    } else if (o->emit == EMIT_SRC) {
      rc = emit_text(o, r.source);
    } else if (!write_file(o->output, r.file, r.file_size)) {
      rc = EXIT_USAGE;
    } else {
      if (!o->quiet) {
        fprintf(stderr, "gretac: wrote %s (%zu bytes) for %s; ", o->output, r.file_size, target->id);
        plan_print_memory(r.plan, stderr);
      }
      if (o->stats) {
        plan_print_memory(r.plan, stdout);
        if (target->arch != TARGET_CPU) stats_print(target, r.file, r.file_size, stdout);
      }
    }
  }
  driver_result_free(&r);
  return rc;
}

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A checkpoint directory through import: the .gm text, or NULL after saying why. */
static char *import_text(const options_t *o) {
  strbuf_t gm = {0};
  greta_status_t st = import_checkpoint(o->input, &o->import, &gm);
  if (st) {
    fprintf(stderr, "gretac: error: %s\n", greta_status_message(st));
    greta_status_free(st);
    strbuf_free(&gm);
    return NULL;
  }
  return strbuf_take(&gm);
}

int main(int argc, char **argv) {
  options_t o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc < 0 ? 0 : rc;
  int from_checkpoint = o.import_only || is_directory(o.input);
  if (!from_checkpoint && (o.import.max_seq || o.import.dtype || o.import.kv_dtype))
    return usage_error("%s", "--max-seq, --dtype and --kv-dtype apply to a checkpoint directory");
  char *imported = NULL;
  if (from_checkpoint) {
    if (!(imported = import_text(&o))) return EXIT_INPUT;
    if (o.import_only) {
      rc = emit_text(&o, imported);
      free(imported);
      return rc;
    }
  }

  target_t target;
  greta_status_t status = target_parse(o.target, &target);
  if (status) {
    fprintf(stderr, "gretac: error: %s\n", greta_status_message(status));
    greta_status_free(status);
    return EXIT_USAGE;
  }

  double t0 = clock_seconds();
  int errors = 0;
  ir_graph_t *graph =
      imported ? frontend_compile_string("config.json (imported)", imported, strlen(imported),
                                         stderr, &errors)
               : frontend_compile_file(o.input, stderr, &errors);
  free(imported);
  if (!graph) return EXIT_INPUT;
  if (o.verbose)
    fprintf(stderr, "gretac: front end: %d nodes (%.3f s)\n", graph->n_nodes, clock_seconds() - t0);

  if (o.emit == EMIT_IR || o.emit == EMIT_DOT) {
    passes_prune(graph); /* the pipeline's first step: --emit=ir shows the graph after DCE */
    rc = print_to_text(&o, graph, o.emit == EMIT_DOT);
  } else {
    rc = compile(&o, graph, &target);
  }
  ir_graph_destroy(graph);
  return rc;
}
