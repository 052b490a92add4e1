#!/bin/sh
# Fuzzes the front end (tests/fuzz/fuzz_parser.c) with libFuzzer under
# ASan + UBSan for N seconds (default 60). Exits non-zero on any crash,
# leak, sanitizer report or timeout; the reproducer is left in build-fuzz/.
#
#   scripts/fuzz.sh [seconds]
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GRETA_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang-19}

cmake -B "$build" -S "$root" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRETA_FUZZ=ON -DGRETA_SANITIZE=ON \
  >/dev/null
cmake --build "$build" -j2 --target fuzz_parser

# Work on a copy of the seed corpus so the checked-in seeds stay small.
work="$build/fuzz-corpus"
mkdir -p "$work"
cp "$root"/tests/fuzz/corpus/* "$work"/
cd "$build"
# The fuzzer's progress lines go to a log; the summary (or the failure) is printed.
log="$build/fuzz.log"
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ./tests/fuzz/fuzz_parser -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  echo "fuzz: FAILED (exit $status); full log: $log" >&2
  exit "$status"
fi
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" || true
echo "fuzz: $seconds s, no crash, leak or sanitizer report"
