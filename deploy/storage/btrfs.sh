#!/usr/bin/env bash
# The btrfs backing store for tests: a btrfs filesystem on a sparse file, loop-mounted.
#
# Usage: sudo bash deploy/storage/btrfs.sh up     # create (if needed) and mount; prints the env line
#        sudo bash deploy/storage/btrfs.sh down   # unmount, detach and delete what `up` made
#        sudo bash deploy/storage/btrfs.sh env    # print the env line only
#
# `up` prints one line on stdout, `export STRATA_TEST_BTRFS_ROOT=<mountpoint>`, so that
#   eval "$(bash deploy/storage/btrfs.sh up)"
# sets it for the tests; every other message goes to stderr. Both commands are idempotent.
# The script only ever touches its own files: the image file, the mount point directory and the
# loop device backing that very image (found with `losetup -j`). A mount point with anything else
# mounted on it, or an image that is not a btrfs labelled by this script, makes it stop.
#
# Overrides: STRATA_TEST_STORE_DIR (default /var/lib/strata-test), STRATA_TEST_BTRFS_SIZE
# (default 4G, sparse: only what is written takes space).
set -euo pipefail

store_dir="${STRATA_TEST_STORE_DIR:-/var/lib/strata-test}"
image="$store_dir/btrfs.img"
mnt="$store_dir/btrfs"
size="${STRATA_TEST_BTRFS_SIZE:-4G}"
label="strata-test"

say() { echo "btrfs.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it makes a loop device and mounts it)"

# The loop devices backing our image (one per line, may be empty).
loops_of_image() {
  [ -e "$image" ] || return 0
  losetup -j "$image" -O NAME -n 2>/dev/null || true
}

# The source device of the mount at $mnt, empty when nothing is mounted there.
mount_source() {
  findmnt -n -o SOURCE --mountpoint "$mnt" 2>/dev/null | head -n 1 || true
}

print_env() {
  echo "export STRATA_TEST_BTRFS_ROOT=$mnt"
}

up() {
  for tool in mkfs.btrfs losetup findmnt truncate blkid; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install btrfs-progs util-linux)"
  done
  grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
  grep -qw btrfs /proc/filesystems || die "the kernel has no btrfs support (not in /proc/filesystems)"

  mkdir -p "$store_dir" "$mnt"

  if [ ! -e "$image" ]; then
    say "creating sparse $size image $image"
    truncate -s "$size" "$image.tmp"
    mkfs.btrfs -q -L "$label" "$image.tmp" >/dev/null
    mv "$image.tmp" "$image"
  fi
  [ "$(blkid -o value -s TYPE "$image" 2>/dev/null || true)" = btrfs ] \
    || die "$image exists but holds no btrfs; not touching it"
  [ "$(blkid -o value -s LABEL "$image" 2>/dev/null || true)" = "$label" ] \
    || die "$image is a btrfs not labelled $label (not made by this script); not touching it"

  local src
  src="$(mount_source)"
  if [ -n "$src" ]; then
    if loops_of_image | grep -qx "$src"; then
      say "already mounted: $src on $mnt"
      print_env
      return 0
    fi
    die "$mnt already has $src mounted on it (not our image); not touching it"
  fi

  local loop
  loop="$(loops_of_image | head -n 1)"
  if [ -z "$loop" ]; then
    loop="$(losetup --find --show "$image")"
  fi
  mount -t btrfs -o noatime "$loop" "$mnt"
  say "mounted $image ($loop) on $mnt"
  print_env
}

down() {
  local src
  src="$(mount_source)"
  if [ -n "$src" ]; then
    loops_of_image | grep -qx "$src" \
      || die "$mnt has $src mounted on it, which is not our image; not touching it"
    umount "$mnt" || die "cannot unmount $mnt (still in use? see: fuser -vm $mnt)"
    say "unmounted $mnt"
  fi
  local loop
  for loop in $(loops_of_image); do
    losetup -d "$loop" && say "detached $loop"
  done
  if [ -e "$image" ]; then
    rm -f "$image"
    say "removed $image"
  fi
  rm -f "$image.tmp"
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
