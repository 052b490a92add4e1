#!/usr/bin/env python3
"""Golden fixtures from Hugging Face transformers' whole LlamaForCausalLM.

Builds transformers' own LlamaForCausalLM (eager attention, untied LM head)
from a LlamaConfig matching examples/tiny_llama.gm, gives it random weights
and random token ids, and runs it as generate() does: a prefill of T tokens,
then N single-token decodes through one DynamicCache, each step with its
input_ids, an all-ones attention_mask over the tokens seen so far, explicit
position_ids and cache_position. The next tokens are fixed random ids (no
sampling), and every step returns the logits of all its tokens. Writes ONE
safetensors file:

  model.embed_tokens.weight, model.layers.N.<...>.weight, model.norm.weight,
  lm_head.weight                 every weight under LlamaForCausalLM's
                                 state_dict() names, in the compute dtype
  greta.input.tokens    [T+N]    I32: the token ids
  greta.expected.logits [T+N, vocab]  F32: HF's logits, one row per token
  __metadata__                   config, T, N, dtype, seed, device, versions,
                                 and two float64 self-checks (below)

Self-checks, each the worst per-token ||hf - ref|| / ||ref|| of the logits:
  hf_vs_hf_f64     the same HF model converted to float64 and run the same
                   steps. HF's float64 path still computes RMSNorm's variance,
                   the softmax and RoPE's angles in f32, so its floor is f32
                   rounding (~1e-7), not float64's.
  hf_vs_f64        an independent float64 Llama written here from the model's
                   definition (all positions at once, causal), which would
                   catch a config that is not what the .gm says.
The script exits non-zero (after writing the file) when either is above
1e-5 (f32) or 2e-2 (f16).

tests/test_hf_model.c runs examples/tiny_llama.gm through gretac + libgreta's
CPU backend on these files. docs/numerics.md says how they were made:

  python3 bench/hf_model_reference.py --dtype f32 --T 5 --N 3 --seed 3 \\
      --device cuda --out tests/fixtures/hf_tiny_llama_f32.safetensors
"""
import argparse
import inspect
import json
import math
import sys

import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.cache_utils import DynamicCache

DTYPES = {"f32": torch.float32, "f16": torch.float16}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # Defaults: examples/tiny_llama.gm.
    p.add_argument("--vocab", type=int, default=97)
    p.add_argument("--dim", type=int, default=64, help="hidden size")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=16)
    p.add_argument("--ffn", type=int, default=160, help="intermediate size")
    p.add_argument("--eps", type=float, default=1e-5, help="RMSNorm epsilon")
    p.add_argument("--theta", type=float, default=10000.0, help="RoPE base")
    p.add_argument("--max-seq", type=int, default=64, help="max_position_embeddings")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32",
                   help="weights and compute dtype (f16: HF's half path)")
    p.add_argument("--T", type=int, default=5, help="prefill tokens")
    p.add_argument("--N", type=int, default=3, help="single-token decode steps after the prefill")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    return p.parse_args(argv)


def make_config(a):
    """transformers 5 keeps theta in rope_parameters; older releases take rope_theta."""
    kw = dict(vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.ffn,
              num_hidden_layers=a.layers, num_attention_heads=a.heads,
              num_key_value_heads=a.kv_heads, head_dim=a.head_dim, rms_norm_eps=a.eps,
              max_position_embeddings=a.max_seq, hidden_act="silu", attention_bias=False,
              mlp_bias=False, attention_dropout=0.0, tie_word_embeddings=False,
              attn_implementation="eager")
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


def random_weights(model, gen):
    """f32 on the CPU, drawn in state_dict() order (the same on every device):
    embeddings N(0, 1); linear layers N(0, 1/fan_in), so every projection
    keeps its input's scale and attention scores are O(1); norms
    1 + N(0, 0.1^2), so a norm weight read wrongly shows."""
    out = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name.endswith("embed_tokens.weight"):
            out[name] = z
        elif len(shape) == 1:
            out[name] = 1.0 + 0.1 * z
        else:
            out[name] = z / math.sqrt(shape[1])
    return out


def build(config, weights, dtype, device):
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(
        {k: v.to(torch.float32) for k, v in weights.items()}, strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    # Only the parameters take the compute dtype, as with from_pretrained(dtype=...):
    # RoPE's inv_freq buffer stays f32 (model.to(f16) would round it to f16).
    model = model.to(device=device).eval()
    for param in model.parameters():
        param.data = param.data.to(dtype)
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr(), \
        "the LM head is tied to the embedding"
    return model


def check_rotary(a, model):
    """RoPE must be the plain default kind with the requested theta."""
    rotary = model.model.rotary_emb
    want = 1.0 / (a.theta ** (torch.arange(0, a.head_dim, 2, dtype=torch.float64) / a.head_dim))
    got = rotary.inv_freq.double().cpu()
    assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-6), \
        f"inv_freq is not 1/theta^(2i/d): {got} vs {want}"
    scale = float(getattr(rotary, "attention_scaling", 1.0))
    assert scale == 1.0, f"rotary attention_scaling {scale}, expected 1"


def new_cache(config):
    try:
        return DynamicCache(config=config)
    except TypeError:
        return DynamicCache()


def run_hf(model, config, tokens, steps, device):
    """HF's logits [tokens, vocab] (f32 on the CPU) for the steps [(pos, n)],
    each as generate() calls the model, but keeping every token's logits."""
    cache = new_cache(config)
    rows = []
    ids = tokens.to(device=device, dtype=torch.long)
    with torch.no_grad():
        for pos, n in steps:
            cache_position = torch.arange(pos, pos + n, device=device)
            out = model(input_ids=ids[None, pos:pos + n],
                        attention_mask=torch.ones(1, pos + n, dtype=torch.long, device=device),
                        position_ids=cache_position[None], cache_position=cache_position,
                        past_key_values=cache, use_cache=True, logits_to_keep=0)
            cache = out.past_key_values
            seen = cache.get_seq_length()
            assert seen == pos + n, f"the cache holds {seen} tokens after the step at {pos}, expected {pos + n}"
            assert out.logits.shape == (1, n, config.vocab_size), out.logits.shape
            rows.append(out.logits[0].float().cpu())
    return torch.cat(rows)


def reference_f64(a, w, tokens):
    """The whole model in float64 from its definition, independent of HF's
    code: every token attends causally to the ones before it."""
    w = {k: v.double() for k, v in w.items()}
    n_tok, hd, group = tokens.shape[0], a.head_dim, a.heads // a.kv_heads

    def rmsnorm(v, g):
        return v / torch.sqrt((v * v).mean(-1, keepdim=True) + a.eps) * g

    pos = torch.arange(n_tok, dtype=torch.float64)[:, None]
    ang = pos * a.theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)[None, :]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]

    def rope(v):  # [tokens, heads, hd]: rotate the halves (HF's rotate_half)
        lo, hi = v[..., :hd // 2], v[..., hd // 2:]
        return torch.cat([lo * cos - hi * sin, hi * cos + lo * sin], -1)

    future = torch.triu(torch.ones(n_tok, n_tok, dtype=torch.bool), 1)
    x = w["model.embed_tokens.weight"][tokens.long()]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        h = rmsnorm(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).view(n_tok, a.heads, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).view(n_tok, a.kv_heads, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(n_tok, a.kv_heads, hd)
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        s = s.masked_fill(future, float("-inf")).softmax(-1)
        att = torch.einsum("hts,shd->thd", s, v).reshape(n_tok, a.heads * hd)
        x = x + att @ w[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"])
        g, u = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    return rmsnorm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def token_errors(got, want):
    """Per-token ||got - want|| / ||want||."""
    want = want.double().cpu()
    return ((got.double().cpu() - want).norm(dim=-1) / want.norm(dim=-1)).tolist()


def top2_gaps(logits):
    """Per token: the largest logit minus the second largest."""
    top = logits.double().topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).tolist()


def fmt(errs):
    return " ".join(f"{e:.1e}" for e in errs)


def main(argv):
    a = parse_args(argv)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("hf_model_reference: --device cuda but torch sees no GPU")
        # f32 means IEEE f32 matrix products: no TF32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if a.heads % a.kv_heads or a.T < 1 or a.N < 0 or a.T + a.N > a.max_seq:
        sys.exit("hf_model_reference: need heads % kv_heads == 0, T >= 1, N >= 0, T + N <= max_seq")
    dtype, device = DTYPES[a.dtype], torch.device(a.device)
    config = make_config(a)
    gen = torch.Generator().manual_seed(a.seed)
    weights = random_weights(LlamaForCausalLM(config), gen)
    tokens = torch.randint(0, a.vocab, (a.T + a.N,), generator=gen, dtype=torch.int32)
    # What HF computes with is rounded to the compute dtype; store exactly that.
    weights = {k: v.to(dtype) for k, v in weights.items()}
    expected_names = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    assert expected_names <= set(weights), sorted(weights)

    steps = [(0, a.T)] + [(a.T + i, 1) for i in range(a.N)]
    model = build(config, weights, dtype, device)
    check_rotary(a, model)
    logits = run_hf(model, config, tokens, steps, device)
    once = run_hf(model, config, tokens, [(0, a.T + a.N)], device)
    model64 = build(config, weights, torch.float64, device)
    logits64 = run_hf(model64, config, tokens, steps, device)
    ref = reference_f64(a, weights, tokens)

    e_hf64 = token_errors(logits, logits64)
    e_ref = token_errors(logits, ref)
    e_hf64_ref = token_errors(logits64, ref)
    e_once = token_errors(once, logits)
    gaps = top2_gaps(ref)
    argmax_agree = bool((logits.argmax(-1) == ref.argmax(-1)).all())
    print(f"hf_model_reference {a.out}: vocab {a.vocab} dim {a.dim} layers {a.layers} "
          f"heads {a.heads}/{a.kv_heads} head_dim {a.head_dim} ffn {a.ffn} {a.dtype} on {a.device}: "
          f"T={a.T} N={a.N}")
    print(f"  tokens {tokens.tolist()}")
    print(f"  HF vs HF float64:          worst {max(e_hf64):.3e} ({fmt(e_hf64)})")
    print(f"  HF vs float64 reference:   worst {max(e_ref):.3e} ({fmt(e_ref)})")
    print(f"  HF float64 vs reference:   worst {max(e_hf64_ref):.3e}")
    print(f"  HF one prefill vs steps:   worst {max(e_once):.3e}")
    print(f"  top-1 minus top-2 logit (reference): min {min(gaps):.3e}; "
          f"HF's argmax agrees: {argmax_agree}")

    tensors = {k: v.contiguous() for k, v in weights.items()}
    tensors["greta.input.tokens"] = tokens.contiguous()
    tensors["greta.expected.logits"] = logits.contiguous()
    rounded = lambda errs: json.dumps([float(f"{e:.3e}") for e in errs])
    meta = {
        "config": json.dumps({"vocab": a.vocab, "dim": a.dim, "layers": a.layers,
                              "heads": a.heads, "kv_heads": a.kv_heads, "head_dim": a.head_dim,
                              "ffn": a.ffn, "eps": a.eps, "theta": a.theta,
                              "max_seq": a.max_seq, "tie_word_embeddings": False,
                              "attn_implementation": "eager"}),
        "T": str(a.T), "N": str(a.N), "dtype": a.dtype, "seed": str(a.seed),
        "device": a.device + ("" if a.device == "cpu" else f" ({torch.cuda.get_device_name()})"),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "hf_vs_hf_f64_token_errors": rounded(e_hf64),
        "hf_vs_f64_token_errors": rounded(e_ref),
        "hf_one_prefill_vs_steps": f"{max(e_once):.3e}",
        "min_top2_gap": f"{min(gaps):.3e}",
        "generator": "bench/hf_model_reference.py",
    }
    save_file(tensors, a.out, metadata=meta)
    # A mis-built model (wrong theta, mask, cache or config) is far off;
    # rounding is not. The file is written either way, for a look.
    limit = 1e-5 if a.dtype == "f32" else 2e-2
    worst = max(max(e_hf64), max(e_ref))
    if not worst <= limit:
        sys.exit(f"hf_model_reference: HF's logits are {worst:.3e} from float64 (limit {limit:g}):"
                 " the model is not set up as the reference assumes")


if __name__ == "__main__":
    main(sys.argv[1:])
