#!/usr/bin/env bash
# The standalone CUDA benches under bench/ still compile against today's
# templates. They are built only for the GPU machine (scripts/device_*.sh,
# bench/run.sh), so nothing else notices when a template they call changes.
# Each with the flags its header gives, to an object file (no cuBLAS link),
# all at once. Every bench/*.cu must be in the list below. Exit 77 (ctest:
# skipped) where there is no nvcc.
set -u
cd "$(dirname "$0")/.." || exit 1
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "no nvcc: the benches' build is not checked"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sm90a=-gencode=arch=compute_90a,code=sm_90a
benches=(attention_decode_bench.cu attention_prefill_bench.cu gemm_wgmma_bench.cu
  gemm_wgmma_tiles.cu gemm_wgmma_tma.cu l2_rate.cu)
flags() {
  case $1 in
    attention_decode_bench.cu | l2_rate.cu) echo -arch=sm_90 ;;
    attention_prefill_bench.cu) echo $sm90a -DATTN_MIN_BLOCKS=1 -DATTN_WGMMA ;;
    *) echo $sm90a ;;
  esac
}
status=0
for f in bench/*.cu; do
  case " ${benches[*]} " in *" ${f#bench/} "*) ;; *) echo "$f is not in $0's list"; status=1 ;; esac
done
for f in "${benches[@]}"; do
  # shellcheck disable=SC2046
  ("$NVCC" -O3 -std=c++17 $(flags "$f") -Itemplates -Ibench -c "bench/$f" -o "$out/$f.o" \
     >"$out/$f.log" 2>&1; echo $? >"$out/$f.rc") &
done
wait
for f in "${benches[@]}"; do
  if [ "$(cat "$out/$f.rc")" = 0 ]; then
    echo "ok: bench/$f"
  else
    echo "FAILED: bench/$f"
    grep -m5 error "$out/$f.log"
    status=1
  fi
done
exit $status
