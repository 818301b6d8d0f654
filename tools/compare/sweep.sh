#!/usr/bin/env bash
# The scaling sweep, shipped in the self-contained tarball
# (tools/build-static-compare.sh): every workload — the query-cache seed
# scenario and the map workloads A, B, A-zipf, C (with C-noscan) — at 1, 4, 8
# and 16 threads, 2 interleaved repeats of 0.25 s per cell: 304 cell runs of
# 0.25 s, each map cell after a single-threaded prefill of 500,000 keys. The
# cells are time-bound, so the sweep takes about as long on 2 cores as on 16
# (175 s on a 2-core EPYC VM): under 4 minutes. Results go to sweep-out/ in
# the current directory.
# Any flag given overrides its default, e.g. a tiny check:
#   ./sweep.sh --threads 1 --seconds 0.05 --repeats 1
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

declare -A defaults=(
  [--workloads]=seed,A,B,A-zipf,C
  [--threads]=1,4,8,16
  [--seconds]=0.25
  [--repeats]=2
  [--out]=sweep-out
)
for arg in "$@"; do
  unset "defaults[${arg%%=*}]" 2>/dev/null || true
done
args=()
for flag in --workloads --threads --seconds --repeats --out; do
  [[ -v defaults[$flag] ]] && args+=("$flag" "${defaults[$flag]}")
done

echo "sweep: $here/snapcache-compare ${args[*]} $*"
start=$SECONDS
status=0
"$here/snapcache-compare" "${args[@]}" "$@" || status=$?
echo "sweep: $((SECONDS - start)) s, exit status $status"
exit $status
