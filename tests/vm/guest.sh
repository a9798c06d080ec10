#!/bin/bash
# Runs INSIDE the guest kernel booted by tests/vm/run.sh (virtme-ng, host root shared read-only).
# Usage: guest.sh SCRATCH TEST_BINARY [TEST ARGS...]
# Stops udev (nothing here needs it, and it would run rules for every dm and loop device), loads
# loop and dm-thin-pool, mounts a tmpfs for the thin pools' sparse files, runs the test binary
# with STRATA_TEST_DM_ROOT pointing there, checks that no dm or loop device is left, and writes
# the exit status to SCRATCH/status (atomically: run.sh takes its appearance as "done").
set -u
scratch=$1
shift
binary=$1
shift
export PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin
rc=125
finish() {
    echo "$rc" >"$scratch/status.tmp" && mv "$scratch/status.tmp" "$scratch/status"
    sync
    exit "$rc"
}
say() { echo "guest: $*"; }

say "kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), up $(cut -d' ' -f1 /proc/uptime)s"
if command -v udevadm >/dev/null && udevadm control --ping 2>/dev/null; then
    udevadm control --exit 2>/dev/null || true
    say "udev stopped"
fi
for module in loop dm_thin_pool; do
    if ! modprobe "$module"; then
        say "modprobe $module failed (is the kernel from tests/vm/install.sh unpacked with its modules?)" >&2
        finish
    fi
done
if [ ! -e /dev/mapper/control ]; then
    say "/dev/mapper/control is missing after loading dm_thin_pool" >&2
    finish
fi
say "$(dmsetup version | tr '\n' ' ')"

work=$scratch/dm
mkdir -p "$work"
# Sparse pool files live in guest memory, not on the 9p share.
mount -t tmpfs -o size=90% tmpfs "$work"
mkdir -p "$work/tmp"
export STRATA_TEST_DM_ROOT=$work
export TMPDIR=$work/tmp
export RUST_BACKTRACE=1

started=$(cut -d. -f1 /proc/uptime)
"$binary" "$@"
rc=$?
say "test binary exited with $rc after $(( $(cut -d. -f1 /proc/uptime) - started ))s"

leftover=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
if [ -n "$leftover" ]; then
    say "device-mapper devices left after the tests:" >&2
    echo "$leftover" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
loops=$(losetup -a 2>/dev/null || true)
if [ -n "$loops" ]; then
    say "loop devices left after the tests:" >&2
    echo "$loops" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
finish
