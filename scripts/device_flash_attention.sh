#!/usr/bin/env bash
# The NVIDIA prefill flash attention (greta_attention_mma,
# templates/attention_mma.h) on the lent H200, in one device call.
#
#   scripts/device_flash_attention.sh prepare   here: the Release build-dev/ that
#                                               scripts/device_suite.sh prepare makes
#   scripts/device_flash_attention.sh run       there (carry build-dev):
#     1. test_backend_conformance with the GPU present: every op against the
#        CPU at odd sizes; rope_append_attention_hd32_{f16,bf16}_cache run
#        greta_attention_mma (head_dim 32, GQA 4 on 2, T 77 and 45 at pos 0
#        and 78: partial query blocks and key tiles). Expect every test [PASS]
#        and, for those two, "sm_90 on NVIDIA H200: ..." below 1e-3 (f16) and
#        8e-3 (bf16); rope_append_attention_hd128_{f16,bf16}_cache run
#        greta_attention_wgmma (head_dim 128, T 77, 45, 300 at pos 78 ..:
#        a turned-over ring, a warpgroup with no rows).
#        test_mma_attention runs too (CPU emulation: the same answer as on
#        any machine, and quick); test_kernels_compile does not (NVRTC on the
#        whole library, minutes of device time for what CI checks already).
#     2. examples/run_block --check on the f16 Llama-2-7B block, --prompt 512
#        and then 12 (the steps short of the wgmma tiles), --decode 4:
#        "largest relative difference from the CPU backend" should stay near
#        the GEMMs' 5e-4 (docs/gemm.md) and below 2e-3.
#        test_gemm_conformance runs in step 1 too (the GEMMs at odd sizes).
#     3. bench/attention_prefill_bench.cu (nvcc, sm_90): correctness checks
#        against a double reference ("all checks passed"), then us / launch
#        and TFLOP/s at T = 512 (f16, bf16) and 2048 (f16) for
#        greta_attention_mma and greta_attention, with PyTorch's SDPA (flash
#        backend, [1, 32, 512, 128], causal, a CUDA graph of 50 calls) timed
#        first and passed in: "greta/sdpa" is the issue's ratio (goal >= 0.5).
#        Built twice: as gretac emits it (__launch_bounds__(128)) and with
#        __launch_bounds__(128, 3) (3 blocks per SM, a few spilled registers).
# Logs land in $OUT (conformance.log, run_block.log, bench.log, sdpa.log).
#
#   scripts/device_flash_attention.sh wgmma     there (nothing to carry):
#     greta_attention_wgmma (templates/attention_wgmma.h, gretac's choice on
#     sm_90a at head_dim 128) through bench/attention_prefill_bench.cu,
#     built for sm_90a with -DATTN_WGMMA: every check of the bench (its own
#     among them, "check wgmma ..." lines), then its timing beside
#     greta_attention_mma at T = 512 and 2048 ("wgmma" lines). Logs:
#     $OUT/nvcc_wgmma.log, $OUT/bench_wgmma.log.
#
#   scripts/device_flash_attention.sh ab-prepare REV...   here: each REV's
#                                               templates/ and bench/ (REV
#                                               "tree": the working tree's)
#                                               into build-ab/N-NAME/
#   scripts/device_flash_attention.sh ab        there (carry build-ab): the
#     wgmma bench of every build-ab/ variant, built from its own sources,
#     in one call: each variant's checks, then its f16 timing at T = 512
#     and 2048, the variants taking turns (two rounds: only a comparison
#     within one call is valid). GRETA_AB_NCU="N ..." (variant numbers, or
#     "all") adds ncu's source view of those variants' first T = 2048
#     launch ($OUT/sass_N.csv: per SASS instruction, its stall samples) and
#     its details page ($OUT/ncu_N.txt); about 40 s each.
#     GRETA_AB_CHECK_S bounds each variant's checks (120 s). Logs:
#     $OUT/ab_checks.log. Where build-ab/cubins/STEM--VARIANT.cubin exist
#     (a variant's gretac on a model, e.g. llama2_7b_t2048--persistent.cubin)
#     and build-bench/carry (bench/run.sh prepare; carry it too), each is
#     then timed beside build-bench/carry/STEM.cubin by bench_greta, in
#     turn, two rounds: T = 2048 for *_t2048 stems, else T = 512.
#     GRETA_AB_CUBINS (a glob, default '*--*.cubin') picks some of them,
#     e.g. '*--entries.cubin'.
#     GRETA_AB_TOKENS="512 2048" times the other stems at those T (512);
#     GRETA_AB_PROFILE=1 adds each launch alone (bench_greta --profile).
set -u
cd "$(dirname "$0")/.." || exit
BUILD=build-dev
. scripts/device_env.sh

prepare() {
  bash scripts/device_suite.sh prepare
}

run() {
  local src out=${OUT:-/tmp} status=0
  device_env "$BUILD"
  src=$SRC
  # The kernel is gretac's default for half caches; said again so that an
  # environment with GRETA_NVIDIA_FLASH_ATTENTION=0 still checks it.
  export GRETA_NVIDIA_FLASH_ATTENTION=1
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null

  echo "=== 1. conformance (GPU against CPU), the attention emulation"
  for t in test_backend_conformance test_gemm_conformance test_mma_attention; do
    (cd "$src" && timeout 300 "$PWD/$BUILD/tests/$t" --jobs 1 --verbose) >"$out/$t.log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || status=1
    printf '%-26s rc=%d %s\n' "$t" $rc "$(grep -a 'Synthesis' "$out/$t.log" | tail -1 | sed 's/.*Synthesis: //')"
    grep -a -E 'FAIL|attention.* on |sm_90 attention|max error' "$out/$t.log" | grep -v '^\[----\]   ' | head -24
  done

  echo "=== 2. examples/run_block --check, f16 Llama-2-7B block, prompts 512 and 12"
  sed 's/weight_dtype = f32/weight_dtype = f16/' examples/llama2_block.gm >/tmp/llama2_block_f16.gm
  "$BUILD/compiler/gretac" /tmp/llama2_block_f16.gm --target=sm_90 --emit=plan 2>/dev/null |
    grep -E '^entry|^ +attention ' || { echo "no prefill attention launch in the plan"; status=1; }
  if "$BUILD/compiler/gretac" /tmp/llama2_block_f16.gm --target=sm_90 -o /tmp/block_f16.cubin; then
    : >"$out/run_block.log"
    for prompt in 512 12; do
      timeout 400 "$BUILD/examples/run_block" /tmp/block_f16.cubin --prompt $prompt --decode 4 --check \
        >>"$out/run_block.log" 2>&1 || status=1
    done
    cat "$out/run_block.log"
  else
    status=1
  fi

  echo "=== 3. prefill attention alone: greta_attention_mma, greta_attention, SDPA (flash)"
  local nvcc=nvcc
  command -v nvcc >/dev/null || nvcc=/usr/local/cuda/bin/nvcc
  PYTHONUNBUFFERED=1 python3 - >"$out/sdpa.log" 2>&1 <<'EOF'
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

T, H, D, PER_GRAPH = 512, 32, 128, 50
times = []
for dt in (torch.float16, torch.bfloat16):
    q, k, v = (torch.randn(1, H, T, D, device="cuda", dtype=dt) for _ in range(3))
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(PER_GRAPH):
                F.scaled_dot_product_attention(q, k, v, is_causal=True)
    g.replay(), g.replay()
    per = []
    for _ in range(11):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        per.append(a.elapsed_time(b) * 1e3 / PER_GRAPH)
    per.sort()
    us = per[len(per) // 2]
    flops = 4.0 * T * (T / 2) * D * H
    print(f"sdpa flash {str(dt).split('.')[-1]} T={T}: {us:.2f} us {flops / us * 1e-6:.1f} TFLOP/s")
    times.append(us)
print("SDPA_US", *(f"{t:.3f}" for t in times))
EOF
  cat "$out/sdpa.log"
  local sdpa
  sdpa=$(sed -n 's/^SDPA_US //p' "$out/sdpa.log")
  [ -n "$sdpa" ] || { echo "SDPA not timed: the ratio is left out"; sdpa="0 0"; }
  : >"$out/bench.log"
  for mb in 1 3; do
    if "$nvcc" -O3 -std=c++17 -arch=sm_90 -Itemplates -DATTN_MIN_BLOCKS=$mb -Xptxas -v \
        bench/attention_prefill_bench.cu -o /tmp/attention_prefill_bench_$mb >/tmp/nvcc_$mb.log 2>&1; then
      grep -A3 'mma_kernelILx32ELx32ELi128ELx4096ELi1' /tmp/nvcc_$mb.log | grep -E 'registers|spill' | sed 's/^/  ptxas f16 hd128: /'
      # shellcheck disable=SC2086
      timeout 300 /tmp/attention_prefill_bench_$mb --sdpa-us $sdpa 2>&1 | tee -a "$out/bench.log" || status=1
    else
      cat /tmp/nvcc_$mb.log
      status=1
    fi
  done
  return $status
}

wgmma() {
  local out=${OUT:-/tmp} nvcc=nvcc
  command -v nvcc >/dev/null || nvcc=/usr/local/cuda/bin/nvcc
  if ! "$nvcc" -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -DATTN_WGMMA -DATTN_MIN_BLOCKS=1 \
      -Itemplates -Ibench -Xptxas -v bench/attention_prefill_bench.cu -o /tmp/attention_wgmma_bench \
      >"$out/nvcc_wgmma.log" 2>&1; then
    tail -20 "$out/nvcc_wgmma.log"
    return 1
  fi
  grep -A3 'wgmma_kernel' "$out/nvcc_wgmma.log" | grep -E 'registers|spill' | head -2
  timeout 300 /tmp/attention_wgmma_bench 2>&1 | tee "$out/bench_wgmma.log"
  return "${PIPESTATUS[0]}"
}

ab_prepare() {
  [ $# -ge 1 ] || { echo "usage: $0 ab-prepare REV... (REV 'tree': the working tree)" >&2; return 2; }
  rm -rf build-ab/[0-9]*-*/ # the variants' sources; build-ab/cubins stays
  local n=0 rev dir
  for rev in "$@"; do
    n=$((n + 1))
    dir=build-ab/$n-$(printf '%s' "$rev" | tr -c 'A-Za-z0-9._-' '_')
    mkdir -p "$dir"
    if [ "$rev" = tree ]; then
      cp -r templates bench "$dir/"
      echo "$dir: the working tree"
    else
      git archive "$rev" templates bench | tar -x -C "$dir" || return 1
      echo "$dir: $(git log -1 --format='%h %s' "$rev")"
    fi
  done
}

ab() {
  local out=${OUT:-/tmp} nvcc=nvcc dir name r status=0
  shopt -s nullglob # build-ab/ may hold only cubins
  command -v nvcc >/dev/null || nvcc=/usr/local/cuda/bin/nvcc
  [ -d build-ab ] || { echo "no build-ab/: run ab-prepare here and carry build-ab" >&2; return 2; }
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null
  for dir in build-ab/[0-9]*-*/; do
    name=$(basename "$dir")
    (cd "$dir" && "$nvcc" -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -DATTN_WGMMA \
      -DATTN_MIN_BLOCKS=1 -Itemplates -Ibench -Xptxas -v bench/attention_prefill_bench.cu \
      -o "/tmp/ab_$name" >"/tmp/ab_nvcc_$name.log" 2>&1) &
  done
  wait
  : >"$out/ab_checks.log"
  for dir in build-ab/[0-9]*-*/; do
    name=$(basename "$dir")
    if [ ! -x "/tmp/ab_$name" ]; then
      echo "$name: did not build"; tail -20 "/tmp/ab_nvcc_$name.log"; status=1; continue
    fi
    echo "$name: ptxas $(grep -A2 'wgmma_kernel' "/tmp/ab_nvcc_$name.log" | grep spill | sort -u | tr -s ' ' | paste -sd ';')"
    # Line-buffered, so that a variant that hangs (rc 124) still shows its
    # last check.
    timeout "${GRETA_AB_CHECK_S:-120}" stdbuf -oL "/tmp/ab_$name" >"/tmp/ab_check_$name.log" 2>&1
    echo "$name: checks rc=$?, $(grep -c FAIL "/tmp/ab_check_$name.log") FAIL lines, $(tail -1 "/tmp/ab_check_$name.log")"
    { echo "=== $name"; cat "/tmp/ab_check_$name.log"; } >>"$out/ab_checks.log"
  done
  for r in 1 2; do
    for dir in build-ab/[0-9]*-*/; do
      name=$(basename "$dir")
      [ -x "/tmp/ab_$name" ] || continue
      ATTN_ONLY_TIME=1 timeout 60 "/tmp/ab_$name" 2>&1 | grep wgmma | sed "s/^/round $r $name: /"
    done
  done
  if [ -n "${GRETA_AB_NCU:-}" ]; then
    command -v ncu >/dev/null || { echo "no ncu"; return 1; }
    for dir in build-ab/[0-9]*-*/; do
      name=$(basename "$dir")
      [ -x "/tmp/ab_$name" ] || continue
      [ "$GRETA_AB_NCU" = all ] || [[ " $GRETA_AB_NCU " == *" ${name%%-*} "* ]] || continue
      ATTN_ONLY_TIME=2048 timeout 120 ncu --clock-control none --section SpeedOfLight --section WarpStateStats \
        --section SourceCounters --section ComputeWorkloadAnalysis -k regex:wgmma_kernel -c 1 -f \
        -o "/tmp/ab_$name" "/tmp/ab_$name" >"/tmp/ab_ncu_$name.log" 2>&1 || tail -3 "/tmp/ab_ncu_$name.log"
      ncu -i "/tmp/ab_$name.ncu-rep" --page details >"$out/ncu_${name%%-*}.txt" 2>&1
      ncu -i "/tmp/ab_$name.ncu-rep" --page source --csv --print-source sass >"$out/sass_${name%%-*}.csv" 2>&1
      echo "$name: ncu $(grep -E 'Duration|Tensor' "$out/ncu_${name%%-*}.txt" | tr -s ' ' | paste -sd ';')"
    done
  fi
  local bench=build-bench/carry/bench_greta cubin stem t tokens m pick=${GRETA_AB_CUBINS:-*--*.cubin}
  # shellcheck disable=SC2086 # $pick is a glob
  if compgen -G "build-ab/cubins/$pick" >/dev/null && [ -x "$bench" ]; then
    echo "=== whole models: build-bench/carry's kernels against the variants' (bench_greta, ms)"
    for r in 1 2; do
      # shellcheck disable=SC2231
      for cubin in build-ab/cubins/$pick; do
        stem=$(basename "${cubin%%--*}")
        case $stem in *_t2048) tokens=2048 ;; *) tokens=${GRETA_AB_TOKENS:-512} ;; esac
        for t in $tokens; do
          for m in "build-bench/carry/$stem.cubin" "$cubin"; do
            [ -f "$m" ] || { echo "no $m"; status=1; continue; }
            # shellcheck disable=SC2086 # the flag is one word or none
            timeout 120 "$bench" "$m" --tokens "$t" --repeats 10 --warm-s 1 \
              --name "$(basename "$m" .cubin)" ${GRETA_AB_PROFILE:+--profile} 2>&1 |
              sed -n -e "s/.*\"name\": \"\([^\"]*\)\", \"launch\": \([0-9]*\), \"op\": \"\([^\"]*\)\".*\"median_ms\": \([0-9.]*\).*/round $r T=$t: \1 launch \2 \3 \4/p" \
                -e "s/.*\"name\": \"\([^\"]*\)\", \"model\".*\"median_ms\": \([0-9.]*\).*/round $r T=$t: \1 \2/p"
          done
        done
      done
    done
  fi
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  wgmma) wgmma ;;
  ab-prepare) shift; ab_prepare "$@" ;;
  ab) ab ;;
  *) echo "usage: $0 prepare|run|wgmma|ab-prepare REV...|ab" >&2; exit 2 ;;
esac
