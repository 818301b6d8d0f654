#!/usr/bin/env bash
# Runs one libFuzzer target for a time box on a scratch copy of its corpus.
# Usage: run-fuzz.sh TARGET CORPUS_DIR SECONDS
set -euo pipefail
target=$1 corpus=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/new" "$scratch/artifacts"
status=0
"$target" "$scratch/new" "$corpus" -max_total_time="$seconds" \
  -artifact_prefix="$scratch/artifacts/" -print_final_stats=1 2>&1 | tail -n 25 || status=$?
if compgen -G "$scratch/artifacts/*" >/dev/null; then
  echo "run-fuzz: $(basename "$target") found a failing input; add it to $corpus:"
  for f in "$scratch"/artifacts/*; do echo "  $(basename "$f"): $(od -An -tx1 -N64 "$f" | tr -d '\n')"; done
  status=1
fi
exit $status
