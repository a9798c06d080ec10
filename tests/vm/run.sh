#!/bin/bash
# Run the devicemapper driver's tests (drivers/tests/conformance_devicemapper.rs) inside a guest
# kernel, because this host's kernel has no device-mapper. deploy/test.sh runs it in CI.
#
#   bash tests/vm/run.sh [TEST ARGS...]      e.g. bash tests/vm/run.sh devicemapper_only
#
# 1. installs what is missing (tests/vm/install.sh: qemu, dmsetup, Debian's kernel unpacked in a
#    private directory, virtme-ng in a venv);
# 2. builds the test binary on the host (cargo test --no-run, features devicemapper-guest, which
#    includes the driver's fault-injection point) and finds it in cargo's JSON;
# 3. boots the kernel with virtme-ng (qemu TCG: KVM hangs stock kernels here), the host's root
#    shared read-only over 9p and a scratch directory read-write, and runs tests/vm/guest.sh
#    there, which runs the binary and writes its exit status to the scratch directory;
# 4. streams the guest's output live to this script's stdout/stderr and exits with the tests'
#    status.
#
# Timeout: $STRATA_VM_TIMEOUT seconds for the guest (default 2100 = 35 min): then qemu is
# killed and the script fails with exit 124, saying so. When the guest has written its status
# but qemu has not exited $STRATA_VM_GRACE seconds (default 30) later, qemu is killed and the
# status counts. qemu, the output readers and the scratch directory never outlive the script.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/tests/vm
timeout_s=${STRATA_VM_TIMEOUT:-2100}
grace_s=${STRATA_VM_GRACE:-30}
memory=${STRATA_VM_MEMORY:-2G}
cpus=${STRATA_VM_CPUS:-2}

log() { echo "vm: $*" >&2; }
began=$(date +%s)

if [ "$(id -u)" -eq 0 ]; then
    bash "$here/install.sh"
fi
paths=$(bash "$here/install.sh" paths) || exit 1
eval "$paths"
log "kernel $KERNEL"

log "building the test binary"
build=(cargo test -p strata-drivers --features devicemapper-guest --test conformance_devicemapper --no-run)
binary=$(cd "$repo" && "${build[@]}" --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true
                  and .target.name == "conformance_devicemapper") | .executable' | tail -n1)
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    log "cargo did not produce the conformance_devicemapper test binary; build output:"
    (cd "$repo" && "${build[@]}") >&2 || true
    exit 1
fi
log "test binary $binary"

scratch=$(mktemp -d /var/tmp/strata-vm.XXXXXX)
vng_pid=""
readers=()
stop_readers() {
    local p
    for p in "${readers[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    readers=()
}
kill_guest() {
    if [ -n "$vng_pid" ]; then
        # vng, the shell and virtme-run under it, and qemu: one process group (setsid).
        kill -KILL -- "-$vng_pid" 2>/dev/null || true
        wait "$vng_pid" 2>/dev/null || true
        vng_pid=""
    fi
}
cleanup() {
    kill_guest
    stop_readers
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'log "interrupted: killing qemu"; exit 130' INT TERM

# qemu reopens its stdout/stderr by path (/proc/self/fd/N), which would truncate a redirected
# file: hand it FIFOs and copy them to ours, line by line as they come.
mkfifo "$scratch/out" "$scratch/err"
cat "$scratch/out" &
readers+=($!)
cat "$scratch/err" >&2 &
readers+=($!)

# Drivers udev would load for emulated hardware: nothing here needs them, and they slow boot.
blacklist=ahci,libahci,ata_piix,ata_generic,pata_acpi,kvm,kvm_intel,kvm_amd,pcspkr,serio_raw,\
i2c_piix4,i2c_smbus,psmouse,evdev,joydev,floppy,parport,parport_pc,ppdev,bochs,bochs_drm,\
drm,drm_kms_helper,ttm,sg,sr_mod,cdrom,e1000,e1000e,button,intel_rapl_msr,intel_rapl_common,\
rapl,crc32c_intel,ghash_clmulni_intel,aesni_intel,qemu_fw_cfg,virtio_balloon,snd_pcsp,i6300esb,\
lpc_ich,iTCO_wdt,iTCO_vendor_support,virtio_rng,rng_core

guest_cmd="bash $here/guest.sh $scratch $binary"
for arg in "$@"; do
    guest_cmd+=" $(printf '%q' "$arg")"
done

log "booting the guest ($cpus cpus, $memory, timeout ${timeout_s}s)"
started=$(date +%s)
PATH="$(dirname "$VNG"):$PATH" setsid "$VNG" --run "$KERNEL" --force-9p --disable-kvm \
    --cpus "$cpus" --memory "$memory" --rwdir "$scratch" \
    --append "module_blacklist=$blacklist" \
    --exec "$guest_cmd" <"/dev/null" >"$scratch/out" 2>"$scratch/err" &
vng_pid=$!

deadline=$((started + timeout_s))
done_at=""
outcome=exited
vng_rc=0
while kill -0 "$vng_pid" 2>/dev/null; do
    now=$(date +%s)
    if [ -z "$done_at" ] && [ -e "$scratch/status" ]; then
        done_at=$now
    fi
    if [ -n "$done_at" ] && [ "$now" -ge $((done_at + grace_s)) ]; then
        log "the guest finished ${grace_s}s ago but qemu is still running: killing it"
        outcome=killed
        vng_rc=killed
        break
    fi
    if [ "$now" -ge "$deadline" ]; then
        outcome=timeout
        break
    fi
    sleep 1
done
if [ "$outcome" = exited ]; then
    wait "$vng_pid" || vng_rc=$?
    vng_pid=""
fi
kill_guest
# The readers end at EOF, once qemu (the last writer) is gone; never wait on them for long.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    alive=0
    for p in "${readers[@]}"; do
        kill -0 "$p" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 0 ] && break
    sleep 1
done
stop_readers

elapsed=$(($(date +%s) - started))
# The last lines use deploy/test-binary.sh's prefixes, so deploy/test.sh's summary counts them.
if [ "$outcome" = timeout ]; then
    log "TIMEOUT: the guest ran for ${timeout_s}s (STRATA_VM_TIMEOUT) without finishing; qemu killed," \
        "the devicemapper tests did not complete"
    echo "strata-test-timeout: conformance_devicemapper-in-guest did not finish within" \
        "${timeout_s}s and was killed" >&2
    exit 124
fi
status=$(cat "$scratch/status" 2>/dev/null || echo "")
log "guest finished in ${elapsed}s, $(($(date +%s) - began))s with build and install" \
    "(vng exit $vng_rc, tests exit ${status:-none})"
if [ -z "$status" ]; then
    log "the guest never wrote the tests' status (see its output above)"
    status=1
fi
echo "strata-test-time: conformance_devicemapper-in-guest took ${elapsed}s (exit ${status})" >&2
exit "$status"
