#!/usr/bin/env python3
"""Golden fixtures from Hugging Face transformers' LlamaDecoderLayer.

Builds one Llama decoder block (transformers' own LlamaDecoderLayer, layer 0,
eager attention) with random weights, runs a prefill of T tokens at positions
0..T-1 and then N single-token decode steps through a DynamicCache, with
explicit position ids, RoPE from LlamaRotaryEmbedding and an explicit causal
4-D additive mask (what LlamaModel builds for eager attention), and writes ONE
safetensors file:

  model.layers.0.<...>.weight   the weights, under a LlamaForCausalLM
                                checkpoint's names, in the compute dtype
  greta.input.x     [T+N, dim]  f32: the block's input rows (the f16-rounded
                                values for an f16 fixture, exactly what HF saw)
  greta.expected.y  [T+N, dim]  f32: HF's output rows
  __metadata__                  config, T, N, dtype, device, versions, and the
                                worst per-token error of HF's output against a
                                float64 re-computation written here (a check
                                that the block was set up as intended)

tests/test_hf_fixtures.c runs the same block through gretac + libgreta's CPU
backend and compares. docs/numerics.md says how to regenerate the fixtures.

Needs torch, transformers and safetensors; runs on CPU or CUDA torch:

  python3 bench/hf_reference.py --dim 64 --heads 4 --kv-heads 2 --head-dim 16 \\
      --ffn 160 --dtype f32 --T 5 --N 3 --out tests/fixtures/hf_tiny_block_f32.safetensors
"""
import argparse
import inspect
import json
import math
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig
from transformers.cache_utils import DynamicCache
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

PREFIX = "model.layers.0."
# (checkpoint name, attribute path in LlamaDecoderLayer)
WEIGHTS = [
    ("input_layernorm.weight", "input_layernorm.weight"),
    ("self_attn.q_proj.weight", "self_attn.q_proj.weight"),
    ("self_attn.k_proj.weight", "self_attn.k_proj.weight"),
    ("self_attn.v_proj.weight", "self_attn.v_proj.weight"),
    ("self_attn.o_proj.weight", "self_attn.o_proj.weight"),
    ("post_attention_layernorm.weight", "post_attention_layernorm.weight"),
    ("mlp.gate_proj.weight", "mlp.gate_proj.weight"),
    ("mlp.up_proj.weight", "mlp.up_proj.weight"),
    ("mlp.down_proj.weight", "mlp.down_proj.weight"),
]
DTYPES = {"f32": torch.float32, "f16": torch.float16}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, required=True, help="hidden size")
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--head-dim", type=int, required=True)
    p.add_argument("--ffn", type=int, required=True, help="intermediate size")
    p.add_argument("--eps", type=float, default=1e-5, help="RMSNorm epsilon")
    p.add_argument("--theta", type=float, default=10000.0, help="RoPE base")
    p.add_argument("--max-seq", type=int, default=64, help="max_position_embeddings")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32",
                   help="weights and compute dtype (f16: HF's half path)")
    p.add_argument("--T", type=int, default=5, help="prefill tokens")
    p.add_argument("--N", type=int, default=3, help="single-token decode steps after the prefill")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    return p.parse_args(argv)


def make_config(a):
    """A LlamaConfig of one layer. transformers 5 keeps theta in rope_parameters;
    older releases take rope_theta."""
    kw = dict(hidden_size=a.dim, intermediate_size=a.ffn, num_hidden_layers=1,
              num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, head_dim=a.head_dim,
              rms_norm_eps=a.eps, max_position_embeddings=a.max_seq, vocab_size=32,
              hidden_act="silu", attention_bias=False, mlp_bias=False,
              attention_dropout=0.0, attn_implementation="eager")
    if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": a.theta}
    else:
        kw["rope_theta"] = a.theta
    config = LlamaConfig(**kw)
    try:
        config._attn_implementation = "eager"
    except (AttributeError, ValueError):
        pass
    return config


def random_weights(a, gen):
    """f32 weights on the CPU (the same for every device): linear layers
    N(0, 1/fan_in) so every projection keeps its input's scale and attention
    scores are O(1) (errors in attention then show in the output); norms
    1 + N(0, 0.1^2)."""
    q, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
    shapes = {
        "input_layernorm.weight": (a.dim,),
        "self_attn.q_proj.weight": (q, a.dim),
        "self_attn.k_proj.weight": (kv, a.dim),
        "self_attn.v_proj.weight": (kv, a.dim),
        "self_attn.o_proj.weight": (a.dim, q),
        "post_attention_layernorm.weight": (a.dim,),
        "mlp.gate_proj.weight": (a.ffn, a.dim),
        "mlp.up_proj.weight": (a.ffn, a.dim),
        "mlp.down_proj.weight": (a.dim, a.ffn),
    }
    out = {}
    for name, _ in WEIGHTS:
        shape = shapes[name]
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        out[name] = 1.0 + 0.1 * z if len(shape) == 1 else z / math.sqrt(shape[1])
    return out


def get_attr(module, path):
    for part in path.split("."):
        module = getattr(module, part)
    return module


def cache_kwarg():
    """The decoder layer's cache argument: past_key_values in transformers 5
    (and late 4.x), past_key_value before."""
    params = inspect.signature(LlamaDecoderLayer.forward).parameters
    return "past_key_value" if "past_key_value" in params and "past_key_values" not in params \
        else "past_key_values"


def causal_mask(q_len, pos, dtype, device):
    """[1, 1, q_len, pos + q_len] additive mask: row i (position pos + i) sees
    keys 0..pos + i; the rest get dtype's most negative value, as LlamaModel's
    eager path does."""
    kv_len = pos + q_len
    rows = torch.arange(pos, pos + q_len, device=device)[:, None]
    cols = torch.arange(kv_len, device=device)[None, :]
    mask = torch.zeros(q_len, kv_len, dtype=dtype, device=device)
    mask.masked_fill_(cols > rows, torch.finfo(dtype).min)
    return mask[None, None]


def run_hf(a, config, weights, x):
    """HF's output rows for x [T+N, dim]: a prefill of T, then N decodes."""
    dtype, device = DTYPES[a.dtype], torch.device(a.device)
    layer = LlamaDecoderLayer(config, layer_idx=0).to(device=device, dtype=dtype).eval()
    with torch.no_grad():
        for name, path in WEIGHTS:
            param = get_attr(layer, path)
            assert tuple(param.shape) == tuple(weights[name].shape), (name, param.shape)
            param.copy_(weights[name].to(device=device, dtype=dtype))
    rotary = LlamaRotaryEmbedding(config=config, device=device)
    check_rotary(a, rotary)
    try:
        cache = DynamicCache(config=config)
    except TypeError:
        cache = DynamicCache()
    key = cache_kwarg()
    steps = [(0, a.T)] + [(a.T + i, 1) for i in range(a.N)]
    rows = []
    with torch.no_grad():
        for pos, n in steps:
            h = x[pos:pos + n].to(device=device, dtype=dtype)[None]  # [1, n, dim]
            cache_position = torch.arange(pos, pos + n, device=device)
            position_ids = cache_position[None]
            position_embeddings = rotary(h, position_ids)
            out = layer(h, attention_mask=causal_mask(n, pos, dtype, device),
                        position_ids=position_ids, use_cache=True, cache_position=cache_position,
                        position_embeddings=position_embeddings, **{key: cache})
            if isinstance(out, tuple):
                out = out[0]
            seen = cache.get_seq_length(0)
            assert seen == pos + n, f"the cache holds {seen} tokens after step at {pos}, expected {pos + n}"
            rows.append(out[0].float().cpu())
    return torch.cat(rows)


def check_rotary(a, rotary):
    """RoPE must be the plain default kind with the requested theta."""
    want = 1.0 / (a.theta ** (torch.arange(0, a.head_dim, 2, dtype=torch.float64) / a.head_dim))
    got = rotary.inv_freq.double().cpu()
    assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-6), \
        f"LlamaRotaryEmbedding's inv_freq is not 1/theta^(2i/d): {got} vs {want}"
    scale = float(getattr(rotary, "attention_scaling", 1.0))
    assert scale == 1.0, f"rotary attention_scaling {scale}, expected 1"


def reference_f64(a, weights, x):
    """The block in float64 from its definition (independent of HF's code):
    every token attends causally to the tokens before it."""
    w = {k: v.double() for k, v in weights.items()}
    x = x.double()
    n_tok, hd, group = x.shape[0], a.head_dim, a.heads // a.kv_heads

    def rmsnorm(v, g):
        return v / torch.sqrt((v * v).mean(-1, keepdim=True) + a.eps) * g

    def rope(v):  # v [tokens, heads, hd], positions 0..tokens-1
        pos = torch.arange(n_tok, dtype=torch.float64)[:, None]
        inv = a.theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = pos * inv[None, :]
        c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        lo, hi = v[..., :hd // 2], v[..., hd // 2:]
        return torch.cat([lo * c - hi * s, hi * c + lo * s], -1)

    h = rmsnorm(x, w["input_layernorm.weight"])
    q = rope((h @ w["self_attn.q_proj.weight"].T).view(n_tok, a.heads, hd))
    k = rope((h @ w["self_attn.k_proj.weight"].T).view(n_tok, a.kv_heads, hd))
    v = (h @ w["self_attn.v_proj.weight"].T).view(n_tok, a.kv_heads, hd)
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
    future = torch.triu(torch.ones(n_tok, n_tok, dtype=torch.bool), 1)
    scores = scores.masked_fill(future, float("-inf")).softmax(-1)
    att = torch.einsum("hts,shd->thd", scores, v).reshape(n_tok, a.heads * hd)
    x = x + att @ w["self_attn.o_proj.weight"].T
    h = rmsnorm(x, w["post_attention_layernorm.weight"])
    g, u = h @ w["mlp.gate_proj.weight"].T, h @ w["mlp.up_proj.weight"].T
    return x + (torch.nn.functional.silu(g) * u) @ w["mlp.down_proj.weight"].T


def token_errors(got, want):
    """Per-token ||got - want|| / ||want||."""
    return ((got.double() - want).norm(dim=-1) / want.norm(dim=-1)).tolist()


def main(argv):
    a = parse_args(argv)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("hf_reference: --device cuda but torch sees no GPU")
        # f32 means IEEE f32 matrix products: no TF32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if a.heads % a.kv_heads or a.T < 1 or a.N < 0 or a.T + a.N > a.max_seq:
        sys.exit("hf_reference: need heads % kv_heads == 0, T >= 1, N >= 0, T + N <= max_seq")
    dtype = DTYPES[a.dtype]
    gen = torch.Generator().manual_seed(a.seed)
    weights = random_weights(a, gen)
    x = torch.randn((a.T + a.N, a.dim), generator=gen, dtype=torch.float32)
    # What HF computes with is rounded to the compute dtype; store exactly that.
    weights = {k: v.to(dtype) for k, v in weights.items()}
    x = x.to(dtype).float()

    config = make_config(a)
    y = run_hf(a, config, weights, x)
    errs = token_errors(y, reference_f64(a, {k: v.float() for k, v in weights.items()}, x))
    worst = max(errs)
    print(f"hf_reference {a.out}: dim {a.dim} heads {a.heads}/{a.kv_heads} head_dim {a.head_dim} "
          f"ffn {a.ffn} {a.dtype} on {a.device}: T={a.T} N={a.N}; HF vs float64, worst token "
          f"{worst:.3e} ({' '.join(f'{e:.1e}' for e in errs)})")
    tensors = {PREFIX + name: weights[name].contiguous() for name, _ in WEIGHTS}
    tensors["greta.input.x"] = x.contiguous()
    tensors["greta.expected.y"] = y.contiguous()
    meta = {
        "config": json.dumps({"dim": a.dim, "heads": a.heads, "kv_heads": a.kv_heads,
                              "head_dim": a.head_dim, "ffn": a.ffn, "eps": a.eps,
                              "theta": a.theta, "max_seq": a.max_seq}),
        "T": str(a.T), "N": str(a.N), "dtype": a.dtype, "seed": str(a.seed),
        "device": a.device + ("" if a.device == "cpu" else f" ({torch.cuda.get_device_name()})"),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "hf_vs_f64_token_errors": json.dumps([float(f"{e:.3e}") for e in errs]),
        "generator": "bench/hf_reference.py",
    }
    save_file(tensors, a.out, metadata=meta)
    # A mis-built block (wrong theta, mask or cache) is far off; rounding is
    # not. The file is written either way, for a look at what went wrong.
    limit = 1e-5 if a.dtype == "f32" else 2e-2
    if not worst <= limit:
        sys.exit(f"hf_reference: HF's output is {worst:.3e} from the float64 block (limit {limit:g}):"
                 " the layer is not set up as the reference assumes")


if __name__ == "__main__":
    main(sys.argv[1:])
