#!/usr/bin/env bash
# On the GPU machine: transformers' LlamaDecoderLayer at the Llama-2-7B shape
# (dim 4096, 32 heads, head_dim 128, FFN 11008) with random weights, f32 and
# f16, against gretac + libgreta on the GPU. Needs torch, transformers and
# safetensors there, and a build carried from here (scripts/device_suite.sh
# prepare). Prints ||ours - hf|| / ||hf|| per token and the max abs error.
# Two prompts: T = 12 (the small-T kernels) and T = 508 (the large-T path:
# the tensor-core GEMM tiles and the flash attention), each followed by 4
# decode steps (508 + 4: the one-prefill check of all the tokens fits the
# block's max_tokens, 512); GRETA_HF_T="12" runs one.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-dev}
out=${OUT:-/tmp}
status=0
export LD_LIBRARY_PATH="$PWD/$BUILD/carrylib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")
if [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"; fi
for T in ${GRETA_HF_T:-12 508}; do
for dtype in f32 f16; do
  echo "=== T=$T, $dtype"
  fixture=/tmp/hf_llama2_block_${dtype}_T$T.safetensors log=$out/hf_7b_${dtype}_T$T.log
  python3 bench/hf_reference.py --dim 4096 --heads 32 --kv-heads 32 --head-dim 128 --ffn 11008 \
    --max-seq 2048 --dtype $dtype --T "$T" --N 4 --device cuda --out "$fixture" >"$log" 2>&1
  tail -3 "$log"
  tol=1e-5; [ $dtype = f16 ] && tol=5e-3
  [ -s "$fixture" ] || { echo "no fixture: see $log"; status=1; continue; }
  (cd "$src" &&
   GRETA_HF_FIXTURE=$fixture GRETA_HF_MODEL=examples/llama2_block.gm GRETA_HF_DTYPE=$dtype \
   GRETA_HF_TOLERANCE=$tol "$OLDPWD/$BUILD/tests/test_hf_fixtures" --filter 'hf_fixtures/external' --verbose) 2>&1 |
    grep -a -E 'hf_fixtures|PASS|FAIL|Synthesis' || status=1
done
done
exit $status
