#!/usr/bin/env bash
# The CPU path under valgrind (memcheck): the C API's threading test, the
# README walkthrough, `greta generate` from a checkpoint directory through
# the tokenizer (a prompt, and a chat that outgrows the cache), and the
# command lines' error paths (gretac and greta). Any
# invalid access, use of uninitialised memory or definite/indirect leak
# fails it. OpenMP's pool threads are left alive at exit by libgomp
# ("possibly lost"): not counted.
#
#   scripts/valgrind.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/ci}
work=$(mktemp -d /tmp/greta_valgrind_XXXXXX)
trap 'rm -rf "$work"' EXIT
gretac=$build/compiler/gretac greta=$build/runtime/cli/greta
vg=(valgrind -q --trace-children=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
export GRETA_BACKEND=cpu OMP_NUM_THREADS=2

# The inputs, made without valgrind.
"$gretac" -q examples/tiny_block.gm --target=cpu -o "$work/tiny_block.gplan"
"$gretac" -q examples/tiny_llama.gm --target=cpu -o "$work/tiny_llama.gplan"
python3 scripts/tiny_checkpoint.py "$work/ckpt" >/dev/null
"$gretac" -q "$work/ckpt" --target=cpu --max-seq=64 -o "$work/ckpt.gplan"
printf 'caf\xe9 \xff\n' >"$work/not_utf8.txt"

status=0
# run NAME EXPECTED_EXIT COMMAND...: valgrind's own failure is exit 99.
run() {
  local name=$1 want=$2
  shift 2
  "${vg[@]}" "$@" >"$work/out" 2>"$work/err" </dev/null
  local rc=$?
  if [ $rc -eq 99 ] || [ $rc -ne "$want" ]; then
    echo "valgrind $name: FAILED (exit $rc, expected $want)" >&2
    cat "$work/err" >&2
    status=1
  else
    echo "valgrind $name: clean (exit $rc)"
  fi
}

run two_sessions 0 "$build/tests/two_sessions" "$work/tiny_block.gplan"
run walkthrough 0 "$build/examples/walkthrough" "$work/tiny_block.gplan" \
  tests/fixtures/hf_tiny_block_f32.safetensors
run "greta generate" 0 "$greta" generate "$work/ckpt.gplan" --weights "$work/ckpt" \
  --prompt "Once upon a time" -n 8 --seed 3
run "greta generate --output ids" 0 "$greta" generate "$work/tiny_llama.gplan" \
  --weights tests/fixtures/hf_tiny_llama_f32.safetensors --prompt-ids "1 5 9" -n 4 --greedy --output ids
# A chat longer than the cache (max_seq 64): its oldest exchanges are dropped.
run "greta generate --chat" 0 sh -c "printf 'Hello\nWhat comes next?\nTell me more\nAnd then?\n' |
  $greta generate $work/ckpt.gplan --weights $work/ckpt --chat --template llama2 -n 8 --seed 3"
run "greta tokenize" 0 sh -c "echo 'Hello, world' | $greta tokenize --tokenizer $work/ckpt --bos"
run "greta info" 0 "$greta" info "$work/ckpt.gplan"
run "greta bench" 0 "$greta" bench "$work/tiny_llama.gplan" -p 8 -n 4 -r 1
# Error paths: each a message and exit 1, nothing leaked.
run "greta: unknown option" 1 "$greta" generate --no-such-option
run "greta: missing model" 1 "$greta" generate "$work/none.gplan" --weights "$work/ckpt" --prompt x
run "greta: weights missing" 1 "$greta" generate "$work/ckpt.gplan" --weights "$work/none" --prompt x
run "greta: corrupt tokenizer" 1 "$greta" generate "$work/ckpt.gplan" --weights "$work/ckpt" \
  --tokenizer "$work/not_utf8.txt" --prompt x
run "greta: prompt past max_seq" 1 "$greta" generate "$work/ckpt.gplan" --weights "$work/ckpt" \
  --prompt "$(printf 'word %.0s' $(seq 200))"
run "greta: bad number" 1 "$greta" bench "$work/tiny_llama.gplan" -p 12x
run "greta tokenize: not UTF-8" 1 sh -c "$greta tokenize --tokenizer $work/ckpt < $work/not_utf8.txt"
run "gretac: missing file" 1 "$gretac" "$work/none.gm" --target=cpu -o "$work/x"
run "gretac: not a model" 1 "$gretac" "$work/not_utf8.txt" --target=cpu -o "$work/x"
exit $status
