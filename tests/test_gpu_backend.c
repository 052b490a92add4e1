/* The GPU backend (runtime/src/gpu/): symbol tables, statuses without a GPU,
 * and, where a GPU is present, a hand-built plan of two kernels compiled at
 * test time (NVRTC for NVIDIA, hiprtc for AMD) run through graphs.
 * Over 600 lines on purpose: every test shares that one hand-built plan and
 * its kernels' source, which a split would have to repeat or export.
 *
 * Without a GPU the device tests skip with the reason. On the GPU machine,
 * scripts/gpu_check.sh runs this binary.
 */
#define _GNU_SOURCE /* setenv, glob */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/src/gpu/backend_gpu.h"
#include "../runtime/src/status.h"

/* ---- helpers ------------------------------------------------------------- */

/* LeakSanitizer (GRETA_SANITIZE builds) reads this: the driver libraries
 * keep static allocations for the life of the process, which are not ours.
 * The libraries stay loaded (RTLD_NODELETE), so the reports are stable. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libamdhip64\nleak:libhsa-runtime64\nleak:libcuda\nleak:libnvrtc\n";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
/* The CUDA driver maps memory where AddressSanitizer's shadow gap would be
 * protected; without this, cuInit fails under ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "protect_shadow_gap=0"; }

static const char *message(greta_status_t status) { return greta_status_message(status); }

/* dlopen's the first name that loads, independently of the code under test. */
static void *open_first(const char *const *names, const char **out_name) {
  for (const char *const *name = names; *name; ++name) {
    /* RTLD_NODELETE as the backend does: some driver libraries crash when
     * loaded a second time after an unload (LLVM options registered twice,
     * seen with a libamdhip64 on the NVIDIA machine). */
    void *handle = dlopen(*name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle) {
      if (out_name) *out_name = *name;
      return handle;
    }
  }
  return NULL;
}

static const char *const hip_names[] = {"libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6",
                                        "libamdhip64.so.5", NULL};
static const char *const cuda_names[] = {"libcuda.so.1", "libcuda.so", NULL};

/* ---- without a GPU ------------------------------------------------------ */

/* The X-macro list, counted and resolved here with our own macros. */
typedef struct symbol_name_s {
  const char *name;
  int required;
} symbol_name_t;

typedef int hip_result_t;
static const symbol_name_t hip_list[] = {
#define GRETA_HIP_REQUIRED(ret, name, params) {#name, 1},
#define GRETA_HIP_OPTIONAL(ret, name, params) {#name, 0},
#include "../runtime/src/gpu/hip_symbols.h"
#undef GRETA_HIP_REQUIRED
#undef GRETA_HIP_OPTIONAL
};

static const symbol_name_t cuda_list[] = {
#define GRETA_CUDA_REQUIRED(ret, name, params) {#name, 1},
#define GRETA_CUDA_OPTIONAL(ret, name, params) {#name, 0},
#include "../runtime/src/gpu/cuda_symbols.h"
#undef GRETA_CUDA_REQUIRED
#undef GRETA_CUDA_OPTIONAL
};

static void check_probe(const char *api, const char *const *names, const symbol_name_t *list,
                        size_t n, greta_status_t (*probe)(greta_gpu_symbols_report_t *)) {
  const char *loaded = NULL;
  void *handle = open_first(names, &loaded);
  if (!handle) cr_skip_test("no %s library here (%s...): nothing to resolve", api, names[0]);
  int required = 0, optional = 0, optional_found = 0;
  for (size_t i = 0; i < n; ++i) {
    void *address = dlsym(handle, list[i].name);
    if (list[i].required) {
      ++required;
      cr_expect_not_null(address, "%s: %s exports no %s", api, loaded, list[i].name);
    } else {
      ++optional;
      optional_found += address != NULL;
    }
  }
  dlclose(handle);
  cr_assert_gt(required, 20, "the %s list should name the whole driver API the backend uses", api);

  greta_gpu_symbols_report_t report;
  memset(&report, 0x5a, sizeof report);
  greta_status_t status = probe(&report);
  cr_assert_null(status, "%s probe: %s", api, message(status));
  cr_expect_eq(report.required, required);
  cr_expect_eq(report.optional, optional);
  cr_expect_eq(report.optional_found, optional_found);
  cr_expect_neq(report.library[0], 0, "the library's path is reported");
  printf("%s symbol table: %d required, %d/%d optional, from %s\n", api, report.required,
         report.optional_found, report.optional, report.library);
}

Test(gpu_symbols, hip_table_resolves_every_required_symbol, .timeout = 60) {
  check_probe("HIP", hip_names, hip_list, sizeof hip_list / sizeof hip_list[0],
              greta_gpu_hip_probe);
}

Test(gpu_symbols, cuda_table_resolves_every_required_symbol, .timeout = 60) {
  check_probe("CUDA", cuda_names, cuda_list, sizeof cuda_list / sizeof cuda_list[0],
              greta_gpu_cuda_probe);
}

Test(gpu_symbols, missing_library_names_every_candidate) {
  const char *const names[] = {"libgreta_no_such_a.so", "libgreta_no_such_b.so.3", NULL};
  void *handle = (void *)0x1;
  greta_status_t status = greta_dynlib_open("FOO", names, &handle);
  cr_assert_eq(greta_status_code(status), GRETA_UNAVAILABLE, "%s", message(status));
  cr_expect_null(handle);
  cr_expect(strstr(message(status), "FOO unavailable: tried libgreta_no_such_a.so, "
                                    "libgreta_no_such_b.so.3 (") != NULL,
            "message: %s", message(status));
  greta_status_free(status);
}

Test(gpu_backend, hip_without_amd_gpu_is_a_clear_status, .timeout = 60) {
  if (access("/dev/kfd", F_OK) == 0) cr_skip_test("/dev/kfd exists: an AMD GPU may be here");
  greta_backend_t *backend = (greta_backend_t *)0x1;
  greta_status_t status = greta_backend_hip_create(0, &backend);
  cr_assert_eq(greta_status_code(status), GRETA_UNAVAILABLE, "%s", message(status));
  cr_expect_null(backend);
  void *handle = open_first(hip_names, NULL);
  if (handle) {
    dlclose(handle);
    cr_expect(strstr(message(status), "no AMD GPU found (hipGetDeviceCount returned") != NULL,
              "message: %s", message(status));
  } else {
    cr_expect(strstr(message(status), "HIP unavailable: tried libamdhip64.so, ") != NULL,
              "message: %s", message(status));
  }
  printf("hip: %s\n", message(status));
  greta_status_free(status);
}

Test(gpu_backend, cuda_without_driver_is_a_clear_status, .timeout = 60) {
  void *handle = open_first(cuda_names, NULL);
  if (handle) {
    dlclose(handle);
    cr_skip_test("libcuda is present here: the device tests cover CUDA");
  }
  greta_backend_t *backend = (greta_backend_t *)0x1;
  greta_status_t status = greta_backend_cuda_create(0, &backend);
  cr_assert_eq(greta_status_code(status), GRETA_UNAVAILABLE, "%s", message(status));
  cr_expect_null(backend);
  cr_expect(strstr(message(status), "CUDA unavailable: tried libcuda.so.1, libcuda.so (") != NULL,
            "message: %s", message(status));
  printf("cuda: %s\n", message(status));
  greta_status_free(status);
}

Test(gpu_errors, one_table_maps_codes_names_and_statuses) {
  struct {
    greta_gpu_kind_t kind;
    int code;
    const char *name;
    greta_status_code_t status;
  } cases[] = {
      {GRETA_GPU_HIP, 2, "hipErrorOutOfMemory", GRETA_RESOURCE_EXHAUSTED},
      {GRETA_GPU_HIP, 100, "hipErrorNoDevice", GRETA_UNAVAILABLE},
      {GRETA_GPU_HIP, 500, "hipErrorNotFound", GRETA_NOT_FOUND},
      {GRETA_GPU_HIP, 200, "hipErrorInvalidImage", GRETA_DATA_LOSS},
      {GRETA_GPU_CUDA, 2, "CUDA_ERROR_OUT_OF_MEMORY", GRETA_RESOURCE_EXHAUSTED},
      {GRETA_GPU_CUDA, 500, "CUDA_ERROR_NOT_FOUND", GRETA_NOT_FOUND},
      {GRETA_GPU_CUDA, 209, "CUDA_ERROR_NO_BINARY_FOR_GPU", GRETA_FAILED_PRECONDITION},
      {GRETA_GPU_CUDA, 12345, "unknown error", GRETA_INTERNAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    cr_expect_str_eq(greta_gpu_error_name(cases[i].kind, cases[i].code), cases[i].name);
    greta_status_t status = greta_gpu_error(cases[i].kind, cases[i].code, "someCall", "why");
    cr_expect_eq(greta_status_code(status), cases[i].status, "%s", message(status));
    char expected[256];
    snprintf(expected, sizeof expected, "someCall failed: %s (%d): why", cases[i].name,
             cases[i].code);
    cr_expect_str_eq(message(status), expected);
    greta_status_free(status);
  }
  cr_expect_null(greta_gpu_error(GRETA_GPU_HIP, 0, "hipFree", NULL), "0 is success");
}

/* ---- with a GPU ----------------------------------------------------------- */

/* Row width, token bound and cache length the kernels are compiled for. */
#define N 256
#define MAX_T 8
#define MAX_SEQ 32
#define SCALE 2.5f
#define BLOCK 128

/* scale: y[t][i] = x[t][i] * SCALE + pos             (x, y in the arena)
 * add:   cache[pos + t][i] = y[t][i] + w[i]           (w weights, cache KV)
 * bounded: as scale, with launch bounds of 64 threads.
 * slow, probe: the early-start check (gpu_device.early_start_...).
 * Every kernel begins as gretac's do (templates/prelude.h, greta_grid_begin):
 * the runtime may start a launch before the previous one has finished. */
static const char kernel_source[] =
    "#define N 256\n"
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"
    "#define WAIT() asm volatile(\"griddepcontrol.wait;\" ::: \"memory\")\n"
    "#define LET_NEXT_START() asm volatile(\"griddepcontrol.launch_dependents;\" ::: \"memory\")\n"
    "#else\n"
    "#define WAIT()\n"
    "#define LET_NEXT_START()\n"
    "#endif\n"
    "extern \"C\" __global__ void greta_test_scale(const int *p, const float *x, float *y) {\n"
    "  WAIT(); LET_NEXT_START();\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < p[0] * N) y[i] = x[i] * 2.5f + (float)p[1];\n"
    "}\n"
    "extern \"C\" __global__ void greta_test_add(const int *p, const float *y, const float *w,\n"
    "                                            float *cache) {\n"
    "  WAIT(); LET_NEXT_START();\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < p[0] * N) cache[(p[1] + i / N) * N + i % N] = y[i] + w[i % N];\n"
    "}\n"
    /* slow lets the next launch start, then spins (up to 200 ms) until that
     * launch has set flags[0] before its WAIT; it records whether it saw it
     * (flags[1]) and writes flags[2] last. probe sets flags[0], waits, then
     * copies flags[2] to flags[3]: after WAIT it must see slow's writes. */
    "__device__ unsigned long long greta_test_ns() {\n"
    "  unsigned long long t = 0;\n"
    "#if defined(__CUDA_ARCH__)\n"
    "  asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(t));\n"
    "#else\n"
    "  t = wall_clock64() * 10ull; /* 100 MHz on CDNA */\n"
    "#endif\n"
    "  return t;\n"
    "}\n"
    "extern \"C\" __global__ void greta_test_slow(const int *p, int *flags) {\n"
    "  WAIT(); LET_NEXT_START();\n"
    "  unsigned long long start = greta_test_ns();\n"
    "  int seen = 0;\n"
    "  while (!(seen = atomicAdd(&flags[0], 0)) && greta_test_ns() - start < 200000000ull) {}\n"
    "  flags[1] = seen;\n"
    "  flags[2] = 42;\n"
    "}\n"
    "extern \"C\" __global__ void greta_test_probe(const int *p, int *flags) {\n"
    "  atomicExch(&flags[0], 1);\n"
    "  WAIT(); LET_NEXT_START();\n"
    "  flags[3] = flags[2];\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(64)\n"
    "greta_test_bounded(const int *p, const float *x, float *y) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i < p[0] * N) y[i] = x[i];\n"
    "}\n";

#define X_OFFSET 0
#define Y_OFFSET (MAX_T * N * sizeof(float))
#define ARENA_BYTES (2 * MAX_T * N * sizeof(float))
#define WEIGHT_BYTES (N * sizeof(float))
#define KV_BYTES (MAX_SEQ * N * sizeof(float))

/* NVRTC and hiprtc have the same shape; only names differ. */
typedef struct rtc_s {
  void *library;
  int (*create)(void **program, const char *source, const char *name, int n_headers,
                const char *const *headers, const char *const *include_names);
  int (*compile)(void *program, int n_options, const char *const *options);
  int (*log_size)(void *program, size_t *size);
  int (*log)(void *program, char *log);
  int (*code_size)(void *program, size_t *size);
  int (*code)(void *program, char *code);
  int (*destroy)(void **program);
} rtc_t;

static void *rtc_symbol(void *library, const char *name) {
  void *address = dlsym(library, name);
  cr_assert_not_null(address, "%s missing from the run-time compiler", name);
  return address;
}

#define RTC_BIND(rtc, field, name) memcpy(&(rtc)->field, (void *[]){rtc_symbol((rtc)->library, name)}, sizeof(void *))

/* Finds NVRTC: $GRETA_NVRTC, the loader's path, /usr/local/cuda, then pip's
 * nvidia-cuda-nvrtc wheels. */
static void *nvrtc_open(char *where, size_t where_size) {
  const char *env = getenv("GRETA_NVRTC");
  const char *names[] = {env ? env : "libnvrtc.so", "libnvrtc.so", "libnvrtc.so.13",
                         "libnvrtc.so.12", NULL};
  const char *name = NULL;
  void *library = open_first(names, &name);
  if (library) {
    snprintf(where, where_size, "%s", name);
    return library;
  }
  const char *patterns[] = {
      "/usr/local/cuda/lib64/libnvrtc.so*",
      "/usr/local/cuda*/lib64/libnvrtc.so*",
      "/opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so*",
      "/opt/torch/.venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so*",
      "/usr/local/lib/python3*/dist-packages/nvidia/*/lib/libnvrtc.so*",
      "/usr/lib/python3/dist-packages/nvidia/*/lib/libnvrtc.so*",
  };
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; ++i) {
    glob_t found;
    if (glob(patterns[i], 0, NULL, &found) != 0) continue;
    for (size_t j = 0; j < found.gl_pathc && !library; ++j) {
      if (strstr(found.gl_pathv[j], "builtins") || strstr(found.gl_pathv[j], ".alt.")) continue;
      library = dlopen(found.gl_pathv[j], RTLD_NOW | RTLD_LOCAL);
      if (library) snprintf(where, where_size, "%s", found.gl_pathv[j]);
    }
    globfree(&found);
    if (library) return library;
  }
  return NULL;
}

/* Compiles kernel_source for `backend`'s target into a code object (cubin
 * or HSACO) the caller frees; skips the test when no compiler is found. */
static uint8_t *compile_kernels(const greta_backend_t *backend, size_t *out_size) {
  rtc_t rtc = {0};
  char where[512] = "";
  char option[128];
  int cuda = strcmp(backend->kind_name, "cuda") == 0;
  if (cuda) {
    rtc.library = nvrtc_open(where, sizeof where);
    if (!rtc.library) cr_skip_test("no NVRTC found (set GRETA_NVRTC to libnvrtc.so's path)");
    RTC_BIND(&rtc, create, "nvrtcCreateProgram");
    RTC_BIND(&rtc, compile, "nvrtcCompileProgram");
    RTC_BIND(&rtc, log_size, "nvrtcGetProgramLogSize");
    RTC_BIND(&rtc, log, "nvrtcGetProgramLog");
    RTC_BIND(&rtc, code_size, "nvrtcGetCUBINSize");
    RTC_BIND(&rtc, code, "nvrtcGetCUBIN");
    RTC_BIND(&rtc, destroy, "nvrtcDestroyProgram");
    snprintf(option, sizeof option, "--gpu-architecture=%s", backend->target);
  } else {
    const char *names[] = {"libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6", "libamdhip64.so",
                           NULL};
    const char *name = NULL;
    rtc.library = open_first(names, &name);
    if (!rtc.library || !dlsym(rtc.library, "hiprtcCreateProgram")) {
      cr_skip_test("no hiprtc found");
    }
    snprintf(where, sizeof where, "%s", name);
    RTC_BIND(&rtc, create, "hiprtcCreateProgram");
    RTC_BIND(&rtc, compile, "hiprtcCompileProgram");
    RTC_BIND(&rtc, log_size, "hiprtcGetProgramLogSize");
    RTC_BIND(&rtc, log, "hiprtcGetProgramLog");
    RTC_BIND(&rtc, code_size, "hiprtcGetCodeSize");
    RTC_BIND(&rtc, code, "hiprtcGetCode");
    RTC_BIND(&rtc, destroy, "hiprtcDestroyProgram");
    snprintf(option, sizeof option, "--offload-arch=%s", backend->target);
  }
  void *program = NULL;
  cr_assert_eq(rtc.create(&program, kernel_source, "greta_test.cu", 0, NULL, NULL), 0);
  const char *options[] = {option};
  int compiled = rtc.compile(program, 1, options);
  size_t log_size = 0;
  rtc.log_size(program, &log_size);
  char *log = calloc(1, log_size + 1);
  rtc.log(program, log);
  cr_assert_eq(compiled, 0, "compiling for %s with %s failed (%d):\n%s", backend->target, where,
               compiled, log);
  free(log);
  size_t size = 0;
  cr_assert_eq(rtc.code_size(program, &size), 0);
  uint8_t *code = malloc(size);
  cr_assert_eq(rtc.code(program, (char *)code), 0);
  rtc.destroy(&program);
  printf("compiled %zu bytes for %s with %s\n", size, backend->target, where);
  *out_size = size;
  return code;
}

/* The device, its memory spaces and the compiled file of one test. */
typedef struct fixture_s {
  greta_backend_t *backend;
  greta_spaces_t spaces;
  uint8_t *code;
  size_t code_size;
  char *kernel_names[5];
  greta_plan_launch_t launches[2];
  greta_plan_entry_t entries[2];
  greta_plan_t plan;
} fixture_t;

static void check(greta_status_t status, const char *what) {
  cr_assert_null(status, "%s: %s", what, message(status));
}

/* Opens the first GPU (AMD, else NVIDIA), or skips saying why not. */
static void fixture_open(fixture_t *f) {
  memset(f, 0, sizeof *f);
  greta_status_t hip = greta_backend_hip_create(0, &f->backend);
  if (hip) {
    greta_status_t cuda = greta_backend_cuda_create(0, &f->backend);
    if (cuda) {
      char reason[1024];
      snprintf(reason, sizeof reason, "no GPU: %s; %s", message(hip), message(cuda));
      greta_status_free(hip);
      greta_status_free(cuda);
      cr_skip_test("%s", reason);
    }
    greta_status_free(hip);
  }
  printf("device: %s (%s, target %s)\n", f->backend->device_name, f->backend->kind_name,
         f->backend->target);
  const greta_backend_vtable_t *vt = f->backend->vtable;
  check(vt->alloc(f->backend, 2 * sizeof(int32_t), &f->spaces.params), "alloc params");
  check(vt->alloc(f->backend, ARENA_BYTES, &f->spaces.arena), "alloc arena");
  check(vt->alloc(f->backend, WEIGHT_BYTES, &f->spaces.weights), "alloc weights");
  check(vt->alloc(f->backend, KV_BYTES, &f->spaces.kv), "alloc kv");
  f->code = compile_kernels(f->backend, &f->code_size);
}

/* The two-launch plan: entry 0 "decode" (T = 1), entry 1 "prefill"
 * (2..MAX_T); both run scale then add. */
static void fixture_plan(fixture_t *f) {
  f->kernel_names[0] = "greta_test_scale";
  f->kernel_names[1] = "greta_test_add";
  f->kernel_names[2] = "greta_test_bounded";
  f->kernel_names[3] = "greta_test_slow";
  f->kernel_names[4] = "greta_test_probe";
  greta_plan_launch_t *scale = &f->launches[0], *add = &f->launches[1];
  memset(f->launches, 0, sizeof f->launches);
  for (int i = 0; i < 2; ++i) {
    greta_plan_launch_t *l = &f->launches[i];
    l->grid[0] = l->grid[1] = l->grid[2] = 1;
    l->block[0] = BLOCK;
    l->block[1] = l->block[2] = 1;
    l->grid_t_axis = 0;
    l->grid_t_per_token = N / BLOCK;
    l->grid_t_tile = 1;
    l->rows_coeff = 1;
    l->rows_per_token = 1;
    l->attr.n = N;
  }
  scale->op = GRETA_OP_SCALE;
  scale->kernel = 0;
  scale->n_args = 2;
  scale->args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, X_OFFSET};
  scale->args[1] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, Y_OFFSET};
  scale->attr.factor = SCALE;
  add->op = GRETA_OP_ADD;
  add->kernel = 1;
  add->n_args = 3;
  add->args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, Y_OFFSET};
  add->args[1] = (greta_plan_buffer_t){GRETA_SPACE_WEIGHTS, 0};
  add->args[2] = (greta_plan_buffer_t){GRETA_SPACE_KV, 0};
  f->entries[0] = (greta_plan_entry_t){"decode", 1, 1, 2, f->launches};
  f->entries[1] = (greta_plan_entry_t){"prefill", 2, MAX_T, 2, f->launches};
  memset(&f->plan, 0, sizeof f->plan);
  f->plan.target = f->backend->target;
  f->plan.max_seq = MAX_SEQ;
  f->plan.max_tokens = MAX_T;
  f->plan.arena_bytes = ARENA_BYTES;
  f->plan.weight_bytes = WEIGHT_BYTES;
  f->plan.kv_bytes = KV_BYTES;
  f->plan.n_kernels = 2;
  f->plan.kernels = f->kernel_names;
  f->plan.n_entries = 2;
  f->plan.entries = f->entries;
}

static void fixture_close(fixture_t *f) {
  const greta_backend_vtable_t *vt = f->backend->vtable;
  vt->free(f->backend, f->spaces.params);
  vt->free(f->backend, f->spaces.arena);
  vt->free(f->backend, f->spaces.weights);
  vt->free(f->backend, f->spaces.kv);
  vt->destroy(f->backend);
  free(f->code);
}

static float random_float(void) { return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f; }

static const uint32_t poison_bits = 0x7fc0dead; /* a NaN no kernel writes */

static void poison(float *data, size_t count) {
  for (size_t i = 0; i < count; ++i) memcpy(&data[i], &poison_bits, sizeof poison_bits);
}

static int is_poison(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits == poison_bits;
}

/* Runs one step of T tokens at pos on fresh random inputs and checks y and
 * the whole cache against a double-precision reference. */
static void run_and_check(fixture_t *f, greta_program_t *program, int64_t tokens, int64_t pos) {
  const greta_backend_vtable_t *vt = f->backend->vtable;
  static float x[MAX_T * N], y[MAX_T * N], w[N], kv[MAX_SEQ * N];
  for (int i = 0; i < MAX_T * N; ++i) x[i] = random_float();
  for (int i = 0; i < N; ++i) w[i] = random_float();
  poison(y, MAX_T * N);
  poison(kv, MAX_SEQ * N);
  check(vt->upload(f->backend, f->spaces.arena, X_OFFSET, x, sizeof x), "upload x");
  check(vt->upload(f->backend, f->spaces.arena, Y_OFFSET, y, sizeof y), "poison y");
  check(vt->upload(f->backend, f->spaces.weights, 0, w, sizeof w), "upload w");
  check(vt->upload(f->backend, f->spaces.kv, 0, kv, sizeof kv), "poison kv");

  const greta_plan_entry_t *entry = greta_plan_entry_for(&f->plan, tokens);
  cr_assert_not_null(entry);
  check(vt->program_run(program, entry, tokens, pos), "program_run");

  check(vt->download(f->backend, y, f->spaces.arena, Y_OFFSET, sizeof y), "download y");
  check(vt->download(f->backend, kv, f->spaces.kv, 0, sizeof kv), "download kv");
  int bad = 0;
  for (int64_t i = 0; i < MAX_T * N; ++i) {
    if (i >= tokens * N) {
      bad += !is_poison(y[i]);
      continue;
    }
    double expected = (double)x[i] * SCALE + (double)pos;
    if (!(fabs(y[i] - expected) <= 1e-5 * (1 + fabs(expected)))) {
      if (bad++ < 5) cr_log_error("T=%lld pos=%lld: y[%lld] = %g, expected %g", (long long)tokens,
                                  (long long)pos, (long long)i, y[i], expected);
    }
  }
  for (int64_t row = 0; row < MAX_SEQ; ++row) {
    for (int64_t col = 0; col < N; ++col) {
      float got = kv[row * N + col];
      if (row < pos || row >= pos + tokens) {
        bad += !is_poison(got);
        continue;
      }
      int64_t i = (row - pos) * N + col;
      double expected = (double)x[i] * SCALE + (double)pos + (double)w[col];
      if (!(fabs(got - expected) <= 1e-5 * (1 + fabs(expected)))) {
        if (bad++ < 5) cr_log_error("T=%lld pos=%lld: kv[%lld][%lld] = %g, expected %g",
                                    (long long)tokens, (long long)pos, (long long)row,
                                    (long long)col, got, expected);
      }
    }
  }
  cr_assert_eq(bad, 0, "T=%lld pos=%lld: %d wrong or unwritten/overwritten elements",
               (long long)tokens, (long long)pos, bad);
}

Test(gpu_device, replays_graphs_without_recapture, .timeout = 300) {
  fixture_t f;
  fixture_open(&f);
  fixture_plan(&f);
  unsetenv("GRETA_NO_GRAPH");
  const greta_backend_vtable_t *vt = f.backend->vtable;
  greta_program_t *program = NULL;
  check(vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program),
        "program_create");
  cr_assert(greta_gpu_program_uses_graphs(program));
  cr_expect_eq(greta_gpu_program_capture_count(program), 0);
  srand(42);
  /* (T, pos, graphs captured after the step) */
  const int64_t steps[][3] = {{1, 0, 1}, {1, 1, 1},  {1, 2, 1}, {4, 3, 2},  {4, 10, 2},
                              {7, 20, 3}, {1, 31, 3}, {8, 24, 4}, {4, 0, 4}, {1, 5, 4}};
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; ++s) {
    run_and_check(&f, program, steps[s][0], steps[s][1]);
    cr_expect_eq(greta_gpu_program_capture_count(program), (uint64_t)steps[s][2],
                 "after step %zu (T=%lld pos=%lld): %llu captures, expected %lld", s,
                 (long long)steps[s][0], (long long)steps[s][1],
                 (unsigned long long)greta_gpu_program_capture_count(program),
                 (long long)steps[s][2]);
  }
  /* T outside the entry's range is refused, not run. */
  greta_status_t status = vt->program_run(program, &f.entries[0], 2, 0);
  cr_expect_eq(greta_status_code(status), GRETA_OUT_OF_RANGE, "%s", message(status));
  greta_status_free(status);
  vt->program_destroy(program);
  fixture_close(&f);
}

Test(gpu_device, no_graph_path_gives_the_same_results, .timeout = 300) {
  fixture_t f;
  fixture_open(&f);
  fixture_plan(&f);
  setenv("GRETA_NO_GRAPH", "1", 1);
  const greta_backend_vtable_t *vt = f.backend->vtable;
  greta_program_t *program = NULL;
  check(vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program),
        "program_create");
  unsetenv("GRETA_NO_GRAPH");
  cr_assert_not(greta_gpu_program_uses_graphs(program));
  srand(7);
  run_and_check(&f, program, 1, 0);
  run_and_check(&f, program, 5, 9);
  run_and_check(&f, program, 1, 14);
  cr_expect_eq(greta_gpu_program_capture_count(program), 0);
  vt->program_destroy(program);
  fixture_close(&f);
}

/* Runs slow then probe (one block of one thread each) in one graph and
 * returns the flags they leave. */
static void run_slow_then_probe(int32_t flags[4]) {
  fixture_t f;
  fixture_open(&f);
  fixture_plan(&f);
  for (int i = 0; i < 2; ++i) {
    greta_plan_launch_t *l = &f.launches[i];
    l->op = GRETA_OP_SCALE;
    l->kernel = 3 + (uint32_t)i;
    l->block[0] = 1;
    l->grid_t_axis = 3; /* one block whatever T */
    l->n_args = 1;
    l->args[0] = (greta_plan_buffer_t){GRETA_SPACE_ARENA, X_OFFSET};
  }
  f.plan.n_kernels = 5;
  const greta_backend_vtable_t *vt = f.backend->vtable;
  greta_program_t *program = NULL;
  check(vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program),
        "program_create");
  memset(flags, 0, 4 * sizeof *flags);
  check(vt->upload(f.backend, f.spaces.arena, X_OFFSET, flags, 4 * sizeof *flags), "upload");
  check(vt->program_run(program, &f.entries[0], 1, 0), "program_run");
  check(vt->download(f.backend, flags, f.spaces.arena, X_OFFSET, 4 * sizeof *flags), "download");
  printf("%s: probe started %s slow finished; probe read %d after its wait\n",
         f.backend->target, flags[1] ? "before" : "after", flags[3]);
  vt->program_destroy(program);
  fixture_close(&f);
}

static bool target_is_sm90_or_later(void) {
  greta_backend_t *backend = NULL;
  greta_status_t status = greta_backend_cuda_create(0, &backend);
  if (status) {
    greta_status_free(status);
    return false;
  }
  bool later = strncmp(backend->target, "sm_", 3) == 0 && atoi(backend->target + 3) >= 90;
  backend->vtable->destroy(backend);
  return later;
}

/* On sm_90 a step's launches start early by default (programmatic dependent
 * launch): probe runs while slow still spins, and its wait still gives it
 * slow's writes. GRETA_OVERLAP=0 runs them in order. compute-sanitizer runs
 * kernels one at a time, so under it (scripts/device_suite.sh sanitize sets
 * GRETA_TEST_UNDER_SANITIZER=1) probe cannot start early and only the
 * ordering and the visibility of slow's writes are checked. */
Test(gpu_device, early_start_overlaps_and_waits, .timeout = 300) {
  int32_t flags[4];
  const bool serialized = getenv("GRETA_TEST_UNDER_SANITIZER") != NULL;
  run_slow_then_probe(flags); /* the default */
  cr_expect_eq(flags[2], 42, "slow did not finish");
  cr_expect_eq(flags[3], 42, "probe read %d after its wait: slow's write was not visible",
               flags[3]);
  if (serialized)
    printf("under compute-sanitizer: kernels run one at a time, early start not expected\n");
  else if (target_is_sm90_or_later())
    cr_expect_eq(flags[1], 1, "sm_90, by default: probe should start while slow runs");
  else
    cr_expect_eq(flags[1], 0, "without early start probe cannot run before slow ends");
  setenv("GRETA_OVERLAP", "0", 1);
  run_slow_then_probe(flags);
  unsetenv("GRETA_OVERLAP");
  cr_expect_eq(flags[1], 0, "GRETA_OVERLAP=0: probe started before slow ended");
  cr_expect_eq(flags[3], 42, "GRETA_OVERLAP=0: probe read %d", flags[3]);
}

Test(gpu_device, upload_download_round_trips, .timeout = 300) {
  fixture_t f;
  fixture_open(&f);
  const greta_backend_vtable_t *vt = f.backend->vtable;
  uint64_t free_bytes = 0;
  check(vt->memory_free(f.backend, &free_bytes), "memory_free");
  cr_expect_gt(free_bytes, (uint64_t)KV_BYTES, "free device memory: %llu",
               (unsigned long long)free_bytes);
  static uint8_t sent[KV_BYTES], back[KV_BYTES + 1]; /* +1: a canary past the end */
  srand(3);
  const size_t cases[][2] = {{0, KV_BYTES}, {1, 1}, {13, 4097}, {KV_BYTES - 7, 7}, {100, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    size_t offset = cases[c][0], bytes = cases[c][1];
    for (size_t i = 0; i < bytes; ++i) sent[i] = (uint8_t)rand();
    memset(back, 0xa5, sizeof back);
    check(vt->upload(f.backend, f.spaces.kv, offset, sent, bytes), "upload");
    check(vt->download(f.backend, back, f.spaces.kv, offset, bytes), "download");
    cr_expect_eq(memcmp(sent, back, bytes), 0, "offset %zu, %zu bytes differ", offset, bytes);
    cr_expect_eq(back[bytes], 0xa5, "download wrote past %zu bytes", bytes);
  }
  /* Neighbours of a small upload are untouched. */
  memset(sent, 0x11, 64);
  check(vt->upload(f.backend, f.spaces.kv, 0, sent, 64), "upload");
  memset(sent + 16, 0x22, 8);
  check(vt->upload(f.backend, f.spaces.kv, 16, sent + 16, 8), "upload");
  check(vt->download(f.backend, back, f.spaces.kv, 0, 64), "download");
  for (int i = 0; i < 64; ++i) {
    cr_expect_eq(back[i], (i >= 16 && i < 24) ? 0x22 : 0x11, "byte %d", i);
  }
  fixture_close(&f);
}

Test(gpu_device, too_many_threads_is_refused, .timeout = 300) {
  fixture_t f;
  fixture_open(&f);
  fixture_plan(&f);
  const greta_backend_vtable_t *vt = f.backend->vtable;
  greta_program_t *program = (greta_program_t *)0x1;

  f.launches[1].block[0] = 4096; /* over every device's limit */
  greta_status_t status =
      vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program);
  cr_expect_eq(greta_status_code(status), GRETA_INVALID_ARGUMENT, "%s", message(status));
  cr_expect_null(program);
  cr_expect(strstr(message(status), "launch 1 (kernel 'greta_test_add'") != NULL &&
                strstr(message(status), "4096 threads") != NULL,
            "message: %s", message(status));
  printf("refused: %s\n", message(status));
  greta_status_free(status);

  /* Within the device's limit but over the kernel's launch bounds (64). */
  f.launches[1].block[0] = BLOCK;
  f.launches[0].kernel = 2;
  f.plan.n_kernels = 3;
  status = vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program);
  cr_expect_eq(greta_status_code(status), GRETA_INVALID_ARGUMENT, "%s", message(status));
  cr_expect(strstr(message(status), "kernel 'greta_test_bounded'") != NULL &&
                strstr(message(status), "kernel 64)") != NULL,
            "message: %s", message(status));
  printf("refused: %s\n", message(status));
  greta_status_free(status);

  /* Too much shared memory. */
  f.launches[0].kernel = 0;
  f.launches[0].shared_bytes = 1u << 30;
  status = vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program);
  cr_expect_eq(greta_status_code(status), GRETA_INVALID_ARGUMENT, "%s", message(status));
  cr_expect(strstr(message(status), "shared memory") != NULL, "message: %s", message(status));
  greta_status_free(status);
  fixture_close(&f);
}

Test(gpu_device, missing_kernel_is_refused, .timeout = 300) {
  fixture_t f;
  fixture_open(&f);
  fixture_plan(&f);
  const greta_backend_vtable_t *vt = f.backend->vtable;
  f.kernel_names[1] = "greta_test_not_there";
  greta_program_t *program = (greta_program_t *)0x1;
  greta_status_t status =
      vt->program_create(f.backend, f.code, f.code_size, &f.plan, &f.spaces, &program);
  cr_expect_eq(greta_status_code(status), GRETA_NOT_FOUND, "%s", message(status));
  cr_expect_null(program);
  cr_expect(strstr(message(status), "kernel 'greta_test_not_there' (plan kernel 1)") != NULL,
            "message: %s", message(status));
  printf("refused: %s\n", message(status));
  greta_status_free(status);

  /* A file that is no code object at all. */
  f.kernel_names[1] = "greta_test_add";
  static const uint8_t junk[64] = "this is not a code object";
  status = vt->program_create(f.backend, junk, sizeof junk, &f.plan, &f.spaces, &program);
  cr_expect_neq(greta_status_code(status), GRETA_OK);
  cr_expect(strstr(message(status), "ModuleLoadData failed") != NULL, "message: %s",
            message(status));
  printf("refused: %s\n", message(status));
  greta_status_free(status);
  fixture_close(&f);
}
