#!/usr/bin/env bash
# Runs the GPU backend's tests (tests/test_gpu_backend.c) on a machine with a
# GPU that has no Criterion (the lent GPU machine).
#
#   scripts/gpu_check.sh prepare   here: builds the test twice (ASan+UBSan, and
#                                  plain) into build-gpu-carry/ with Criterion's
#                                  shared libraries beside it
#   scripts/gpu_check.sh run       there: runs both builds, prints a summary
#
# build-gpu-carry/ is ignored by git (/build*/): pass it to the device tool's
# `carry`. Keep it under the 64 MiB the tool carries.
set -u
cd "$(dirname "$0")/.."
CARRY=build-gpu-carry

prepare() {
  set -e
  rm -rf "$CARRY" && mkdir -p "$CARRY/lib"
  local warn="-std=c17 -Wall -Wextra -Wno-unused-parameter -Werror -g -O1 -fopenmp"
  local inc="-Iruntime/include -Iruntime/src"
  local srcs
  srcs=$(find runtime/src -name '*.c' | sort)
  # shellcheck disable=SC2086
  gcc $warn -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
      $inc $srcs tests/test_gpu_backend.c -o "$CARRY/test_gpu_backend_asan" \
      -lcriterion -ldl -lm
  # shellcheck disable=SC2086
  gcc $warn $inc $srcs tests/test_gpu_backend.c -o "$CARRY/test_gpu_backend" \
      -lcriterion -ldl -lm
  # Criterion and what it pulls in that Ubuntu's base image lacks; glibc,
  # libstdc++ and libgcc_s stay the system's (newer there, and the CUDA
  # libraries need them).
  ldd "$CARRY/test_gpu_backend_asan" | awk '/=> \//{print $3}' |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' |
    while read -r lib; do cp -L "$lib" "$CARRY/lib/"; done
  du -sh "$CARRY"
}

run() {
  export LD_LIBRARY_PATH="$PWD/$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
  local status=0 summary=""
  for bin in test_gpu_backend test_gpu_backend_asan; do
    echo "=== $bin"
    local out="${OUT:-/tmp}/$bin.log"
    timeout 280 "$CARRY/$bin" --jobs 1 --verbose >"$out" 2>&1
    local rc=$?
    cat "$out"
    summary="$summary$bin: rc=$rc $(grep -a 'Synthesis' "$out" | tail -1)"$'\n'
    [ $rc -eq 0 ] || status=1
  done
  echo "=== summary"
  printf '%s' "$summary"
  return $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
