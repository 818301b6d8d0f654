#!/usr/bin/env bash
# The fresh-machine check: every file the builds used from outside the
# repository (headers, linked shared libraries, tools) must come from a
# package that tools/packages.txt lists, or that a listed package depends on.
# A machine that already has a package installed by hand cannot hide a
# missing line this way. Usage: check-packages.sh BUILD_DIR...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

mapfile -t listed < <(grep -v '^\s*#' tools/packages.txt | grep -v '^\s*$')

used_files() {
  local dir
  for dir in "$@"; do
    # Headers each object was compiled against.
    ninja -C "$dir" -t deps | awk '/^    \// {print $1}'
    # Shared libraries each program loads.
    find "$dir" -type f -executable ! -name '*.so*' ! -path '*/meson-*' -print0 |
      xargs -0 -r -n 20 ldd 2>/dev/null | awk '/=> \// {print $3}'
  done
  # Tools the scripts run.
  local tool
  for tool in meson ninja g++ clang++ clang++-14 pkg-config python3 gnuplot cmake; do
    command -v "$tool" || echo "missing-tool:$tool"
  done
}

mapfile -t files < <(used_files "$@" | grep -v "^$repo_root" | sort -u | xargs -r -n1 realpath -m)
missing_tools=$(printf '%s\n' "${files[@]}" | grep '^missing-tool:' || true)
if [[ -n $missing_tools ]]; then
  echo "check-packages: tools not installed: $missing_tools" >&2
  exit 1
fi

# Packages that own those files (dpkg -S knows the unresolved path names too).
mapfile -t owners < <(printf '%s\n' "${files[@]}" | xargs -r dpkg -S 2>/dev/null |
  cut -d: -f1 | tr ',' '\n' | sed 's/^ *//; s/ *$//' | sort -u)

# Everything the listed packages pull in.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${listed[@]}" 2>/dev/null |
  sed -n 's/^ *\(Pre\)\{0,1\}Depends: <\{0,1\}\([^>:]*\)>\{0,1\}.*$/\2/p; /^[a-z0-9]/p' | sort -u)

unlisted=()
for pkg in "${owners[@]}"; do
  grep -qxF "$pkg" <<<"$closure" || unlisted+=("$pkg")
done
if ((${#unlisted[@]} > 0)); then
  echo "check-packages: the builds used packages tools/packages.txt does not bring in:" >&2
  printf '  %s\n' "${unlisted[@]}" >&2
  exit 1
fi
echo "check-packages: ${#files[@]} files from ${#owners[@]} packages, all brought in by tools/packages.txt"
