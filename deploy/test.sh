#!/usr/bin/env bash
# Install what the tests need, then build Strata and run every test.
# Usage (as root): bash deploy/test.sh        (this is what .ci/run calls)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"

bash "$here/install-deps.sh" --tests
for c in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
  [ -d "$c" ] && PATH="$c:$PATH"
done
export PATH

cd "$top"
echo "== build"
cargo build --workspace --bins --tests --locked 2>&1 | tail -n 3

echo "== backing stores for the btrfs and zfs drivers"
# Loop-mounted btrfs and a zfs-fuse pool on sparse files; torn down on exit whatever happens.
# Each under a deadline: a wedged zfs-fuse must not hold CI until its own timeout.
teardown() {
  timeout 180 bash "$here/storage/zfs.sh" down >&2 || echo "test.sh: zfs.sh down failed or timed out" >&2
  timeout 120 bash "$here/storage/btrfs.sh" down >&2 || echo "test.sh: btrfs.sh down failed or timed out" >&2
}
trap teardown EXIT
eval "$(bash "$here/storage/btrfs.sh" up)"
eval "$(bash "$here/storage/zfs.sh" up)"

echo "== test"
# Tests need root (mounts, namespaces, runc); they start their own daemons on temporary roots.
log="${STRATA_TEST_LOG:-/tmp/strata-test.log}"
# Every test binary runs under deploy/test-binary.sh: a deadline per binary, and its duration.
triple="$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')"
export "CARGO_TARGET_${triple}_RUNNER=$here/test-binary.sh"
set +e
# grep --line-buffered: a pipe would otherwise hold the last 4 KiB back from CI's log, exactly
# the part that shows where a run stopped.
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" | grep --line-buffered -v '^ *Compiling '
status=${PIPESTATUS[0]}

echo "== devicemapper: the conformance suite inside a guest kernel (tests/vm/run.sh)"
# This host's kernel has no device-mapper: run.sh boots Debian's kernel under qemu (TCG) and runs
# the suite's binary there; its output, test result and time line go into the same log.
bash "$top/tests/vm/run.sh" 2>&1 | tee -a "$log" | grep --line-buffered -v '^ *Compiling '
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e

# One closing line over all test binaries, for people and for CI.
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
timed_out=$(grep -c '^strata-test-timeout:' "$log" || true)
echo
grep -E '^strata-test-(time|timeout):' "$log" | sort -t' ' -k4 -n -r | head -n 8 || true
echo "strata: ${passed} passed, ${failed} failed, ${timed_out} test binaries timed out"
[ "$timed_out" -eq 0 ] || status=1
exit "$status"
