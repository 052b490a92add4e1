#!/usr/bin/env bash
# README's first command: install dependencies, build, compile the example
# Llama-2-7B block and run it: on the GPU if there is one, else on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)"
gretac=build/release/compiler/gretac
run_block=build/release/examples/run_block

# The MI300X code object is built on any machine with clang-19.
echo "== gretac examples/llama2_block.gm -o build/llama2_block.hsaco (gfx942)"
"$gretac" examples/llama2_block.gm -o build/llama2_block.hsaco --stats

# Pick what this machine can run.
target=cpu ext=gplan
if command -v nvidia-smi >/dev/null && cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) && [ -n "$cc" ]; then
  target=sm_${cc/./} ext=cubin
elif [ -e /dev/kfd ] && command -v rocminfo >/dev/null; then
  target=$(rocminfo | grep -o -m1 'gfx[0-9a-f]*') ext=hsaco
fi
echo "== running on $target"
"$gretac" examples/llama2_block.gm --target="$target" -o "build/llama2_block.$ext"
"$run_block" "build/llama2_block.$ext" --prompt 16 --decode 8
