# Shared helpers for tools/*.sh: timing of steps and meson build set-up.
# Sourced, not run.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# step NAME COMMAND...: runs a command, prints how long it took; returns its status.
step() {
  local name=$1
  shift
  local start=$SECONDS status=0
  echo "==> $name"
  "$@" || status=$?
  echo "<== $name: $((SECONDS - start))s$([[ $status -eq 0 ]] || echo " (exit $status)")"
  return $status
}

# configure DIR OPTIONS...: sets up (or reconfigures) a meson build directory.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/build.ninja ]]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}
