#!/usr/bin/env bash
# Issue 9, decode attention (templates/attention.h, greta_attention_decode)
# as gretac emits it for sm_90, checked and timed in one device call.
#
#   scripts/device_decode.sh prepare   here: scripts/device_suite.sh prepare
#                                      (build-dev), bench/run.sh prepare
#                                      (build-bench/carry), and
#                                      bench/attention_decode_bench.cu (nvcc);
#                                      an experiment may add
#                                      build-bench/carry/llama2_7b_*.cubin
#                                      (another gretac's kernels) to pair with
#   scripts/device_decode.sh variant NAME REV|PATCH
#                                      here: gretac built from commit REV (or
#                                      HEAD with PATCH applied) in a scratch
#                                      worktree compiles the f16 block and the
#                                      7B into build-bench/carry/
#                                      llama2_block_f16_NAME.cubin and
#                                      llama2_7b_NAME.cubin, which run and time
#                                      pair with the default's
#   scripts/device_decode.sh run       there (carry build-dev and
#                                      build-bench/carry):
#     1. the GPU tests that run decode attention (test_backend_conformance,
#        test_end_to_end, test_gpu_backend, test_generate_hf), run_block
#        --check on the f16 7B block decoding 8 tokens after prompts of 500
#        and 60, memcheck decoding after a prompt of 300;
#     2. bench/attention_decode_bench.cu (its checks, then the kernel alone
#        against a plain read of the same bytes);
#     3. bench_greta: the whole 7B's decode at L = 128, 1024 and 2000 for
#        llama2_7b.cubin and each llama2_7b_*.cubin, in turns, then each
#        launch of the f16 block's decode (llama2_block_f16.cubin and each
#        llama2_block_f16_*.cubin) at L = 1024 and 2047 (max_seq 2048), alone and what it
#        costs the step (--in-step; $OUT/profile_*_L*.jsonl).
#   scripts/device_decode.sh time      there: 3 alone.
#   Everything printed is also in $OUT/device_decode.txt.
set -u
cd "$(dirname "$0")/.." || exit
C=build-bench/carry
OUT_DIR=${OUT:-/tmp}

prepare() {
  set -e
  bash scripts/device_suite.sh prepare
  bash bench/run.sh prepare
  nvcc -O3 -std=c++17 -arch=sm_90 -Itemplates -Ibench bench/attention_decode_bench.cu \
    -o $C/attention_decode_bench
  du -sh build-dev $C
}

variant() {
  set -e
  local name=$1 from=$2 wt
  wt=$(mktemp -d /tmp/greta-variant-XXXXXX)
  # shellcheck disable=SC2064 # the scratch worktree's path, fixed now
  trap "git worktree remove --force '$wt' >/dev/null 2>&1 || true; rm -rf '$wt'" EXIT
  if [ -f "$from" ]; then
    git worktree add --detach -f "$wt" HEAD >/dev/null
    git -C "$wt" apply "$(realpath "$from")"
  else
    git worktree add --detach -f "$wt" "$from" >/dev/null
  fi
  cmake -S "$wt" -B "$wt/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$wt/build" -j"$(nproc)" --target gretac >/dev/null
  "$wt/build/compiler/gretac" -q --no-cache $C/llama2_block_f16.gm --target=sm_90 \
    -o $C/llama2_block_f16_"$name".cubin
  "$wt/build/compiler/gretac" -q --no-cache examples/llama2_7b.gm --target=sm_90 \
    -o $C/llama2_7b_"$name".cubin
  ls -l $C/llama2_block_f16_"$name".cubin $C/llama2_7b_"$name".cubin
}

row() {
  timeout 120 $C/bench_greta "$@" | grep '^{' | grep -o '"name[^,]*\|"median_ms[^,]*' | tr '\n' ' '
  echo
}

run() {
  local status=0 t m p rc
  . scripts/device_env.sh
  device_env build-dev
  echo "=== 1. correctness"
  for t in test_backend_conformance test_end_to_end test_gpu_backend test_generate_hf; do
    (cd "$SRC" && timeout 300 "$PWD/build-dev/tests/$t" --jobs 2 --verbose) >"$OUT_DIR/$t.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || status=1
    echo "$t rc=$rc $(grep -a Synthesis "$OUT_DIR/$t.log" | sed 's/.*Synthesis: //')"
    grep -a -E "FAIL" "$OUT_DIR/$t.log" | head -8
  done
  for p in 500 60; do
    timeout 120 build-dev/examples/run_block $C/llama2_block_f16.cubin --prompt $p --decode 8 --check \
      >"$OUT_DIR/run_block_$p.log" 2>&1 || status=1
    echo "run_block prompt $p decode 8: $(tail -1 "$OUT_DIR/run_block_$p.log")"
  done
  timeout 240 compute-sanitizer --tool memcheck build-dev/examples/run_block $C/llama2_block_f16.cubin \
    --prompt 300 --decode 4 >"$OUT_DIR/memcheck.log" 2>&1 || status=1
  echo "memcheck: $(grep -a "ERROR SUMMARY" "$OUT_DIR/memcheck.log")"
  echo "=== 2. attention_decode_bench"
  timeout 180 $C/attention_decode_bench >"$OUT_DIR/attention_decode_bench.txt" 2>&1 || status=1
  grep -E "FAIL|^\|" "$OUT_DIR/attention_decode_bench.txt"
  timing || status=1
  return $status
}

# A model's variants in the carry (bench/run.sh's --max-tokens=2048 builds
# are not variants).
variants() {
  ls $C/"$1"_*.cubin 2>/dev/null | grep -v '_t2048\.cubin$' || true
}

timing() {
  local t m n
  echo "=== 3. the whole 7B's decode (ms per token)"
  for t in 128 1024 2000; do
    for m in $C/llama2_7b.cubin $(variants llama2_7b) $C/llama2_7b.cubin; do
      row "$m" --tokens 1 --pos $t --repeats 50 --name "$(basename "$m" .cubin)_decode_L$t"
    done
  done
  for m in $C/llama2_block_f16.cubin $(variants llama2_block_f16); do
    for t in 1024 2047; do
      n=$(basename "$m" .cubin)_L$t
      echo "--- $n: op, alone ms, in the step ms"
      timeout 120 $C/bench_greta "$m" --tokens 1 --pos $t --repeats 50 --profile --in-step \
        --name "$n" >"$OUT_DIR/profile_$n.jsonl" || return 1
      grep -o '"median_ms[^,]*' "$OUT_DIR/profile_$n.jsonl" | head -1
      grep -o '"op[^}]*' "$OUT_DIR/profile_$n.jsonl" | sed 's/"kernel[^,]*, //; s/"bytes.*"in_step/"in_step/'
    done
  done
}

case "${1:-}" in
  prepare) prepare ;;
  variant)
    [ $# -eq 3 ] || { echo "usage: $0 variant NAME REV|PATCH" >&2; exit 2; }
    variant "$2" "$3"
    ;;
  run) run 2>&1 | tee "$OUT_DIR/device_decode.txt"; exit "${PIPESTATUS[0]}" ;;
  time) timing 2>&1 | tee "$OUT_DIR/device_decode.txt"; exit "${PIPESTATUS[0]}" ;;
  *) echo "usage: $0 prepare|variant NAME REV|PATCH|run|time" >&2; exit 2 ;;
esac
