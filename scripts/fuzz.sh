#!/bin/sh
# Fuzzes GRETA's readers with libFuzzer under ASan + UBSan, N seconds each
# (default 60): the front end (tests/fuzz/fuzz_parser.c), the model reader
# with the CPU backend running what it reads (fuzz_model.c), the
# safetensors reader (fuzz_safetensors.c), gretac import's config.json
# reader (fuzz_import.c), the checkpoint binder reading
# model.safetensors.index.json beside its shards (fuzz_checkpoint.c), and the
# tokenizer (fuzz_tokenizer.c). The harnesses run FUZZ_JOBS at a time
# (default: the number of cores; each fuzzer is one process on one core).
# Exits non-zero on any crash, leak, sanitizer report or timeout; the
# reproducer is left in build-fuzz/.
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
cmake --build "$build" -j"$(nproc)" --target fuzz_parser fuzz_model fuzz_safetensors fuzz_import \
  fuzz_checkpoint fuzz_tokenizer gretac

# Seeds, copied so the checked-in ones stay small: .gm files for the parser,
# CPU plans gretac writes from the examples for the model reader, the test
# fixtures for the safetensors reader.
corpus="$build/fuzz-corpus"
rm -rf "$corpus" && mkdir -p "$corpus/parser" "$corpus/model" "$corpus/safetensors" "$corpus/import" \
  "$corpus/checkpoint" "$corpus/tokenizer"
cp "$root"/tests/fuzz/corpus/* "$corpus/parser/"
for gm in tiny_block tiny_block_hd32 tiny_llama; do
  ASAN_OPTIONS=detect_leaks=0 "$build/compiler/gretac" "$root/examples/$gm.gm" --target=cpu \
    --max-tokens=4 -q -o "$corpus/model/$gm.gplan"
done
cp "$root"/tests/fuzz/corpus/small.gm "$corpus/model/"
cp "$root"/tests/fixtures/hf_tiny_block_f16.safetensors "$corpus/safetensors/"
cp "$root"/tests/fuzz/corpus_import/* "$corpus/import/"
cp "$root"/tests/fuzz/corpus_checkpoint/* "$corpus/checkpoint/"
# The tokenizer's input's first byte picks the mode: 0 a tokenizer.json
# (seeded with tests/tokenizer/tiny_tokenizer.json), 1 / 2 text for the
# built-in byte-level / SentencePiece-style tokenizer, 3 int32 ids to
# decode and stream.
{ printf '\000'; cat "$root/tests/tokenizer/tiny_tokenizer.json"; } >"$corpus/tokenizer/tiny"
printf "\001Hello world <|eot|> it's 12345 \344\275\240\345\245\275 <x> <|s|>  x\r\n" >"$corpus/tokenizer/byte_level"
printf '\002 the abc <s>[n] x\360\237\253\240' >"$corpus/tokenizer/sentencepiece"
printf '\003\001\000\000\000\005\000\000\000\377\377\377\377\020\001\000\000' >"$corpus/tokenizer/ids"

# Each harness's progress lines go to its log; its summary (or its failure)
# is printed once its batch is done, in this order.
fuzz() { # harness max_len
  (cd "$build" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "./tests/fuzz/fuzz_$1" -max_total_time="$seconds" -max_len="$2" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 "$corpus/$1" >"$build/fuzz_$1.log" 2>&1)
}
report() { # harness exit-status
  log="$build/fuzz_$1.log"
  if [ "$2" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz $1: FAILED (exit $2); full log: $log" >&2
    return 1
  fi
  echo "fuzz $1: $(grep -E '^stat::number_of_executed_units' "$log" | sed 's/.*: *//') inputs in $seconds s, no crash, leak or sanitizer report"
}

jobs=${FUZZ_JOBS:-$(nproc)}
status=0
set -- parser:262144 model:262144 safetensors:262144 import:262144 checkpoint:262144 tokenizer:65536
while [ $# -gt 0 ]; do
  batch="" n=0
  while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
    name=${1%%:*}
    fuzz "$name" "${1#*:}" &
    eval "pid_$name=\$!"
    batch="$batch $name" n=$((n + 1))
    shift
  done
  for name in $batch; do
    rc=0
    eval "wait \$pid_$name" || rc=$?
    report "$name" "$rc" || status=1
  done
  [ "$status" -eq 0 ] || exit 1
done
