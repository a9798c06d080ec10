#!/usr/bin/env bash
# Install what Strata needs, build it, and start the agent on its embedded defaults:
# data root /var/lib/strata, exec root /run/strata, socket unix:///run/strata/strata.sock,
# storage driver overlay2 where the data root supports it (vfs otherwise), runtime runc.
# Usage (as root): bash deploy/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"

bash "$here/install-deps.sh"
for c in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
  [ -d "$c" ] && PATH="$c:$PATH"
done
export PATH

cd "$top"
cargo build --release --locked --bin strata
install -m 0755 target/release/strata /usr/local/bin/strata

if [ -d /run/systemd/system ]; then
  install -m 0644 "$here/systemd/strata.service" /etc/systemd/system/strata.service
  systemctl daemon-reload
  systemctl enable --now strata.service
  systemctl restart strata.service
else
  # No systemd (containers, CI sandboxes): run it in the background with a pid file.
  if [ -f /run/strata.pid ] && kill -0 "$(cat /run/strata.pid)" 2>/dev/null; then
    kill "$(cat /run/strata.pid)"
    sleep 1
  fi
  mkdir -p /var/log
  nohup /usr/local/bin/strata serve >>/var/log/strata.log 2>&1 &
  echo $! >/run/strata.pid
fi

for _ in $(seq 1 100); do
  if curl -fsS --unix-socket /run/strata/strata.sock http://localhost/_ping >/dev/null 2>&1; then
    echo "strata is up: DOCKER_HOST=unix:///run/strata/strata.sock docker info"
    exit 0
  fi
  sleep 0.2
done
echo "strata did not answer on /run/strata/strata.sock; see /var/log/strata.log or journalctl -u strata" >&2
exit 1
