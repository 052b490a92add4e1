#!/bin/sh
# Installs a libgreta build into a temporary prefix, builds tests/install's
# consumer outside the tree with find_package(Greta) (shared and static) and
# with pkg-config, and runs each on the CPU backend.
#
#   tests/install/run.sh BUILD_DIR [SOURCE_DIR]
# Extra compiler/linker flags for the consumer (e.g. the sanitizers the
# library was built with) come from $GRETA_CONSUMER_FLAGS.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
flags=${GRETA_CONSUMER_FLAGS:-}
work=$(mktemp -d /tmp/greta_install_XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" --component Greta > "$work/install.log"
test -f "$prefix/include/greta/greta.h"
libdir=$(dirname "$(find "$prefix" -name 'libgreta.so' | head -n 1)")
test -f "$libdir/libgreta.a"
# The greta command, installed beside the library, finds it from there (RPATH $ORIGIN/../lib).
"$prefix/bin/greta" --version

echo "== the plan the consumer runs"
cc $flags -I"$src/runtime/include" -I"$src/runtime/src" "$src/tests/install/make_plan.c" \
   "$build/runtime/libgreta.a" -ljansson -lpcre2-8 -lutf8proc -fopenmp -lm -ldl -o "$work/make_plan"
"$work/make_plan" "$work/consumer.plan"

echo "== find_package(Greta)"
cmake -S "$src/tests/install" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/cmake.log"
cmake --build "$work/cmake-build" > "$work/build.log"
"$work/cmake-build/consumer" "$work/consumer.plan"
"$work/cmake-build/consumer_static" "$work/consumer.plan"

echo "== pkg-config greta"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists greta
# shellcheck disable=SC2046
cc $flags "$src/tests/install/consumer.c" $(pkg-config --cflags --libs greta) -lm \
   -Wl,-rpath,"$libdir" -o "$work/consumer_pc"
"$work/consumer_pc" "$work/consumer.plan"
# shellcheck disable=SC2046
cc $flags "$src/tests/install/consumer.c" $(pkg-config --cflags greta) "$libdir/libgreta.a" \
   $(pkg-config --static --libs-only-other --libs-only-l greta | sed 's/-lgreta//') -lm \
   -o "$work/consumer_pc_static"
"$work/consumer_pc_static" "$work/consumer.plan"
echo "install test: OK"
