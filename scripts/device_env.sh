# Sourced by the device scripts (device_suite.sh, device_flash_attention.sh,
# device_early_launch.sh): what a run on the lent GPU machine needs before
# its first test. The test binaries find the source tree at the path they
# were built in, so that path is linked to wherever the tree landed; the
# carried shared libraries and tokenizer files are put on their paths.
# device_env BUILD sets SRC (the build's source path).
device_env() {
  local build=$1
  SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [ "$SRC" != "$PWD" ] && [ ! -e "$SRC" ]; then mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC"; fi
  export LD_LIBRARY_PATH="$PWD/$build/carrylib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GRETA_CACHE_DIR=/tmp/greta-cache
  export GRETA_TOKENIZER_CACHE=$PWD/$build/tokenizers
}
