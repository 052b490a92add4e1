/* The execution plan: what gretac writes and libgreta runs.
 *
 * The compiler fills a greta_plan_t and serialises it with
 * greta_plan_serialize() (plan_write.c); the runtime reads it back with
 * greta_plan_parse() (plan_read.c), which bounds-checks everything and runs
 * greta_plan_verify() (plan_verify.c) before anything uses it. plan.c holds
 * the queries and the one destructor, ops.c the op registry (ops.def),
 * plan_cost.c the cost model. The byte format is described in
 * docs/plan-format.md; this header is its in-memory form.
 *
 * The plan is device-neutral: every launch names an op kind whose meaning
 * (ops.def) the CPU backend implements directly, and a kernel symbol that a GPU
 * backend looks up in the code object. Any plan runs on the CPU backend.
 *
 * Memory spaces. Kernels see four base pointers: the parameter block, the
 * activation arena, the weights blob and the KV cache. A buffer reference is
 * a space plus a byte offset. Inputs and outputs live in the arena; the
 * runtime copies them in before and out after a step, so a captured graph
 * always sees the same pointers.
 *
 * Kernel ABI (every backend, every op): arguments are pointers only, in
 * order: the parameter block (`const int32_t *`, [0] = T tokens in this step,
 * [1] = pos, the KV position of the first token), then launch.args[i].
 * Shapes and constants are compiled into the kernel.
 */
#ifndef GRETA_PLAN_H
#define GRETA_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greta/greta.h"

#define GRETA_PLAN_MAGIC "GRETAPLN"
#define GRETA_PLAN_VERSION 10
/* The entry run once, when the weights are complete, before the first
 * step: fold_norm launches only. greta_plan_entry_for never returns it. */
#define GRETA_PLAN_BIND_ENTRY "bind"
/* The symbol under which a code object carries the plan bytes. */
#define GRETA_PLAN_SYMBOL "greta_plan"

/* The byte format's framing, shared by plan_write.c and plan_read.c: the
 * header's size and the section tags, in the order the sections appear. */
enum {
  GRETA_PLAN_HEADER_BYTES = 40,
  /* Where the header holds the digest of the whole file (plan_seal.c). */
  GRETA_PLAN_DIGEST_AT = 32,
  GRETA_PLAN_SECTION_META = 1,
  GRETA_PLAN_SECTION_KERNELS = 2,
  GRETA_PLAN_SECTION_INPUTS = 3,
  GRETA_PLAN_SECTION_OUTPUTS = 4,
  GRETA_PLAN_SECTION_WEIGHTS = 5,
  GRETA_PLAN_SECTION_CACHES = 6,
  GRETA_PLAN_SECTION_ENTRIES = 7,
  GRETA_PLAN_SECTION_COUNT_ = 8,
};

#define GRETA_PLAN_MAX_ARGS 8
/* Attribute slots of a launch in a plan file: 8 integers, 8 floats. Which
 * named attribute each slot holds is the op's row in ops.def. */
#define GRETA_PLAN_MAX_ATTRS 10
#define GRETA_PLAN_MAX_FATTRS 8

/* Op kinds: one row each in ops.def, which says what each one computes. */
typedef enum greta_op_e {
#define GRETA_OP(ENUM, value, name, family, operands, ints, floats) GRETA_OP_##ENUM = value,
#include "ops.def"
  GRETA_OP_COUNT_
} greta_op_t;

/* Attribute ids (0: an unused slot), for reflection and the file format. */
typedef enum greta_attr_id_e {
  GRETA_ATTR_none = 0,
#define GRETA_ATTR(name, meaning) GRETA_ATTR_##name,
#include "ops.def"
  GRETA_ATTR_COUNT_
} greta_attr_id_t;
typedef enum greta_fattr_id_e {
  GRETA_FATTR_none = 0,
#define GRETA_FATTR(name, meaning) GRETA_FATTR_##name,
#include "ops.def"
  GRETA_FATTR_COUNT_
} greta_fattr_id_t;

/* A launch's attributes, by name (ops.def says which ones each op reads;
 * the others are 0). */
typedef struct greta_op_attrs_s {
#define GRETA_ATTR(name, meaning) int64_t name;
#define GRETA_FATTR(name, meaning) float name;
#include "ops.def"
} greta_op_attrs_t;

/* One op's row of ops.def. */
typedef struct greta_op_info_s {
  const char *name;     /* "matmul" */
  const char *operands; /* "x b out residual?" ('?': optional) */
  uint8_t ints[GRETA_PLAN_MAX_ATTRS];    /* greta_attr_id_t of each file slot */
  uint8_t floats[GRETA_PLAN_MAX_FATTRS]; /* greta_fattr_id_t of each file slot */
} greta_op_info_t;

/* The row of `op`, or NULL when no op has that number (ops.c). */
const greta_op_info_t *greta_op_info(uint32_t op);
/* Name of an op kind ("matmul"); "?" when out of range. */
const char *greta_op_name(uint32_t op);
/* A launch's attributes as the 8 integer and 4 float slots of a plan file,
 * in the order the op's row gives (unused slots 0). */
void greta_op_attrs_pack(uint32_t op, const greta_op_attrs_t *attrs,
                         int64_t out_ints[GRETA_PLAN_MAX_ATTRS],
                         float out_floats[GRETA_PLAN_MAX_FATTRS]);
/* And back. DATA_LOSS when a slot the op does not use is not 0. An unknown
 * op gives all-zero attributes (the verifier refuses the op itself). */
greta_status_t greta_op_attrs_unpack(uint32_t op, const int64_t ints[GRETA_PLAN_MAX_ATTRS],
                                     const float floats[GRETA_PLAN_MAX_FATTRS],
                                     greta_op_attrs_t *out);

typedef enum greta_space_e {
  GRETA_SPACE_ARENA = 0,
  GRETA_SPACE_WEIGHTS = 1,
  GRETA_SPACE_KV = 2,
} greta_space_t;

typedef struct greta_plan_buffer_s {
  uint32_t space;  /* greta_space_t */
  uint64_t offset; /* bytes from the space's base */
} greta_plan_buffer_t;

typedef struct greta_plan_launch_s {
  uint32_t op;          /* greta_op_t */
  uint32_t kernel;      /* index into plan.kernels */
  uint32_t n_args;
  greta_plan_buffer_t args[GRETA_PLAN_MAX_ARGS];
  greta_op_attrs_t attr; /* by name; a file holds them in the op's slots */
  int64_t rows_coeff;    /* see "rows" above */
  uint32_t rows_per_token; /* 1: rows scale with T */
  /* Launch geometry. grid[grid_t_axis] = ceil(T * grid_t_per_token /
   * grid_t_tile) when grid_t_axis < 3; the other axes are fixed. */
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t grid_t_axis;
  uint32_t grid_t_per_token;
  uint32_t grid_t_tile;
  uint32_t shared_bytes;
} greta_plan_launch_t;

/* A step entry: the launch sequence for one range of T. */
typedef struct greta_plan_entry_s {
  char *name;        /* "decode" (T = 1) or "prefill" (2 <= T <= max_tokens) */
  int64_t min_tokens;
  int64_t max_tokens;
  uint32_t n_launches;
  greta_plan_launch_t *launches;
} greta_plan_entry_t;

/* An input or output: a tensor in the arena. dims[0] may be symbolic T. */
typedef struct greta_plan_io_s {
  greta_tensor_info_t info; /* info.name and dims' symbols point into the plan */
  uint64_t offset;          /* arena offset */
} greta_plan_io_t;

typedef struct greta_plan_weight_s {
  greta_tensor_info_t info; /* info.name: the checkpoint tensor name */
  uint64_t offset;          /* weights-blob offset */
  uint64_t bytes;
} greta_plan_weight_t;

/* One KV cache (a layer's K or V): [max_seq, kv_heads, head_dim] f32. */
typedef struct greta_plan_cache_s {
  char *name;
  greta_dtype_t dtype; /* of its elements: f32, f16 or bf16 */
  uint64_t offset; /* KV-space offset */
  uint64_t bytes;
  int64_t row_elems; /* kv_heads * head_dim */
} greta_plan_cache_t;

typedef struct greta_plan_s {
  char *target;         /* full target ID, e.g. "gfx942:sramecc+:xnack-" */
  char *toolchain;      /* e.g. "clang 19.1.7" */
  char *model_name;
  int64_t max_seq;
  int64_t max_tokens;
  uint64_t arena_bytes;
  uint64_t weight_bytes;
  uint64_t kv_bytes;
  uint32_t n_kernels;
  char **kernels;       /* kernel symbol names */
  uint32_t n_inputs, n_outputs, n_weights, n_caches, n_entries;
  greta_plan_io_t *inputs;
  greta_plan_io_t *outputs;
  greta_plan_weight_t *weights;
  greta_plan_cache_t *caches;
  greta_plan_entry_t *entries;
} greta_plan_t;

/* Serialises `plan` (with its checksum) into a malloc'd buffer the caller
 * frees. Runs greta_plan_verify() first and writes nothing if it fails
 * (plan_write.c). `plan` stays the caller's. */
greta_status_t greta_plan_serialize(const greta_plan_t *plan, uint8_t **out_bytes,
                                    size_t *out_size);
/* Parses and verifies plan bytes: magic, version, checksum, every count and
 * string (plan_read.c), then greta_plan_verify(). On success *out_plan is a
 * heap object the caller releases with greta_plan_destroy. `bytes` stay the
 * caller's; the plan copies what it keeps. */
greta_status_t greta_plan_parse(const uint8_t *bytes, size_t size, greta_plan_t **out_plan);
/* Checks a decoded or compiler-built plan's meaning: every count, string,
 * offset and size (each buffer reference lies inside its space at the
 * largest T of its entry, each kernel index inside the kernel table), each
 * op's attributes and, for GPU targets, launch geometry. NULL when the plan
 * is sound; else a GRETA_DATA_LOSS status saying what is wrong
 * (plan_verify.c). */
greta_status_t greta_plan_verify(const greta_plan_t *plan);
/* Frees a plan and everything it points to, whether greta_plan_parse read
 * it or gretac built it (compiler/lower/schedule.c): both make every string and
 * array its own malloc'd block and leave the dims past a tensor's rank
 * zeroed (symbol NULL). NULL is a no-op (plan.c). */
void greta_plan_destroy(greta_plan_t *plan);

/* The digest of a whole compiled file: FNV-1a 64 over every byte, with the
 * 8 bytes of the plan header's digest field (GRETA_PLAN_DIGEST_AT) read as
 * zeros, stored in that field. It catches accidents (a flipped byte in a
 * kernel, a section header, a symbol table), not tampering (plan_seal.c).
 * greta_plan_seal writes it into `file` once the file is final (gretac,
 * after the toolchain); greta_plan_check_seal refuses a file whose bytes
 * do not match it, or that was never sealed, with GRETA_DATA_LOSS. */
greta_status_t greta_plan_seal(uint8_t *file, size_t size);
greta_status_t greta_plan_check_seal(const uint8_t *file, size_t size);

/* Finds the plan inside a file's bytes: an ELF code object (AMD or NVIDIA)
 * whose symbol GRETA_PLAN_SYMBOL holds it (read with elf.c), or bare plan
 * bytes (target cpu). *out_plan points into `file` (plan_read.c). */
greta_status_t greta_plan_locate(const uint8_t *file, size_t size,
                                 const uint8_t **out_plan, size_t *out_plan_size);

/* The buffer operands `launch` must have: its op's (ops.def), an optional one
 * ("residual?") counted when the attribute of the same name is not 0. 0 for
 * an unknown op (ops.c). */
uint32_t greta_launch_operand_count(const greta_plan_launch_t *launch);
/* The pairs of a GEMM with a paired epilogue (templates/gemm.h): matmul_glu
 * pairs (gate c, up c) in one block, s = n rows apart; matmul_qkv (i,
 * i + head_dim / 2) in a block per head. false for the other ops (ops.c). */
bool greta_launch_pairs(const greta_plan_launch_t *launch, int64_t *out_s, int64_t *out_blocks);
/* The entry that runs a step of `tokens` tokens, or NULL (plan.c). */
const greta_plan_entry_t *greta_plan_entry_for(const greta_plan_t *plan, int64_t tokens);
/* The bind entry (GRETA_PLAN_BIND_ENTRY), or NULL when nothing is folded. */
const greta_plan_entry_t *greta_plan_bind_entry(const greta_plan_t *plan);
/* The fewest bytes `launch` must move (each input read once, each output
 * written once) and its floating-point operations, for `tokens` tokens at
 * `pos` (plan_cost.c). */
void greta_plan_launch_cost(const greta_plan_launch_t *launch, int64_t tokens, int64_t pos,
                            uint64_t *out_bytes, uint64_t *out_flops);

/* grid[] of a launch for `tokens` tokens (plan.c). */
void greta_plan_launch_grid(const greta_plan_launch_t *launch, int64_t tokens, uint32_t out_grid[3]);

#endif /* GRETA_PLAN_H */
