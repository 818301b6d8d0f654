#!/usr/bin/env bash
# Builds a self-contained snapcache-compare and packs it, with sweep.sh, into
# a tarball that runs on a Linux x86-64 machine with no packages installed
# (glibc 2.36 or newer: Debian 12's, which the binary is linked against).
#
# What is static and what is bundled. libstdc++ and libgcc are linked in
# (-static-libstdc++ -static-libgcc), and so is libcds (Debian ships
# libcds-s.a); libcuckoo and xenium are header-only. oneTBB has no static
# archive in Debian, so libtbb.so.12 is copied into lib/ next to the binary,
# with the shared libraries it needs itself (libstdc++, libgcc_s): the binary
# carries an RPATH of $ORIGIN/lib, so no LD_LIBRARY_PATH is needed. glibc
# (libc, libm, the loader) is taken from the machine: a fully static binary
# is impossible while one peer exists only as a shared library.
#
# Usage: tools/build-static-compare.sh [--check]
#   writes build/static-compare/snapcache-compare-<version>-linux-x86_64.tar.gz;
#   --check then unpacks it in an empty directory and runs a tiny sweep there
#   (--threads 1 --seconds 0.05 --repeats 1) with an empty environment.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

check=false
[[ ${1:-} == --check ]] && check=true

dir=build/static-compare
step "configure" configure "$dir" --buildtype=release -Dpeers=enabled -Dtest_hooks=false \
  -Dtests=disabled -Dstress=disabled -Dbenchmarks=enabled -Dtools=enabled
step "build" ninja -C "$dir" tools/snapcache-compare-portable

version=$(meson introspect --projectinfo "$dir" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
name=snapcache-compare-$version-linux-x86_64
stage=$dir/$name
rm -rf "$stage"
mkdir -p "$stage/lib"
cp "$dir/tools/snapcache-compare-portable" "$stage/snapcache-compare"
strip "$stage/snapcache-compare"

# Every shared library the binary loads, except glibc's own, goes to lib/.
# ldd lists the libraries' own dependencies too.
bundle_library() {
  local path=$1 base
  base=$(basename "$path")
  case $base in
    libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*.so.* | linux-vdso.so.*) return 0 ;;
  esac
  cp -L "$path" "$stage/lib/$base"
  echo "bundled $base (from $path)"
}
while read -r path; do
  bundle_library "$path"
done < <(ldd "$stage/snapcache-compare" | awk '/=> \// {print $3}')

cp tools/compare/sweep.sh "$stage/sweep.sh"
chmod +x "$stage/sweep.sh"
cat >"$stage/README.txt" <<TXT
snapcache-compare $version, self-contained build (Linux x86-64, glibc >= 2.36).

  ./sweep.sh                 the scaling sweep: threads 1,4,8,16, every workload
                             (seed, A, B, A-zipf, C), 2 repeats of 0.25 s per cell;
                             under 4 minutes on a 16-core machine. Results in sweep-out/.
  ./snapcache-compare --help every flag; the default run is the short one of tools/compare.sh.

lib/ holds the shared libraries with no static archive (oneTBB) and what they need; the
binary finds them through its RPATH (\$ORIGIN/lib): no LD_LIBRARY_PATH needed. Plots need
gnuplot on PATH; without it the run says so and writes results.csv and results.json only.
TXT

tarball=$dir/$name.tar.gz
step "pack" tar -C "$dir" -czf "$tarball" "$name"
echo "tarball: $tarball ($(du -h "$tarball" | cut -f1))"
readelf -d "$stage/snapcache-compare" | grep -E 'RPATH|RUNPATH|NEEDED' | sed 's/^/  /'

if $check; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar -C "$tmp" -xzf "$tarball"
  # An empty environment: no LD_LIBRARY_PATH, no PATH to build tools.
  step "tiny sweep in a clean directory" env -i HOME="$tmp" PATH=/usr/bin:/bin \
    bash -c "cd '$tmp' && ./$name/sweep.sh --threads 1 --seconds 0.05 --repeats 1"
  echo "==> bundled libraries load from the unpacked lib/"
  loaded=$(env -i LD_DEBUG=libs "$tmp/$name/snapcache-compare" --list 2>&1 >/dev/null |
    awk '/calling init:/ {print $NF}')
  echo "$loaded" | sed 's/^/    /'
  for lib in "$stage"/lib/*; do
    if ! grep -qxF "$tmp/$name/lib/$(basename "$lib")" <<<"$loaded"; then
      echo "check: $(basename "$lib") was not loaded from lib/" >&2
      exit 1
    fi
  done
  test -s "$tmp/sweep-out/results.json" && test -s "$tmp/sweep-out/results.csv"
  echo "check: tarball runs from a clean directory"
fi
