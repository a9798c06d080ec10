#!/usr/bin/env bash
# The zfs backing store for tests: a pool on a sparse file, with a parent dataset for Strata.
#
# Usage: sudo bash deploy/storage/zfs.sh up     # start zfs-fuse if needed, create pool + dataset
#        sudo bash deploy/storage/zfs.sh down   # destroy the pool, delete the file, stop what `up` started
#        sudo bash deploy/storage/zfs.sh env    # print the env line only
#
# `up` prints one line on stdout,
#   export STRATA_TEST_ZFS_FSNAME=strata-test/strata STRATA_TEST_ZFS_ROOT=/var/lib/strata-test/zfs
# so that `eval "$(bash deploy/storage/zfs.sh up)"` sets it for the tests; every other message
# goes to stderr. STRATA_TEST_ZFS_FSNAME is the parent dataset to pass as
# `--storage-opt zfs.fsname=` (it is not mounted itself), STRATA_TEST_ZFS_ROOT a plain directory
# on the host's filesystem where tests put driver homes. Both commands are idempotent.
#
# Without kernel OpenZFS (/dev/zfs) the zfs-fuse daemon is started if it is not running, with
# --enable-xattr (zfs-fuse refuses every xattr without it, security.capability included), and
# `down` stops it again only if `up` started it. A running daemon that cannot store xattrs (as
# Debian's package starts it, unless enable-xattr is set in /etc/zfs/zfsrc) is restarted with the
# flag when it holds no pool but ours; otherwise `up` fails, saying so. The script only touches what it made: the image
# file, the pool backed by that very file (checked with `zpool status`), the mount directory and
# its own pid/state files. A pool of the same name on another device makes it stop.
#
# Overrides: STRATA_TEST_STORE_DIR (default /var/lib/strata-test), STRATA_TEST_ZFS_SIZE (default
# 4G, sparse: only what is written takes space), STRATA_TEST_ZFS_POOL (default strata-test).
set -euo pipefail

store_dir="${STRATA_TEST_STORE_DIR:-/var/lib/strata-test}"
image="$store_dir/zfs.img"
# Where tests put driver homes (layer datasets mount below it): a plain directory on the host's
# filesystem, deliberately NOT inside a zfs-fuse mount. Mounting datasets on directories that
# zfs-fuse itself serves makes the daemon create mountpoints through its own FUSE filesystem,
# a recursion we do not want in CI (a wedged zfs-fuse cost a whole CI run once). The parent
# dataset is therefore not mounted at all (mountpoint=none), as a production pool's parent need
# not be either.
mnt="$store_dir/zfs"
size="${STRATA_TEST_ZFS_SIZE:-4G}"
pool="${STRATA_TEST_ZFS_POOL:-strata-test}"
fsname="$pool/strata"
# Our own pid file: zfs-fuse refuses to start while a pid file newer than the boot exists, even a
# stale one, and never removes it itself; so we do not share /run/zfs-fuse.pid with anyone.
pidfile="/run/strata-test-zfs-fuse.pid"
# Present while the daemon running is one `up` started (holds its pid).
started_flag="$store_dir/zfs-fuse.started-by-script"

say() { echo "zfs.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts zfs-fuse and creates a pool)"

print_env() {
  echo "export STRATA_TEST_ZFS_FSNAME=$fsname STRATA_TEST_ZFS_ROOT=$mnt"
}

kernel_zfs() { [ -e /dev/zfs ]; }

# Whether the zfs tools can talk to ZFS (daemon up, or kernel module loaded).
zfs_reachable() { zpool list -H -o name >/dev/null 2>&1; }

# A live zfs-fuse's pid. A zombie or one still exiting (state Z, or gone in a moment) is not one:
# wait up to 10 s for such a daemon to be gone before answering.
daemon_pid() {
  local i pid
  for i in $(seq 1 50); do
    pid="$(ps -C zfs-fuse -o pid=,stat= | awk '$2 !~ /^Z/ { print $1; exit }')"
    if [ -z "$pid" ] || zfs_reachable; then
      echo "$pid"
      return 0
    fi
    sleep 0.2
  done
  echo "$pid"
}

start_daemon() {
  command -v zfs-fuse >/dev/null 2>&1 \
    || die "neither kernel ZFS (/dev/zfs) nor zfs-fuse found (apt-get install zfs-fuse)"
  [ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
  [ -e /dev/fuse ] || die "/dev/fuse is missing: zfs-fuse needs FUSE"
  rm -f "$pidfile"
  say "starting zfs-fuse (pid file $pidfile)"
  zfs-fuse --pidfile "$pidfile" --enable-xattr --no-kstat-mount 2>/dev/null \
    || die "zfs-fuse did not start (is another one running, or is a stale pid file in the way?)"
  local i
  for i in $(seq 1 100); do
    zfs_reachable && break
    sleep 0.1
  done
  zfs_reachable || die "zfs-fuse started but the zfs tools cannot reach it"
  cat "$pidfile" >"$started_flag"
}

ensure_daemon() {
  for tool in zpool zfs truncate; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install zfs-fuse)"
  done
  if kernel_zfs || zfs_reachable; then
    # Whether it stores xattrs is asked of the pool itself once it is there (ensure_xattrs).
    return 0
  fi
  [ -z "$(daemon_pid)" ] || die "zfs-fuse is running but does not answer; not touching it"
  clear_dead_mounts
  start_daemon
  fresh_daemon=1
}

# Mounts under $mnt left by a zfs-fuse that died (killed with its session, say): with no daemon
# running they can only answer ENOTCONN, and the new daemon's mounts would land on or under them.
# Lazily unmounted shallowest first (that detaches the submounts too; a path below a dead mount
# cannot even be looked up). Called only when no zfs-fuse runs.
clear_dead_mounts() {
  local p
  while p="$(awk -v m="$mnt" '$5 == m || index($5, m "/") == 1 { print length($5) "\t" $5 }' \
      /proc/self/mountinfo | sort -n | head -n 1 | cut -f2)" && [ -n "$p" ]; do
    say "unmounting $p, left by a zfs-fuse that is gone"
    umount -l "$p" || die "cannot unmount the dead mount $p"
  done
}

# Datasets below $fsname that tests made and did not remove (their process was killed). Only
# called right after this script started the daemon, so no test can be using them.
destroy_leftover_datasets() {
  local name
  { zfs list -H -r -d 1 -t filesystem -o name "$fsname" 2>/dev/null || true; } \
    | { grep -vxF -- "$fsname" || true; } | while read -r name; do
      say "destroying $name, left by an earlier test run"
      zfs destroy -r -f "$name" >/dev/null 2>&1 || say "warning: could not destroy $name"
    done
}

# Whether a dataset of our pool stores xattrs: a scratch dataset (xattr=on, so only the daemon
# can be the reason) is mounted under $store_dir, given a user.* attribute, and destroyed.
xattrs_work() {
  local probe="$fsname/xattr-probe" dir="$store_dir/xattr-probe" ok=1 try
  command -v setfattr >/dev/null 2>&1 || die "setfattr is missing (apt-get install attr)"
  zfs destroy -r "$probe" >/dev/null 2>&1 || true
  zfs create -o xattr=on -o mountpoint="$dir" "$probe" >/dev/null 2>&1 \
    || die "cannot create the scratch dataset $probe to test xattr support"
  setfattr -n user.strata-probe -v 1 "$dir" 2>/dev/null || ok=0
  zfs set mountpoint=none "$probe" >/dev/null 2>&1 || true
  for try in $(seq 1 50); do
    zfs destroy -r "$probe" >/dev/null 2>&1 && break
    sleep 0.2
  done
  rmdir "$dir" 2>/dev/null || true
  [ "$ok" -eq 1 ]
}

# A zfs-fuse that cannot store xattrs (Debian's package starts it without --enable-xattr) is
# restarted with it, but only when it holds no pool but ours: a daemon serving someone else's
# pools is never touched, and the run stops instead.
restart_daemon_with_xattrs() {
  local pid others i
  kernel_zfs && die "kernel ZFS refuses xattrs on $fsname: check 'zfs get xattr $fsname'"
  pid="$(daemon_pid)"
  [ -n "$pid" ] || die "ZFS answers but no zfs-fuse process was found; cannot restart it with --enable-xattr"
  others="$(zpool list -H -o name 2>/dev/null | grep -vxF -- "$pool" | tr '\n' ' ' || true)"
  [ -z "$others" ] || die "the running zfs-fuse (pid $pid) cannot store xattrs (started without" \
    "--enable-xattr) and holds other pools ($others); not restarting it. Restart it with" \
    "--enable-xattr (or enable-xattr in /etc/zfs/zfsrc), then run this again"
  say "the running zfs-fuse (pid $pid) cannot store xattrs (started without --enable-xattr) and" \
    "holds no pool but $pool: restarting it with --enable-xattr"
  unmount_pool_datasets
  kill "$pid"
  for i in $(seq 1 150); do
    [ -d "/proc/$pid" ] || break
    sleep 0.2
  done
  [ ! -d "/proc/$pid" ] || die "zfs-fuse (pid $pid) did not stop"
  clear_dead_mounts
  start_daemon
  fresh_daemon=1
}

ensure_xattrs() {
  xattrs_work && return 0
  restart_daemon_with_xattrs
  ensure_pool
  ensure_dataset
  xattrs_work || die "zfs-fuse still cannot store xattrs after a restart with --enable-xattr" \
    "(the zfs tests need them: security.capability, user.*)"
  say "zfs-fuse now stores xattrs"
}

# Whether pool $pool exists and sits on our image file.
pool_exists() { zpool list -H -o name "$pool" >/dev/null 2>&1; }
pool_is_ours() { zpool status "$pool" 2>/dev/null | grep -qF -- "$image"; }

ensure_pool() {
  mkdir -p "$store_dir"
  if pool_exists; then
    pool_is_ours || die "a pool named $pool exists and is not backed by $image; not touching it"
    local health
    health="$(zpool list -H -o health "$pool" 2>/dev/null || true)"
    [ "$health" = ONLINE ] || die "pool $pool is $health (image file gone?); run '$0 down' and '$0 up' again"
    return 0
  fi
  if [ -e "$image" ]; then
    # Made earlier but not imported (daemon restarted without its cache).
    say "importing $pool from $image"
    zpool import -d "$store_dir" "$pool" >/dev/null 2>&1 \
      || die "$image exists but does not import as $pool; run '$0 down' to start afresh"
    return 0
  fi
  say "creating sparse $size image $image and pool $pool"
  truncate -s "$size" "$image"
  if ! zpool create -f -m none "$pool" "$image" >/dev/null 2>&1; then
    rm -f "$image"
    die "zpool create $pool $image failed"
  fi
}

ensure_dataset() {
  if ! zfs list -H -o name "$fsname" >/dev/null 2>&1; then
    say "creating dataset $fsname (not mounted)"
    zfs create -o mountpoint=none "$fsname"
  fi
  if [ "$(zfs get -H -o value mountpoint "$fsname")" != none ]; then
    # A store made by an earlier version of this script had it mounted on $mnt.
    [ "$(zfs get -H -o value mounted "$fsname")" != yes ] || zfs unmount "$fsname" \
      || die "cannot unmount $fsname (in use?)"
    zfs set mountpoint=none "$fsname"
  fi
  mkdir -p "$mnt"
  if mountpoint -q "$mnt"; then
    die "$mnt is a mount point; it should be a plain directory (run '$0 down', then '$0 up')"
  fi
}

fresh_daemon=0

up() {
  ensure_daemon
  ensure_pool
  ensure_dataset
  ensure_xattrs
  [ "$fresh_daemon" -eq 0 ] || destroy_leftover_datasets
  say "ready: pool $pool on $image, parent dataset $fsname, test homes in $mnt"
  print_env
}

# Unmount every mounted dataset of our pool, deepest mountpoint first (zfs-fuse does not order
# them itself and then calls the pool busy).
unmount_pool_datasets() {
  local name mp mounted try
  zfs list -H -r -t filesystem -o name,mountpoint,mounted "$pool" 2>/dev/null \
    | awk -F'\t' '$3 == "yes" { print length($2) "\t" $1 }' | sort -rn | cut -f2 \
    | while read -r name; do
      for try in $(seq 1 50); do
        zfs unmount "$name" 2>/dev/null && break
        sleep 0.2
      done
    done
}

stop_daemon_if_ours() {
  [ -f "$started_flag" ] || return 0
  local pid
  pid="$(cat "$started_flag")"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = zfs-fuse ]; then
    say "stopping the zfs-fuse daemon up started (pid $pid)"
    kill "$pid"
    local i
    for i in $(seq 1 150); do
      [ -d "/proc/$pid" ] || break
      sleep 0.2
    done
    [ ! -d "/proc/$pid" ] || die "zfs-fuse (pid $pid) did not stop"
  fi
  rm -f "$pidfile" "$started_flag"
}

down() {
  if [ -e "$image" ] && ! kernel_zfs && ! zfs_reachable && [ -z "$(daemon_pid)" ] \
    && command -v zfs-fuse >/dev/null 2>&1; then
    # The pool may still be in zfs-fuse's cache: destroy it properly, not just its file.
    start_daemon
  fi
  if zfs_reachable && pool_exists; then
    pool_is_ours || die "pool $pool is not backed by $image; not touching it"
    unmount_pool_datasets
    local try
    for try in $(seq 1 25); do
      zpool destroy -f "$pool" 2>/dev/null && break
      sleep 0.2
    done
    pool_exists && die "cannot destroy pool $pool (still in use? see: zfs list -r -o name,mounted $pool)"
    say "destroyed pool $pool"
  fi
  if [ -e "$image" ]; then
    rm -f "$image"
    say "removed $image"
  fi
  stop_daemon_if_ours
  [ -d "$mnt" ] && rmdir "$mnt" 2>/dev/null || true
  [ -d "$store_dir" ] && rmdir "$store_dir" 2>/dev/null || true
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) print_env ;;
  *) die "usage: $0 up|down|env" ;;
esac
