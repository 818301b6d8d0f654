#!/usr/bin/env bash
# README's main job: installs what is missing, builds the release build and
# runs the side-by-side comparison. Until the comparison program exists this
# is the EBR benchmark (snapcache::ebr next to liburcu), medians of 5 runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

step "install packages" bash tools/setup.sh
step "configure release" configure build/release --buildtype=release -Dpeers=enabled -Dtest_hooks=false
step "build" ninja -C build/release bench/ebr_bench
step "ebr benchmark" build/release/bench/ebr_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 "$@"
