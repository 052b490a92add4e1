#!/usr/bin/env bash
# The decode-projection kernels (templates/gemv.h) checked and timed on the
# GPU machine, without a .gm model.
#
#   bench/gemv_bench.sh prepare   here, after scripts/device_suite.sh prepare:
#                                 bench/gemv_kernels.c linked against build-dev's
#                                 libraries writes build-dev/gemv/gemv.cubin + gemv.jsonl
#   bench/gemv_bench.sh run       there (carry build-dev): bench/gemv_bench.py
#                                 checks every kernel, then times the Llama-2-7B
#                                 f16 decode shapes; $OUT gets gemv_bench.json
set -u
cd "$(dirname "$0")/.."
BUILD=build-dev

case "${1:-}" in
  prepare)
    set -e
    mkdir -p "$BUILD/gemv"
    cc -std=c17 -O2 -Wall -Wextra -Werror -Icompiler -Icompiler/lower -Icompiler/toolchains \
      -Iruntime/src -Iruntime/include -Itemplates bench/gemv_kernels.c \
      "$BUILD/compiler/libgreta_compiler.a" "$BUILD/runtime/libgreta.a" -Wl,-Bstatic -ljansson -lpcre2-8 -lutf8proc -Wl,-Bdynamic -fopenmp -lm -ldl \
      -o "$BUILD/gemv/gemv_kernels"
    "$BUILD/gemv/gemv_kernels" "$BUILD/gemv"
    ;;
  run)
    PYTHONUNBUFFERED=1 python3 bench/gemv_bench.py "$BUILD/gemv" "${OUT:-$BUILD/gemv}"
    ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
