#!/usr/bin/env bash
# Checks that other projects can build against snapcache: installs BUILD_DIR
# into a scratch directory, then builds tests/consumer/project three ways and
# runs each program:
#   (a) as a meson subproject (subprojects/snapcache -> SOURCE_DIR),
#   (b) through pkg-config: a meson dependency() and a plain compiler command,
#   (c) through CMake's find_package(snapcache) with CMAKE_PREFIX_PATH.
# The compiler is $CXX (default c++). Exits non-zero on any failure.
# Usage: consumer-check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
project=$source/tests/consumer/project
read -ra cxx <<<"${CXX:-c++}"
# meson test sets this for the tests it runs; it only slows the compilers.
unset MALLOC_PERTURB_

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
current=setup
trap 'echo "consumer-check: FAILED in $current" >&2' ERR

# stage NAME: names what follows, for the log and for a failure message.
stage() {
  current=$1
  echo "== $1"
}

# run COMMAND...: prints the command, then runs it.
run() {
  echo "+ $*"
  "$@"
}

# logged LOG COMMAND...: runs a chatty command (a configure step) with its
# output in LOG, which is printed only if it fails.
logged() {
  local log=$1
  shift
  echo "+ $*"
  "$@" >"$log" 2>&1 || { cat "$log"; return 1; }
}

# An install into DESTDIR lands in DESTDIR/<prefix>: that is the prefix the
# consumers see. The build directory itself is not touched.
stage "install $build"
prefix=$(meson introspect --buildoptions "$build" |
  python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
run meson install -C "$build" --no-rebuild --quiet --destdir "$scratch/dest"
root=$scratch/dest$prefix
pc_file=$(find "$root" -name snapcache.pc -path '*/pkgconfig/*')
cmake_config=$(find "$root" -name snapcacheConfig.cmake -path '*/cmake/snapcache/*')
[[ -n $pc_file && -n $cmake_config && -f $root/include/snapcache/hash_map.hpp ]]
echo "prefix $prefix -> $root"
# A shared build's programs must find the library where it was installed.
export LD_LIBRARY_PATH=${pc_file%/pkgconfig/*}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

stage "(a) meson subproject"
mkdir -p "$scratch/sub/subprojects"
cp "$project"/{main.cpp,meson.build,meson_options.txt} "$scratch/sub/"
ln -s "$source" "$scratch/sub/subprojects/snapcache"
CXX="${cxx[*]}" logged "$scratch/sub-setup.log" \
  meson setup --buildtype=plain -Dsnapcache_from=subproject "$scratch/sub/build" "$scratch/sub"
run ninja -C "$scratch/sub/build" -j2
run "$scratch/sub/build/consumer"

stage "(b) pkg-config"
# PKG_CONFIG_SYSROOT_DIR maps the .pc file's absolute paths into DESTDIR.
export PKG_CONFIG_PATH=${pc_file%/*} PKG_CONFIG_SYSROOT_DIR=$scratch/dest
version=$(pkg-config --modversion snapcache)
CXX="${cxx[*]}" logged "$scratch/pc-setup.log" \
  meson setup --buildtype=plain -Dsnapcache_from=pkg-config "$scratch/pc-meson" "$project"
run ninja -C "$scratch/pc-meson" -j2
run "$scratch/pc-meson/consumer"
# The .pc file alone must be enough: no build system adds anything here.
read -ra flags <<<"$(pkg-config --cflags --libs snapcache)"
run "${cxx[@]}" -Wall -Wextra -Wpedantic -Werror "$project/main.cpp" "${flags[@]}" -o "$scratch/pc-consumer"
run "$scratch/pc-consumer"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

stage "(c) cmake find_package"
CXX="${cxx[*]}" logged "$scratch/cmake-setup.log" \
  cmake -S "$project" -B "$scratch/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root" -DSNAPCACHE_VERSION="$version"
# The package found must be the one just installed, not one from the system.
grep -qx "snapcache_DIR:PATH=${cmake_config%/*}" "$scratch/cmake/CMakeCache.txt"
run cmake --build "$scratch/cmake" -j 2 --verbose
run "$scratch/cmake/consumer"

echo "consumer-check: the subproject, pkg-config (meson and plain) and cmake consumers built and ran"
