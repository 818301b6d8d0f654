#!/usr/bin/env bash
# tools/weaken-orders.sh: shows that every memory order in the order table is
# needed by something that would notice it gone.
#
# The table is include/snapcache/detail/orders.hpp: the EBR entries E1-E9 and
# the snapshot-publication entries S1-S13, each a named constant. Building
# with -DSNAPCACHE_WEAKEN_<entry> turns that one constant into relaxed, in the
# library and in the Relacy models alike. For each entry in turn this script
#   1. builds the Relacy models (stress/relacy/*_model.cpp) and the RC11
#      litmus tests of EBR and snapshot publication (stress/rc11/: every
#      execution the RC11 model of C++ allows, which shows weakenings Relacy
#      cannot, such as S4) with the define and
#      runs them (exhaustive; seconds per entry);
#   2. sets up a TSan build with the define (build/weaken-<entry>: the flags
#      of tools/test.sh's TSan build, without the unit tests) and runs its
#      stress suites, `meson test --suite stress` (minutes: a full build);
# and prints a table: entry | constant | caught by (TSan / Relacy / RC11 /
# NOTHING) | the models that failed (RC11 scenarios as rc11:<name>) | the
# stress suites that failed (and how).
# A weakening counts as caught when a model or a stress suite fails on it; the
# unweakened baseline (models, and TSan unless --no-baseline) must pass
# first, or nothing is concluded.
#
# Usage: tools/weaken-orders.sh [--models-only] [--no-baseline] [--repeat N] [ENTRY...]
#   ENTRY...       only these entries, e.g. E2 S4 (default: every entry in the table)
#   --models-only  skip the TSan builds; the TSan column reads "skipped"
#   --no-baseline  skip the unweakened TSan build (the model baseline always runs)
#   --repeat N     run the stress suites N times per entry (default 1)
#   -v             print the failing reports (model histories, TSan logs)
# Environment: CXX (default g++) compiles the models; BUILD_ROOT (default
# build) holds build/weaken-<entry> and build/weaken-models.
# Exit status: 0 every entry checked was caught; 1 some weakening was caught by
# nothing; 2 a build failed or a baseline did not pass.
# Cost: the whole table is 23 TSan builds; on 2 cores run a few entries at a
# time (the model column alone, --models-only, takes about 10 minutes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

models_only=false
baseline=true
repeat=1
verbose=false
wanted=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --models-only) models_only=true ;;
    --no-baseline) baseline=false ;;
    --repeat) repeat=$2; shift ;;
    -v) verbose=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) wanted+=("$1") ;;
  esac
  shift
done

table=include/snapcache/detail/orders.hpp
cxx=${CXX:-g++}
build_root=${BUILD_ROOT:-build}
model_dir=$build_root/weaken-models
mkdir -p "$model_dir"

# The entries, in table order: "ID constant" per line, from lines such as
#   inline constexpr std::memory_order unpin = entry("E2", ...
mapfile -t entries < <(sed -nE 's/.*constexpr std::memory_order ([a-z_]+) = entry\("([A-Z][0-9]+)".*/\2 \1/p' "$table")
if [[ ${#entries[@]} -eq 0 ]]; then
  echo "no entries found in $table" >&2
  exit 2
fi
if [[ ${#wanted[@]} -gt 0 ]]; then
  selected=()
  for w in "${wanted[@]}"; do
    found=false
    for e in "${entries[@]}"; do
      if [[ ${e%% *} == "$w" ]]; then selected+=("$e"); found=true; fi
    done
    $found || { echo "no entry $w in $table" >&2; exit 2; }
  done
  entries=("${selected[@]}")
fi

models=(stress/relacy/*_model.cpp)

# model_failures OUTPUT: the tests a model program reports as failed, one
# line each: "<test> [weakened: X]: FAILED (...)".
model_failures() {
  sed -nE 's/^([a-z_]+) \[weakened: [^]]*\]: FAILED.*/\1/p' <<<"$1"
}

# run_model_program BIN PREFIX: runs one model program; prints the tests it
# failed, each with PREFIX, and shows its result lines on stderr.
run_model_program() {
  local out
  if ! out=$("$1" 2>&1); then
    model_failures "$out" | sed "s/^/$2/"
    $verbose && echo "$out" >&2
  fi
  grep -E '\]: (passed|FAILED)' <<<"$out" | sed 's/^/    /' >&2
}

# run_models TAG DEFINE...: builds and runs every Relacy model and the RC11
# litmus tests; prints the names of the tests that failed (space-separated,
# RC11 ones as rc11:<name>; "none" if none). Returns 2 if one does not build.
run_models() {
  local tag=$1
  shift
  local failed=() src name bin
  for src in "${models[@]}"; do
    name=$(basename "$src" .cpp)
    bin=$model_dir/$name-$tag
    if ! "$cxx" -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy "$@" "$src" -o "$bin" \
        >"$bin.build.log" 2>&1; then
      echo "    $name ($tag): does not build, see $bin.build.log" >&2
      return 2
    fi
    failed+=($(run_model_program "$bin" ""))
  done
  bin=$model_dir/rc11_litmus-$tag
  if ! "$cxx" -std=c++20 -O1 -Iinclude -Istress/rc11 "$@" stress/rc11/*.cpp -o "$bin" >"$bin.build.log" 2>&1; then
    echo "    rc11_litmus ($tag): does not build, see $bin.build.log" >&2
    return 2
  fi
  failed+=($(run_model_program "$bin" "rc11:"))
  if [[ ${#failed[@]} -eq 0 ]]; then echo none; else echo "${failed[*]}"; fi
}

# run_tsan TAG DEFINE: sets up and builds build/weaken-TAG and runs its stress
# suites; prints the failing suites ("none" if none). Returns 2 if it does not build.
run_tsan() {
  local tag=$1 define=$2 dir=$build_root/weaken-$1
  # The flags of tools/test.sh's TSan build, less the unit tests, plus the define.
  local args=(--buildtype=plain -Doptimization=2 -Ddebug=false -Db_ndebug=false
              "-Dcpp_args=-g1${define:+ $define}" -Db_sanitize=thread -Dpeers=disabled -Dtest_hooks=true
              -Dbenchmarks=disabled -Dtools=disabled -Dtests=disabled -Dstress=enabled)
  if ! configure "$dir" "${args[@]}" >&2 || ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    echo "    $tag: TSan build failed, see $dir.build.log" >&2
    return 2
  fi
  rm -f "$dir/meson-logs/testlog.json"
  local log
  log=$(meson test -C "$dir" --suite stress --num-processes 1 --repeat "$repeat" --print-errorlogs 2>&1) || true
  $verbose && echo "$log" >&2
  local failed
  failed=$(python3 - "$dir/meson-logs/testlog.json" <<'EOF'
import json, sys
bad = set()
try:
    with open(sys.argv[1]) as f:
        for line in f:
            r = json.loads(line)
            if r.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL"):
                name = r["name"].split("/")[-1].strip()
                # 66: ThreadSanitizer's exit code (a report); else the suite's own check
                why = "tsan" if r.get("returncode") == 66 else "exit %s" % r.get("returncode")
                bad.add("%s(%s)" % (name, why))
except FileNotFoundError:
    bad.add("(no test log)")
print(" ".join(sorted(bad)) or "none")
EOF
)
  echo "$log" | grep -E '^ *[0-9]+/[0-9]+ ' | awk '!seen[$0]++' | sed 's/^/    /' >&2
  echo "$failed"
}

status=0
echo "==> baseline: models with the real orders"
base_models=$(run_models real) || exit 2
if [[ $base_models != none ]]; then
  echo "baseline models fail with the real orders: $base_models" >&2
  exit 2
fi
if ! $models_only && $baseline; then
  echo "==> baseline: TSan stress suites with the real orders"
  base_tsan=$(run_tsan real "") || exit 2
  if [[ $base_tsan != none ]]; then
    echo "baseline TSan stress suites fail with the real orders: $base_tsan" >&2
    exit 2
  fi
fi

rows=()
for e in "${entries[@]}"; do
  id=${e%% *}
  name=${e#* }
  start=$SECONDS
  echo "==> $id ($name) weakened to relaxed"
  caught_models=$(run_models "$id" "-DSNAPCACHE_WEAKEN_$id") || exit 2
  if $models_only; then
    caught_tsan=skipped
  else
    caught_tsan=$(run_tsan "$id" "-DSNAPCACHE_WEAKEN_$id") || exit 2
  fi
  by=()
  [[ $caught_tsan != none && $caught_tsan != skipped ]] && by+=("TSan")
  [[ $caught_models != none && $caught_models =~ (^| )[a-z_]+( |$) ]] && by+=("Relacy")
  [[ $caught_models == *rc11:* ]] && by+=("RC11")
  if [[ ${#by[@]} -eq 0 ]]; then
    verdict=NOTHING
    status=1
  else
    verdict=$(IFS=+; echo "${by[*]}")
  fi
  echo "<== $id: $((SECONDS - start))s"
  rows+=("$id|$name|$caught_tsan|$caught_models|$verdict")
done

echo
printf '%-5s| %-19s| %-13s| %-60s| %s\n' entry constant "caught by" "models that failed" "TSan stress suites that failed"
for r in "${rows[@]}"; do
  IFS='|' read -r id name tsan model verdict <<<"$r"
  printf '%-5s| %-19s| %-13s| %-60s| %s\n' "$id" "$name" "$verdict" "$model" "$tsan"
done
if [[ $status -ne 0 ]]; then
  echo "some weakening was caught by nothing"
  $models_only && echo "(--models-only: the TSan column was not run)"
fi
exit $status
