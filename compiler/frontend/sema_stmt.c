/* Sema's statements: bindings, weights and caches, `repeat` (unrolled:
 * its body is evaluated once per index) and block calls (inlined: the
 * block's body is evaluated in a fresh scope). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sema_impl.h"
#include "strbuf.h"
#include "xalloc.h"

/* ---- statements ---------------------------------------------------------- */

static void exec_assign(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  value_t v = sema_eval(s, sc, st->value);
  binding_t *old = scope_find_local(sc, st->name);
  char a[160], b[160];
  if (old && old->value.kind == V_PENDING_OUTPUT) {
    if (v.kind == V_ERROR) return;
    if (v.kind != V_TENSOR) {
      sema_error(s, st->name_loc, "output '%s' must be a tensor, got %s", st->name, sema_describe(s, &v, a, sizeof a));
      return;
    }
    const ir_type_t *t = &s->g->nodes[v.node].type;
    if (!sema_types_equal(t, &old->value.type)) {
      sema_error(s, st->value->loc, "output '%s' is declared %s but this is %s", st->name,
                 sema_type_str(s, &old->value.type, a, sizeof a), sema_type_str(s, t, b, sizeof b));
      return;
    }
    ir_add_output(s->g, st->name, v.node);
    old->value = v;
    return;
  }
  if (!old && sc->loop) {
    /* A loop-carried value: the body re-binds a name of an enclosing scope. */
    binding_t *outer = NULL;
    for (scope_t *p = sc->parent; p && !outer; p = p->barrier ? NULL : p->parent) outer = scope_find_local(p, st->name);
    if (outer && outer->value.kind == V_TENSOR) {
      if (v.kind == V_ERROR) {
        outer->value = v;
        return;
      }
      const ir_type_t *t0 = &s->g->nodes[outer->value.node].type;
      if (v.kind != V_TENSOR || !sema_types_equal(t0, &s->g->nodes[v.node].type)) {
        sema_error(s, st->value->loc, "loop-carried '%s' must keep its type %s, got %s", st->name,
                   sema_type_str(s, t0, a, sizeof a), sema_describe(s, &v, b, sizeof b));
        outer->value = error_value;
        return;
      }
      outer->value = v;
      return;
    }
    if (outer) {
      sema_error(s, st->name_loc, "redefinition of '%s' (only tensors may be re-bound in a repeat)", st->name);
      sema_note(s, outer->loc, "'%s' was defined here", st->name);
      return;
    }
  }
  sema_bind(s, sc, st->name, st->name_loc, v);
}

/* Substitutes {name} placeholders of a weight name pattern with the integer
 * values in scope. Returns an owned string, or NULL after an error. */
static char *resolve_pattern(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  strbuf_t sb = {0};
  strbuf_append(&sb, "");
  const char *p = st->pattern;
  ast_loc_t at = st->pattern_loc;
  for (const char *q = p; *q; q++) {
    if (*q != '{') {
      if (*q == '}') {
        at.first_column = st->pattern_loc.first_column + 1 + (int)(q - p);
        at.last_column = at.first_column + 1;
        sema_error(s, at, "unmatched '}' in weight name pattern");
        strbuf_free(&sb);
        return NULL;
      }
      strbuf_appendn(&sb, q, 1);
      continue;
    }
    const char *close = strchr(q, '}');
    at.first_column = st->pattern_loc.first_column + 1 + (int)(q - p);
    at.last_column = at.first_column + (close ? (int)(close - q) + 1 : 1);
    if (!close) {
      sema_error(s, at, "unclosed '{' in weight name pattern");
      strbuf_free(&sb);
      return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
    binding_t *b = (size_t)(close - q - 1) < sizeof name ? scope_lookup(sc, name) : NULL;
    if (!b || b->value.kind != V_INT) {
      if (b && b->value.kind == V_ERROR) {
        strbuf_free(&sb);
        return NULL;
      }
      sema_error(s, at, "weight name pattern names unknown placeholder '{%s}' (placeholders are integer "
                      "parameters or repeat indices, such as {layer})", name);
      strbuf_free(&sb);
      return NULL;
    }
    strbuf_printf(&sb, "%lld", (long long)b->value.i);
    q = close;
  }
  if (!sb.data || !sb.data[0]) {
    sema_error(s, st->pattern_loc, "empty weight name");
    strbuf_free(&sb);
    return NULL;
  }
  return strbuf_take(&sb);
}

static void exec_weight(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  ir_type_t t = {0};
  if (st->type->dtype) {
    sema_error(s, st->type->dtype_loc, "a weight's dtype is the model's weight_dtype: write only its shape, [...]");
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  bool ok = sema_eval_dims(s, sc, &st->type->dims, st->type->loc, false, &t);
  char *name = resolve_pattern(s, sc, st);
  if (!ok || !name) {
    free(name);
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  t.dtype = s->g->weight_dtype;
  value_t v = error_value;
  int found = sema_leaf_find(s, IR_WEIGHT, name);
  if (found >= 0) {
    int id = found;
    ir_node_t *n = &s->g->nodes[id];
    n->type.dtype = t.dtype;
    if (!sema_types_equal(&n->type, &t)) {
      char a[160], b[160];
      sema_error(s, st->type->loc, "weight \"%s\" is declared again with a different shape: %s, earlier %s", name,
                 sema_type_str(s, &t, a, sizeof a), sema_type_str(s, &n->type, b, sizeof b));
    } else {
      v = tensor(id);
    }
    free(name);
    sema_bind(s, sc, st->name, st->name_loc, v);
    return;
  }
  v = sema_add_leaf(s, IR_WEIGHT, name, &t, st->name_loc);
  free(name);
  sema_bind(s, sc, st->name, st->name_loc, v);
}

static void exec_cache(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  ir_type_t t = {0};
  greta_dtype_t dt = GRETA_F32;
  if (st->type->dtype && (!sema_parse_dtype(st->type->dtype, &dt) || dt != GRETA_F32)) {
    sema_error(s, st->type->dtype_loc, "a cache holds f32, got '%s'", st->type->dtype);
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  if (!sema_eval_dims(s, sc, &st->type->dims, st->type->loc, false, &t)) {
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  if (t.rank != 3) {
    sema_error(s, st->type->loc, "a cache has shape [max_seq, kv_heads, head_dim], got %d dimensions", t.rank);
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  t.dtype = GRETA_F32;
  if (s->g->max_seq && s->g->max_seq != t.dims[0].coeff) {
    sema_error(s, st->type->dims.items[0]->loc, "cache '%s' holds %lld positions but an earlier cache holds %lld "
               "(all caches must agree on max_seq)", st->name, (long long)t.dims[0].coeff, (long long)s->g->max_seq);
    sema_bind(s, sc, st->name, st->name_loc, error_value);
    return;
  }
  s->g->max_seq = t.dims[0].coeff;
  /* One cache per block instance, named by the instance path
   * ("decoder.3.k_cache" inside decoder(h, 3)), made unique. */
  const char *path = s->instance.data ? s->instance.data : "";
  strbuf_t name = {0};
  strbuf_printf(&name, "%s%s", path, st->name);
  for (int k = 2; sema_leaf_find(s, IR_CACHE, name.data) >= 0; k++) {
    name.len = 0;
    strbuf_printf(&name, "%s%s.%d", path, st->name, k);
  }
  sema_bind(s, sc, st->name, st->name_loc, sema_add_leaf(s, IR_CACHE, name.data, &t, st->name_loc));
  strbuf_free(&name);
}

static void exec_repeat(sema_t *s, scope_t *sc, const ast_stmt_t *st, frame_t *frame) {
  value_t lo = sema_eval(s, sc, st->value), hi = sema_eval(s, sc, st->hi);
  if (lo.kind == V_ERROR || hi.kind == V_ERROR) return;
  if (lo.kind != V_INT || hi.kind != V_INT) {
    sema_error(s, lo.kind != V_INT ? st->value->loc : st->hi->loc, "repeat bounds must be integer constants");
    return;
  }
  if (hi.i < lo.i) {
    sema_error(s, st->hi->loc, "repeat range %lld .. %lld is backwards", (long long)lo.i, (long long)hi.i);
    return;
  }
  if (hi.i - lo.i > SEMA_MAX_TRIPS) {
    sema_error(s, st->hi->loc, "repeat runs %lld times; the limit is %d", (long long)(hi.i - lo.i), SEMA_MAX_TRIPS);
    return;
  }
  for (int64_t i = lo.i; i < hi.i && !diag_stopped(s->diag); i++) {
    scope_t body = {.parent = sc, .loop = true};
    scope_add(&body, st->name, st->name_loc, int_value(i));
    frame_t inner = {.block = frame->block};
    sema_exec_stmts(s, &body, &st->body, &inner);
    scope_deinit(&body);
    if (inner.returned) {
      sema_error(s, inner.return_loc, "'return' inside a repeat");
      return;
    }
  }
}

value_t sema_call_block(sema_t *s, scope_t *sc, const ast_expr_t *e, const ast_stmt_t *block) {
  (void)sc;
  for (int i = 0; i < s->n_calls; i++) {
    if (s->calls[i] == block) {
      sema_error(s, e->name_loc, "recursive call: block '%s' calls itself%s%s (blocks cannot recurse)", block->name,
                 s->calls[s->n_calls - 1] != block ? " through " : "",
                 s->calls[s->n_calls - 1] != block ? s->calls[s->n_calls - 1]->name : "");
      return error_value;
    }
  }
  if (s->n_calls >= SEMA_MAX_CALL_DEPTH)
    return sema_error(s, e->name_loc, "block calls nested more than %d deep", SEMA_MAX_CALL_DEPTH);
  if (e->args.n != block->params.n)
    return sema_error(s, e->name_loc, "wrong number of arguments: block '%s' takes %d, got %d", block->name,
                      block->params.n, e->args.n);
  scope_t scope = {.parent = s->file_scope, .barrier = true};
  bool failed = false;
  strbuf_t ints = {0}; /* ".3" per int argument, for the instance path */
  for (int i = 0; i < block->params.n; i++) {
    const ast_param_t *p = &block->params.items[i];
    const ast_expr_t *a = e->args.items[i];
    value_t v = sema_eval(s, sc, a);
    char d[200], t0[160];
    if (p->type->is_tensor) {
      ir_type_t want;
      if (!sema_eval_tensor_type(s, s->file_scope, p->type, &want) || v.kind == V_ERROR) {
        failed = true;
      } else if (v.kind != V_TENSOR) {
        sema_error(s, a->loc, "argument %d ('%s') of '%s' must be a tensor %s, got %s", i + 1, p->name, block->name,
                   sema_type_str(s, &want, t0, sizeof t0), sema_describe(s, &v, d, sizeof d));
        failed = true;
      } else {
        const ir_type_t *got = &s->g->nodes[v.node].type;
        if (got->dtype != want.dtype || !sema_types_equal(got, &want)) {
          sema_error(s, a->loc, "%s: argument %d ('%s') of '%s' expects %s, got %s",
                     got->dtype != want.dtype ? "dtype mismatch" : "shape mismatch", i + 1, p->name, block->name,
                     sema_type_str(s, &want, t0, sizeof t0), sema_type_str(s, got, d, sizeof d));
          failed = true;
        }
      }
    } else if (strcmp(p->type->dtype, "int") == 0) {
      if (v.kind == V_ERROR) {
        failed = true;
      } else if (v.kind != V_INT) {
        sema_error(s, a->loc, "argument %d ('%s') of '%s' must be an integer, got %s", i + 1, p->name, block->name,
                   sema_describe(s, &v, d, sizeof d));
        failed = true;
      } else {
        strbuf_printf(&ints, ".%lld", (long long)v.i);
      }
    } else if (strcmp(p->type->dtype, "float") == 0) {
      if (v.kind == V_ERROR) {
        failed = true;
      } else if (!is_number(&v)) {
        sema_error(s, a->loc, "argument %d ('%s') of '%s' must be a number, got %s", i + 1, p->name, block->name,
                   sema_describe(s, &v, d, sizeof d));
        failed = true;
      } else {
        v = float_value(number(&v));
      }
    } else {
      sema_error(s, p->type->loc, "unknown parameter type '%s' (expected int, float or a tensor type like f32[T, dim])",
                 p->type->dtype);
      failed = true;
    }
    if (!failed) sema_bind(s, &scope, p->name, p->loc, v);
  }
  if (failed) {
    strbuf_free(&ints);
    scope_deinit(&scope);
    return error_value;
  }
  /* The call's instance path: the caller's, then the block's name and its
   * int arguments ("decoder.3."); it names the caches declared inside. */
  size_t saved_path = s->instance.len;
  strbuf_printf(&s->instance, "%s%s.", block->name, ints.data ? ints.data : "");
  strbuf_free(&ints);
  s->calls[s->n_calls++] = block;
  frame_t frame = {.block = block};
  sema_exec_stmts(s, &scope, &block->body, &frame);
  s->n_calls--;
  s->instance.len = saved_path;
  s->instance.data[saved_path] = '\0';
  scope_deinit(&scope);
  if (!frame.returned) {
    if (!diag_stopped(s->diag))
      sema_error(s, block->name_loc, "block '%s' never produces its result: it has no 'return'", block->name);
    return error_value;
  }
  value_t r = frame.result;
  if (r.kind == V_ERROR) return r;
  ir_type_t want;
  if (!sema_eval_tensor_type(s, s->file_scope, block->type, &want)) return error_value;
  char a[200], b[160];
  if (r.kind != V_TENSOR || !sema_types_equal(&s->g->nodes[r.node].type, &want))
    return sema_error(s, frame.return_loc, "block '%s' returns %s but is declared to return %s", block->name,
                      r.kind == V_TENSOR ? sema_type_str(s, &s->g->nodes[r.node].type, a, sizeof a)
                                       : sema_describe(s, &r, a, sizeof a),
                    sema_type_str(s, &want, b, sizeof b));
  return r;
}

static const char *stmt_keyword(ast_stmt_kind_t k) {
  switch (k) {
  case AST_MODEL: return "model";
  case AST_SET: return "set";
  case AST_DIM: return "dim";
  case AST_BLOCK: return "block";
  case AST_INPUT: return "input";
  case AST_OUTPUT: return "output";
  default: return "?";
  }
}

/* set rope_scaling = llama3(factor, low_freq_factor, high_freq_factor,
 * original_max_position_embeddings): every rope of the model scales its
 * frequencies as Llama 3.1 does (rope_freq.c). */
static void exec_rope_scaling(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  static const char *const names[4] = {"factor", "low_freq_factor", "high_freq_factor",
                                       "original_max_position_embeddings"};
  const ast_expr_t *e = st->value;
  if (s->rope_scaling_set) {
    sema_error(s, st->name_loc, "redefinition of 'rope_scaling'");
    return;
  }
  if (e->kind != AST_CALL || strcmp(e->name, "llama3") != 0 || e->args.n != 4) {
    sema_error(s, e->loc,
               "rope_scaling must be llama3(factor, low_freq_factor, high_freq_factor, "
               "original_max_position_embeddings)");
    return;
  }
  double v[4];
  for (int i = 0; i < 4; i++) {
    value_t x = sema_eval(s, sc, e->args.items[i]);
    if (x.kind == V_ERROR) return;
    if (!is_number(&x) || !(number(&x) > 0) || !isfinite(number(&x))) {
      sema_error(s, e->args.items[i]->loc, "llama3: %s must be a positive number", names[i]);
      return;
    }
    v[i] = number(&x);
  }
  if (!(v[1] < v[2])) {
    sema_error(s, e->args.items[2]->loc,
               "llama3: high_freq_factor %g must be greater than low_freq_factor %g", v[2], v[1]);
    return;
  }
  s->rope_scaling_set = true;
  s->g->rope_scaling = (ir_rope_scaling_t){v[0], v[1], v[2], v[3]};
}

static void exec_top_only(sema_t *s, scope_t *sc, const ast_stmt_t *st) {
  char a[160];
  switch (st->kind) {
  case AST_MODEL:
    if (s->model_named) {
      sema_error(s, st->name_loc, "redefinition of the model name");
      break;
    }
    s->model_named = true;
    s->model_loc = st->loc;
    free(s->g->model_name);
    s->g->model_name = xstrdup(st->name);
    break;
  case AST_SET: {
    if (strcmp(st->name, "rope_scaling") == 0) {
      exec_rope_scaling(s, sc, st);
      break;
    }
    /* Model settings: the storage dtype of the weights and of the KV cache. */
    bool is_kv = strcmp(st->name, "kv_dtype") == 0;
    if (!is_kv && strcmp(st->name, "weight_dtype") != 0) {
      sema_error(s, st->name_loc, "unknown setting '%s' (known: weight_dtype, kv_dtype, rope_scaling)",
                 st->name);
      break;
    }
    bool *was_set = is_kv ? &s->kv_dtype_set : &s->weight_dtype_set;
    if (*was_set) {
      sema_error(s, st->name_loc, "redefinition of '%s'", st->name);
      break;
    }
    greta_dtype_t dt;
    if (st->value->kind != AST_NAME || !sema_parse_dtype(st->value->name, &dt) || dt == GRETA_I32) {
      sema_error(s, st->value->loc, "%s must be f32, f16 or bf16", st->name);
      break;
    }
    *was_set = true;
    if (is_kv) s->g->kv_dtype = dt;
    else s->g->weight_dtype = dt;
    break;
  }
  case AST_DIM:
    for (int i = 0; i < st->names.n; i++) {
      const ast_expr_t *n = st->names.items[i];
      int sym = ir_symbol(s->g, n->name);
      if (sym < 0) {
        sema_error(s, n->loc, "too many symbolic dimensions (at most 8)");
        continue;
      }
      sema_bind(s, sc, n->name, n->loc, (value_t){.kind = V_DIM, .dim = {1, sym}});
    }
    break;
  case AST_BLOCK: /* bound before the walk */
    break;
  case AST_INPUT: {
    ir_type_t t;
    value_t v = error_value;
    /* Activations are f32 in every op; the compiler itself stores a value in
     * half where a half-weight GEMM is its only reader (lower/half_x.c). */
    const bool typed = sema_eval_tensor_type(s, sc, st->type, &t);
    if (typed && (t.dtype == GRETA_F16 || t.dtype == GRETA_BF16))
      sema_error(s, st->type->loc,
                 "input '%s' is %s: inputs are f32 (activations) or i32 (token ids); where a "
                 "half-weight matmul reads a value, the compiler stores it in half itself",
                 st->name, greta_dtype_name(t.dtype));
    else if (typed)
      v = sema_add_leaf(s, IR_INPUT, st->name, &t, st->name_loc);
    sema_bind(s, sc, st->name, st->name_loc, v);
    break;
  }
  case AST_OUTPUT: {
    ir_type_t t = {0};
    bool typed = st->type != NULL;
    if (typed && !sema_eval_tensor_type(s, sc, st->type, &t)) {
      sema_bind(s, sc, st->name, st->name_loc, error_value);
      break;
    }
    if (!st->value) {
      sema_bind(s, sc, st->name, st->name_loc, (value_t){.kind = V_PENDING_OUTPUT, .type = t});
      break;
    }
    value_t v = sema_eval(s, sc, st->value);
    if (v.kind != V_TENSOR) {
      if (v.kind != V_ERROR)
        sema_error(s, st->value->loc, "output '%s' must be a tensor, got %s", st->name, sema_describe(s, &v, a, sizeof a));
      sema_bind(s, sc, st->name, st->name_loc, error_value);
      break;
    }
    char b[160];
    if (typed && !sema_types_equal(&t, &s->g->nodes[v.node].type)) {
      sema_error(s, st->value->loc, "output '%s' is declared %s but this is %s", st->name, sema_type_str(s, &t, a, sizeof a),
                 sema_type_str(s, &s->g->nodes[v.node].type, b, sizeof b));
      break;
    }
    if (scope_find_local(sc, st->name)) {
      sema_bind(s, sc, st->name, st->name_loc, v); /* reports the redefinition */
      break;
    }
    ir_add_output(s->g, st->name, v.node);
    sema_bind(s, sc, st->name, st->name_loc, v);
    break;
  }
  default:
    break;
  }
}

void sema_exec_stmts(sema_t *s, scope_t *sc, const ast_stmt_list_t *stmts, frame_t *frame) {
  for (int i = 0; i < stmts->n && !diag_stopped(s->diag); i++) {
    const ast_stmt_t *st = stmts->items[i];
    if (++s->work > SEMA_MAX_WORK) {
      diag_fatal(s->diag, st->loc.first_line, st->loc.first_column, 1,
                 "model too large: more than %d statements after inlining and unrolling", SEMA_MAX_WORK);
      return;
    }
    if (frame->returned) {
      sema_error(s, st->loc, "statement after 'return'");
      return;
    }
    switch (st->kind) {
    case AST_MODEL:
    case AST_SET:
    case AST_DIM:
    case AST_BLOCK:
    case AST_INPUT:
    case AST_OUTPUT:
      if (sc != s->file_scope) {
        sema_error(s, st->loc, "'%s' is only allowed at the top level of the file", stmt_keyword(st->kind));
        break;
      }
      exec_top_only(s, sc, st);
      break;
    case AST_CONST: {
      value_t v = sema_eval(s, sc, st->value);
      char d[200];
      if (v.kind != V_ERROR && !is_number(&v) && v.kind != V_DIM) {
        sema_error(s, st->value->loc, "a constant must be a number, got %s", sema_describe(s, &v, d, sizeof d));
        v = error_value;
      }
      sema_bind(s, sc, st->name, st->name_loc, v);
      break;
    }
    case AST_WEIGHT: exec_weight(s, sc, st); break;
    case AST_CACHE: exec_cache(s, sc, st); break;
    case AST_ASSIGN: exec_assign(s, sc, st); break;
    case AST_REPEAT: exec_repeat(s, sc, st, frame); break;
    case AST_RETURN:
      if (!frame->block) {
        sema_error(s, st->loc, "'return' outside a block");
        break;
      }
      frame->result = sema_eval(s, sc, st->value);
      frame->return_loc = st->value->loc;
      frame->returned = true;
      break;
    }
  }
}

/* ---- the whole model ----------------------------------------------------- */
