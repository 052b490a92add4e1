#!/usr/bin/env bash
# tmp: the glu launch in the block at T = 512: one path only vs every width's.
C=build-bench/carry
. scripts/device_env.sh; device_env build-dev
glu() { grep -o '"op[^}]*' | grep matmul_glu | grep -o 'median_ms": [0-9.]*' | awk '{printf "%.1f ", $2*1000}'; }
for i in 1 2 3 4; do
  for m in llama2_block_f16 llama2_block_f16_prev llama2_block_f16_only224 llama2_block_f16_only256; do
    printf "%s T=512 glu: " $m; timeout 60 $C/bench_greta $C/$m.cubin --tokens 512 --repeats 20 --profile --name p | glu
    timeout 60 $C/bench_greta $C/$m.cubin --tokens 512 --repeats 20 --name b | grep -o '"median_ms[^,]*'
  done
done
