#!/usr/bin/env python3
"""Greedy generation by transformers for tests/test_generate_hf.c (issue 10).

Builds two tiny random-weight Llama checkpoints, saves them with
save_pretrained as real sharded directories, and records transformers'
greedy generate() on a few prompts tokenized with the real tokenizers:

  llama2_style  Llama-2 shape: GQA (4 heads, 2 KV heads), untied LM head,
                float16, vocab 32000 (the Llama 2 tokenizer)
  llama3_style  Llama-3 shape: GQA, rope_theta 500000 with rope_scaling
                "llama3", tied embeddings, bfloat16, vocab 128256 (the
                Llama 3 tokenizer)

The weights come from a deterministic generator that the C test implements
too, so no weights are committed (see weight_values): every value is a small
integer times a power of two, exact in float16, bfloat16 and float32. The
checkpoint is saved in its dtype, then loaded back in float32 to generate:
the values are the same, and GRETA's CPU backend computes in float32 as well
(compile with --dtype f32 --kv-dtype f32), so the ids must agree token for
token. The smallest top-1 / top-2 logit margin of each run is recorded: a
mismatch at a step whose margin is tiny is rounding, elsewhere a bug. The
same prompts generated in the checkpoint's own dtype on the GPU are recorded
for information (generated_native).

Committed under tests/fixtures/generate/<model>/: config.json,
generation_config.json, model.safetensors.index.json and expected.json (the
tensors' names, shapes, dtypes and value sums, the prompts, their ids and the
generated ids).

  python3 bench/hf_generate.py OUT_DIR TOKENIZER_CACHE
(TOKENIZER_CACHE as for bench/hf_chat_reference.py).
"""
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch

MAX_NEW = 24

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
]
# One chat prompt per model, rendered by its template (bench/hf_chat_reference.py).
CHAT = [{"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name three colours."}]

MODELS = {
    "llama2_style": dict(
        config=dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=32000,
                    hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                    max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0,
                    tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                    bos_token_id=1, eos_token_id=2, torch_dtype="float16"),
        dtype=torch.float16, tokenizer="llama2", bos=1, eos=[2], template="llama2",
        shard="1MB"),
    "llama3_style": dict(
        config=dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=128256,
                    hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                    max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0,
                                      original_max_position_embeddings=8192),
                    tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
                    bos_token_id=128000, eos_token_id=[128001, 128008, 128009],
                    torch_dtype="bfloat16"),
        dtype=torch.bfloat16, tokenizer="llama3", bos=128000, eos=[128001, 128008, 128009],
        template="llama3", shard="2MB"),
}

MASK = (1 << 64) - 1


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def weight_values(name, count):
    """The generator (tests/test_generate_hf.c has the same in C).

    h = FNV-1a 64 of the tensor's checkpoint name (UTF-8). Element i (row-major
    over the HF shape) gets z = splitmix64's finaliser of h + (i + 1) *
    0x9E3779B97F4A7C15 (mod 2^64) and r = z >> 40 (24 bits), then
      a name ending in "norm.weight":      1 + (r % 33 - 16) / 64   (in [0.75, 1.25])
      "embed_tokens" or "lm_head" in it:   (r % 129 - 64) / 2048    (|v| <= 1/32)
      any other (the layers' matrices):    (r % 129 - 64) / 512     (|v| <= 1/8)
    all exact in f16, bf16 and f32. The layers' matrices are larger than the
    embeddings so that what the layers add outweighs the input token's own
    embedding in the residual stream: with tied embeddings, small layers make
    the model repeat its input token forever (a weak test).
    """
    h = np.uint64(fnv1a64(name.encode("utf-8")))
    i = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = h + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    r = (z >> np.uint64(40)).astype(np.int64)
    if name.endswith("norm.weight"):
        return (1.0 + (r % 33 - 16) / 64.0).astype(np.float32)
    if "embed_tokens" in name or "lm_head" in name:
        return ((r % 129 - 64) / 2048.0).astype(np.float32)
    return ((r % 129 - 64) / 512.0).astype(np.float32)


def llama3_inv_freq(theta, head_dim, s):
    """Meta's llama3 RoPE scaling, written from its definition (a check on transformers)."""
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    low_wl = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wl = s["original_max_position_embeddings"] / s["high_freq_factor"]
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(f)
        elif wl > low_wl:
            out.append(f / s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wl - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            out.append((1 - smooth) * f / s["factor"] + smooth * f)
    return np.array(out)


def rope_matches(model, c):
    want = llama3_inv_freq(c["rope_theta"], c["hidden_size"] // c["num_attention_heads"],
                           c["rope_scaling"])
    got = model.model.rotary_emb.inv_freq.double().cpu().numpy()
    ok = bool(np.allclose(got, want, rtol=1e-5, atol=0))
    print("llama3 inv_freq matches the definition:", ok, got, want)
    return ok


def load(cls, path, dtype):
    try:
        return cls.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    except TypeError:
        return cls.from_pretrained(path, torch_dtype=dtype, attn_implementation="eager")


def greedy(model, ids, eos, device):
    x = torch.tensor([ids], device=device)
    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=MAX_NEW,
                         do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=eos[0],
                         output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, len(ids):].tolist()
    margins = []
    for step in out.logits:
        top = torch.topk(step[0].float(), 2).values.tolist()
        margins.append(top[0] - top[1])
    return new, margins


def build(name, spec, out, cache, render):
    from tokenizers import Tokenizer
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    mdir = os.path.join(out, name)
    ckpt = os.path.join(tempfile.gettempdir(), "greta_hf_generate", name)  # not brought back
    os.makedirs(mdir, exist_ok=True)
    config = LlamaConfig(**spec["config"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).float()
    c = spec["config"]
    if "rope_scaling" in c and not rope_matches(model, c):
        # Not taken as the legacy field: the newer form, rope_theta inside.
        alt = {k: v for k, v in c.items() if k not in ("rope_scaling", "rope_theta")}
        alt["rope_parameters"] = dict(c["rope_scaling"], rope_theta=c["rope_theta"])
        config = LlamaConfig(**alt)
        model = LlamaForCausalLM(config).float()
        print(name, "rope_scaling given as rope_parameters:", rope_matches(model, c))
    tensors = []
    with torch.no_grad():
        for pname, p in model.named_parameters():
            v = weight_values(pname, p.numel()).reshape(tuple(p.shape))
            p.copy_(torch.from_numpy(v))
    model.generation_config = GenerationConfig(bos_token_id=spec["bos"], eos_token_id=spec["eos"],
                                               do_sample=False)
    model.to(spec["dtype"]).save_pretrained(ckpt, max_shard_size=spec["shard"])
    for f in ("config.json", "generation_config.json", "model.safetensors.index.json"):
        with open(os.path.join(ckpt, f)) as src, open(os.path.join(mdir, f), "w") as dst:
            dst.write(src.read())

    # What the shards hold, read back: the C generator must reproduce it.
    from safetensors import safe_open
    index = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))
    for tname, shard in sorted(index["weight_map"].items()):
        with safe_open(os.path.join(ckpt, shard), "pt") as f:
            t = f.get_tensor(tname)
        want = weight_values(tname, t.numel()).reshape(tuple(t.shape))
        got = t.float().numpy()
        assert np.array_equal(got, want), "%s: the shard does not hold the generator's values" % tname
        tensors.append(dict(name=tname, shape=list(t.shape), dtype=str(t.dtype).split(".")[-1],
                            shard=shard, sum=float(want.astype(np.float64).sum())))

    f32 = load(LlamaForCausalLM, ckpt, torch.float32).eval()
    rope_ok = rope_matches(f32, c) if "rope_scaling" in c else None
    native = None
    if torch.cuda.is_available():
        native = load(LlamaForCausalLM, ckpt, spec["dtype"]).eval().to("cuda")

    tok = Tokenizer.from_file(os.path.join(cache, spec["tokenizer"], "package/models/tokenizer.json"))
    cases = []
    prompts = [(p, None) for p in PROMPTS] + [(None, CHAT)]
    for text, chat in prompts:
        if chat is None:
            ids = tok.encode(text, add_special_tokens=True).ids
            case = dict(prompt=text, add_special=True)
        else:
            text = render(spec["template"], chat, True)
            ids = tok.encode(text, add_special_tokens=False).ids
            case = dict(chat=chat, template=spec["template"], prompt=text, add_special=False)
        with torch.no_grad():
            gen, margins = greedy(f32, ids, spec["eos"], "cpu")
            case.update(prompt_ids=ids, generated_f32=gen, min_margin_f32=min(margins),
                        margins_f32=[round(m, 6) for m in margins])
            if native is not None:
                case["generated_native"], _ = greedy(native, ids, spec["eos"], "cuda")
                case["native_dtype"] = str(spec["dtype"]).split(".")[-1]
        print(name, repr(text[:40]), len(ids), "->", gen, "min margin %.4g" % min(margins))
        cases.append(case)
    import transformers
    expected = dict(
        model=name, transformers=transformers.__version__, torch=torch.__version__,
        generator="bench/hf_generate.py weight_values (FNV-1a 64 of the name, splitmix64)",
        gretac_import_args=["--max-seq", "64", "--dtype", "f32", "--kv-dtype", "f32"],
        max_new_tokens=MAX_NEW, eos=spec["eos"], llama3_rope_check=rope_ok,
        tensors=tensors, cases=cases)
    with open(os.path.join(mdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    out, cache = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hf_chat_reference

    render_fn, _ = hf_chat_reference.make_renderer(cache)

    def render(template, chat, gen):
        return render_fn(template, chat, gen)

    for name, spec in MODELS.items():
        try:
            build(name, spec, out, cache, render)
        except Exception:
            import traceback
            traceback.print_exc()
            with open(os.path.join(out, name + ".error"), "w") as f:
                traceback.print_exc(file=f)


if __name__ == "__main__":
    main()
