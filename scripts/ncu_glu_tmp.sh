#!/usr/bin/env bash
# tmp: distributions over processes of gate/up+glu, standalone and in the block.
C=build-bench/carry
. scripts/device_env.sh; device_env build-dev
for d in /usr/local/cuda/lib64 $(ls -d /usr/local/lib/python3*/*-packages/nvidia/cu*/lib 2>/dev/null); do LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d; done; export LD_LIBRARY_PATH
echo "standalone glu, own kernel / every width's kernel: 256 224 192 at T=512, then T=2048"
for i in 1 2 3 4 5 6 7 8 9 10; do
  $C/gemm_wgmma_tma glu | grep silu | awk '{printf "%s/%s ", $10, $14}'; echo
done
glu() { grep -o '"op[^}]*' | grep matmul_glu | grep -o 'median_ms": [0-9.]*' | awk '{printf "%.1f ", $2*1000}'; }
for i in 1 2 3 4 5; do
  for m in llama2_block_f16 llama2_block_f16_prev; do
    printf "%s T=512 glu: " $m; timeout 60 $C/bench_greta $C/$m.cubin --tokens 512 --repeats 20 --profile --name p | glu; echo
  done
  for m in llama2_block_f16_t2048 llama2_block_f16_t2048_prev; do
    printf "%s T=2048 glu: " $m; timeout 60 $C/bench_greta $C/$m.cubin --tokens 2048 --repeats 10 --profile --name p | glu; echo
  done
done
