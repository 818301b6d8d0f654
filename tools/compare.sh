#!/usr/bin/env bash
# README's main job: installs what is missing, builds the release build (with
# every peer library) and runs snapcache-compare's default run: the query
# cache seed scenario and map workload C at 1 and 2 threads, 3 repeats (about
# a minute on 2 cores). Arguments go to snapcache-compare (see --help), e.g.
#   bash tools/compare.sh --workloads seed,A,B,A-zipf,C --repeats 5 --seconds 1
# Tables go to the terminal; results.csv, results.json and PNG plots to
# compare-out/ (or --out DIR).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

step "install packages" bash tools/setup.sh
# The same options as tools/test.sh's release build, so the two share it.
step "configure release" configure build/release -Dwarning_level=3 -Dwerror=true -Dtests=enabled \
  --buildtype=release -Dpeers=enabled -Dtest_hooks=false -Dbenchmarks=enabled -Dtools=enabled
step "build" ninja -C build/release tools/snapcache-compare
step "compare" build/release/tools/snapcache-compare "$@"
