#!/usr/bin/env bash
# README's test command: installs what is missing, then builds and runs every
# test in every build (docs/testing.md has the table), and ends with one line
# "N passed, N failed" summing every suite of every build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

step "install packages" bash tools/setup.sh

total_passed=0
total_failed=0
total_skipped=0

# count_results DIR: adds the meson test results of DIR to the totals.
count_results() {
  local counts
  counts=$(python3 tools/count-tests.py "$1/meson-logs/testlog.json")
  read -r passed failed skipped <<<"$counts"
  echo "    $1: $passed passed, $failed failed, $skipped skipped"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

# run_build NAME MESON_TEST_ARGS -- MESON_SETUP_ARGS
run_build() {
  local name=$1 dir=build/$1
  shift
  local test_args=()
  while [[ $1 != -- ]]; do test_args+=("$1"); shift; done
  shift
  if ! step "$name: configure" configure "$dir" "$@" || ! step "$name: build" ninja -C "$dir"; then
    echo "    $name: build failed"
    total_failed=$((total_failed + 1))
    return 0
  fi
  rm -f "$dir/meson-logs/testlog.json"
  step "$name: test" meson test -C "$dir" --print-errorlogs --num-processes 1 "${test_args[@]}" || true
  count_results "$dir"
}

# Every build of the project's own: strict warnings as errors, and the tests
# required (a missing package is an error here, not a skipped suite).
strict=(-Dwarning_level=3 -Dwerror=true -Dtests=enabled)
run_build release -- \
  "${strict[@]}" --buildtype=release -Dpeers=enabled -Dtest_hooks=false -Dbenchmarks=enabled -Dtools=enabled
# Sanitizer builds: -O2 with line tables only (-g1): reports keep file:line,
# and the typed test suites assemble several times faster than with full -g.
sanitizer_flags=("${strict[@]}" --buildtype=plain -Doptimization=2 -Ddebug=false -Db_ndebug=false -Dcpp_args=-g1
  -Dpeers=disabled -Dtest_hooks=true -Dbenchmarks=disabled -Dtools=disabled)
run_build tsan -- "${sanitizer_flags[@]}" -Db_sanitize=thread
run_build asan -- "${sanitizer_flags[@]}" -Db_sanitize=address,undefined -Db_lundef=false

# clang build: the whole library and its tests build with clang, warnings as
# errors, instrumented for libFuzzer; runs the unit tests, the examples and
# each fuzz target for 30 s.
CXX=clang++ run_build fuzz --suite unit --suite examples --suite fuzz -- \
  "${strict[@]}" --buildtype=plain -Doptimization=1 -Ddebug=false -Db_ndebug=false -Dcpp_args=-gline-tables-only \
  -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true -Dpeers=disabled -Dtest_hooks=true \
  -Dbenchmarks=disabled -Dtools=disabled -Dstress=enabled

# Every file the builds used must come from a listed package.
if step "fresh-machine package check" bash tools/check-packages.sh build/release build/tsan build/asan build/fuzz; then
  total_passed=$((total_passed + 1))
else
  total_failed=$((total_failed + 1))
fi

echo "summary: $total_passed passed, $total_failed failed, $total_skipped skipped, ${SECONDS}s in all"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
