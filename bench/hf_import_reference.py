#!/usr/bin/env python3
"""Golden fixtures for `gretac import` (issue 10): checkpoints transformers
writes itself, and its logits for them.

Two tiny random-weight models, each built by transformers from its config
class, saved with save_pretrained() (config.json + model.safetensors, as a
real checkpoint directory) and run on the CPU in f32 as generate() runs them
(a prefill of T tokens, then N single-token decodes through a DynamicCache),
keeping every token's logits:

  llama3_tied  LlamaForCausalLM, Llama-3.2 style: rope_theta 500000, RoPE
               scaling of type llama3 (factor 8, low 1, high 4, original
               context 64: the three frequency bands all occur at head_dim
               16), tie_word_embeddings (no lm_head.weight in the file), GQA.
  qwen2_bias   Qwen2ForCausalLM: bias on q/k/v, rms_norm_eps 1e-6,
               rope_theta 1e6, untied.

Weights: embeddings N(0, 1), linear layers N(0, 1/fan_in), norms 1 + N(0,
0.1^2), biases N(0, 0.5^2), rounded to bf16; the checkpoint stores them as
bf16 (its config says so) and the reference computes in f32 with exactly
those values (what GRETA does with bf16 storage). Per model, under --out:

  <name>/config.json, <name>/model.safetensors   save_pretrained's files
  <name>_expected.safetensors   greta.input.tokens I32 [T+N],
                                greta.expected.logits F32 [T+N, vocab],
                                metadata T, N, seed, versions, self-check

and rope_inv_freq.txt: transformers' RoPE inverse frequencies (f32 bits, as
LlamaRotaryEmbedding computes them on the CPU) for a few configs, one per
line: "theta head_dim factor low high original : hex32 ...", factor 0 for
default RoPE. tests/test_import_numerics.c reads all of it.

  python3 bench/hf_import_reference.py --out tests/fixtures/hf_import
"""
import argparse
import json
import math
import os
import struct
import sys
import traceback

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.cache_utils import DynamicCache
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

T, N, SEED = 5, 3, 11


def llama3_config():
    return LlamaConfig(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-5, hidden_act="silu", attention_bias=False, mlp_bias=False,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64})


def qwen2_config():
    return Qwen2Config(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=False,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def random_weights(model, gen):
    out = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if name.endswith("embed_tokens.weight"):
            w = z
        elif name.endswith(".bias"):
            w = 0.5 * z
        elif len(shape) == 1:
            w = 1.0 + 0.1 * z
        else:
            w = z / math.sqrt(shape[1])
        out[name] = bf16(w)
    return out


def new_cache(config):
    try:
        return DynamicCache(config=config)
    except TypeError:
        return DynamicCache()


def run_hf(model, config, tokens, steps):
    cache = new_cache(config)
    rows = []
    ids = tokens.to(torch.long)
    with torch.no_grad():
        for pos, n in steps:
            cache_position = torch.arange(pos, pos + n)
            out = model(input_ids=ids[None, pos:pos + n],
                        attention_mask=torch.ones(1, pos + n, dtype=torch.long),
                        position_ids=cache_position[None], cache_position=cache_position,
                        past_key_values=cache, use_cache=True, logits_to_keep=0)
            cache = out.past_key_values
            rows.append(out.logits[0].float())
    return torch.cat(rows)


def make(name, cls, config, out_dir):
    config._attn_implementation = "eager"
    gen = torch.Generator().manual_seed(SEED)
    model = cls(config).eval()
    weights = random_weights(model, gen)
    # Tied: embed_tokens and lm_head are one parameter, one draw.
    if config.tie_word_embeddings:
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    model.load_state_dict(weights, strict=True)
    if config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    tokens = torch.randint(0, config.vocab_size, (T + N,), generator=gen, dtype=torch.int32)
    steps = [(0, T)] + [(T + i, 1) for i in range(N)]
    logits = run_hf(model, config, tokens, steps)
    once = run_hf(model, config, tokens, [(0, T + N)])
    m64 = cls(config).eval()
    m64.load_state_dict(weights, strict=True)
    m64 = m64.to(torch.float64)
    logits64 = run_hf(m64, config, tokens, steps)
    err64 = ((logits.double() - logits64.double()).norm(dim=-1) / logits64.double().norm(dim=-1)).max().item()
    err_once = ((once - logits).norm(dim=-1) / logits.norm(dim=-1)).max().item()
    print(f"{name}: tokens {tokens.tolist()}; HF f32 vs f64 worst {err64:.3e}; one prefill vs steps {err_once:.3e}")
    ckpt = os.path.join(out_dir, name)
    model.to(torch.bfloat16).save_pretrained(ckpt, safe_serialization=True)
    for f in sorted(os.listdir(ckpt)):
        if f not in ("config.json", "model.safetensors"):  # generation_config.json: not needed
            os.remove(os.path.join(ckpt, f))
            continue
        print(f"  {name}/{f}: {os.path.getsize(os.path.join(ckpt, f))} bytes")
    meta = {"T": str(T), "N": str(N), "seed": str(SEED), "torch": torch.__version__,
            "transformers": transformers.__version__, "hf_f32_vs_f64": f"{err64:.3e}",
            "generator": "bench/hf_import_reference.py"}
    save_file({"greta.input.tokens": tokens.contiguous(), "greta.expected.logits": logits.contiguous()},
              os.path.join(out_dir, f"{name}_expected.safetensors"), metadata=meta)
    if err64 > 1e-4:
        sys.exit(f"{name}: HF f32 is {err64:.3e} from f64: something is off")


def inv_freq_table(out_dir):
    rows = []
    cases = [(10000.0, 128, None), (10000.0, 16, None), (1000000.0, 64, None),
             (500000.0, 128, (8.0, 1.0, 4.0, 8192)), (500000.0, 64, (32.0, 1.0, 4.0, 8192)),
             (500000.0, 16, (8.0, 1.0, 4.0, 64)), (500000.0, 64, (16.0, 2.0, 8.0, 4096))]
    for theta, hd, sc in cases:
        params = {"rope_type": "default", "rope_theta": theta}
        if sc:
            params = {"rope_type": "llama3", "rope_theta": theta, "factor": sc[0],
                      "low_freq_factor": sc[1], "high_freq_factor": sc[2],
                      "original_max_position_embeddings": sc[3]}
        cfg = LlamaConfig(hidden_size=hd * 4, num_attention_heads=4, head_dim=hd,
                          max_position_embeddings=131072, rope_parameters=params)
        emb = LlamaRotaryEmbedding(config=cfg)
        assert float(emb.attention_scaling) == 1.0, emb.attention_scaling
        inv = emb.inv_freq.to(torch.float32).cpu().tolist()
        bits = " ".join(f"{struct.unpack('<I', struct.pack('<f', v))[0]:08x}" for v in inv)
        f, lo, hi, old = sc if sc else (0.0, 0.0, 0.0, 0)
        rows.append(f"{theta!r} {hd} {f!r} {lo!r} {hi!r} {old} : {bits}")
    with open(os.path.join(out_dir, "rope_inv_freq.txt"), "w") as fh:
        fh.write(f"# transformers {transformers.__version__}, torch {torch.__version__}: "
                 "LlamaRotaryEmbedding(config).inv_freq on the CPU (bench/hf_import_reference.py)\n")
        fh.write("\n".join(rows) + "\n")
    print("\n".join(rows))


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    failed = 0
    for job in (lambda: inv_freq_table(a.out),
                lambda: make("llama3_tied", LlamaForCausalLM, llama3_config(), a.out),
                lambda: make("qwen2_bias", Qwen2ForCausalLM, qwen2_config(), a.out)):
        try:
            job()
        except Exception:  # one failure must not cost the other fixtures
            traceback.print_exc()
            failed += 1
    if failed:
        sys.exit(f"hf_import_reference: {failed} part(s) failed")


if __name__ == "__main__":
    main(sys.argv[1:])
