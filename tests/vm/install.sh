#!/bin/bash
# Install what tests/vm/run.sh needs to boot a guest kernel with device-mapper (idempotent; quick
# when everything is there). Called by run.sh and by deploy/install-deps.sh.
#
#   bash tests/vm/install.sh          install what is missing
#   bash tests/vm/install.sh paths    print KERNEL=<vmlinuz> and VNG=<vng> (shell assignments)
#
# - Debian packages: qemu-system-x86 (TCG: KVM hangs stock kernels on these machines), dmsetup,
#   e2fsprogs, xfsprogs, kmod (depmod), busybox-static (virtme-ng's initramfs), python3-venv, jq.
# - The kernel: Debian's linux-image-amd64 (6.1, dm-thin-pool as a module), unpacked with
#   dpkg-deb into a private directory, $STRATA_VM_KERNEL_DIR (default
#   /var/lib/strata-test/vm-kernel), and its modules indexed with depmod there. It is not
#   installed as the host's kernel: no initramfs build, nothing in /boot.
# - virtme-ng (PyPI, pinned) in a venv at $STRATA_VNG_VENV (default /var/lib/strata-test/vng-venv).
set -euo pipefail

kernel_dir=${STRATA_VM_KERNEL_DIR:-/var/lib/strata-test/vm-kernel}
venv=${STRATA_VNG_VENV:-/var/lib/strata-test/vng-venv}
vng_version=1.42

log() { echo "vm install: $*" >&2; }

# The newest unpacked kernel whose modules include dm-thin-pool, or nothing.
kernel_image() {
    local k ver
    for k in $(ls -1 "$kernel_dir"/boot/vmlinuz-* 2>/dev/null | sort -rV); do
        ver=${k##*/vmlinuz-}
        if [ -f "$kernel_dir/lib/modules/$ver/modules.dep" ] &&
            ls "$kernel_dir/lib/modules/$ver/kernel/drivers/md/"dm-thin-pool.ko* >/dev/null 2>&1; then
            echo "$k"
            return 0
        fi
    done
    return 1
}

if [ "${1:-}" = paths ]; then
    k=$(kernel_image) || { log "no kernel unpacked in $kernel_dir (run tests/vm/install.sh)"; exit 1; }
    [ -x "$venv/bin/vng" ] || { log "no virtme-ng in $venv (run tests/vm/install.sh)"; exit 1; }
    printf 'KERNEL=%q\nVNG=%q\n' "$k" "$venv/bin/vng"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (installs Debian packages)"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_update() {
    if [ -z "$apt_updated" ]; then
        apt-get update -qq
        apt_updated=1
    fi
}

packages=(qemu-system-x86 dmsetup e2fsprogs xfsprogs kmod busybox-static python3-venv jq)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! kernel_image >/dev/null; then
    # linux-image-amd64 is a metapackage: the kernel is the package it depends on.
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$pkg" ]; then
        apt_update
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [ -n "$pkg" ] || { log "apt knows no kernel package behind linux-image-amd64"; exit 1; }
    log "unpacking $pkg into $kernel_dir"
    work=$(mktemp -d /var/tmp/strata-vm-kernel.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    chmod 755 "$work"
    (cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1) ||
        { apt_update; (cd "$work" && apt-get download -qq "$pkg" >/dev/null); }
    mkdir -p "$work/root"
    dpkg-deb -x "$work"/*.deb "$work/root"
    # Debian may ship the modules under usr/lib: give depmod and virtme-ng the usual lib/modules.
    if [ ! -d "$work/root/lib/modules" ] && [ -d "$work/root/usr/lib/modules" ]; then
        mkdir -p "$work/root/lib"
        mv "$work/root/usr/lib/modules" "$work/root/lib/modules"
    fi
    for m in "$work/root/lib/modules"/*; do
        depmod -a -b "$work/root" "${m##*/}"
    done
    mkdir -p "$(dirname "$kernel_dir")"
    rm -rf "$kernel_dir.old"
    [ -e "$kernel_dir" ] && mv "$kernel_dir" "$kernel_dir.old"
    mv "$work/root" "$kernel_dir"
    rm -rf "$kernel_dir.old"
    kernel_image >/dev/null || { log "$pkg has no dm-thin-pool module"; exit 1; }
fi

if [ ! -x "$venv/bin/vng" ] || ! "$venv/bin/vng" --version 2>/dev/null | grep -q " $vng_version\$"; then
    log "installing virtme-ng $vng_version in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "virtme-ng==$vng_version" >&2
fi
