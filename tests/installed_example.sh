#!/usr/bin/env bash
# The library is a library: install the build into a fresh prefix, build examples/tiny_search.c
# against the installed tree only (once with pkg-config, once with find_package(radars)), run it.
#   tests/installed_example.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1
SRC=$2
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "installed_example: skipped (apt-get install dataset-fashion-mnist)"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" > "$T/install.log"
for f in include/radars/radars.h lib/libradars.a lib/libradars.so lib/pkgconfig/radars.pc \
         lib/cmake/radars/radarsConfig.cmake bin/radars share/radars/configs/default.ini; do
  [ -e "$T/prefix/$f" ] || { echo "installed_example: $f not installed"; exit 1; }
done
# the public headers must stand alone: no header of src/ may be needed
if grep -rn '#include "' "$T/prefix/include/radars" | grep -v '"radars/'; then
  echo "installed_example: an installed header includes something outside include/radars"; exit 1
fi
# 1. pkg-config, shared library (the source tree is not on any include path)
PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig" pkg-config --cflags --libs radars > "$T/flags"
cc -std=c11 -Wall -Wextra -Werror "$SRC/examples/tiny_search.c" $(cat "$T/flags") -Wl,-rpath,"$T/prefix/lib" \
   -o "$T/tiny_pc"
# 2. CMake package
cmake -S "$SRC/examples" -B "$T/build" -DCMAKE_PREFIX_PATH="$T/prefix" -DCMAKE_BUILD_RPATH="$T/prefix/lib" \
      -DCMAKE_C_FLAGS="-Werror" > "$T/cmake.log"
cmake --build "$T/build" > "$T/build.log"
ldd "$T/build/tiny_search" | grep -q "$T/prefix/lib/libradars.so" \
  || { echo "installed_example: the CMake build does not use the installed libradars.so"; ldd "$T/build/tiny_search"; exit 1; }
"$T/build/tiny_search" fashion-mnist "$T/run" | tee "$T/out"
grep -q "^genotype: Genotype(normal=" "$T/out"
grep -q "^trained: test accuracy" "$T/out"
[ -s "$T/run/search/genotype.txt" ] && [ -s "$T/run/train/checkpoint.safetensors" ]
"$T/tiny_pc" fashion-mnist "$T/run_pc" > /dev/null
echo "installed_example: built against the installed tree (pkg-config and find_package) and ran"
