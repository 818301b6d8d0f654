#!/usr/bin/env bash
# Checks that other projects can build against snapcache: installs it into a
# scratch directory, then builds tests/consumer/project and runs each program:
#   (a) as a meson subproject (subprojects/snapcache -> SOURCE_DIR), which
#       must build the library only (no tests, benchmarks or tools of ours),
#   (b) through pkg-config: a meson dependency() and a plain compiler command,
#   (c) through CMake's find_package(snapcache) with CMAKE_PREFIX_PATH=<prefix>,
#   (d) through the source tree's CMakeLists.txt: add_subdirectory and
#       FetchContent from a local path (after checking lib/sources.txt, the
#       source list meson and CMake share, against lib/*.cpp),
#   (e) a ThreadSanitizer consumer with the library compiled in with its
#       flags (FetchContent): a threaded workload, zero reports; and the
#       same workload against the installed TSan variant, through
#       pkg-config (snapcache-tsan) and CMake (snapcache::snapcache-tsan).
# (b) and (c) run twice: against an install of BUILD_DIR, and against an
# install of a library-only build configured as on a machine without
# dpkg-dev (meson then asks no dpkg-architecture for the multiarch libdir and
# picks lib64, a directory Debian's pkg-config and CMake do not search). Both
# find the package only where pkg-config and CMake look by default under the
# install prefix: nothing points them at the directory it happened to land in.
# The compiler is $CXX (default c++). Exits non-zero on any failure.
# Usage: consumer-check.sh BUILD_DIR SOURCE_DIR
set -Eeuo pipefail

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

# install_build BUILD DEST: installs BUILD into DEST (as DESTDIR) and prints
# the install prefix as the consumers see it, DEST/<prefix>.
install_build() {
  local prefix
  prefix=$(meson introspect --buildoptions "$1" |
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
  meson install -C "$1" --no-rebuild --quiet --destdir "$2" >&2
  echo "$2$prefix"
}

# default_pc_path PREFIX: pkg-config's own default search path, with each
# directory under /usr/local (the default prefix) moved under PREFIX: where a
# user's pkg-config looks after `meson install` into /usr/local.
default_pc_path() {
  pkg-config --variable pc_path pkg-config | tr ':' '\n' | sed -n "s|^/usr/local/|$1/|p" | paste -sd:
}

# consume LABEL DEST ROOT: builds and runs the pkg-config and CMake consumers
# against an install into DEST whose prefix ROOT (DEST/usr/local) was installed.
consume() {
  local label=$1 dest=$2 root=$3 version
  [[ -f $root/include/snapcache/hash_map.hpp ]]
  local libfile
  libfile=$(find "$root" -name 'libsnapcache.*' | head -n1)
  # A shared build's programs must find the library where it was installed.
  local old_ld=${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH=${libfile%/*}${old_ld:+:$old_ld}

  stage "(b) pkg-config, $label"
  # PKG_CONFIG_LIBDIR replaces the default path by the same directories under
  # ROOT; PKG_CONFIG_SYSROOT_DIR maps the .pc file's absolute paths into DEST.
  export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR=$dest
  PKG_CONFIG_LIBDIR=$(default_pc_path "$root")
  version=$(pkg-config --modversion snapcache)
  CXX="${cxx[*]}" logged "$scratch/pc-setup-$label.log" \
    meson setup --buildtype=plain -Dsnapcache_from=pkg-config "$scratch/pc-meson-$label" "$project"
  run ninja -C "$scratch/pc-meson-$label" -j2
  run "$scratch/pc-meson-$label/consumer"
  # The .pc file alone must be enough: no build system adds anything here
  # but the standard, which is the consumer's choice (C++20 or later): the
  # flags must not force one.
  read -ra flags <<<"$(pkg-config --cflags --libs snapcache)"
  if [[ " ${flags[*]} " == *" -std="* ]]; then
    echo "pkg-config --cflags forces a language standard: ${flags[*]}" >&2
    false
  fi
  for std in c++20 c++2b; do
    run "${cxx[@]}" "-std=$std" -Wall -Wextra -Wpedantic -Werror "$project/main.cpp" "${flags[@]}" \
      -o "$scratch/pc-consumer-$label"
    run "$scratch/pc-consumer-$label"
  done
  # The installed ThreadSanitizer variant (where the install has one): a
  # threaded TSan program built with its flags alone must run without one
  # report.
  local tsan=false
  if pkg-config --exists snapcache-tsan; then tsan=true; fi
  if $tsan; then
    stage "(b) pkg-config snapcache-tsan, $label"
    read -ra tsan_flags <<<"$(pkg-config --cflags --libs snapcache-tsan)"
    run "${cxx[@]}" -std=c++20 -O1 -g "$project/concurrent.cpp" "${tsan_flags[@]}" -o "$scratch/tsan-pc-$label"
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0" run "$scratch/tsan-pc-$label"
  fi
  unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

  stage "(c) cmake find_package, $label"
  CXX="${cxx[*]}" logged "$scratch/cmake-setup-$label.log" \
    cmake -S "$project" -B "$scratch/cmake-$label" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSNAPCACHE_FROM=package -DCMAKE_PREFIX_PATH="$root" -DSNAPCACHE_VERSION="$version"
  # The package found must be the one just installed, not one from the system.
  grep -q "^snapcache_DIR:PATH=$root/" "$scratch/cmake-$label/CMakeCache.txt"
  run cmake --build "$scratch/cmake-$label" -j 2 --verbose --target consumer
  run "$scratch/cmake-$label/consumer"

  if $tsan; then
    stage "(c) cmake snapcache::snapcache-tsan, $label"
    CXX="${cxx[*]}" logged "$scratch/cmake-tsan-setup-$label.log" \
      cmake -S "$project" -B "$scratch/cmake-tsan-$label" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSNAPCACHE_FROM=package -DSNAPCACHE_TSAN=ON -DCMAKE_PREFIX_PATH="$root" -DSNAPCACHE_VERSION="$version"
    run cmake --build "$scratch/cmake-tsan-$label" -j 2 --target concurrent_consumer
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0" run "$scratch/cmake-tsan-$label/concurrent_consumer"
  fi
  export LD_LIBRARY_PATH=$old_ld
}

stage "(a) meson subproject"
mkdir -p "$scratch/sub/subprojects"
cp "$project"/{main.cpp,meson.build,meson_options.txt} "$scratch/sub/"
ln -s "$source" "$scratch/sub/subprojects/snapcache"
CXX="${cxx[*]}" logged "$scratch/sub-setup.log" \
  meson setup --buildtype=plain -Dsnapcache_from=subproject "$scratch/sub/build" "$scratch/sub"
run ninja -C "$scratch/sub/build" -j2
run "$scratch/sub/build/consumer"
# As a subproject snapcache builds its library and nothing else: none of its
# tests, stress suites, benchmarks or tools join the parent's build or its
# `meson test`.
extra=$(meson introspect --targets "$scratch/sub/build" | python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin)
               if t.get("subproject") == "snapcache" and "library" not in t["type"]))')
if [[ -n $extra ]]; then
  echo "the subproject built more than its library: $extra" >&2
  false
fi
if meson test -C "$scratch/sub/build" --list 2>/dev/null | grep -q '^snapcache:'; then
  echo "the subproject added its tests to the parent's meson test" >&2
  false
fi

# The CMake build of the library from source (CMakeLists.txt): the same
# snapcache::snapcache target, through add_subdirectory and FetchContent from
# a local path. It reads lib/sources.txt as meson does; every source in lib/
# must be listed there, or one build would miss it.
stage "sources: lib/sources.txt lists every lib/*.cpp"
listed=$(sort "$source/lib/sources.txt")
present=$(cd "$source/lib" && ls -1 -- *.cpp | sort)
if [[ $listed != "$present" ]]; then
  echo "lib/sources.txt and lib/*.cpp differ:" >&2
  diff <(echo "$listed") <(echo "$present") >&2 || true
  false
fi
stage "(d) cmake add_subdirectory from source"
CXX="${cxx[*]}" logged "$scratch/cmake-subdirectory.log" \
  cmake -S "$project" -B "$scratch/cmake-subdirectory" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSNAPCACHE_FROM=subdirectory -DSNAPCACHE_SOURCE_DIR="$source"
run cmake --build "$scratch/cmake-subdirectory" -j 2
run "$scratch/cmake-subdirectory/consumer"

# Sanitizer users compile the library into their program with their own
# flags (add_subdirectory, FetchContent or a meson subproject): an
# uninstrumented library makes ThreadSanitizer report races it cannot see
# the synchronisation of. A threaded workload built that way must run
# without one report (any report fails it).
# (FetchContent from a local path here, add_subdirectory above: each way of
# building from source is covered once, so the library is compiled twice,
# not four times.)
stage "(e) TSan consumer, library compiled in (FetchContent from source)"
CXX="${cxx[*]}" logged "$scratch/cmake-tsan.log" \
  cmake -S "$project" -B "$scratch/cmake-tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSNAPCACHE_FROM=fetchcontent -DSNAPCACHE_SOURCE_DIR="$source" -DCMAKE_CXX_FLAGS="-fsanitize=thread"
run cmake --build "$scratch/cmake-tsan" -j 2
TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0" run "$scratch/cmake-tsan/concurrent_consumer"

stage "install $build"
root=$(install_build "$build" "$scratch/dest")
echo "prefix -> $root"
# This build (the release build, unsanitized) installs the TSan variant: its
# consumers below are required. The library-only build after it leaves the
# variant out (-Dtsan_variant=false), as a build without TSan support would.
find "$root" -name 'libsnapcache-tsan.a' | grep -q .
consume this-build "$scratch/dest" "$root"

# As on a machine without dpkg-dev: a dpkg-architecture that fails comes
# first in PATH, so meson falls back to its non-Debian default libdir.
stage "library-only build without dpkg-architecture"
mkdir -p "$scratch/no-dpkg-dev"
printf '#!/bin/sh\nexit 127\n' >"$scratch/no-dpkg-dev/dpkg-architecture"
chmod +x "$scratch/no-dpkg-dev/dpkg-architecture"
CXX="${cxx[*]}" PATH="$scratch/no-dpkg-dev:$PATH" logged "$scratch/plain-setup.log" \
  meson setup --buildtype=release -Dtests=disabled -Dstress=disabled -Dbenchmarks=disabled -Dtools=disabled -Dpeers=disabled -Dtsan_variant=false \
  --prefix=/usr/local "$scratch/plain-build" "$source"
libdir=$(meson introspect --buildoptions "$scratch/plain-build" |
  python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')
echo "libdir: $libdir"
run ninja -C "$scratch/plain-build" -j2 >/dev/null
plain_root=$(install_build "$scratch/plain-build" "$scratch/plain-dest")
consume "libdir-$(tr / - <<<"$libdir")" "$scratch/plain-dest" "$plain_root"

echo "consumer-check: the subproject, cmake from source (add_subdirectory, FetchContent), pkg-config (meson and plain) and cmake find_package consumers built and ran, for this build and for a $libdir install"
