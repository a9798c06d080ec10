#!/bin/bash
# Run the devicemapper driver's tests (drivers/tests/conformance_devicemapper.rs) inside a guest
# kernel, because this host's kernel has no device-mapper.
#
#   bash tests/vm/run.sh [TEST ARGS...]      e.g. bash tests/vm/run.sh devicemapper_only
#
# 1. installs what it needs when missing: Debian linux-image-amd64 (a kernel with dm-thin-pool
#    as a module), qemu-system-x86, dmsetup, e2fsprogs, xfsprogs, python3-venv, and virtme-ng
#    from PyPI in a venv at $STRATA_VNG_VENV (default /var/lib/strata-test/vng-venv);
# 2. builds the test binary on the host (cargo test --no-run) and finds it in cargo's JSON;
# 3. boots the kernel with virtme-ng (qemu TCG: KVM hangs stock kernels here), the host's root
#    shared read-only over 9p and a scratch directory read-write, and runs tests/vm/guest.sh
#    there, which runs the binary and records its exit status;
# 4. prints the guest's output live and exits with the tests' status (124 on timeout).
#
# Hard timeout: $STRATA_VM_TIMEOUT seconds (default 1800), after which qemu is killed.
# Left on the host afterwards: only the installed packages and the venv (caches).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${STRATA_VNG_VENV:-/var/lib/strata-test/vng-venv}
timeout_s=${STRATA_VM_TIMEOUT:-1800}
memory=${STRATA_VM_MEMORY:-3G}
cpus=${STRATA_VM_CPUS:-2}

log() { echo "vm: $*" >&2; }

kernel_with_dm() {
    local k ver
    for k in $(ls -1v /boot/vmlinuz-*-amd64 2>/dev/null | sort -rV); do
        ver=${k#/boot/vmlinuz-}
        if ls "/lib/modules/$ver/kernel/drivers/md/"dm-thin-pool.ko* >/dev/null 2>&1; then
            echo "$k"
            return 0
        fi
    done
    return 1
}

install_deps() {
    local missing=()
    kernel_with_dm >/dev/null || missing+=(linux-image-amd64)
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    [ -x /usr/sbin/dmsetup ] || missing+=(dmsetup)
    [ -x /usr/sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
    [ -x /usr/sbin/mkfs.xfs ] || missing+=(xfsprogs)
    python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
    command -v jq >/dev/null || missing+=(jq)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    if [ ! -x "$venv/bin/vng" ]; then
        log "installing virtme-ng in $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q virtme-ng >&2
    fi
}

install_deps
kernel=$(kernel_with_dm) || { log "no kernel with dm-thin-pool in /boot after installing linux-image-amd64"; exit 1; }
log "kernel $kernel"

log "building the test binary"
binary=$(cd "$repo" && cargo test -p strata-drivers --features devicemapper-guest --test conformance_devicemapper --no-run \
    --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true
                  and .target.name == "conformance_devicemapper") | .executable' | tail -n1)
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    log "cargo did not produce the conformance_devicemapper test binary; build output:"
    (cd "$repo" && cargo test -p strata-drivers --features devicemapper-guest --test conformance_devicemapper --no-run) >&2 || true
    exit 1
fi
log "test binary $binary"

scratch=$(mktemp -d /var/tmp/strata-vm.XXXXXX)
pgid=""
cleanup() {
    if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    [ -n "${out_cat:-}" ] && kill "$out_cat" 2>/dev/null || true
    [ -n "${err_cat:-}" ] && kill "$err_cat" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# qemu reopens its stdout/stderr by path: hand it FIFOs and copy them to ours.
mkfifo "$scratch/out" "$scratch/err"
cat "$scratch/out" &
out_cat=$!
cat "$scratch/err" >&2 &
err_cat=$!

# Drivers udev would load for emulated hardware: nothing here needs them, and they slow boot.
blacklist=ahci,libahci,ata_piix,ata_generic,pata_acpi,kvm,kvm_intel,kvm_amd,pcspkr,serio_raw,\
i2c_piix4,i2c_smbus,psmouse,evdev,joydev,floppy,parport,parport_pc,ppdev,bochs,bochs_drm,\
drm,drm_kms_helper,ttm,sg,sr_mod,cdrom,e1000,e1000e,button,intel_rapl_msr,intel_rapl_common,\
rapl,crc32c_intel,ghash_clmulni_intel,aesni_intel,qemu_fw_cfg,virtio_balloon,snd_pcsp

guest_cmd="bash $repo/tests/vm/guest.sh $scratch $binary"
for arg in "$@"; do
    guest_cmd+=" $(printf '%q' "$arg")"
done

log "booting the guest (timeout ${timeout_s}s)"
started=$(date +%s)
PATH="$venv/bin:$PATH" setsid "$venv/bin/vng" --run "$kernel" --force-9p --disable-kvm \
    --cpus "$cpus" --memory "$memory" --rwdir "$scratch" \
    --append "module_blacklist=$blacklist" \
    --exec "$guest_cmd" <"/dev/null" >"$scratch/out" 2>"$scratch/err" &
pgid=$!

deadline=$((started + timeout_s))
while kill -0 "$pgid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "timed out after ${timeout_s}s: killing qemu"
        kill -KILL -- "-$pgid" 2>/dev/null || true
        wait "$pgid" 2>/dev/null || true
        exit 124
    fi
    sleep 1
done
vng_rc=0
wait "$pgid" || vng_rc=$?
pgid=""
wait "$out_cat" "$err_cat" 2>/dev/null || true
out_cat="" err_cat=""

status=$(cat "$scratch/status" 2>/dev/null || echo "")
log "guest finished in $(( $(date +%s) - started ))s (vng exit $vng_rc, tests exit ${status:-none})"
if [ -z "$status" ]; then
    log "the guest never started the tests (see its output above)"
    exit 1
fi
exit "$status"
