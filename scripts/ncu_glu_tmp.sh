#!/usr/bin/env bash
# ncu of the f16 block's prefill glu launch, with and without 224-wide tiles.
C=build-bench/carry
. scripts/device_env.sh; device_env build-dev
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
M='gpu__time_duration.sum,sm__cycles_elapsed.max,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio'
for m in llama2_block_f16 llama2_block_f16_prev llama2_block_f16_t2048 llama2_block_f16_t2048_prev; do
  for t in 512 2048; do
    case $m in *t2048*) ;; *) [ $t = 2048 ] && continue ;; esac
    echo "=== $m T=$t"
    timeout 120 $NCU --clock-control none -k regex:greta_matmul_glu_9 --launch-skip 2 --launch-count 1 \
      --metrics "$M" $C/bench_greta $C/$m.cubin --tokens $t --repeats 3 2>&1 | grep -E 'greta_matmul|duration|cycles_elapsed|hmma|inst_executed|stalled' | awk '{ if ($NF+0 > 0.05 || $0 ~ /duration|elapsed|hmma|inst|greta/) print }'
  done
done
for m in llama2_block_f16_t2048 llama2_block_f16_t2048_prev; do
  echo "--- profile $m T=2048"
  timeout 60 $C/bench_greta $C/$m.cubin --tokens 2048 --repeats 10 --profile --name p | grep -o '"op[^}]*' | sed 's/"bytes.*//' | sed 's/"kernel[^,]*, //' | head -8
done
