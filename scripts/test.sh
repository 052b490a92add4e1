#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, a warnings-as-errors
# build and its tests, a bounded fuzz run of the parser, then the same tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
# GPU tests skip (saying so) on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/bootstrap.sh

echo "== build (warnings are errors)"
cmake -S . -B build/ci -DGRETA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j"$jobs"
ctest --test-dir build/ci --output-on-failure -j"$jobs"

echo "== fuzz the parser, the model reader and the safetensors reader (${FUZZ_SECONDS:-60} s each)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

echo "== build with ASan + UBSan"
cmake -S . -B build/asan -DGRETA_WERROR=ON -DGRETA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$jobs"
ctest --test-dir build/asan --output-on-failure -j"$jobs"
