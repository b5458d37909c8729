#!/usr/bin/env bash
# Installs build/release into a scratch prefix and builds examples/consumer
# against it twice: with CMake (find_package(qkern CONFIG): the shared and the
# static library) and with pkg-config (qkern.pc). Runs every program built.
#   scripts/test-install.sh [build dir, default build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
prefix=$PWD/build/install
work=$PWD/build/consumer
rm -rf "$prefix" "$work"
mkdir -p "$work/pkg-config"

echo "== cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(sed -n 's/^libdir=\${prefix}\///p' "$prefix"/lib*/pkgconfig/qkern.pc 2>/dev/null || true)
[ -n "$libdir" ] || libdir=$(cd "$prefix" && ls -d lib*/pkgconfig | head -1 | xargs dirname)
for f in include/qkern/qkern.h include/qkern/qkern.hpp "$libdir/libqkern.a" "$libdir/libqkern.so" \
         "$libdir/pkgconfig/qkern.pc" "$libdir/cmake/qkern/qkernConfig.cmake"; do
  [ -e "$prefix/$f" ] || { echo "test-install: $prefix/$f was not installed" >&2; exit 1; }
done
soname=$(objdump -p "$prefix/$libdir/libqkern.so" | awk '/SONAME/ {print $2}')
[ -e "$prefix/$libdir/$soname" ] || { echo "test-install: $soname missing" >&2; exit 1; }
# Nothing of the build tree leaks into the installed headers.
if grep -rlE '#include "(kernels|reference|hwy)/' "$prefix/include/qkern"; then
  echo "test-install: an installed header includes a private header" >&2; exit 1
fi

echo "== examples/consumer with find_package(qkern CONFIG)"
cmake -S examples/consumer -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/cmake-configure.log"
cmake --build "$work/cmake" > "$work/cmake-build.log"
for exe in mlp_conv_c mlp_conv_cpp mlp_conv_cpp_static; do
  # Only the shared programs may load libqkern.so, and they must find the installed one.
  # ldd's output first, then grep: `ldd | grep -q` under pipefail fails when
  # grep exits at its match before ldd has written everything (SIGPIPE).
  deps=$(ldd "$work/cmake/$exe")
  if [ "$exe" = mlp_conv_cpp_static ]; then
    if grep -q libqkern <<< "$deps"; then
      echo "test-install: $exe links libqkern.so" >&2; exit 1
    fi
  elif ! grep -qF "$prefix/$libdir/$soname" <<< "$deps"; then
    echo "test-install: $exe does not load $prefix/$libdir/$soname" >&2; echo "$deps" >&2; exit 1
  fi
  "$work/cmake/$exe" > "$work/$exe.out"
  echo "   $exe: $(tail -1 "$work/$exe.out")"
done

echo "== examples/consumer with pkg-config"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
pkg-config --exists --print-errors qkern
cc -std=c11 -O2 -Wall -Wextra examples/mlp_conv.c $(pkg-config --cflags qkern) \
  $(pkg-config --libs qkern) -lm -o "$work/pkg-config/mlp_conv_c"
c++ -std=c++17 -O2 -Wall -Wextra examples/mlp_conv.cc $(pkg-config --cflags qkern) \
  $(pkg-config --libs qkern) -o "$work/pkg-config/mlp_conv_cpp"
# Static: the archive by name, then what qkern.pc lists for static linking (Highway, threads).
static_libs=$(pkg-config --static --libs qkern)
c++ -std=c++17 -O2 examples/mlp_conv.cc $(pkg-config --cflags qkern) ${static_libs/-lqkern/-l:libqkern.a} \
  -o "$work/pkg-config/mlp_conv_cpp_static"
for exe in mlp_conv_c mlp_conv_cpp mlp_conv_cpp_static; do
  LD_LIBRARY_PATH="$prefix/$libdir" "$work/pkg-config/$exe" > "$work/pkg-config/$exe.out"
  echo "   $exe: $(tail -1 "$work/pkg-config/$exe.out")"
done
echo "test-install: ok"
