#!/usr/bin/env python3
"""The PyTorch side of GRETA's benchmark, on the same GPU in the same run.

For every row of the suite it first runs greta's bench_greta on the row's
compiled model (when --greta DIR is given), then times PyTorch on the same
problem, so the two sides of a pair run back to back. It also measures the
two ceilings the floors are computed from: device-to-device copy bandwidth
(bytes read + written) and cuBLAS's matrix-product rate for f32 (TF32 off)
and f16.

Timing: CUDA events around every call (or graph replay), after a warm-up;
the median of many calls. Small ops are timed twice: over the same buffers
every call (as greta must: one graph, fixed addresses) and rotating over
enough input/output sets (>= 256 MB) that each call starts from HBM.

The whole-model rows (op "model": Llama-2-7B, examples/llama2_7b.gm, f16
weights and f16 KV cache, random weights) time one step of the whole model:
embedding, 32 decoder layers, final norm, LM head over every token of the
step. PyTorch's side is transformers' own LlamaDecoderLayer x 32,
LlamaRMSNorm, LlamaRotaryEmbedding, an nn.Embedding and an nn.Linear head,
driven in a loop as LlamaModel's forward does, with a KV cache at fixed
addresses (preallocated per layer, written in place with index_copy_), so
that one step shape can be captured in one CUDA graph. Three variants:
attn_implementation "sdpa" and "eager", each captured in one CUDA graph per
step shape (T, pos), and sdpa run eagerly (no graph); the prefill rows also
torch.compile of the whole step (sdpa, default mode), in a child process
that builds its own copy. The model is built once and kept for all its
rows; greta's run of each row comes just before. Every runner of these rows,
greta's too, is warmed for MODEL_WARM_S seconds before it is timed.

Issue 11's prefill rows (op "gemm7b", op "attention", and the block and
model rows at T = 128 / 2048): the 7B's four projection GEMMs (f16 weights)
at T = 128, 512, 2048 against cuBLAS f16 (torch.matmul), and causal prefill
attention alone (32 heads x 128, f16 K/V, pos 0) at the same T against
scaled_dot_product_attention with the flash backend only. greta's rows of
these two ops are run with bench_greta --profile too, so raw.json has each
launch's time ("launches"): report.py compares SDPA with greta's attention
launch alone as well as with its whole step (which appends K and V first).

  python3 bench/bench_torch.py --greta build-bench/carry --out $OUT [--only model,block]
      writes $OUT/raw.json (every measurement) and prints progress
  python3 bench/bench_torch.py --profile-compiled-model 2048
      prints torch.compile's kernels in the whole model's prefill of 2048 tokens

Needs torch and transformers (present on the GPU machine).
"""
import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time

import torch

DIM, HEADS, KV_HEADS, HEAD_DIM, FFN, MAX_SEQ = 4096, 32, 32, 128, 11008, 2048
N_LAYERS, VOCAB = 32, 32000  # the whole model: examples/llama2_7b.gm
DEV = "cuda"

# name, greta model file (in --greta), tokens, pos, op, greta repeats
ROWS = [
    ("gemm_512_f32", "gemm_512.cubin", 512, 0, "gemm", 500),
    ("rmsnorm_40960", "rmsnorm_40960.cubin", 10, 0, "rmsnorm", 500),
    ("rope_4096", "rope_4096.cubin", 1, 0, "rope", 500),
    ("kv_append", "kv_append.cubin", 1, 0, "kv", 500),
    ("block_f32_decode_L1024", "llama2_block_f32.cubin", 1, 1024, "block", 200),
    ("block_f16_decode_L1024", "llama2_block_f16.cubin", 1, 1024, "block", 200),
    ("block_f32_prefill_T128", "llama2_block_f32.cubin", 128, 0, "block", 50),
    ("block_f16_prefill_T128", "llama2_block_f16.cubin", 128, 0, "block", 50),
    ("block_f32_prefill_T512", "llama2_block_f32.cubin", 512, 0, "block", 30),
    ("block_f16_prefill_T512", "llama2_block_f16.cubin", 512, 0, "block", 30),
    # Issue 11's prefill rows. T = 2048 needs the block compiled with
    # --max-tokens=2048 (gretac's default is 512): a cubin of its own.
    ("block_f32_prefill_T2048", "llama2_block_f32_t2048.cubin", 2048, 0, "block", 10),
    ("block_f16_prefill_T2048", "llama2_block_f16_t2048.cubin", 2048, 0, "block", 10),
]

# Issue 11's GEMM rows: the 7B block's projections, c = x @ w^T with an f16
# weight w [N, K] (bench/models/gemm7b_*.gm, compiled with --max-tokens=2048),
# against cuBLAS f16 x f16. Shape name: (N, K).
GEMM7B_SHAPES = {
    "qkv": (3 * DIM, DIM),
    "o": (DIM, DIM),
    "gate_up": (2 * FFN, DIM),
    "down": (DIM, FFN),
}
GEMM7B_TOKENS = (128, 512, 2048)
ROWS += [(f"gemm7b_{shape}_f16_T{t}", f"gemm7b_{shape}.cubin", t, 0, "gemm7b",
          100 if t < 2048 else 30)
         for shape in GEMM7B_SHAPES for t in GEMM7B_TOKENS]

# Issue 11's attention rows: causal prefill attention alone, 32 heads x 128,
# f16 KV cache, T tokens at pos 0 (bench/models/attention_7b.gm), against
# PyTorch's SDPA with the flash backend on f16 q, k, v.
ROWS += [(f"attention_f16_prefill_T{t}", "attention_7b.cubin", t, 0, "attention",
          100 if t < 2048 else 30) for t in GEMM7B_TOKENS]


# The whole Llama-2-7B: name, tokens, pos (= L, the tokens already in the
# cache), greta repeats, torch repeats (each variant). Today a decode step
# takes ~7 ms (25-50 ms in torch without a graph) and a prefill of 512
# tokens 17-55 ms.
# The prefill of 2048 tokens runs on the model compiled with
# --max-tokens=2048 (MODEL_FILE_T2048), the other rows on gretac's default of
# 512, so the decode rows keep the plan they always had.
MODEL_FILE = "llama2_7b.cubin"
MODEL_FILE_T2048 = "llama2_7b_t2048.cubin"
MODEL_ROWS = [
    ("model_f16_decode_L128", 1, 128, 100, 60),
    ("model_f16_decode_L1024", 1, 1024, 100, 60),
    ("model_f16_decode_L2000", 1, 2000, 100, 60),
    ("model_f16_prefill_T512", 512, 0, 20, 15),
    ("model_f16_prefill_T128", 128, 0, 30, 20),
    ("model_f16_prefill_T2048", 2048, 0, 10, 10),
]
OPS = ("gemm", "rmsnorm", "rope", "kv", "block", "model", "gemm7b", "attention")

# torch.compile is tried for the prefill rows, each in a child process given
# --compile-timeout seconds (a first run compiled one in 9 s).
COMPILE_ROWS = ("block_f32_prefill_T128", "block_f16_prefill_T128", "block_f32_prefill_T512",
                "block_f16_prefill_T512", "block_f32_prefill_T2048", "block_f16_prefill_T2048")
# and for the whole model's prefill rows, all in one child process (it builds
# its own copy of the model) given --model-compile-timeout seconds.
MODEL_COMPILE_ROWS = ("model_f16_prefill_T512", "model_f16_prefill_T128", "model_f16_prefill_T2048")


# The whole-model rows warm each runner, greta's and torch's, for this long
# before timing: a long step holds the H200 at its 700 W limit, where the
# clock settles about a quarter below its boost, and two runners must be
# timed in the same state (docs/gemm.md, "Under the power limit").
MODEL_WARM_S = 1.0


def time_calls(fn, repeats, warmup=10, warm_s=0.0):
    """Median ms of `repeats` calls of fn(i), each between two CUDA events,
    after `warmup` calls and, with warm_s, more until warm_s seconds have
    passed."""
    t0 = time.time()
    i = 0
    while i < warmup or time.time() - t0 < warm_s:
        fn(i)
        i += 1
        if i % 4 == 0:
            torch.cuda.synchronize()  # the clock: the GPU's, not the queue's
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for i in range(repeats):
        starts[i].record()
        fn(i)
        ends[i].record()
    torch.cuda.synchronize()
    ms = [s.elapsed_time(e) for s, e in zip(starts, ends)]
    return statistics.median(ms)


def rotation_sets(bytes_per_set, total=256 << 20):
    return max(2, min(4096, -(-total // bytes_per_set)))


# ---- ceilings -----------------------------------------------------------------

def ceilings():
    n = 256 << 20  # floats: 1 GiB
    x = torch.rand(n, device=DEV)
    y = torch.empty_like(x)
    copy_ms = time_calls(lambda i: y.copy_(x), 20, warmup=3)
    bw = 2 * n * 4 / (copy_ms * 1e-3)
    del x, y
    out = {"copy_ms_1GiB": copy_ms, "bandwidth_Bps": bw}
    for dtype, name in ((torch.float32, "f32"), (torch.float16, "f16")):
        m = 8192
        a = torch.randn(m, m, device=DEV, dtype=dtype)
        b = torch.randn(m, m, device=DEV, dtype=dtype)
        ms = time_calls(lambda i: torch.matmul(a, b), 10, warmup=3)
        out[f"matmul_{name}_8192_ms"] = ms
        out[f"peak_{name}_flops"] = 2 * m ** 3 / (ms * 1e-3)
        del a, b
    torch.cuda.empty_cache()
    return out


# ---- the seed's small ops --------------------------------------------------------

def rmsnorm(x, w, eps=1e-5):
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def rope_tables(pos, tokens):
    inv = 1.0 / (10000.0 ** (torch.arange(0, HEAD_DIM, 2, device=DEV, dtype=torch.float32) / HEAD_DIM))
    t = torch.arange(pos, pos + tokens, device=DEV, dtype=torch.float32)
    ang = torch.outer(t, inv)
    emb = torch.cat((ang, ang), -1)[:, None, :]  # [T, 1, head_dim]
    return emb.cos(), emb.sin()


def rope(x, cos, sin):
    """Rotate-half RoPE in torch ops, as HF's apply_rotary_pos_emb."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), -1)
    return x * cos + rotated * sin


def small_op(op, tokens, pos, repeats):
    """(same-buffer ms, rotating ms, sets) for one of the seed's small ops."""
    if op == "gemm":
        torch.backends.cuda.matmul.allow_tf32 = False
        make = lambda: (torch.randn(tokens, 512, device=DEV), torch.randn(512, 512, device=DEV),
                        torch.empty(tokens, 512, device=DEV))
        run = lambda s: torch.matmul(s[0], s[1].t(), out=s[2])
        set_bytes = 3 * 512 * 512 * 4
    elif op == "rmsnorm":
        make = lambda: (torch.randn(tokens, DIM, device=DEV), 1 + 0.1 * torch.randn(DIM, device=DEV))
        run = lambda s: rmsnorm(s[0], s[1])
        set_bytes = 2 * tokens * DIM * 4
    elif op == "rope":
        cos, sin = rope_tables(pos, tokens)
        make = lambda: (torch.randn(tokens, HEADS, HEAD_DIM, device=DEV),)
        run = lambda s: rope(s[0], cos, sin)
        set_bytes = 2 * tokens * HEADS * HEAD_DIM * 4
    elif op == "kv":
        where = torch.arange(pos, pos + tokens, device=DEV)
        make = lambda: (torch.randn(tokens, KV_HEADS, HEAD_DIM, device=DEV),
                        torch.randn(tokens, KV_HEADS, HEAD_DIM, device=DEV))
        kc = torch.zeros(MAX_SEQ, KV_HEADS, HEAD_DIM, device=DEV)
        vc = torch.zeros(MAX_SEQ, KV_HEADS, HEAD_DIM, device=DEV)
        run = lambda s: (kc.index_copy_(0, where, s[0]), vc.index_copy_(0, where, s[1]))
        set_bytes = 4 * tokens * KV_HEADS * HEAD_DIM * 4
    else:
        raise ValueError(op)
    one = make()
    same = time_calls(lambda i: run(one), repeats)
    n = rotation_sets(set_bytes)
    sets = [make() for _ in range(n)]
    rotating = time_calls(lambda i: run(sets[i % n]), max(repeats, 2 * n))
    out = {"torch_same_ms": same, "torch_rotating_ms": rotating, "rotation_sets": n}
    if op == "kv":  # slice assignment, the other common way
        def slice_assign(s):
            kc[pos:pos + tokens] = s[0]
            vc[pos:pos + tokens] = s[1]
        out["torch_slice_same_ms"] = time_calls(lambda i: slice_assign(one), repeats)
    del sets
    torch.cuda.empty_cache()
    return out


# ---- issue 11: the 7B's GEMMs and attention alone --------------------------------

def gemm7b(n, k, tokens, repeats):
    """cuBLAS on one 7B projection, torch.matmul(x, w.t(), out=c) with x, w
    and c in f16 (greta's GEMM reads f16 x, as its rms_scale
    stores it, and writes f32 c). cuBLAS accumulates f16 products
    in f32 but by torch's default (allow_fp16_reduced_precision_reduction)
    may add split-K partial sums in f16: timed on one buffer set, rotating
    over >= 256 MB of sets (every call from HBM), rotating with c in f32 (as
    greta writes it), rotating again with
    that reduction off (f32 accumulation throughout, as greta's), and with
    c in f32 as a one-kernel CUDA graph over the same buffers (as
    bench_greta --profile times greta's GEMM launch)."""
    f16 = torch.float16
    make = lambda: (torch.randn(tokens, k, device=DEV, dtype=f16),
                    0.02 * torch.randn(n, k, device=DEV, dtype=f16),
                    torch.empty(tokens, n, device=DEV, dtype=f16))
    run = lambda s: torch.matmul(s[0], s[1].t(), out=s[2])
    one = make()
    run(one)
    assert torch.isfinite(one[2]).all(), "cuBLAS f16 GEMM output is not finite"
    out = {"torch_same_ms": time_calls(lambda i: run(one), repeats)}
    del one
    sets_n = rotation_sets(2 * (tokens * k + n * k + tokens * n))
    sets = [make() for _ in range(sets_n)]
    calls = max(repeats, 2 * sets_n)
    out["torch_rotating_ms"] = time_calls(lambda i: run(sets[i % sets_n]), calls)
    out["rotation_sets"] = sets_n
    matmul = torch.backends.cuda.matmul
    saved = matmul.allow_fp16_reduced_precision_reduction
    try:
        matmul.allow_fp16_reduced_precision_reduction = False
        out["torch_f32reduce_rotating_ms"] = time_calls(lambda i: run(sets[i % sets_n]), calls)
    finally:
        matmul.allow_fp16_reduced_precision_reduction = saved
    # greta's GEMM writes c in f32: cuBLAS's f16 x f16 -> f32 GEMM (torch.mm's
    # out_dtype, PyTorch 2.8 and later) moves the same bytes.
    try:
        outs = [torch.empty(tokens, n, device=DEV, dtype=torch.float32) for _ in range(sets_n)]
        run32 = lambda i: torch.mm(sets[i % sets_n][0], sets[i % sets_n][1].t(),
                                   out_dtype=torch.float32, out=outs[i % sets_n])
        run32(0)
        assert torch.isfinite(outs[0]).all(), "cuBLAS f16 -> f32 GEMM output is not finite"
        out["torch_f32out_rotating_ms"] = time_calls(run32, calls)
        # As bench_greta --profile times greta's launch: the one call captured
        # in a CUDA graph, replayed over the same buffers between events.
        x, w, c32 = sets[0][0], sets[0][1], outs[0]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # cuBLAS's workspace and handle, before capture
            for _ in range(3):
                torch.mm(x, w.t(), out_dtype=torch.float32, out=c32)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            torch.mm(x, w.t(), out_dtype=torch.float32, out=c32)
        out["torch_f32out_graph_ms"] = time_calls(lambda i: graph.replay(), repeats)
        del graph, outs
    except Exception as e:  # an older torch: the row says why
        out["torch_f32out_error"] = f"{type(e).__name__}: {e}"[:300]
    del sets
    torch.cuda.empty_cache()
    return out


def sdpa_backend(name):
    """A context in which SDPA may use only the backend `name` ("flash":
    FlashAttention 2; "cudnn": cuDNN's fused attention, which torch.compile's
    whole model picks at T = 2048 on the H200): an error, not a silent
    fallback, where it cannot run."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel({"flash": SDPBackend.FLASH_ATTENTION,
                        "cudnn": SDPBackend.CUDNN_ATTENTION}[name])


def attention_alone(tokens, repeats):
    """SDPA(is_causal=True) on f16 q, k, v of T tokens x 32 heads x 128,
    laid out as HF's attention passes them ([1, T, heads, head_dim] memory
    seen as [1, heads, T, head_dim]: greta's [T, heads, head_dim] order),
    with the flash backend and with cuDNN's; same buffers every call, as
    greta's replay. A backend that fails leaves its error instead."""
    from torch.nn.functional import scaled_dot_product_attention
    q, k, v = (torch.randn(1, tokens, HEADS, HEAD_DIM, device=DEV, dtype=torch.float16)
               .transpose(1, 2) for _ in range(3))
    call = lambda i=0: scaled_dot_product_attention(q, k, v, is_causal=True)
    out = {}
    for backend in ("flash", "cudnn"):
        try:
            with torch.no_grad(), sdpa_backend(backend):
                y = call()
                assert torch.isfinite(y).all(), "SDPA output is not finite"
                out[f"torch_sdpa_{backend}_ms"] = time_calls(call, repeats)
        except Exception as e:  # keep the other backend's time
            out[f"torch_sdpa_{backend}_error"] = f"{type(e).__name__}: {e}"[:300]
    del q, k, v
    torch.cuda.empty_cache()
    return out


# ---- HF LlamaDecoderLayer --------------------------------------------------------

class FixedCache:
    """A KV cache of `layers` layers with fixed addresses (so a CUDA graph can
    capture the step): update() writes the step's K/V at its positions with
    index_copy_ and returns the first `length` positions of that layer.
    Duck-types the one method LlamaAttention calls. Starts as a random
    context (what sits below pos is only read)."""

    def __init__(self, dtype, layers=1):
        shape = (1, KV_HEADS, MAX_SEQ, HEAD_DIM)
        self.k = [torch.randn(shape, device=DEV, dtype=dtype) for _ in range(layers)]
        self.v = [torch.randn(shape, device=DEV, dtype=dtype) for _ in range(layers)]
        self.where = None
        self.length = 0

    def update(self, key_states, value_states, layer_idx=0, cache_kwargs=None, *args, **kwargs):
        k, v = self.k[layer_idx], self.v[layer_idx]
        k.index_copy_(2, self.where, key_states)
        v.index_copy_(2, self.where, value_states)
        return k[:, :, :self.length], v[:, :, :self.length]

    def get_seq_length(self, layer_idx=0):
        return self.length


def llama_config(layers=1, vocab=32):
    from transformers import LlamaConfig
    kw = dict(hidden_size=DIM, intermediate_size=FFN, num_hidden_layers=layers,
              num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
              rms_norm_eps=1e-5, max_position_embeddings=MAX_SEQ, vocab_size=vocab,
              hidden_act="silu", attention_bias=False, mlp_bias=False, attention_dropout=0.0,
              tie_word_embeddings=False, attn_implementation="eager")
    if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    else:
        kw["rope_theta"] = 10000.0
    config = LlamaConfig(**kw)
    set_attention(config, "eager")
    return config


def set_attention(config, name):
    """Every LlamaAttention reads config._attn_implementation at each call,
    so one shared config switches all layers between "eager" and "sdpa"."""
    try:
        config._attn_implementation = name
    except (AttributeError, ValueError):
        config._attn_implementation_internal = name
    assert config._attn_implementation == name, (config._attn_implementation, name)


def randomize(module):
    """Random weights, never zeros: vectors (norms) 1 + N(0, 0.1^2), the rest
    N(0, 0.02^2), as bench_greta draws them (same scales, other values)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)


def cache_key():
    """The name under which this transformers passes the cache to a layer."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer
    params = inspect.signature(LlamaDecoderLayer.forward).parameters
    return "past_key_value" if "past_key_value" in params and "past_key_values" not in params \
        else "past_key_values"


def rotary_embedding(config):
    """LlamaRotaryEmbedding on the GPU. transformers 5.17 warns that its
    device= argument goes away in 5.18; this is the one place to change then."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    return LlamaRotaryEmbedding(config=config, device=DEV)


def llama_layer(dtype):
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer
    config = llama_config()
    layer = LlamaDecoderLayer(config, layer_idx=0).to(device=DEV, dtype=dtype).eval()
    randomize(layer)
    return layer, rotary_embedding(config), cache_key()


def block(dtype_name, tokens, pos, repeats, graph):
    """HF's decoder layer for T tokens at pos: eager, and (graph=True) also
    as a captured CUDA graph. RoPE tables and the mask are made once outside
    the timed call (a whole model makes them once for all its layers)."""
    dtype = torch.float32 if dtype_name == "f32" else torch.float16
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    layer, rotary, key = llama_layer(dtype)
    cache = FixedCache(dtype)
    cache.where = torch.arange(pos, pos + tokens, device=DEV)
    cache.length = pos + tokens
    x = torch.randn(1, tokens, DIM, device=DEV, dtype=dtype)
    position_ids = cache.where[None]
    rows = torch.arange(pos, pos + tokens, device=DEV)[:, None]
    cols = torch.arange(pos + tokens, device=DEV)[None, :]
    mask = torch.zeros(tokens, pos + tokens, device=DEV, dtype=dtype)
    mask.masked_fill_(cols > rows, torch.finfo(dtype).min)
    mask = mask[None, None]
    with torch.no_grad():
        pe = rotary(x, position_ids)

    def step(i=0):
        out = layer(x, attention_mask=mask, position_ids=position_ids, use_cache=True,
                    cache_position=cache.where, position_embeddings=pe, **{key: cache})
        return out[0] if isinstance(out, tuple) else out

    res = {}
    with torch.no_grad():
        y = step()
        assert torch.isfinite(y.float()).all(), "HF layer output is not finite"
        res["torch_eager_ms"] = time_calls(step, repeats, warmup=5)
        if graph:
            g = capture(step)
            res["torch_graph_ms"] = time_calls(lambda i: g.replay(), repeats, warmup=5)
            del g
    del layer, cache
    torch.cuda.empty_cache()
    return res


def block_compiled(dtype_name, tokens, repeats):
    """torch.compile of the layer for a prefill; run in a child process with
    a time limit by main()."""
    dtype = torch.float32 if dtype_name == "f32" else torch.float16
    torch.backends.cuda.matmul.allow_tf32 = False
    layer, rotary, key = llama_layer(dtype)
    x = torch.randn(1, tokens, DIM, device=DEV, dtype=dtype)
    position_ids = torch.arange(tokens, device=DEV)[None]
    rows = torch.arange(tokens, device=DEV)[:, None]
    mask = torch.zeros(tokens, tokens, device=DEV, dtype=dtype)
    mask.masked_fill_(rows.T > rows, torch.finfo(dtype).min)
    mask = mask[None, None]
    with torch.no_grad():
        pe = rotary(x, position_ids)
        compiled = torch.compile(layer)
        t0 = time.time()
        compiled(x, attention_mask=mask, position_ids=position_ids, position_embeddings=pe)
        torch.cuda.synchronize()
        compile_s = time.time() - t0
        ms = time_calls(lambda i: compiled(x, attention_mask=mask, position_ids=position_ids,
                                           position_embeddings=pe), repeats, warmup=5)
    return {"torch_compile_ms": ms, "compile_s": compile_s}


# ---- the whole Llama-2-7B ---------------------------------------------------------

class WholeModel:
    """Llama-2-7B from transformers' own modules, random f16 weights: an
    nn.Embedding, LlamaDecoderLayer x 32, LlamaRMSNorm and an untied
    nn.Linear LM head, with LlamaRotaryEmbedding computing cos/sin once per
    step for all layers, as LlamaModel.forward does. The layers are driven
    here rather than through LlamaModel so that the KV cache is a
    FixedCache (fixed addresses: one CUDA graph per step shape) and the mask
    is made once outside the step. 13.5 GB of weights + 1.07 GB of cache."""

    def __init__(self, dtype):
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm
        self.dtype = dtype
        self.config = llama_config(N_LAYERS, VOCAB)
        self.embed = torch.nn.Embedding(VOCAB, DIM, device=DEV, dtype=dtype)
        self.layers = []
        for i in range(N_LAYERS):  # built on the GPU, one layer (0.8 GB in f32) at a time
            with torch.device(DEV):
                layer = LlamaDecoderLayer(self.config, layer_idx=i)
            self.layers.append(layer.to(dtype).eval())
        self.norm = LlamaRMSNorm(DIM, eps=1e-5).to(device=DEV, dtype=dtype)
        self.lm_head = torch.nn.Linear(DIM, VOCAB, bias=False, device=DEV, dtype=dtype)
        for m in [self.embed, self.norm, self.lm_head] + self.layers:
            randomize(m)
        self.rotary = rotary_embedding(self.config)
        self.cache = FixedCache(dtype, layers=N_LAYERS)
        self.key = cache_key()
        self.params = sum(p.numel() for m in [self.embed, self.norm, self.lm_head] + self.layers
                          for p in m.parameters())

    def setup(self, tokens, pos, attention):
        """Fixes the step's shape: T tokens at pos, attn_implementation
        `attention`. sdpa gets no mask, as HF gives it none without padding:
        SDPA then runs causal (flash) for T > 1 and plain for T = 1. eager
        gets the causal mask over the pos + T keys for T > 1 (none needed
        for one token, which sees every key)."""
        set_attention(self.config, attention)
        self.cache.where = torch.arange(pos, pos + tokens, device=DEV)
        self.cache.length = pos + tokens
        self.ids = torch.randint(0, VOCAB, (1, tokens), device=DEV)
        self.position_ids = self.cache.where[None]
        self.mask = None
        if tokens > 1 and attention == "eager":
            rows = self.cache.where[:, None]
            cols = torch.arange(pos + tokens, device=DEV)[None, :]
            mask = torch.zeros(tokens, pos + tokens, device=DEV, dtype=self.dtype)
            self.mask = mask.masked_fill_(cols > rows, torch.finfo(self.dtype).min)[None, None]

    def step(self, i=0):
        """The logits [1, T, vocab] of the step set up last."""
        h = self.embed(self.ids)
        pe = self.rotary(h, self.position_ids)
        for layer in self.layers:
            out = layer(h, attention_mask=self.mask, position_ids=self.position_ids, use_cache=True,
                        cache_position=self.cache.where, position_embeddings=pe,
                        **{self.key: self.cache})
            h = out[0] if isinstance(out, tuple) else out
        return self.lm_head(self.norm(h))


def model_compiled(token_counts, repeats):
    """torch.compile (default mode, no CUDA graph) of the whole model's step
    (WholeModel.step with sdpa: the 32 layers, the cache writes, the norm and
    the head in one traced function) for a prefill of each T at pos 0: its
    first call's seconds (the compile) and the median ms after. Run in a
    child process with a time limit by model_rows(); yields one result a T."""
    model = WholeModel(torch.float16)
    with torch.no_grad():
        for tokens in token_counts:
            model.setup(tokens, 0, "sdpa")
            compiled = torch.compile(model.step)
            t0 = time.time()
            y = compiled()
            torch.cuda.synchronize()
            compile_s = time.time() - t0
            assert torch.isfinite(y.float()).all(), "torch.compile: logits are not finite"
            ms = time_calls(lambda i: compiled(), repeats, warmup=3, warm_s=MODEL_WARM_S)
            yield tokens, {"torch_compile_ms": ms, "compile_s": compile_s}
            torch._dynamo.reset()


def profile_compiled_model(tokens, calls=3):
    """Where torch.compile's whole-model prefill spends its time: the step
    compiled as model_compiled() compiles it, warmed for MODEL_WARM_S, then
    `calls` calls under torch.profiler. Prints each GPU kernel's total time
    a step (summed over its launches), its launches a step and its share,
    largest first, then the totals by kind (the kernel's name decides:
    GEMM, attention, Triton-fused elementwise, other)."""
    from torch.profiler import profile, ProfilerActivity
    model = WholeModel(torch.float16)
    with torch.no_grad():
        model.setup(tokens, 0, "sdpa")
        compiled = torch.compile(model.step)
        compiled()
        time_calls(lambda i: compiled(), 3, warmup=3, warm_s=MODEL_WARM_S)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                compiled()
            torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        us = e.device_time if hasattr(e, "device_time") else e.cuda_time
        k = kernels.setdefault(e.name, [0.0, 0])
        k[0] += us / calls
        k[1] += 1
    step = sum(v[0] for v in kernels.values())

    def kind(name):
        n = name.lower()
        if "flash" in n or "fmha" in n or "attention" in n:
            return "attention"
        if any(w in n for w in ("gemm", "nvjet", "xmma", "cutlass", "cublas", "sm90_")):
            return "GEMM"
        if n.startswith("triton"):
            return "Triton-fused"
        return "other"
    print(f"torch.compile, whole 7B prefill T={tokens}: kernels {step / 1000:.3f} ms a step "
          f"(the sum of its kernels' times, {calls} calls under torch.profiler)")
    print("| kernel | kind | launches a step | ms a step | share |")
    print("| --- | --- | --- | --- | --- |")
    for name, (us, n) in sorted(kernels.items(), key=lambda kv: -kv[1][0])[:30]:
        print(f"| {name[:100]} | {kind(name)} | {n // calls} | {us / 1000:.3f} "
              f"| {100 * us / step:.1f} % |")
    totals = {}
    for name, (us, n) in kernels.items():
        t = totals.setdefault(kind(name), [0.0, 0])
        t[0] += us
        t[1] += n // calls
    print("| kind | launches a step | ms a step | share |")
    print("| --- | --- | --- | --- |")
    for k, (us, n) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        print(f"| {k} | {n} | {us / 1000:.3f} | {100 * us / step:.1f} % |")


def capture(step):
    """A CUDA graph of step() after three warm-up calls on a side stream (as
    torch's docs do), so lazy initialisation stays out of the capture."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step()
    return g


def whole_model(model, tokens, pos, repeats):
    """One step of T tokens at pos: sdpa and eager attention each as one
    captured CUDA graph, and sdpa with no graph. Every variant's logits are
    checked finite."""
    res = {"params": model.params}
    with torch.no_grad():
        for attention in ("sdpa", "eager"):
            try:  # one variant's failure keeps the others
                model.setup(tokens, pos, attention)
                y = model.step()
                assert torch.isfinite(y.float()).all(), f"{attention}: logits are not finite"
                if attention == "sdpa":
                    # Host-bound (Python issues ~600 kernels a step): its time
                    # moves with the CPU, so it gets as many calls as the graph.
                    res["torch_eager_sdpa_ms"] = time_calls(model.step, repeats, warmup=5,
                                                            warm_s=MODEL_WARM_S)
                g = capture(model.step)
                res[f"torch_graph_{attention}_ms"] = time_calls(lambda i: g.replay(), repeats,
                                                                warmup=3, warm_s=MODEL_WARM_S)
                del g
            except Exception as e:
                res[f"{attention}_error"] = f"{type(e).__name__}: {e}"[:800]
    torch.cuda.empty_cache()
    return res


# ---- the pairs -------------------------------------------------------------------------

def run_greta(greta_dir, model, tokens, pos, repeats, name, profile=False, warm_s=0.0):
    """bench_greta's JSON line for one row; with profile, also each launch
    timed alone (bench_greta --profile) under "launches"; warm_s: its
    --warm-s."""
    if not os.path.exists(os.path.join(greta_dir, model)):
        err = os.path.join(greta_dir, "compile_errors.txt")
        why = open(err).read().strip()[-1500:] if os.path.exists(err) else "?"
        return {"greta_error": f"{model} was not compiled: {why}"}
    cmd = [os.path.join(greta_dir, "bench_greta"), os.path.join(greta_dir, model), "--tokens",
           str(tokens), "--pos", str(pos), "--repeats", str(repeats), "--name", name]
    if warm_s:
        cmd += ["--warm-s", str(warm_s)]
    p = subprocess.run(cmd + (["--profile"] if profile else []), capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        return {"greta_error": (p.stderr or p.stdout).strip()[-2000:]}
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    step = [l for l in lines if "launch" not in l]
    if not step:
        return {"greta_error": "bench_greta printed no result line: " + p.stdout.strip()[-500:]}
    res = step[-1]
    if profile:
        res["launches"] = [l for l in lines if "launch" in l]
    return res


def model_rows(greta_dir, compile_timeout):
    """The whole-model rows, each greta's run then torch's; the torch model
    is built once (13.5 GB) and freed after the last row. Then torch.compile
    of the prefill rows in MODEL_COMPILE_ROWS, in one child process."""
    rows, model = [], None
    for name, tokens, pos, greta_repeats, torch_repeats in MODEL_ROWS:
        row = {"name": name, "op": "model", "tokens": tokens, "pos": pos, "dtype": "f16"}
        if greta_dir:
            model_file = MODEL_FILE_T2048 if tokens > 512 else MODEL_FILE
            row["greta"] = run_greta(greta_dir, model_file, tokens, pos, greta_repeats, name,
                                     warm_s=MODEL_WARM_S)
        try:
            if model is None:
                t0 = time.time()
                model = WholeModel(torch.float16)
                print(f"torch whole model built in {time.time() - t0:.1f} s", flush=True)
            row["torch"] = whole_model(model, tokens, pos, torch_repeats)
        except Exception as e:  # keep the other rows
            row["torch_error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(row), flush=True)
        rows.append(row)
    del model
    torch.cuda.empty_cache()
    compiled = [r for r in rows if r["name"] in MODEL_COMPILE_ROWS and "torch" in r]
    if compiled:
        tokens = ",".join(str(r["tokens"]) for r in compiled)
        repeats = min(r for *_, r in MODEL_ROWS)
        cmd = [sys.executable, os.path.abspath(__file__), "--only-compile-model", tokens, str(repeats)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=compile_timeout)
            out, err = p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = f"did not finish within {compile_timeout} s"
        got = {}
        for line in out.splitlines():
            if line.startswith("COMPILED "):
                res = json.loads(line[9:])
                got[res.pop("tokens")] = res
        for r in compiled:
            res = got.get(r["tokens"], {"compile_error": (err or "?").strip()[-800:]})
            r["torch"].update(res)
            print(f"{r['name']}: torch.compile {json.dumps(res)}", flush=True)
    return rows


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--greta", help="folder with bench_greta and the compiled models")
    ap.add_argument("--out", default=".")
    ap.add_argument("--compile-timeout", type=int, default=90)
    ap.add_argument("--only", help="comma-separated ops whose rows run: " + ", ".join(OPS))
    ap.add_argument("--model-compile-timeout", type=int, default=240)
    ap.add_argument("--only-compile", nargs=3, metavar=("DTYPE", "T", "REPEATS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--only-compile-model", nargs=2, metavar=("T,...", "REPEATS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--profile-compiled-model", type=int, metavar="T",
                    help="only print torch.profiler's kernel times of torch.compile's whole-model "
                    "prefill of T tokens (no rows, no raw.json)")
    a = ap.parse_args(argv)
    if a.profile_compiled_model:
        profile_compiled_model(a.profile_compiled_model)
        return 0
    if a.only_compile:
        res = block_compiled(a.only_compile[0], int(a.only_compile[1]), int(a.only_compile[2]))
        print("COMPILED " + json.dumps(res))
        return 0
    if a.only_compile_model:
        counts = [int(t) for t in a.only_compile_model[0].split(",")]
        for tokens, res in model_compiled(counts, int(a.only_compile_model[1])):
            print("COMPILED " + json.dumps({"tokens": tokens, **res}), flush=True)
        return 0
    only = set(a.only.split(",")) if a.only else set(OPS)
    if not only <= set(OPS):
        ap.error(f"--only: unknown ops {sorted(only - set(OPS))}; known: {', '.join(OPS)}")
    import transformers
    raw = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "transformers": transformers.__version__, "cuda": torch.version.cuda,
           "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
           "l2_bytes": getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rows": []}
    raw["ceilings"] = ceilings()
    print("ceilings", json.dumps(raw["ceilings"]), flush=True)
    for name, model, tokens, pos, op, repeats in ROWS:
        if op not in only:
            continue
        row = {"name": name, "op": op, "tokens": tokens, "pos": pos}
        if a.greta:
            # The GEMM and attention rows keep each launch's time too: the
            # attention step is two cache appends and the attention, and
            # the attention launch alone is what SDPA is compared with.
            row["greta"] = run_greta(a.greta, model, tokens, pos, repeats, name,
                                     profile=op in ("gemm7b", "attention"))
        try:
            if op == "gemm7b":
                shape = name.split("_f16_")[0][len("gemm7b_"):]
                row["n"], row["k"] = GEMM7B_SHAPES[shape]
                row["shape"], row["dtype"] = shape, "f16"
                row["torch"] = gemm7b(row["n"], row["k"], tokens, repeats)
            elif op == "attention":
                row["heads"], row["head_dim"], row["dtype"] = HEADS, HEAD_DIM, "f16"
                row["torch"] = attention_alone(tokens, repeats)
            elif op == "block":
                dtype = "f16" if "_f16_" in name else "f32"
                row["torch"] = block(dtype, tokens, pos, repeats, graph=(tokens == 1))
                row["dtype"] = dtype
                if name in COMPILE_ROWS:
                    cmd = [sys.executable, os.path.abspath(__file__), "--only-compile", dtype,
                           str(tokens), str(repeats)]
                    try:
                        p = subprocess.run(cmd, capture_output=True, text=True,
                                           timeout=a.compile_timeout)
                        got = [l for l in p.stdout.splitlines() if l.startswith("COMPILED ")]
                        if got:
                            row["torch"].update(json.loads(got[-1][9:]))
                        else:
                            row["torch"]["compile_error"] = (p.stderr or "?").strip()[-800:]
                    except subprocess.TimeoutExpired:
                        row["torch"]["compile_error"] = f"did not finish within {a.compile_timeout} s"
            else:
                row["dtype"] = "f32"
                row["torch"] = small_op(op, tokens, pos, repeats)
        except Exception as e:  # keep the other rows
            row["torch_error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(row), flush=True)
        raw["rows"].append(row)
    if "model" in only:
        raw["rows"] += model_rows(a.greta, a.model_compile_timeout)
    with open(os.path.join(a.out, "raw.json"), "w") as f:
        json.dump(raw, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
