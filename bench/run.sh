#!/usr/bin/env bash
# GRETA against PyTorch on the same GPU.
#
#   bench/run.sh prepare   here: Release build of gretac and libgreta of the
#                          last commit in build-bench/, bench_greta linked statically against
#                          libgreta, and the bench models compiled for sm_90
#                          (the ops, the 7B block in f32 and f16, the whole
#                          Llama-2-7B of examples/llama2_7b.gm; for issue
#                          11's prefill rows the 7B's four projection GEMMs,
#                          the attention alone, and the block and the whole
#                          model again with --max-tokens=2048), all that the
#                          GPU machine needs in build-bench/carry (a few MiB;
#                          carry it). A model gretac refuses is listed in
#                          carry/compile_errors.txt and its rows run torch only.
#   bench/run.sh profile [block|model|all]
#                          on the GPU machine: each kernel timed alone (and in
#                          the block, what it costs the step); block
#                          (the default): the 7B block, decode at L=1024 and
#                          prefill T=512, f16 and f32; model: the whole 7B
#                          model's decode at L=1024. $OUT gets profile.md and
#                          roofline_block.png
#   bench/run.sh run       on the GPU machine: ceilings, then each row's greta
#                          and torch timings back to back, one table printed
#                          last; $OUT (or /tmp/greta-bench) gets table.md,
#                          raw.json, roofline.png, gpu.txt, log.txt,
#                          static_sm90.txt
#   bench/run.sh all       on the GPU machine: run, then profile block, in
#                          scratch folders; $OUT gets the seven files the
#                          docs use (table.md, raw.json, roofline.png,
#                          gpu.txt, log.txt, profile.md, roofline_block.png)
#                          and the rest in rest.tgz: eight files, what the
#                          device tool brings back
#
# Environment:
#   GRETA_BENCH_REV=REV    prepare: build gretac, libgreta and the models from
#                          commit REV instead of HEAD (bench_greta.c is always
#                          this checkout's), e.g. the last commit whose
#                          compiler still emits every GPU kernel
#   GRETA_BENCH_ONLY=OPS   run: only the rows of these ops, comma-separated,
#                          out of gemm, rmsnorm, rope, kv, block, model (the
#                          whole 7B model), gemm7b (the 7B's q/k/v, o,
#                          gate/up and down GEMMs at T = 128, 512, 2048
#                          against cuBLAS f16) and attention (causal prefill
#                          attention alone at T = 128, 512, 2048 against
#                          SDPA's flash backend); the ceilings are always
#                          measured. GRETA_BENCH_ONLY=model takes about 3
#                          minutes (each runner warmed a second a row, and
#                          torch.compile of the three prefill rows in a
#                          child process); all, about 8.
set -u
cd "$(dirname "$0")/.."
BUILD=build-bench
CARRY=$BUILD/carry

# gretac SRC OUT [flags]: a refusal is recorded, not fatal, so that one op the
# compiler cannot lower yet leaves every other row (and the torch side) intact.
compile_model() {
  local src=$1 out=$2
  shift 2
  if ! "$BUILD/obj/compiler/gretac" "$src" --target=sm_90 -q "$@" -o "$out" 2>"$out.err"; then
    { echo "$(basename "$out"):"; cat "$out.err"; } | tee -a "$CARRY/compile_errors.txt" >&2
    rm -f "$out"
  fi
  rm -f "$out.err"
}

prepare() {
  set -e
  local rev=${GRETA_BENCH_REV:-HEAD}
  # Built from a commit (git archive), not the working tree, which other
  # engineers' unfinished edits share.
  local sha
  sha=$(git rev-parse "$rev^{commit}")
  rm -rf "$BUILD/src" && mkdir -p "$BUILD/src"
  # git archive stamps every file with the commit's time: after a build of a
  # newer commit, an older one's sources would look up to date to make.
  # Another commit than the last build's is extracted with the time now (-m).
  if [ "$(cat "$BUILD/obj/.greta_rev" 2>/dev/null)" = "$sha" ]; then
    git archive "$sha" | tar -x -C "$BUILD/src"
  else
    git archive "$sha" | tar -x -m -C "$BUILD/src"
  fi
  cmake -S "$BUILD/src" -B "$BUILD/obj" -DCMAKE_BUILD_TYPE=Release -DGRETA_WERROR=ON >/dev/null
  cmake --build "$BUILD/obj" -j2 --target gretac greta_static
  echo "$sha" >"$BUILD/obj/.greta_rev"
  rm -rf "$CARRY" && mkdir -p "$CARRY"
  cc -std=c17 -O2 -Wall -Wextra -Werror -I"$BUILD/src/runtime/include" bench/bench_greta.c \
    "$BUILD/obj/runtime/libgreta.a" -Wl,-Bstatic -ljansson -lpcre2-8 -lutf8proc -Wl,-Bdynamic -fopenmp -lm -ldl \
    -o "$CARRY/bench_greta"
  local gretac=$BUILD/obj/compiler/gretac src=$BUILD/src
  for m in gemm_512 rmsnorm_40960 rope_4096 kv_append; do
    compile_model "$src/bench/models/$m.gm" "$CARRY/$m.cubin"
  done
  # Issue 11's rows run up to T = 2048; gretac's default max_tokens is 512.
  for m in gemm7b_qkv gemm7b_o gemm7b_gate_up gemm7b_down attention_7b; do
    compile_model "$src/bench/models/$m.gm" "$CARRY/$m.cubin" --max-tokens=2048
  done
  sed 's/weight_dtype = f32/weight_dtype = f16/' "$src/examples/llama2_block.gm" \
    >"$CARRY/llama2_block_f16.gm"
  cp "$src/examples/llama2_block.gm" "$CARRY/llama2_block_f32.gm"
  for d in f32 f16; do
    compile_model "$CARRY/llama2_block_$d.gm" "$CARRY/llama2_block_$d.cubin"
    # The prefill rows at T = 2048 get a cubin of their own, so that every
    # other row keeps the plan of the default max_tokens (512).
    compile_model "$CARRY/llama2_block_$d.gm" "$CARRY/llama2_block_${d}_t2048.cubin" \
      --max-tokens=2048
  done
  # The whole model as written: f16 weights, and the KV cache in the
  # compiler's default for it (f16 once `set kv_dtype` exists, whose default
  # is the weight dtype when that is half; f32 before). bench_greta reports
  # the cache's bytes, so the table says which one ran.
  compile_model "$src/examples/llama2_7b.gm" "$CARRY/llama2_7b.cubin"
  # The prefill of 2048 tokens: the arena grows from 88.5 MiB to 354 MiB
  # (the logits alone are 250 MiB), 13.9 GiB in all beside the 15-20 GB of
  # the torch model that bench_torch.py holds while greta runs.
  compile_model "$src/examples/llama2_7b.gm" "$CARRY/llama2_7b_t2048.cubin" --max-tokens=2048
  "$gretac" "$CARRY/llama2_block_f16.gm" --target=sm_90 --stats -o /dev/null >"$CARRY/static_sm90.txt" 2>&1 || true
  { echo "$sha"; echo "bench: $(git rev-parse HEAD)"; } >"$CARRY/commit.txt"
  git log -1 --format='%h %s' "$sha" -- templates/gemm.h templates/gemm_mma.h \
    templates/launch_constants.h compiler/lower/kernel_select.c >>"$CARRY/commit.txt"
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
  python3 bench/bench_torch.py --greta "$CARRY" --out "$out" \
    ${GRETA_BENCH_ONLY:+--only "$GRETA_BENCH_ONLY"} 2>&1 | tee "$out/log.txt" | cut -c1-400
  python3 bench/report.py "$out/raw.json" "$out"
}

# Per-kernel view (bench/kernel_profile.py): each launch timed alone and, in
# the block's profiles, what it costs the step (bench_greta --in-step), with
# the ceilings measured again in this run. $1: block (default), model or all.
profile() {
  local out=${OUT:-/tmp/greta-bench} what=${1:-block}
  case "$what" in
    block | model | all) ;;
    *) echo "profile: block, model or all, not $what" >&2; return 2 ;;
  esac
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
  [ "$what" = block ] || {
    "$CARRY/bench_greta" "$CARRY/llama2_7b.cubin" --tokens 1 --pos 1024 --repeats 50 \
      --profile --name "model_f16_decode_L1024" >"$out/profile_model_decode.jsonl" || return 1
    files+=("$out/profile_model_decode.jsonl")
  }
  [ "$what" = model ] || for d in f16 f32; do
    "$CARRY/bench_greta" "$CARRY/llama2_block_$d.cubin" --tokens 1 --pos 1024 --repeats 50 \
      --profile --in-step --name "block_${d}_decode_L1024" >"$out/profile_${d}_decode.jsonl" || return 1
    "$CARRY/bench_greta" "$CARRY/llama2_block_$d.cubin" --tokens 512 --repeats 20 \
      --profile --in-step --name "block_${d}_prefill_T512" >"$out/profile_${d}_prefill.jsonl" || return 1
    files+=("$out/profile_${d}_decode.jsonl" "$out/profile_${d}_prefill.jsonl")
  done
  python3 bench/kernel_profile.py "$out/ceilings.json" "$out" "${files[@]}"
}

# run and profile block into scratch folders, then the files the docs use
# into $OUT and everything else into $OUT/rest.tgz (what came out is kept
# when one of them fails).
all() {
  local out=${OUT:-/tmp/greta-bench} scratch status=0
  scratch=$(mktemp -d /tmp/greta-bench-all-XXXXXX)
  mkdir -p "$out"
  OUT=$scratch/run run || status=1
  OUT=$scratch/profile profile block || status=1
  cp "$scratch"/run/{table.md,raw.json,roofline.png,gpu.txt,log.txt} "$out"/ 2>/dev/null
  cp "$scratch"/profile/{profile.md,roofline_block.png} "$out"/ 2>/dev/null
  tar -czf "$out/rest.tgz" -C "$scratch" . || status=1
  rm -rf "$scratch"
  ls "$out"
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  all) all ;;
  profile) profile "${2:-block}" ;;
  *) echo "usage: $0 prepare|run|all|profile [block|model|all]" >&2; exit 2 ;;
esac
