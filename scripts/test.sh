#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, a warnings-as-errors
# build and its tests, the CPU path and the command lines under valgrind,
# bounded fuzz runs of the readers, the same tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and the threading test
# under ThreadSanitizer.
# GPU tests skip (saying so) on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Each stage's start, in seconds since this script's (CI allows 90 minutes;
# the suite should take under 20).
stage() { echo "== $* (at ${SECONDS} s)"; }

bash scripts/bootstrap.sh

# The CPU backend's loops run on OpenMP threads, and ctest -j runs tests side
# by side: with libgomp's default, threads that wait spin, and spinning
# threads of two tests take the cores from each other's working ones
# (test_generate_hf under ASan: 48 s alone, 206 s beside other tests).
# Passive waiting keeps every test multithreaded without that.
export OMP_WAIT_POLICY=passive

stage "build (warnings are errors)"
cmake -S . -B build/ci -DGRETA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j"$jobs"
ctest --test-dir build/ci --output-on-failure -j"$jobs"

stage "valgrind: the CPU path, greta generate / tokenize / bench, both command lines' error paths"
GRETA_TOKENIZER_CACHE=$PWD/build/ci/tokenizers bash scripts/valgrind.sh build/ci

stage "fuzz the parser, the model reader, the safetensors reader, import, the checkpoint index and the tokenizer (${FUZZ_SECONDS:-60} s each)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

# Optimised (-O2 -g): the sanitizers' checks are put in before the optimiser
# runs, and the pass's tests took 357 s of wall time against 432 at -O0
# (2026-12-05, before the passive waits above).
stage "build with ASan + UBSan"
cmake -S . -B build/asan -DGRETA_WERROR=ON -DGRETA_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/asan -j"$jobs"
# Left out, as repeats of the first pass's runs that are nearly all a
# toolchain's time (about 190 s of this pass on two cores):
# bench_sources_compile (nvcc on bench/*.cu, nothing of GRETA's), and the
# sm_90, sm_90a and hiprtc cases of test_kernels_compile (NVRTC and hiprtc
# on the whole kernel library). Their GRETA code, the translation unit's
# source and the code-object readers, still runs here in clang_gfx942 (AMD
# ELF) and nvrtc_sm80 (cubin).
ctest --test-dir build/asan --output-on-failure -j"$jobs" \
  -E '^(bench_sources_compile|test_kernels_compile\.(nvrtc_sm90|nvrtc_sm90a_wgmma|hiprtc_gfx90a))$'

# The threading contract (greta.h): two sessions on two threads
# (tests/threads/two_sessions.c), under ThreadSanitizer.
stage "ThreadSanitizer: two sessions on two threads"
CC=clang-19 cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="-fsanitize=thread -g" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build build/tsan -j"$jobs" --target two_sessions
build/ci/compiler/gretac -q examples/tiny_block.gm --target=cpu -o build/tsan/two_sessions.gplan
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/two_sessions build/tsan/two_sessions.gplan
stage "done"
