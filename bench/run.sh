#!/usr/bin/env bash
# GRETA against PyTorch on the same GPU.
#
#   bench/run.sh prepare   here: Release build of gretac and libgreta of the
#                          last commit in build-bench/, bench_greta linked statically against
#                          libgreta, and the bench models compiled for sm_90,
#                          all that the GPU machine needs in build-bench/carry
#                          (a few MiB; carry it)
#   bench/run.sh profile   on the GPU machine: each kernel of the 7B block timed
#                          alone (decode at L=1024, prefill T=512; f16 and f32):
#                          $OUT gets profile.md and roofline_block.png
#   bench/run.sh run       on the GPU machine: ceilings, then each row's greta
#                          and torch timings back to back, one table printed
#                          last; $OUT (or /tmp/greta-bench) gets table.md,
#                          raw.json, roofline.png, gpu.txt, static_sm90.txt
set -u
cd "$(dirname "$0")/.."
BUILD=build-bench
CARRY=$BUILD/carry

prepare() {
  set -e
  # Built from the last commit (git archive HEAD), not the working tree,
  # which other engineers' unfinished edits share.
  rm -rf "$BUILD/src" && mkdir -p "$BUILD/src"
  git archive HEAD | tar -x -C "$BUILD/src"
  cmake -S "$BUILD/src" -B "$BUILD/obj" -DCMAKE_BUILD_TYPE=Release -DGRETA_WERROR=ON >/dev/null
  cmake --build "$BUILD/obj" -j2 --target gretac greta_static
  rm -rf "$CARRY" && mkdir -p "$CARRY"
  cc -std=c17 -O2 -Wall -Wextra -Werror -I"$BUILD/src/runtime/include" bench/bench_greta.c \
    "$BUILD/obj/runtime/libgreta.a" -fopenmp -lm -ldl -o "$CARRY/bench_greta"
  local gretac=$BUILD/obj/compiler/gretac
  for m in gemm_512 rmsnorm_40960 rope_4096 kv_append; do
    "$gretac" bench/models/$m.gm --target=sm_90 -q -o "$CARRY/$m.cubin"
  done
  sed 's/weight_dtype = f32/weight_dtype = f16/' examples/llama2_block.gm >"$CARRY/llama2_block_f16.gm"
  cp examples/llama2_block.gm "$CARRY/llama2_block_f32.gm"
  for d in f32 f16; do
    "$gretac" "$CARRY/llama2_block_$d.gm" --target=sm_90 -q -o "$CARRY/llama2_block_$d.cubin"
  done
  "$gretac" "$CARRY/llama2_block_f16.gm" --target=sm_90 --stats -o /dev/null >"$CARRY/static_sm90.txt" 2>&1 || true
  git rev-parse HEAD >"$CARRY/commit.txt"
  git log -1 --format='%h %s' -- templates/gemm.h templates/gemm_mma.h templates/launch_constants.h compiler/lower/kernel_select.c >>"$CARRY/commit.txt"
  du -sh "$CARRY"
}

run() {
  local out=${OUT:-/tmp/greta-bench}
  mkdir -p "$out"
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1
    cat "$CARRY/commit.txt"
  } | tee "$out/gpu.txt"
  cp "$CARRY/static_sm90.txt" "$out/" 2>/dev/null
  export PYTHONUNBUFFERED=1 GRETA_CACHE_DIR=/tmp/greta-cache
  python3 bench/bench_torch.py --greta "$CARRY" --out "$out" 2>&1 | tee "$out/log.txt" | cut -c1-400
  python3 bench/report.py "$out/raw.json" "$out"
}

# Per-kernel view of the block (bench/kernel_profile.py): each launch timed alone,
# with the ceilings measured again in this run.
profile() {
  local out=${OUT:-/tmp/greta-bench}
  mkdir -p "$out"
  export PYTHONUNBUFFERED=1
  python3 - "$out/ceilings.json" <<'PY'
import json, sys
import torch
sys.path.insert(0, "bench")
import bench_torch
torch.backends.cuda.matmul.allow_tf32 = False
json.dump({"device": torch.cuda.get_device_name(), "ceilings": bench_torch.ceilings()},
          open(sys.argv[1], "w"))
PY
  local files=()
  for d in f16 f32; do
    "$CARRY/bench_greta" "$CARRY/llama2_block_$d.cubin" --tokens 1 --pos 1024 --repeats 50 \
      --profile --name "block_${d}_decode_L1024" >"$out/profile_${d}_decode.jsonl" || return 1
    "$CARRY/bench_greta" "$CARRY/llama2_block_$d.cubin" --tokens 512 --repeats 20 \
      --profile --name "block_${d}_prefill_T512" >"$out/profile_${d}_prefill.jsonl" || return 1
    files+=("$out/profile_${d}_decode.jsonl" "$out/profile_${d}_prefill.jsonl")
  done
  python3 bench/kernel_profile.py "$out/ceilings.json" "$out" "${files[@]}"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  profile) profile ;;
  *) echo "usage: $0 prepare|run|profile" >&2; exit 2 ;;
esac
