#!/usr/bin/env bash
# Issue 9, early launches (programmatic dependent launch; on by default,
# GRETA_OVERLAP=0 turns them off), on the H200: after
# scripts/device_suite.sh prepare and bench/run.sh prepare here, carry
# build-dev and build-bench/carry and run this there. Correctness with early
# launches, the attention bench, the whole 7B in order vs early, then
# bench/run.sh run (model rows) with the time left. nvcc builds the bench.
set -u
S=$SECONDS
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
O=${OUT:-/tmp/out}
BUILD=build-dev
cd "$(dirname "$0")/.." || exit
. scripts/device_env.sh
device_env "$BUILD"
src=$SRC
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export GRETA_OVERLAP=1 # every GPU test and check below with early launches
echo "=== correctness with early launches"
for t in "test_gpu_backend" "test_end_to_end --filter end_to_end/cuda*" "test_backend_conformance" \
         "test_generate_hf --filter generate_hf/*gpu*" "test_gpu_soak"; do
  name=${t%% *}
  (cd "$src" && timeout 200 "$PWD/$BUILD/tests/"$t --jobs 1 --verbose) >"$O/$name.log" 2>&1
  echo "$name rc=$? $(grep -a Synthesis "$O/$name.log" | tail -1 | sed 's/.*Synthesis: //')"
  grep -a -E "probe|early|FAIL|soak" "$O/$name.log" | head -6
done
gretac=$BUILD/compiler/gretac
sed 's/weight_dtype = f32/weight_dtype = f16/' examples/llama2_block.gm >/tmp/llama2_block_f16.gm
$gretac -q /tmp/llama2_block_f16.gm --target=sm_90 -o /tmp/block_f16.cubin
$gretac -q examples/llama2_block.gm --target=sm_90 -o /tmp/block_f32.cubin
$gretac -q examples/tiny_llama.gm --target=sm_90 -o /tmp/tiny_llama.cubin
for m in block_f16 block_f32 tiny_llama; do
  timeout 120 $BUILD/examples/run_block /tmp/$m.cubin --prompt 16 --decode 8 --check 2>&1 | tail -1 | sed "s/^/$m: /"
done
echo "correctness done at $((SECONDS - S)) s"
echo "=== attention decode bench"
"$NVCC" -O3 -std=c++17 -arch=sm_90 -Itemplates bench/attention_decode_bench.cu -o /tmp/adb && timeout 150 /tmp/adb 2>&1 | tee "$O/attention_bench.txt" | tail -34
echo "=== whole 7B decode L=1024, in order vs early"
C=build-bench/carry
for i in 1 2; do
  for ov in 0 1; do
    GRETA_OVERLAP=$ov timeout 120 $C/bench_greta $C/llama2_7b.cubin --tokens 1 --pos 1024 --repeats 50 --name "model_L1024_overlap_$ov" | grep '^{' | cut -c1-400
  done
done
GRETA_OVERLAP=0 timeout 120 $C/bench_greta $C/llama2_block_f16.cubin --tokens 1 --pos 1024 --repeats 200 --name block_in_order | grep '^{' | cut -c1-300
timeout 120 $C/bench_greta $C/llama2_block_f16.cubin --tokens 1 --pos 1024 --repeats 200 --name block_early | grep '^{' | cut -c1-300
echo "ab done at $((SECONDS - S)) s"
left=$((560 - (SECONDS - S)))
if [ $left -gt 200 ]; then
  echo "=== bench/run.sh run (model) with $left s left"
  GRETA_BENCH_ONLY=model timeout $left bash bench/run.sh run > "$O/bench_model.txt" 2>&1
  tail -30 "$O/bench_model.txt"
fi
echo "total $((SECONDS - S)) s"
