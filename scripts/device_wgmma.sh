#!/usr/bin/env bash
# Issue 11, the prefill GEMM on Hopper's wgmma (templates/gemm_wgmma.h) as
# gretac emits it for sm_90 (the default), checked and timed against the
# mma.sync GEMM (GRETA_WGMMA=0) in one device call.
#
#   scripts/device_wgmma.sh prepare   here: scripts/device_suite.sh prepare
#                                     (build-dev), bench/run.sh prepare
#                                     (build-bench/carry, the default kernels),
#                                     then the same models compiled again with
#                                     GRETA_WGMMA=0 (*_mmasync.cubin), with
#                                     GRETA_SPLIT_K=0 (*_nosplit.cubin), with
#                                     GRETA_TMA=0 (*_notma.cubin), and the
#                                     standalone benches (nvcc, sm_90a)
#   scripts/device_wgmma.sh run       there (carry build-dev and
#                                     build-bench/carry), 1 to 3 below;
#                                     "time" runs 3 alone; "quick" the GPU
#                                     tests, run_block and memcheck of 1 and
#                                     the block and whole-model rows of 3;
#                                     "f32" the f32 weights' checks and rows
#                                     (4); "splitk" split-K against no split
#                                     (5); "width" the 192-wide tiles against
#                                     none (6, below), in a short call;
#                                     "tma" the tensor-memory accelerator's
#                                     GEMM (7, below); "variants" the
#                                     default block checked, and it and an
#                                     experiment's kernels timed (8);
#                                     "cpasync" the GEMMs without the copy
#                                     engine checked in the block, then 8 (9);
#                                     "short" a GEMM change's tests, block
#                                     check and T = 512 rows (10).
#                                     Everything printed is also in
#                                     $OUT/device_wgmma.txt.
#     1. the GPU tests of the prefill GEMM: test_backend_conformance,
#        test_gemm_conformance (every GEMM against the CPU at odd sizes, and
#        x stored in half by rms_scale and glu), test_end_to_end,
#        test_gpu_backend, test_generate_hf; run_block --check on the f16
#        7B block at prompt 512, wgmma and mma.sync (the largest difference
#        should stay near 6e-4); compute-sanitizer memcheck on both at
#        prompt 100; bench/hf_7b.sh at T = 508 against transformers;
#     2. gemm_wgmma_bench (the template alone against cuBLAS);
#     3. bench_greta, mma.sync against wgmma, back to back: the 7B's four
#        GEMMs at T = 512 and 2048, the f16 block and the whole 7B prefill
#        at T = 512, the f16 block and the whole 7B at T = 128 and 512;
#        then each launch of the f16 block's prefill alone at T = 512 and
#        128 ($OUT/profile_f16_prefill_T{512,128}.jsonl).
#     4. f32 weights (greta_gemm_wgmma_tf32, 3xTF32 on wgmma, against the
#        3xTF32 mma.sync GEMM): the GPU GEMM tests, run_block --check on the
#        f32 7B block at prompts 16, 128 and 512 (limit 1e-5), memcheck at
#        prompt 200, the block at T = 128, 512, 2048 and the 512^3 GEMM both
#        ways, each launch of the block's prefill alone
#        ($OUT/profile_f32_prefill.jsonl), bench/hf_7b.sh at T = 508.
#     5. split-K and the tile width at run time (the default;
#        GRETA_SPLIT_K=0 at compile time turns split-K off, *_nosplit.cubin;
#        *_prev.cubin, where present, are an earlier build's, for pairing):
#        the GEMM tests (test_gemm_conformance's cuda_*_split_k run both,
#        cuda_*_step_width both widths from one kernel), run_block --check
#        on the f16 block at prompts 100, 128, 256 and 512, memcheck at
#        prompt 100, the block at T = 128, 256, 512 and the whole 7B at
#        T = 128 and 512 each way, each launch of the block's prefill at
#        T = 128 and 512 alone, then bench/gemm_wgmma_tiles.cu.
set -u
cd "$(dirname "$0")/.." || exit
C=build-bench/carry
OUT_DIR=${OUT:-/tmp}

prepare() {
  set -e
  bash scripts/device_suite.sh prepare
  bash bench/run.sh prepare
  local gretac=build-bench/obj/compiler/gretac m
  for m in gemm7b_qkv gemm7b_o gemm7b_gate_up gemm7b_down; do
    GRETA_WGMMA=0 "$gretac" -q bench/models/$m.gm --target=sm_90 --max-tokens=2048 -o $C/${m}_mmasync.cubin
  done
  GRETA_WGMMA=0 "$gretac" -q $C/llama2_block_f16.gm --target=sm_90 -o $C/llama2_block_f16_mmasync.cubin
  GRETA_WGMMA=0 "$gretac" -q examples/llama2_7b.gm --target=sm_90 -o $C/llama2_7b_mmasync.cubin
  for m in llama2_block_f32 llama2_block_f32_t2048; do
    GRETA_WGMMA=0 "$gretac" -q $C/llama2_block_f32.gm --target=sm_90 -o $C/${m}_mmasync.cubin \
      $([ $m = llama2_block_f32 ] || echo --max-tokens=2048)
  done
  GRETA_WGMMA=0 "$gretac" -q bench/models/gemm_512.gm --target=sm_90 -o $C/gemm_512_mmasync.cubin
  GRETA_WGMMA_192=0 "$gretac" -q $C/llama2_block_f16.gm --target=sm_90 -o $C/llama2_block_f16_no192.cubin
  GRETA_WGMMA_192=0 "$gretac" -q examples/llama2_7b.gm --target=sm_90 -o $C/llama2_7b_no192.cubin
  GRETA_TMA=0 "$gretac" -q $C/llama2_block_f16.gm --target=sm_90 -o $C/llama2_block_f16_notma.cubin
  GRETA_TMA=0 "$gretac" -q examples/llama2_7b.gm --target=sm_90 -o $C/llama2_7b_notma.cubin
  GRETA_SPLIT_K=0 "$gretac" -q $C/llama2_block_f16.gm --target=sm_90 -o $C/llama2_block_f16_nosplit.cubin
  GRETA_SPLIT_K=0 "$gretac" -q examples/llama2_7b.gm --target=sm_90 -o $C/llama2_7b_nosplit.cubin
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates bench/gemm_wgmma_bench.cu \
    -lcublas -o $C/gemm_wgmma_bench
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates -Ibench \
    bench/gemm_wgmma_tiles.cu -lcublas -o $C/gemm_wgmma_tiles
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Itemplates -Ibench \
    bench/gemm_wgmma_tma.cu -lcublas -o $C/gemm_wgmma_tma
  du -sh $C
}

# The carried build's environment (scripts/device_env.sh: SRC, libraries).
setup() {
  . scripts/device_env.sh
  device_env build-dev
  CS=compute-sanitizer
  command -v $CS >/dev/null || CS=/usr/local/cuda/bin/compute-sanitizer
}

# libcublas for the standalone benches: the toolkit's, or the one torch brought.
libcublas() {
  local d
  for d in /usr/local/cuda/lib64 $(ls -d /usr/local/lib/python3*/*-packages/nvidia/cu*/lib 2>/dev/null); do
    LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
  done
  export LD_LIBRARY_PATH
}

# tests PATTERN PROGRAM...: each GPU test program of build-dev, its
# synthesis, then its log's lines that match PATTERN (at most 12).
tests() {
  local pattern=$1 t
  shift
  for t; do
    (cd "$SRC" && timeout 200 "$PWD/build-dev/tests/$t" --jobs 2 --verbose) >"$OUT_DIR/$t.log" 2>&1
    echo "$t rc=$? $(grep -a Synthesis "$OUT_DIR/$t.log" | sed 's/.*Synthesis: //')"
    grep -a -E "$pattern" "$OUT_DIR/$t.log" | head -12
  done
}

# check_block LABEL CUBIN PROMPT DECODE: run_block --check against the CPU.
check_block() {
  timeout 120 build-dev/examples/run_block "$2" --prompt "$3" --decode "$4" --check \
    >"$OUT_DIR/run_block_$1.log" 2>&1
  local rc=$?
  echo "$1: $(tail -1 "$OUT_DIR/run_block_$1.log")"
  return $rc
}

# memcheck LABEL CUBIN PROMPT DECODE: compute-sanitizer memcheck of run_block.
memcheck() {
  timeout 240 $CS --tool memcheck build-dev/examples/run_block "$2" --prompt "$3" --decode "$4" \
    >"$OUT_DIR/memcheck_$1.log" 2>&1
  local rc=$?
  echo "memcheck $1: $(grep -a -E "ERROR SUMMARY" "$OUT_DIR/memcheck_$1.log")"
  return $rc
}

# One bench_greta row: name and median ms.
row() {
  timeout 60 $C/bench_greta "$@" | grep '^{' | grep -o '"name[^,]*\|"median_ms[^,]*' | tr '\n' ' '
  echo
}

check() {
  local status=0 m quick=${1:-}
  setup
  libcublas
  echo "=== 1. correctness through gretac (wgmma)"
  tests FAIL test_backend_conformance test_gemm_conformance test_end_to_end test_gpu_backend \
    test_generate_hf
  for m in llama2_block_f16 llama2_block_f16_mmasync; do
    check_block $m $C/$m.cubin 512 4 || status=1
  done
  # memcheck at a 100-token prompt: partial row tiles through the paired
  # epilogues, wgmma (default) and the large mma.sync tiles (mmasync).
  for m in llama2_block_f16 llama2_block_f16_mmasync; do
    memcheck $m $C/$m.cubin 100 2 || status=1
  done
  [ -z "$quick" ] || return $status
  GRETA_HF_T=508 timeout 240 bash bench/hf_7b.sh >"$OUT_DIR/hf_7b.log" 2>&1 || status=1
  grep -a -E "worst|PASS|FAIL|no fixture" "$OUT_DIR/hf_7b.log" | sed 's/per token:.*; worst/worst/'
  echo "=== 2. the template alone against cuBLAS"
  timeout 60 $C/gemm_wgmma_bench >"$OUT_DIR/gemm_wgmma_bench.txt" 2>&1 || status=1
  grep -E "FAIL|^\|" "$OUT_DIR/gemm_wgmma_bench.txt" | cut -c1-200
  return $status
}

timing() {
  local t m quick=${1:-}
  echo "=== 3. mma.sync against wgmma (ms)"
  [ -n "$quick" ] || for m in gemm7b_qkv gemm7b_o gemm7b_gate_up gemm7b_down; do
    for t in 512 2048; do
      row $C/${m}_mmasync.cubin --tokens $t --repeats 20 --name "${m}_T${t}_mmasync"
      row $C/$m.cubin --tokens $t --repeats 20 --name "${m}_T${t}_wgmma"
    done
  done
  for t in 128 512; do
    row $C/llama2_block_f16_mmasync.cubin --tokens $t --repeats 20 --name block_f16_T${t}_mmasync
    row $C/llama2_block_f16.cubin --tokens $t --repeats 20 --name block_f16_T${t}_wgmma
    row $C/llama2_7b_mmasync.cubin --tokens $t --repeats 5 --name model_T${t}_mmasync
    row $C/llama2_7b.cubin --tokens $t --repeats 5 --name model_T${t}_wgmma
  done
  # Each launch of the f16 block's prefill timed alone (bench/kernel_profile.py
  # reads the file; here its lines name the launch and its median): T = 512,
  # and T = 128 (o and down split K).
  for t in 512 128; do
    timeout 60 $C/bench_greta $C/llama2_block_f16.cubin --tokens $t --repeats 20 --profile \
      --name block_f16_prefill_T$t >"$OUT_DIR/profile_f16_prefill_T$t.jsonl"
    grep -o '"launch[^}]*' "$OUT_DIR/profile_f16_prefill_T$t.jsonl" | head -20
  done
}

f32() {
  local status=0 t m p
  setup
  echo "=== 4. f32 weights: 3xTF32 on wgmma"
  tests "FAIL|cuda f32" test_gemm_conformance test_backend_conformance test_end_to_end
  for p in 16 128 512; do
    check_block f32_prompt_$p $C/llama2_block_f32.cubin $p 2 || status=1
  done
  check_block f32_mmasync_prompt_512 $C/llama2_block_f32_mmasync.cubin 512 2 || status=1
  memcheck f32 $C/llama2_block_f32.cubin 200 1 || status=1
  for m in llama2_block_f32 llama2_block_f32_mmasync; do
    for t in 128 512; do row $C/$m.cubin --tokens $t --repeats 20 --name "${m}_T$t"; done
  done
  row $C/llama2_block_f32_t2048_mmasync.cubin --tokens 2048 --repeats 5 --name f32_T2048_mmasync
  row $C/llama2_block_f32_t2048.cubin --tokens 2048 --repeats 5 --name f32_T2048_wgmma
  row $C/gemm_512_mmasync.cubin --tokens 512 --repeats 50 --name gemm_512_mmasync
  row $C/gemm_512.cubin --tokens 512 --repeats 50 --name gemm_512
  timeout 60 $C/bench_greta $C/llama2_block_f32.cubin --tokens 512 --repeats 20 --profile \
    --name block_f32_prefill_T512 >"$OUT_DIR/profile_f32_prefill.jsonl"
  grep -o '"launch[^}]*' "$OUT_DIR/profile_f32_prefill.jsonl" | head -20
  GRETA_HF_T=508 timeout 240 bash bench/hf_7b.sh >"$OUT_DIR/hf_7b.log" 2>&1 || status=1
  grep -a -E "worst|PASS|FAIL|no fixture" "$OUT_DIR/hf_7b.log" | sed 's/per token:.*; worst/worst/'
  return $status
}

splitk() {
  local status=0 t p m
  setup
  echo "=== 5. split-K and the tile width at run time"
  tests "FAIL|N=136|N=2000" test_gemm_conformance test_backend_conformance
  for p in 100 128 256 512; do
    check_block splitk_prompt_$p $C/llama2_block_f16.cubin $p 2 || status=1
  done
  memcheck splitk $C/llama2_block_f16.cubin 100 1 || status=1
  for t in 128 256 512; do
    for m in llama2_block_f16_prev llama2_block_f16_nosplit llama2_block_f16; do
      [ -f $C/$m.cubin ] && row $C/$m.cubin --tokens $t --repeats 20 --name "${m}_T$t"
    done
  done
  for t in 128 512; do
    for m in llama2_7b_prev llama2_7b_nosplit llama2_7b; do
      [ -f $C/$m.cubin ] && row $C/$m.cubin --tokens $t --repeats 5 --name "${m}_T$t"
    done
  done
  for t in 128 512; do
    timeout 60 $C/bench_greta $C/llama2_block_f16.cubin --tokens $t --repeats 20 --profile \
      --name block_f16_prefill_T$t >"$OUT_DIR/profile_f16_prefill_T$t.jsonl"
    grep -o '"launch[^}]*' "$OUT_DIR/profile_f16_prefill_T$t.jsonl" | sed 's/, "bytes.*//'
  done
  libcublas
  timeout 120 $C/gemm_wgmma_tiles >"$OUT_DIR/gemm_wgmma_tiles.txt" 2>&1 || status=1
  cat "$OUT_DIR/gemm_wgmma_tiles.txt"
  return $status
}

# 192-wide tiles (the default; GRETA_WGMMA_192=0 at compile time leaves
# them out, *_no192.cubin), in one short call: the GEMM conformance tests
# (cuda_*_step_width run both ways), run_block --check at prompts 256 and
# 512 on the block (q/k/v on 192-wide tiles), the block at T = 128, 256,
# 512 without and with them, memcheck at prompt 300,
# bench/gemm_wgmma_tiles.cu (its greta column with 192), then the whole 7B.
width() {
  local status=0 t m
  setup
  echo "=== 6. 192-wide tiles"
  tests "FAIL|N=2000" test_gemm_conformance
  for t in 512 256; do check_block w192_prompt_$t $C/llama2_block_f16.cubin $t 2 || status=1; done
  for t in 128 256 512; do
    for m in llama2_block_f16_no192 llama2_block_f16; do
      row $C/$m.cubin --tokens $t --repeats 20 --name "${m}_T$t"
    done
  done
  memcheck w192 $C/llama2_block_f16.cubin 300 1 || status=1
  libcublas
  timeout 60 $C/gemm_wgmma_tiles >"$OUT_DIR/gemm_wgmma_tiles.txt" 2>&1 || status=1
  cat "$OUT_DIR/gemm_wgmma_tiles.txt"
  for t in 128 512; do
    for m in llama2_7b_no192 llama2_7b; do row $C/$m.cubin --tokens $t --repeats 5 --name "${m}_T$t"; done
  done
  return $status
}

# The copy engine's GEMM (greta_gemm_wgmma_ws: persistent, warp-specialised)
# against the cp.async one and cuBLAS (bench/gemm_wgmma_tma.cu, which also
# checks that both give the same bits), then each launch of the f16 block's
# prefill at T = 512 and 128.
tma() {
  local status=0 t m
  setup
  echo "=== 7. TMA"
  libcublas
  timeout 240 $C/gemm_wgmma_tma >"$OUT_DIR/gemm_wgmma_tma.txt" 2>&1 || status=1
  cat "$OUT_DIR/gemm_wgmma_tma.txt"
  # (and of llama2_block_f16_*.cubin, an experiment's kernels, where present)
  for m in $C/llama2_block_f16.cubin $(ls $C/llama2_block_f16_*.cubin 2>/dev/null); do
    for t in 512 128; do
      echo "--- $(basename $m .cubin) T=$t"
      timeout 60 $C/bench_greta $m --tokens $t --repeats 20 --profile \
        --name prefill_T$t >"$OUT_DIR/profile_$(basename $m .cubin)_T$t.jsonl"
      grep -o '"launch[^}]*' "$OUT_DIR/profile_$(basename $m .cubin)_T$t.jsonl" | head -20
    done
  done
  return $status
}

# The default kernels checked (the GPU GEMM tests, the end-to-end, GPU
# backend and generation tests, run_block --check at
# prompts 512 and 100, memcheck at prompt 100), then every
# llama2_block_f16*.cubin (the default and an experiment's variants, where
# present) timed at T = 128, 256 and 512, each launch at T = 512 and 256 alone, and
# the whole 7B at T = 128 and 512 (llama2_7b*.cubin; and 2048, *t2048*), then
# bench/gemm_wgmma_tma.cu where built (gemm_wgmma_tma and its variants
# gemm_wgmma_tma_*, each with the arguments $TMA_ARGS, e.g. "glu").
variants() {
  local status=0 t m
  setup
  echo "=== 8. variants"
  tests "FAIL|Synthesis" test_gemm_conformance test_backend_conformance test_end_to_end \
    test_gpu_backend test_generate_hf
  for t in 512 100; do check_block prompt_$t $C/llama2_block_f16.cubin $t 2 || status=1; done
  memcheck default $C/llama2_block_f16.cubin 100 1 || status=1
  for m in $C/llama2_block_f16*.cubin; do
    for t in 128 256 512; do row $m --tokens $t --repeats 20 --name "$(basename $m .cubin)_T$t"; done
  done
  for m in $C/llama2_block_f16*.cubin; do
    for t in 512 256; do
      echo "--- $(basename $m .cubin) T=$t"
      timeout 60 $C/bench_greta $m --tokens $t --repeats 20 --profile --name prefill_T$t \
        >"$OUT_DIR/profile_$(basename $m .cubin)_T$t.jsonl"
      grep -o '"op[^}]*' "$OUT_DIR/profile_$(basename $m .cubin)_T$t.jsonl" | sed 's/"bytes.*//' |
        sed 's/"kernel[^,]*, //' | head -8
    done
  done
  for m in $(ls $C/llama2_7b*.cubin 2>/dev/null); do
    for t in 128 512 $(case $m in *t2048*) echo 2048 ;; esac); do
      row $m --tokens $t --repeats 5 --name "$(basename $m .cubin)_T$t"
    done
  done
  libcublas
  for b in $(ls $C/gemm_wgmma_tma $C/gemm_wgmma_tma_* 2>/dev/null); do
    echo "--- $(basename $b) ${TMA_ARGS:-}"
    timeout 240 $b ${TMA_ARGS:-} >"$OUT_DIR/$(basename $b).txt" 2>&1 || status=1
    cat "$OUT_DIR/$(basename $b).txt"
  done
  return $status
}

# A short check of a GEMM change: the GEMM and backend conformance tests,
# run_block --check on the f16 block at prompt 512, and the block
# (llama2_block_f16*.cubin) and the whole 7B (llama2_7b*.cubin) at T = 512.
short() {
  local status=0 m
  setup
  echo "=== 10. short"
  tests "FAIL|Synthesis" test_gemm_conformance test_backend_conformance
  check_block prompt_512 $C/llama2_block_f16.cubin 512 2 || status=1
  for m in $C/llama2_block_f16*.cubin $C/llama2_7b*.cubin; do
    row $m --tokens 512 --repeats 10 --name "$(basename $m .cubin)_T512"
  done
  return $status
}

# The prefill GEMMs without the copy engine (GRETA_TMA=0, *_notma.cubin:
# cp.async, as for pairs not in whole runs): the GEMM and backend
# conformance tests with it, run_block --check at prompts 512 and 100 and
# memcheck at 100 on the _notma block, then "variants" (the timings, the
# default beside it).
cpasync() {
  local status=0 t
  setup
  echo "=== 9. without the copy engine"
  GRETA_TMA=0 tests "FAIL|Synthesis" test_gemm_conformance test_backend_conformance
  for t in 512 100; do check_block notma_prompt_$t $C/llama2_block_f16_notma.cubin $t 2 || status=1; done
  memcheck notma $C/llama2_block_f16_notma.cubin 100 1 || status=1
  variants || status=1
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) { check; s=$?; timing; exit $s; } 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  quick) { check quick; s=$?; timing quick; exit $s; } 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  time) timing 2>&1 | tee "$OUT_DIR/device_wgmma.txt" ;;
  f32) f32 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  splitk) splitk 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  width) width 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  tma) tma 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  variants) variants 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  cpasync) cpasync 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  short) short 2>&1 | tee "$OUT_DIR/device_wgmma.txt"; exit "${PIPESTATUS[0]}" ;;
  *) echo "usage: $0 prepare|run|quick|time|f32|splitk|width|tma|variants|cpasync|short" >&2; exit 2 ;;
esac
