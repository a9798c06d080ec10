#!/bin/bash
# Runs INSIDE the guest kernel booted by tests/vm/run.sh (virtme-ng, host root shared read-only).
# Usage: guest.sh SCRATCH TEST_BINARY [TEST ARGS...]
# Loads loop and dm-thin-pool, mounts a tmpfs for the thin pools' sparse files, runs the test
# binary with STRATA_TEST_DM_ROOT pointing there, and writes its exit status to SCRATCH/status.
set -u
scratch=$1
shift
binary=$1
shift
export PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin
status_file=$scratch/status
echo 125 >"$status_file"

echo "guest: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
for module in loop dm_thin_pool; do
    if ! modprobe "$module"; then
        echo "guest: modprobe $module failed (is linux-image-amd64 installed with its modules?)" >&2
        exit 1
    fi
done
if [ ! -e /dev/mapper/control ]; then
    echo "guest: /dev/mapper/control is missing after loading dm_thin_pool" >&2
    exit 1
fi
echo "guest: $(dmsetup version | tr '\n' ' ')"
echo "guest: targets: $(dmsetup targets | awk '{print $1}' | tr '\n' ' ')"

work=$scratch/dm
mkdir -p "$work"
# Sparse pool files live in guest memory, not on the 9p share.
mount -t tmpfs -o size=90% tmpfs "$work"
mkdir -p "$work/tmp"
export STRATA_TEST_DM_ROOT=$work
export TMPDIR=$work/tmp
export RUST_BACKTRACE=1

"$binary" "$@"
rc=$?
echo "guest: test binary exited with $rc"

leftover=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
if [ -n "$leftover" ]; then
    echo "guest: device-mapper devices left after the tests:" >&2
    echo "$leftover" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
loops=$(losetup -a 2>/dev/null || true)
if [ -n "$loops" ]; then
    echo "guest: loop devices left after the tests:" >&2
    echo "$loops" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
echo "$rc" >"$status_file"
sync
exit "$rc"
