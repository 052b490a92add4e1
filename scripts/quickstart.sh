#!/usr/bin/env bash
# README's first command: install dependencies, build, then go from a
# Hugging Face checkpoint directory to streamed text. The checkpoint is a
# tiny Llama-2-style model with RANDOM weights (scripts/tiny_checkpoint.py)
# and a real tokenizer: the text is gibberish, everything else is real.
# gretac imports and compiles it for this machine (GPU if present, else the
# CPU backend) and for MI300X (gfx942, compiled here, not run), then
# `greta generate` streams tokens.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)"
gretac=build/release/compiler/gretac
greta=build/release/runtime/cli/greta

echo "== scripts/tiny_checkpoint.py build/tiny (random weights, the Llama 2 tokenizer from npm)"
python3 scripts/tiny_checkpoint.py build/tiny

# The MI300X code object is built on any machine with clang-19.
echo "== gretac build/tiny -o build/tiny.hsaco (gfx942: import config.json, compile)"
"$gretac" build/tiny -o build/tiny.hsaco --stats

# Pick what this machine can run.
target=cpu ext=gplan
if command -v nvidia-smi >/dev/null && cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) && [ -n "$cc" ]; then
  target=sm_${cc/./} ext=cubin
elif [ -e /dev/kfd ] && command -v rocminfo >/dev/null; then
  target=$(rocminfo | grep -o -m1 'gfx[0-9a-f]*') ext=hsaco
fi
echo "== gretac build/tiny --target=$target -o build/tiny.$ext"
"$gretac" build/tiny --target="$target" -o "build/tiny.$ext"
echo "== greta generate (random weights: the text is gibberish; the tokens/s are real)"
"$greta" generate "build/tiny.$ext" --weights build/tiny --prompt "Once upon a time" -n 48 --seed 1 --temp 0.8
