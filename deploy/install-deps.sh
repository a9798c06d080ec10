#!/usr/bin/env bash
# Install everything Strata needs to build, run and be tested on Debian (idempotent).
# Usage (as root): bash deploy/install-deps.sh
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (it installs Debian packages)" >&2
  exit 1
fi

# Runtime: an OCI runtime, tini for --init, busybox-static for test images.
# Storage: btrfs-progs and zfs-fuse for the btrfs and zfs drivers.
# Tests: sqlite3 (metadata checks), jq, curl, util-linux (script for ptys), iproute2,
# docker-registry and skopeo (registry pull/push tests), nftables (serve --ip-masq and its test).
packages=(
  runc tini busybox-static
  btrfs-progs zfs-fuse attr
  sqlite3 jq curl util-linux tmux iproute2 procps psmisc prometheus docker-registry skopeo
  nftables
  build-essential pkg-config
)

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
# kernel unpacked in a private directory, virtme-ng in a venv (tests/vm/install.sh).
bash "$(dirname "${BASH_SOURCE[0]}")/../tests/vm/install.sh"

echo "install-deps.sh: all dependencies present"
