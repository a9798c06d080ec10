#!/usr/bin/env bash
# Install what Strata needs to build and run on Debian, and with --tests what its tests need
# (idempotent).
# Usage (as root): bash deploy/install-deps.sh [--tests]   (--tests: also what only the tests need)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

for_tests=0
[ "${1:-}" = --tests ] && for_tests=1

# Build: a C toolchain (SQLite and zstd are compiled in). Run: an OCI runtime, tini for --init,
# iproute2/nftables (bridges, --ip-masq), curl (run.sh's health check), procps/util-linux.
packages=(
  build-essential pkg-config
  runc tini iproute2 nftables curl procps util-linux
)
# Tests only: busybox-static (test images), btrfs-progs, zfs-fuse and attr (the btrfs and zfs
# drivers' stores; an operator using those drivers installs them too), sqlite3 (metadata
# checks), jq, tmux and psmisc, prometheus (promtool), docker-registry and skopeo (registry
# pull/push tests).
if [ "$for_tests" -eq 1 ]; then
  packages+=(
    busybox-static btrfs-progs zfs-fuse attr
    sqlite3 jq tmux psmisc prometheus docker-registry skopeo
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# zfs-fuse stores no xattrs (security.capability included) unless configured to: set it in the
# daemon's configuration, so that whoever starts it (the package's init script, a reboot, or
# deploy/storage/zfs.sh) starts it with xattr support. A daemon already running without it is
# restarted by zfs.sh up.
zfsrc=/etc/zfs/zfsrc
if [ -f "$zfsrc" ] && ! grep -qE '^[[:space:]]*enable-xattr[[:space:]]*$' "$zfsrc"; then
  sed -i -E 's/^#[[:space:]]*enable-xattr[[:space:]]*$/enable-xattr/' "$zfsrc"
  grep -qE '^[[:space:]]*enable-xattr[[:space:]]*$' "$zfsrc" || echo 'enable-xattr' >>"$zfsrc"
  echo "install-deps.sh: enabled xattr support for zfs-fuse in $zfsrc"
fi

# The docker CLI is the client the tests drive Strata with. Machines of this kind ship it; on a
# machine without it, Debian's docker.io package brings a (older) CLI.
if ! command -v docker >/dev/null 2>&1; then
  echo "install-deps.sh: no docker CLI found; installing Debian's docker.io for its client"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  # Its daemon is not used: Strata is the engine.
  systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null 2>&1; then
  for c in "$HOME/.cargo/bin/cargo" /root/.cargo/bin/cargo /usr/local/cargo/bin/cargo; do
    [ -x "$c" ] && export PATH="$(dirname "$c"):$PATH" && break
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps.sh: no Rust toolchain (cargo) found; install one with rustup (1.85 or newer)" >&2
  exit 1
fi

# The devicemapper tests run in a guest kernel (this host's has no device-mapper): qemu, Debian's
# kernel unpacked in a private directory, virtme-ng in a venv (tests/vm/install.sh). Only the
# tests need them: deploy/test.sh asks for them with --tests, deploy/run.sh does not.
if [ "$for_tests" -eq 1 ]; then
  bash "$(dirname "${BASH_SOURCE[0]}")/../tests/vm/install.sh"
fi

echo "install-deps.sh: all dependencies present"
