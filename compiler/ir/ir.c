/* The IR graph: construction, type inference, verification, printing. */
#define _POSIX_C_SOURCE 200809L
#include "ir.h"

#include "status.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---- ops ----------------------------------------------------------------- */

/* Inputs: n_inputs, or up to n_inputs + optional (a trailing norm weight). */
static const struct {
  const char *name;
  int n_inputs, optional;
} op_info[IR_OP_COUNT_] = {
    [IR_DEAD] = {"dead", 0},
    [IR_INPUT] = {"input", 0},
    [IR_WEIGHT] = {"weight", 0},
    [IR_CACHE] = {"cache", 0},
    [IR_EMBEDDING] = {"embedding", 2},
    [IR_RMSNORM] = {"rmsnorm", 2},
    [IR_MATMUL] = {"matmul", 2},
    [IR_MATMUL_ADD] = {"matmul_add", 3},
    [IR_MATMUL_NORM] = {"matmul_norm", 3},
    [IR_MATMUL_GLU] = {"matmul_glu", 3, 1},
    [IR_MATMUL_QKV] = {"matmul_qkv", 6, 1},
    [IR_ROPE] = {"rope", 1},
    [IR_CACHE_APPEND] = {"cache_append", 2},
    [IR_ATTENTION] = {"attention", 3},
    [IR_SILU] = {"silu", 1},
    [IR_SILU_MUL] = {"silu_mul", 2},
    [IR_ADD] = {"add", 2},
    [IR_MUL] = {"mul", 2},
    [IR_SCALE] = {"scale", 1},
    [IR_SOFTMAX] = {"softmax", 1},
    [IR_CAUSAL_MASK] = {"causal_mask", 1},
    [IR_MASKED_SOFTMAX] = {"masked_softmax", 1},
    [IR_TRANSPOSE] = {"transpose", 1},
    [IR_RESHAPE] = {"reshape", 1},
    [IR_BIAS_ADD] = {"bias_add", 2},
    [IR_LAST] = {"last", 1},
};

const char *ir_op_name(ir_op_t op) {
  if ((int)op < 0 || op >= IR_OP_COUNT_ || !op_info[op].name) return "?";
  return op_info[op].name;
}

static bool op_is_leaf(ir_op_t op) { return op == IR_INPUT || op == IR_WEIGHT || op == IR_CACHE; }

static bool input_count_ok(const ir_node_t *n) {
  int lo = op_info[n->op].n_inputs;
  return n->n_inputs >= lo && n->n_inputs <= lo + op_info[n->op].optional;
}

/* ---- graph --------------------------------------------------------------- */

ir_graph_t *ir_graph_create(const char *model_name) {
  ir_graph_t *g = xcalloc(1, sizeof *g);
  g->model_name = xstrdup(model_name ? model_name : "model");
  g->weight_dtype = GRETA_F32;
  g->kv_dtype = GRETA_F32;
  return g;
}

void ir_graph_destroy(ir_graph_t *graph) {
  if (!graph) return;
  free(graph->model_name);
  free(graph->file);
  for (int i = 0; i < graph->n_symbols; i++) free(graph->symbols[i]);
  for (int i = 0; i < graph->n_nodes; i++) free(graph->nodes[i].name);
  free(graph->nodes);
  for (int i = 0; i < graph->n_outputs; i++) free(graph->outputs[i].name);
  free(graph->outputs);
  free(graph);
}

int ir_symbol(ir_graph_t *graph, const char *name) {
  for (int i = 0; i < graph->n_symbols; i++)
    if (strcmp(graph->symbols[i], name) == 0) return i;
  int cap = (int)(sizeof graph->symbols / sizeof graph->symbols[0]);
  if (graph->n_symbols >= cap) return -1;
  graph->symbols[graph->n_symbols] = xstrdup(name);
  return graph->n_symbols++;
}

int ir_add(ir_graph_t *graph, ir_op_t op, int n_inputs, const int *inputs, const char *name,
           ir_loc_t loc) {
  if (n_inputs < 0 || n_inputs > IR_MAX_INPUTS) return -1;
  if (graph->n_nodes == graph->cap_nodes) {
    int cap = graph->cap_nodes ? 2 * graph->cap_nodes : 64;
    graph->nodes = xrealloc(graph->nodes, (size_t)cap * sizeof *graph->nodes);
    graph->cap_nodes = cap;
  }
  ir_node_t *n = &graph->nodes[graph->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->n_inputs = n_inputs;
  for (int i = 0; i < n_inputs; i++) n->inputs[i] = inputs[i];
  if (name) n->name = xstrdup(name);
  n->loc = loc;
  return graph->n_nodes++;
}

void ir_add_output(ir_graph_t *graph, const char *name, int node) {
  ir_output_t *outs = xgrow(graph->outputs, sizeof *outs, (size_t)graph->n_outputs);
  graph->outputs = outs;
  outs[graph->n_outputs].name = xstrdup(name);
  outs[graph->n_outputs].node = node;
  graph->n_outputs++;
}

/* ---- types --------------------------------------------------------------- */

static bool dim_eq(ir_dim_t a, ir_dim_t b) { return a.coeff == b.coeff && a.sym == b.sym; }

static bool shape_eq(const ir_type_t *a, const ir_type_t *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!dim_eq(a->dims[i], b->dims[i])) return false;
  return true;
}

static bool type_eq(const ir_type_t *a, const ir_type_t *b) {
  return a->dtype == b->dtype && shape_eq(a, b);
}

static bool is_float(greta_dtype_t d) { return d == GRETA_F32 || d == GRETA_F16 || d == GRETA_BF16; }

int64_t ir_type_elems(const ir_type_t *type, int64_t sym_value) {
  int64_t n = 1;
  for (int i = 0; i < type->rank; i++) {
    int64_t d = type->dims[i].coeff;
    if (type->dims[i].sym >= 0 && __builtin_mul_overflow(d, sym_value, &d)) return INT64_MAX;
    if (__builtin_mul_overflow(n, d, &n)) return INT64_MAX;
  }
  return n;
}

static void dim_str(const ir_graph_t *graph, ir_dim_t d, char *buf, size_t size) {
  if (d.sym < 0) {
    snprintf(buf, size, "%lld", (long long)d.coeff);
    return;
  }
  const char *s = graph && d.sym < graph->n_symbols ? graph->symbols[d.sym] : "?";
  if (d.coeff == 1)
    snprintf(buf, size, "%s", s);
  else
    snprintf(buf, size, "%lld*%s", (long long)d.coeff, s);
}

char *ir_type_str(const ir_graph_t *graph, const ir_type_t *type, char *buf, size_t size) {
  if (!size) return buf;
  size_t len = (size_t)snprintf(buf, size, "%s[", greta_dtype_name(type->dtype));
  for (int i = 0; i < type->rank && i < GRETA_MAX_RANK && len < size; i++) {
    char d[48];
    dim_str(graph, type->dims[i], d, sizeof d);
    len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", d);
  }
  if (len < size) snprintf(buf + len, size - len, "]");
  return buf;
}

/* ---- inference ----------------------------------------------------------- */

typedef struct {
  const ir_graph_t *graph;
  char *err;
  size_t size;
} infer_ctx_t;

static bool fail(infer_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(infer_ctx_t *c, const char *fmt, ...) {
  if (c->err && c->size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->size, fmt, ap);
    va_end(ap);
  }
  return false;
}

#define TS(t, buf) ir_type_str(c->graph, (t), (buf), sizeof(buf))

static bool need_rank(infer_ctx_t *c, const char *op, const char *what, const ir_type_t *t,
                      int lo, int hi) {
  if (t->rank >= lo && t->rank <= hi) return true;
  char b[128];
  if (lo == hi) return fail(c, "%s: %s must have rank %d, got %s", op, what, lo, TS(t, b));
  return fail(c, "%s: %s must have rank %d to %d, got %s", op, what, lo, hi, TS(t, b));
}

static bool need_float(infer_ctx_t *c, const char *op, const char *what, const ir_type_t *t) {
  if (is_float(t->dtype)) return true;
  char b[128];
  return fail(c, "%s: dtype mismatch: %s must be a float tensor, got %s", op, what, TS(t, b));
}

/* Activations (what ops compute on and produce) are f32; a half tensor is
 * a weight or a cache, read only where an op takes one (a matmul's right
 * operand, a norm weight, a bias, an embedding table, attention's k and v). */
static bool need_activation(infer_ctx_t *c, const char *op, const char *what, const ir_type_t *t) {
  if (!need_float(c, op, what, t)) return false;
  if (t->dtype == GRETA_F32) return true;
  char b[128];
  return fail(c, "%s: dtype mismatch: %s must be an f32 activation, got %s (a half tensor is a "
              "weight or a cache: an op reads one only as a matmul's right operand, a norm "
              "weight, a bias, an embedding table or attention's k and v)",
              op, what, TS(t, b));
}

static bool same_type(infer_ctx_t *c, const char *op, const char *sym, const ir_type_t *a,
                      const ir_type_t *b) {
  if (type_eq(a, b)) return true;
  char ba[128], bb[128];
  if (a->dtype != b->dtype)
    return fail(c, "%s: dtype mismatch: %s %s %s", op, TS(a, ba), sym, TS(b, bb));
  return fail(c, "%s: shapes differ: %s %s %s", op, TS(a, ba), sym, TS(b, bb));
}

/* The matmul result type of a @ b (b transposed when `bt`). */
static bool infer_matmul(infer_ctx_t *c, const char *op, const ir_type_t *a, const ir_type_t *b,
                         bool bt, ir_type_t *out) {
  char ba[128], bb[128];
  if (!need_rank(c, op, "the left operand", a, 1, GRETA_MAX_RANK)) return false;
  if (!need_rank(c, op, "the right operand", b, 2, 2)) return false;
  if (!need_activation(c, op, "the left operand", a) || !need_float(c, op, "the right operand", b))
    return false;
  ir_dim_t k = bt ? b->dims[1] : b->dims[0], n = bt ? b->dims[0] : b->dims[1];
  if (!dim_eq(a->dims[a->rank - 1], k))
    return fail(c, "%s: inner dimensions differ: %s @ %s%s", op, TS(a, ba), TS(b, bb),
                bt ? ".T" : "");
  *out = *a;
  out->dtype = GRETA_F32;
  out->dims[a->rank - 1] = n;
  return true;
}

/* g must be a norm weight over x's last dimension. */
static bool need_norm_weight(infer_ctx_t *c, const char *op, const ir_type_t *x, const ir_type_t *g) {
  char b0[128], b1[128];
  if (!need_rank(c, op, "the norm weight", g, 1, 1) || !need_float(c, op, "the norm weight", g))
    return false;
  if (!dim_eq(x->dims[x->rank - 1], g->dims[0]))
    return fail(c, "%s: the norm weight %s does not match the last dimension of %s", op, TS(g, b1),
                TS(x, b0));
  return true;
}

/* matmul_qkv: x [T, K]; wq [H * D, K], wk and wv [KVH * D, K]; caches
 * [max_seq, KVH, D]; the result q [T, H, D]. */
static bool infer_matmul_qkv(infer_ctx_t *c, const ir_graph_t *graph, const ir_node_t *n,
                             const ir_type_t *const *in, ir_type_t *out) {
  const char *op = "matmul_qkv";
  char b0[128], b1[128];
  ir_type_t y[3];
  if (!need_rank(c, op, "x", in[0], 2, 2)) return false;
  for (int i = 0; i < 3; i++)
    if (!infer_matmul(c, op, in[0], in[1 + i], true, &y[i])) return false;
  for (int i = 4; i < 6; i++) {
    if (graph->nodes[n->inputs[i]].op != IR_CACHE)
      return fail(c, "%s: input %d must be a cache, got a %s node", op, i,
                  ir_op_name(graph->nodes[n->inputs[i]].op));
    if (!need_rank(c, op, "a cache", in[i], 3, 3)) return false;
  }
  if (!shape_eq(in[4], in[5]))
    return fail(c, "%s: the caches %s and %s differ", op, TS(in[4], b0), TS(in[5], b1));
  ir_dim_t kvh = in[4]->dims[1], d = in[4]->dims[2], nq = y[0].dims[1];
  if (kvh.sym >= 0 || d.sym >= 0 || nq.sym >= 0 || d.coeff <= 0 || d.coeff % 2 ||
      nq.coeff % d.coeff || y[1].dims[1].coeff != kvh.coeff * d.coeff ||
      y[2].dims[1].coeff != kvh.coeff * d.coeff)
    return fail(c, "%s: q, k, v rows %s / %s do not split into heads of the cache %s", op,
                TS(&y[0], b0), TS(&y[1], b1), TS(in[4], b1));
  if (n->n_inputs == 7 && !need_norm_weight(c, op, in[0], in[6])) return false;
  *out = y[0];
  out->rank = 3;
  out->dims[1] = (ir_dim_t){nq.coeff / d.coeff, -1};
  out->dims[2] = d;
  return true;
}

static bool infer(const ir_graph_t *graph, const ir_node_t *n, ir_type_t *out, char *err,
                  size_t err_size) {
  infer_ctx_t ctx = {graph, err, err_size}, *c = &ctx;
  char b0[128], b1[128], b2[128];
  const char *op = ir_op_name(n->op);
  if ((int)n->op < 0 || n->op >= IR_OP_COUNT_) return fail(c, "unknown op %d", (int)n->op);
  if (!input_count_ok(n))
    return fail(c, "%s: takes %d inputs, has %d", op, op_info[n->op].n_inputs, n->n_inputs);
  const ir_type_t *in[IR_MAX_INPUTS] = {0};
  for (int i = 0; i < n->n_inputs; i++) {
    int id = n->inputs[i];
    if (id < 0 || id >= graph->n_nodes) return fail(c, "%s: input %d is %%%d, out of range", op, i, id);
    in[i] = &graph->nodes[id].type;
  }
  *out = n->type;
  switch (n->op) {
  case IR_DEAD:
  case IR_INPUT:
  case IR_WEIGHT:
  case IR_CACHE:
  case IR_RESHAPE:
    return true;
  case IR_EMBEDDING:
    if (in[0]->dtype != GRETA_I32)
      return fail(c, "embedding: dtype mismatch: tokens must be i32, got %s", TS(in[0], b0));
    if (!need_rank(c, op, "tokens", in[0], 1, 1) || !need_rank(c, op, "the table", in[1], 2, 2))
      return false;
    if (!need_float(c, op, "the table", in[1])) return false;
    out->dtype = GRETA_F32;
    out->rank = 2;
    out->dims[0] = in[0]->dims[0];
    out->dims[1] = in[1]->dims[1];
    return true;
  case IR_RMSNORM:
    if (!need_rank(c, op, "x", in[0], 1, GRETA_MAX_RANK) || !need_rank(c, op, "the weight", in[1], 1, 1))
      return false;
    if (!need_activation(c, op, "x", in[0]) || !need_float(c, op, "the weight", in[1])) return false;
    if (!dim_eq(in[0]->dims[in[0]->rank - 1], in[1]->dims[0]))
      return fail(c, "rmsnorm: the weight %s does not match the last dimension of %s", TS(in[1], b1),
                  TS(in[0], b0));
    *out = *in[0];
    return true;
  case IR_MATMUL:
    return infer_matmul(c, op, in[0], in[1], n->i[0] != 0, out);
  case IR_MATMUL_ADD:
    if (!infer_matmul(c, op, in[0], in[1], n->i[0] != 0, out)) return false;
    if (!type_eq(out, in[2]))
      return fail(c, "matmul_add: the addend %s differs from the product %s", TS(in[2], b2), TS(out, b0));
    return true;
  case IR_MATMUL_NORM:
    if (!infer_matmul(c, op, in[0], in[1], true, out)) return false;
    return need_norm_weight(c, op, in[0], in[2]);
  case IR_MATMUL_GLU: {
    ir_type_t up;
    if (!infer_matmul(c, op, in[0], in[1], true, out) || !infer_matmul(c, op, in[0], in[2], true, &up))
      return false;
    if (!type_eq(out, &up))
      return fail(c, "matmul_glu: gate %s and up %s differ", TS(in[1], b1), TS(in[2], b2));
    return n->n_inputs == 3 || need_norm_weight(c, op, in[0], in[3]);
  }
  case IR_MATMUL_QKV:
    return infer_matmul_qkv(c, graph, n, in, out);
  case IR_ROPE:
    if (!need_rank(c, op, "x", in[0], 3, 3) || !need_activation(c, op, "x", in[0])) return false;
    if (in[0]->dims[2].sym >= 0 || in[0]->dims[2].coeff % 2 != 0)
      return fail(c, "rope: head_dim must be an even constant, got %s", TS(in[0], b0));
    *out = *in[0];
    return true;
  case IR_CACHE_APPEND: {
    const ir_node_t *cache = &graph->nodes[n->inputs[0]];
    if (cache->op != IR_CACHE)
      return fail(c, "append: the first argument must be a cache, got a %s node", ir_op_name(cache->op));
    if (!need_rank(c, op, "the cache", in[0], 3, 3) || !need_rank(c, op, "x", in[1], 3, 3)) return false;
    /* The cache's dtype may be narrower: the append rounds. */
    if (!dim_eq(in[0]->dims[1], in[1]->dims[1]) || !dim_eq(in[0]->dims[2], in[1]->dims[2]) ||
        !is_float(in[0]->dtype) || in[1]->dtype != GRETA_F32)
      return fail(c, "append: rows %s do not fit the cache %s", TS(in[1], b1), TS(in[0], b0));
    *out = *in[0];
    return true;
  }
  case IR_ATTENTION: {
    for (int i = 0; i < 3; i++)
      if (!need_rank(c, op, i == 0 ? "q" : i == 1 ? "k" : "v", in[i], 3, 3)) return false;
    if (!need_activation(c, op, "q", in[0])) return false;
    if (!shape_eq(in[1], in[2]))
      return fail(c, "attention: k %s and v %s differ", TS(in[1], b1), TS(in[2], b2));
    if (!dim_eq(in[0]->dims[2], in[1]->dims[2]))
      return fail(c, "attention: head_dim of q %s differs from k %s", TS(in[0], b0), TS(in[1], b1));
    ir_dim_t h = in[0]->dims[1], kv = in[1]->dims[1];
    if (h.sym >= 0 || kv.sym >= 0 || kv.coeff <= 0 || h.coeff % kv.coeff != 0)
      return fail(c, "attention: the q heads must be a multiple of the k/v heads (grouped-query): q %s, k %s",
                  TS(in[0], b0), TS(in[1], b1));
    *out = *in[0];
    return true;
  }
  case IR_SILU:
  case IR_SCALE:
  case IR_SOFTMAX:
    if (!need_rank(c, op, "x", in[0], 1, GRETA_MAX_RANK) || !need_activation(c, op, "x", in[0]))
      return false;
    *out = *in[0];
    return true;
  case IR_CAUSAL_MASK:
  case IR_MASKED_SOFTMAX:
    if (!need_rank(c, op, "x", in[0], 2, GRETA_MAX_RANK) || !need_activation(c, op, "x", in[0]))
      return false;
    *out = *in[0];
    return true;
  case IR_SILU_MUL:
  case IR_ADD:
  case IR_MUL:
    if (!need_activation(c, op, "a", in[0])) return false;
    if (!same_type(c, op, n->op == IR_ADD ? "+" : "*", in[0], in[1])) return false;
    *out = *in[0];
    return true;
  case IR_TRANSPOSE: /* moves 4-byte elements: f32 or i32 */
    if (!need_rank(c, op, "x", in[0], 2, GRETA_MAX_RANK)) return false;
    if (in[0]->dtype != GRETA_I32 && !need_activation(c, op, "x", in[0])) return false;
    *out = *in[0];
    out->dims[out->rank - 2] = in[0]->dims[in[0]->rank - 1];
    out->dims[out->rank - 1] = in[0]->dims[in[0]->rank - 2];
    return true;
  case IR_BIAS_ADD:
    if (!need_rank(c, op, "x", in[0], 2, GRETA_MAX_RANK) || !need_rank(c, op, "the bias", in[1], 1, 1))
      return false;
    if (!need_activation(c, op, "x", in[0]) || !need_float(c, op, "the bias", in[1])) return false;
    if (!dim_eq(in[0]->dims[in[0]->rank - 1], in[1]->dims[0]))
      return fail(c, "bias_add: the bias %s does not match the last dimension of %s", TS(in[1], b1),
                  TS(in[0], b0));
    *out = *in[0];
    return true;
  case IR_LAST:
    /* Rows are laid out along the last dimension, tokens along the first:
     * x[T - 1] is a contiguous slice. */
    if (!need_rank(c, op, "x", in[0], 2, GRETA_MAX_RANK)) return false;
    if (in[0]->dtype != GRETA_I32 && !need_activation(c, op, "x", in[0])) return false;
    if (in[0]->dims[0].sym < 0 || in[0]->dims[0].coeff != 1)
      return fail(c, "last: the first dimension of x must be a symbolic dimension (tokens), got %s",
                  TS(in[0], b0));
    for (int d = 1; d < in[0]->rank; d++)
      if (in[0]->dims[d].sym >= 0)
        return fail(c, "last: only the first dimension of x may be symbolic, got %s", TS(in[0], b0));
    *out = *in[0];
    out->dims[0] = (ir_dim_t){1, -1};
    return true;
  case IR_OP_COUNT_:
    break;
  }
  return fail(c, "unknown op %d", (int)n->op);
}

greta_status_t ir_infer_type(ir_graph_t *graph, int id) {
  if (id < 0 || id >= graph->n_nodes)
    return greta_status_make(GRETA_INVALID_ARGUMENT, "node %%%d does not exist", id);
  ir_type_t t;
  char err[512] = "";
  if (!infer(graph, &graph->nodes[id], &t, err, sizeof err))
    return greta_status_make(GRETA_INVALID_ARGUMENT, "%s", err);
  graph->nodes[id].type = t;
  return NULL;
}

/* ---- verification -------------------------------------------------------- */

static int problem(FILE *diag, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(FILE *diag, int id, const char *fmt, ...) {
  if (diag) {
    fprintf(diag, "ir: node %%%d: ", id);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(diag, fmt, ap);
    va_end(ap);
    fputc('\n', diag);
  }
  return 1;
}

static int verify_type(const ir_graph_t *g, int id, const ir_type_t *t, FILE *diag) {
  if (t->rank < 0 || t->rank > GRETA_MAX_RANK) return problem(diag, id, "rank %d out of range", t->rank);
  if ((int)t->dtype < GRETA_F32 || t->dtype > GRETA_I32) return problem(diag, id, "bad dtype %d", (int)t->dtype);
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d].coeff <= 0) return problem(diag, id, "dimension %d is not positive", d);
    if (t->dims[d].sym >= g->n_symbols || t->dims[d].sym < -1)
      return problem(diag, id, "dimension %d names symbol %d of %d", d, t->dims[d].sym, g->n_symbols);
  }
  return 0;
}

int ir_verify(const ir_graph_t *graph, FILE *diag) {
  int problems = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    const ir_node_t *n = &graph->nodes[id];
    if (n->op == IR_DEAD) continue;
    if ((int)n->op < 0 || n->op >= IR_OP_COUNT_) {
      problems += problem(diag, id, "unknown op %d", (int)n->op);
      continue;
    }
    if (!input_count_ok(n)) {
      problems += problem(diag, id, "%s takes %d inputs, has %d", ir_op_name(n->op),
                          op_info[n->op].n_inputs, n->n_inputs);
      continue;
    }
    bool inputs_ok = true;
    for (int i = 0; i < n->n_inputs; i++) {
      int in = n->inputs[i];
      if (in < 0 || in >= id) {
        problems += problem(diag, id, "input %d is %%%d, not an earlier node", i, in);
        inputs_ok = false;
      } else if (graph->nodes[in].op == IR_DEAD) {
        problems += problem(diag, id, "input %d is %%%d, a dead node", i, in);
        inputs_ok = false;
      }
    }
    if (op_is_leaf(n->op) && (!n->name || !n->name[0]))
      problems += problem(diag, id, "%s has no name", ir_op_name(n->op));
    int bad_type = verify_type(graph, id, &n->type, diag);
    problems += bad_type;
    if (!inputs_ok || bad_type) continue;
    char err[512];
    ir_type_t t;
    if (!infer(graph, n, &t, err, sizeof err)) {
      problems += problem(diag, id, "%s", err);
    } else if (!type_eq(&t, &n->type)) {
      char b0[128], b1[128];
      problems += problem(diag, id, "%s has type %s, its inputs give %s", ir_op_name(n->op),
                          ir_type_str(graph, &n->type, b0, sizeof b0), ir_type_str(graph, &t, b1, sizeof b1));
    }
    if (n->op == IR_RESHAPE) {
      const ir_type_t *src = &graph->nodes[n->inputs[0]].type;
      /* Two symbol values tell a symbolic count from a constant one. */
      if (ir_type_elems(src, 1) != ir_type_elems(&n->type, 1) ||
          ir_type_elems(src, 7) != ir_type_elems(&n->type, 7) || src->dtype != n->type.dtype)
        problems += problem(diag, id, "reshape changes the element count or dtype");
    }
  }
  for (int i = 0; i < graph->n_outputs; i++) {
    const ir_output_t *o = &graph->outputs[i];
    if (o->node < 0 || o->node >= graph->n_nodes || graph->nodes[o->node].op == IR_DEAD)
      problems += problem(diag, o->node, "output \"%s\" names no live node", o->name ? o->name : "");
    if (!o->name || !o->name[0]) problems += problem(diag, o->node, "output %d has no name", i);
    for (int j = 0; j < i; j++)
      if (o->name && graph->outputs[j].name && strcmp(o->name, graph->outputs[j].name) == 0)
        problems += problem(diag, o->node, "output \"%s\" appears twice", o->name);
  }
  return problems;
}

/* ---- compaction ---------------------------------------------------------- */

void ir_compact(ir_graph_t *graph) {
  int *map = xmalloc((size_t)graph->n_nodes * sizeof *map);
  int n = 0;
  for (int id = 0; id < graph->n_nodes; id++) {
    ir_node_t *node = &graph->nodes[id];
    if (node->op == IR_DEAD) {
      free(node->name);
      map[id] = -1;
      continue;
    }
    for (int i = 0; i < node->n_inputs; i++)
      if (node->inputs[i] >= 0 && node->inputs[i] < id) node->inputs[i] = map[node->inputs[i]];
    map[id] = n;
    graph->nodes[n++] = *node;
  }
  for (int i = 0; i < graph->n_outputs; i++) {
    int o = graph->outputs[i].node;
    graph->outputs[i].node = o >= 0 && o < graph->n_nodes ? map[o] : -1;
  }
  graph->n_nodes = n;
  free(map);
}

/* ---- printing ------------------------------------------------------------ */

/* The attributes of a node as "{eps=1e-05}", or "" when it has none. */
static void attr_str(const ir_node_t *n, char *buf, size_t size) {
  buf[0] = '\0';
  switch (n->op) {
  case IR_RMSNORM: snprintf(buf, size, " {eps=%.9g}", n->f[0]); break;
  case IR_ROPE: snprintf(buf, size, " {theta=%.9g}", n->f[0]); break;
  case IR_MATMUL_NORM: snprintf(buf, size, " {eps=%.9g}", n->f[0]); break;
  case IR_MATMUL_GLU:
    if (n->n_inputs == 4) snprintf(buf, size, " {eps=%.9g}", n->f[0]);
    break;
  case IR_MATMUL_QKV:
    if (n->n_inputs == 7) snprintf(buf, size, " {eps=%.9g, theta=%.9g}", n->f[0], n->f[1]);
    else snprintf(buf, size, " {theta=%.9g}", n->f[1]);
    break;
  case IR_ATTENTION: snprintf(buf, size, " {scale=%.9g}", n->f[0]); break;
  case IR_SCALE: snprintf(buf, size, " {factor=%.9g}", n->f[0]); break;
  case IR_MATMUL:
  case IR_MATMUL_ADD:
    if (n->i[0]) snprintf(buf, size, " {transpose_b}");
    break;
  default: break;
  }
}

void ir_print(const ir_graph_t *graph, FILE *out) {
  fprintf(out, "model %s  weight_dtype=%s  kv_dtype=%s  max_seq=%lld  symbols:", graph->model_name,
          greta_dtype_name(graph->weight_dtype), greta_dtype_name(graph->kv_dtype),
          (long long)graph->max_seq);
  for (int i = 0; i < graph->n_symbols; i++) fprintf(out, "%s%s", i ? ", " : " ", graph->symbols[i]);
  const ir_rope_scaling_t *rs = &graph->rope_scaling;
  if (rs->factor != 0)
    fprintf(out, "  rope_scaling=llama3(%.9g, %.9g, %.9g, %.9g)", rs->factor, rs->low_freq_factor,
            rs->high_freq_factor, rs->original_max);
  fputc('\n', out);
  for (int id = 0; id < graph->n_nodes; id++) {
    const ir_node_t *n = &graph->nodes[id];
    if (n->op == IR_DEAD) continue;
    char type[160], attrs[64];
    ir_type_str(graph, &n->type, type, sizeof type);
    attr_str(n, attrs, sizeof attrs);
    fprintf(out, "  %%%d = %s", id, ir_op_name(n->op));
    if (n->name) fprintf(out, " \"%s\"", n->name);
    for (int i = 0; i < n->n_inputs; i++) fprintf(out, "%s%%%d", i ? ", " : " ", n->inputs[i]);
    fprintf(out, "%s : %s\n", attrs, type);
  }
  for (int i = 0; i < graph->n_outputs; i++)
    fprintf(out, "  output \"%s\" = %%%d\n", graph->outputs[i].name, graph->outputs[i].node);
}

/* Writes s as the inside of a DOT string (quotes and backslashes escaped). */
static void dot_escaped(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
}

void ir_print_dot(const ir_graph_t *graph, FILE *out) {
  fprintf(out, "digraph \"");
  dot_escaped(out, graph->model_name);
  fprintf(out, "\" {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, "
               "fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");
  for (int id = 0; id < graph->n_nodes; id++) {
    const ir_node_t *n = &graph->nodes[id];
    if (n->op == IR_DEAD) continue;
    char type[160], attrs[64];
    ir_type_str(graph, &n->type, type, sizeof type);
    attr_str(n, attrs, sizeof attrs);
    const char *fill = n->op == IR_INPUT ? "#cfe8ff" : n->op == IR_WEIGHT ? "#eeeeee"
                       : n->op == IR_CACHE ? "#ffe4b5" : "white";
    fprintf(out, "  n%d [label=\"%%%d %s", id, id, ir_op_name(n->op));
    if (n->name) {
      fputs("\\n", out);
      dot_escaped(out, n->name);
    }
    fprintf(out, "%s\\n%s\", fillcolor=\"%s\"];\n", attrs, type, fill);
  }
  for (int id = 0; id < graph->n_nodes; id++) {
    const ir_node_t *n = &graph->nodes[id];
    if (n->op == IR_DEAD) continue;
    for (int i = 0; i < n->n_inputs; i++) fprintf(out, "  n%d -> n%d;\n", n->inputs[i], id);
  }
  for (int i = 0; i < graph->n_outputs; i++) {
    fprintf(out, "  out%d [shape=ellipse, fillcolor=\"#d4f7d4\", label=\"output ", i);
    dot_escaped(out, graph->outputs[i].name);
    fprintf(out, "\"];\n  n%d -> out%d;\n", graph->outputs[i].node, i);
  }
  fprintf(out, "}\n");
}
