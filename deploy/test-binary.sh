#!/usr/bin/env bash
# Cargo's runner for test binaries while deploy/test.sh runs them: one binary, with a deadline.
#
# deploy/test.sh points CARGO_TARGET_<host triple>_RUNNER here, so `cargo test` starts every test
# binary as `deploy/test-binary.sh BINARY ARGS...`. This wrapper
#   - gives the binary STRATA_TEST_BINARY_TIMEOUT seconds (default 900; the slowest binary takes
#     about two minutes here), then kills it and every process of its group, and says so;
#   - prints how long each binary took, so a slow CI run shows where its time went.
# A hung test thus costs one binary's deadline, not the whole CI budget, and is named: libtest
# prints "test NAME has been running for over 60 seconds" for each test still running.
set -u

bin="$1"
name="$(basename "$bin")"
limit="${STRATA_TEST_BINARY_TIMEOUT:-900}"
start=$(date +%s)

# timeout(1) makes itself a process-group leader and signals the whole group, so daemons a test
# started (and did not detach with setsid) go too.
timeout --kill-after=20 "$limit" "$@"
rc=$?

took=$(( $(date +%s) - start ))
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "strata-test-timeout: ${name%-*} did not finish within ${limit}s and was killed" \
       "(the 'has been running for over 60 seconds' lines above name its hung tests)" >&2
else
  echo "strata-test-time: ${name%-*} took ${took}s (exit ${rc})" >&2
fi
exit "$rc"
