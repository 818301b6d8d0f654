#!/usr/bin/env bash
# Runs README's quick-start commands as a new user would: a minimal Debian 12
# (debootstrap --variant=minbase, then only git and ca-certificates), a clone
# of this repository's HEAD, then `bash tools/test.sh` (or the command given)
# inside it. Needs root, debootstrap and network access to the Debian mirror.
# Not part of the test command: it takes a fresh system and a full test run.
# Usage: tools/fresh-debian-check.sh ROOT_DIR [COMMAND...]
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 ROOT_DIR [COMMAND...]" >&2
  exit 2
fi
root=$1
shift
command=("$@")
((${#command[@]})) || command=(bash tools/test.sh)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [[ ! -x $root/usr/bin/git ]]; then
  debootstrap --variant=minbase bookworm "$root" "$mirror"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get update -q
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git ca-certificates
fi

cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

rm -rf "$root/root/snapcache"
git clone -q "$repo" "$root/root/snapcache"
echo "fresh-debian-check: $(git -C "$repo" rev-parse --short HEAD) in $root: ${command[*]}"
chroot "$root" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
  bash -c 'cd /root/snapcache && "$@"' bash "${command[@]}"
