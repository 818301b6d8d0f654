#!/usr/bin/env bash
# The long stress profile, for users qualifying a build: every stress suite
# under TSan and under ASan+UBSan for SECONDS each (default 120: 12 runs x 2
# builds x 2 min = 48 minutes), 4 threads, perturbation on, a fresh seed per
# run (printed, so a failure can be replayed). The cache suites run on both
# caches (--variant). Ends with "N passed, N failed".
# Usage: tools/stress-long.sh [SECONDS] [THREADS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"
seconds=${1:-120}
threads=${2:-4}

step "install packages" bash tools/setup.sh
common=(--buildtype=plain -Doptimization=2 -Ddebug=false -Db_ndebug=false -Dcpp_args=-g1
  -Dpeers=disabled -Dtest_hooks=true -Dbenchmarks=disabled -Dtools=disabled -Dtests=enabled)
passed=0 failed=0
for build in tsan asan; do
  case $build in
    tsan) sanitize=(-Db_sanitize=thread) ;;
    asan) sanitize=(-Db_sanitize=address,undefined -Db_lundef=false) ;;
  esac
  step "$build: configure" configure "build/$build" "${common[@]}" "${sanitize[@]}"
  step "$build: build" ninja -C "build/$build"
  for run in ebr_churn map_mixed map_migration snapshot_writers map_linearizability \
      cache_eviction "cache_eviction --variant locked" \
      cache_linearizability "cache_linearizability --variant locked" \
      cache_read_consistency "cache_read_consistency --variant locked" service_soak; do
    read -ra args <<<"$run"
    if SNAPCACHE_PERTURB=20 step "$build: $run ${seconds}s" \
        "build/$build/stress/${args[0]}" "${args[@]:1}" --threads "$threads" --seconds "$seconds"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
