#!/usr/bin/env bash
# Side by side: the same image through Strata, dockerd and podman, per graph driver.
#
# Usage: sudo bash bench/side-by-side.sh [--drivers overlay2,vfs] [--engines strata,dockerd,podman]
#                                        [--runs 5] [--layers 5] [--layer-size 1M] [--strata BIN]
#
# For each engine that is installed (Strata always; dockerd from Debian's docker.io and podman
# when present) and each driver, it starts a private instance on temporary roots, then times with
# the docker CLI (podman: its own CLI) the medians of --runs repetitions of
#   load     docker load -i IMAGE.tar       (the image is removed again between runs)
#   create   docker create IMAGE true       (removed again between runs)
#   run      docker run --rm IMAGE true
# and prints them with the ratio of each engine to Strata on the same driver.
#
# The image is made here: busybox-static as the bottom layer plus --layers layers of
# --layer-size random bytes each, as a docker-archive tar. Nothing is downloaded.
#
# Guarantees: no daemon started here outlives the script (they are stopped on exit, error and
# Ctrl-C, and their mounts undone); dockerd runs with --iptables=false --bridge=none
# --ip-forward=false and every container with --network none, and the script checks that
# net.ipv4.ip_forward is unchanged when it ends. The zfs drivers of dockerd and podman do not work
# on zfs-fuse, so zfs is measured for Strata only.
#
# btrfs needs STRATA_TEST_BTRFS_ROOT (deploy/storage/btrfs.sh up), zfs STRATA_TEST_ZFS_FSNAME
# and STRATA_TEST_ZFS_ROOT (deploy/storage/zfs.sh up); other drivers work under
# SIDE_BY_SIDE_ROOT (default /var/lib/strata-side-by-side).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"

drivers="overlay2"
engines="strata,dockerd,podman"
runs=5
layers=5
layer_size="1M"
strata=""
while [ $# -gt 0 ]; do
  case "$1" in
    --drivers) drivers="$2"; shift 2 ;;
    --engines) engines="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --layer-size) layer_size="$2"; shift 2 ;;
    --strata) strata="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "side-by-side.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "side-by-side: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the engines mount filesystems)"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: expected a whole number > 0"
[[ "$layers" =~ ^[0-9]+$ ]] || die "--layers $layers: expected a whole number"
command -v docker >/dev/null || die "the docker CLI is missing (it drives Strata and dockerd)"
for tool in curl jq sha256sum tar busybox findmnt; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

if [ -z "$strata" ]; then
  for candidate in "$top/target/release/strata" "$top/target/debug/strata"; do
    [ -x "$candidate" ] && { strata="$candidate"; break; }
  done
fi
[ -n "$strata" ] && [ -x "$strata" ] || die "no strata binary (build it, or pass --strata BIN)"

ip_forward_before="$(cat /proc/sys/net/ipv4/ip_forward)"
base_root="${SIDE_BY_SIDE_ROOT:-/var/lib/strata-side-by-side}"
work="$(mktemp -d /tmp/strata-side-by-side.XXXXXX)"
made_base_root=""
[ -d "$base_root" ] || made_base_root=1

# ---------------------------------------------------------------- clean-up of what we started
daemon_pid=""
daemon_root=""
daemon_runroot=""  # podman's run root: it must be a short path

# Undo every mount below $1, deepest first, then delete $1.
remove_tree() {
  local dir="$1" mp
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || say "warning: cannot unmount $mp"
  done
  if findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | grep -q .; then
    say "warning: mounts remain under $dir; leaving it"
    return 0
  fi
  rm -rf "$dir"
}

stop_daemon() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 150); do
      kill -0 "$daemon_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
      say "warning: daemon $daemon_pid did not stop in 30 s; killing it"
      kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    wait "$daemon_pid" 2>/dev/null || true
  fi
  daemon_pid=""
  # dockerd's own containerd (and its shims) live in the exec root; stop any that are left.
  if [ -n "$daemon_root" ] && [ -d "$daemon_root" ]; then
    local pidfile pid
    for pidfile in $(find "$daemon_root" -name '*.pid' 2>/dev/null); do
      pid="$(cat "$pidfile" 2>/dev/null || true)"
      if [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$daemon_root"; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done
    remove_tree "$daemon_root"
  fi
  daemon_root=""
  [ -z "$daemon_runroot" ] || remove_tree "$daemon_runroot"
  daemon_runroot=""
}

on_exit() {
  local status=$?
  stop_daemon
  rm -rf "$work"
  [ -n "$made_base_root" ] && rmdir "$base_root" 2>/dev/null || true
  local after
  after="$(cat /proc/sys/net/ipv4/ip_forward)"
  if [ "$after" != "$ip_forward_before" ]; then
    say "net.ipv4.ip_forward changed ($ip_forward_before -> $after) while running; restoring it"
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the test image
to_bytes() {
  local v="${1^^}" n unit
  n="${v%%[KMG]*}"; unit="${v#"$n"}"; unit="${unit%IB}"; unit="${unit%B}"
  [[ "$n" =~ ^[0-9]+$ ]] || die "--layer-size $1: expected a size such as 1M"
  case "$unit" in
    "") echo "$n" ;; K) echo $((n * 1024)) ;; M) echo $((n * 1024 * 1024)) ;;
    G) echo $((n * 1024 * 1024 * 1024)) ;; *) die "--layer-size $1: unknown unit" ;;
  esac
}

image_ref="strata-bench/side-by-side:latest"
image_tar="$work/image.tar"

make_image() {
  local bytes dir layer i digest diff_ids="" layer_paths="" history=""
  bytes="$(to_bytes "$layer_size")"
  dir="$work/image"
  mkdir -p "$dir"
  for i in $(seq 0 "$layers"); do
    layer="$work/layer$i"
    mkdir -p "$layer"
    if [ "$i" -eq 0 ]; then
      mkdir -p "$layer/bin"
      cp "$(command -v busybox)" "$layer/bin/busybox"
      ln -s busybox "$layer/bin/sh"
      ln -s busybox "$layer/bin/true"
    else
      mkdir -p "$layer/data$i"
      head -c "$bytes" /dev/urandom >"$layer/data$i/blob"
    fi
    tar -C "$layer" --numeric-owner --owner=0 --group=0 --mtime=@1700000000 --sort=name \
      -cf "$work/layer$i.tar" .
    digest="$(sha256sum "$work/layer$i.tar" | cut -d' ' -f1)"
    mkdir -p "$dir/$digest"
    mv "$work/layer$i.tar" "$dir/$digest/layer.tar"
    rm -rf "$layer"
    diff_ids="$diff_ids\"sha256:$digest\","
    layer_paths="$layer_paths\"$digest/layer.tar\","
    history="$history{\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"layer $i\"},"
  done
  jq -n --argjson diff_ids "[${diff_ids%,}]" --argjson history "[${history%,}]" '{
      architecture: "amd64", os: "linux", created: "2023-11-14T22:13:20Z",
      config: {Cmd: ["/bin/true"], Env: ["PATH=/bin"]},
      rootfs: {type: "layers", diff_ids: $diff_ids}, history: $history}' >"$work/config.json"
  digest="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
  mv "$work/config.json" "$dir/$digest.json"
  jq -n --arg config "$digest.json" --arg tag "$image_ref" --argjson layers "[${layer_paths%,}]" \
    '[{Config: $config, RepoTags: [$tag], Layers: $layers}]' >"$dir/manifest.json"
  tar -C "$dir" -cf "$image_tar" .
  rm -rf "$dir"
  say "image: busybox + $layers x $layer_size random layers, $(du -h "$image_tar" | cut -f1) archive"
}

# ---------------------------------------------------------------- starting engines
# Each sets CLI (the command prefix to time) or returns non-zero with a reason on stderr.
CLI=()
export DOCKER_CONFIG="$work/docker-config"
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"  # podman reads it too, and fails when it is missing

driver_base() {
  case "$1" in
    btrfs) [ -n "${STRATA_TEST_BTRFS_ROOT:-}" ] || { say "btrfs needs STRATA_TEST_BTRFS_ROOT (deploy/storage/btrfs.sh up)"; return 1; }
           echo "$STRATA_TEST_BTRFS_ROOT" ;;
    zfs) [ -n "${STRATA_TEST_ZFS_ROOT:-}" ] && [ -n "${STRATA_TEST_ZFS_FSNAME:-}" ] \
           || { say "zfs needs STRATA_TEST_ZFS_FSNAME and STRATA_TEST_ZFS_ROOT (deploy/storage/zfs.sh up)"; return 1; }
         echo "$STRATA_TEST_ZFS_ROOT" ;;
    *) mkdir -p "$base_root"; echo "$base_root" ;;
  esac
}

wait_for_socket() {
  local socket="$1" i
  for i in $(seq 1 150); do
    curl -sf --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1 && return 0
    kill -0 "$daemon_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

start_strata() {
  local driver="$1" base opts=()
  base="$(driver_base "$driver")" || return 1
  daemon_root="$(mktemp -d "$base/side-by-side-strata-XXXXXX")"
  [ "$driver" = zfs ] && opts=(--storage-opt "zfs.fsname=$STRATA_TEST_ZFS_FSNAME")
  "$strata" serve --data-root "$daemon_root/data" --exec-root "$daemon_root/exec" \
    -H "unix://$daemon_root/strata.sock" --storage-driver "$driver" "${opts[@]}" \
    >"$daemon_root/daemon.log" 2>&1 &
  daemon_pid=$!
  if ! wait_for_socket "$daemon_root/strata.sock"; then
    say "strata serve ($driver) did not come up: $(tail -n 3 "$daemon_root/daemon.log" | tr '\n' ' ')"
    return 1
  fi
  CLI=(docker -H "unix://$daemon_root/strata.sock")
}

start_dockerd() {
  local driver="$1" base
  command -v dockerd >/dev/null || { say "dockerd is not installed (apt-get install docker.io)"; return 1; }
  [ "$driver" != zfs ] || { say "dockerd's zfs driver does not work on zfs-fuse"; return 1; }
  base="$(driver_base "$driver")" || return 1
  daemon_root="$(mktemp -d "$base/side-by-side-dockerd-XXXXXX")"
  # A short exec root: containerd's socket paths must fit in sun_path.
  dockerd --iptables=false --ip6tables=false --bridge=none --ip-forward=false \
    --storage-driver="$driver" --data-root "$daemon_root/data" --exec-root "$daemon_root/x" \
    --pidfile "$daemon_root/dockerd.pid" -H "unix://$daemon_root/docker.sock" \
    >"$daemon_root/daemon.log" 2>&1 &
  daemon_pid=$!
  if ! wait_for_socket "$daemon_root/docker.sock"; then
    say "dockerd ($driver) did not come up: $(tail -n 3 "$daemon_root/daemon.log" | tr '\n' ' ')"
    return 1
  fi
  CLI=(docker -H "unix://$daemon_root/docker.sock")
}

start_podman() {
  local driver="$1" base pdriver="$1"
  command -v podman >/dev/null || { say "podman is not installed (apt-get install podman)"; return 1; }
  [ "$driver" != zfs ] || { say "podman's zfs driver does not work on zfs-fuse"; return 1; }
  [ "$driver" = overlay2 ] && pdriver=overlay
  base="$(driver_base "$driver")" || return 1
  daemon_root="$(mktemp -d "$base/side-by-side-podman-XXXXXX")"
  # podman refuses a run root longer than 50 characters.
  daemon_runroot="$(mktemp -d /run/sbs-podman.XXXXXX)"
  # No daemon: every command is a podman process on these roots.
  CLI=(podman --root "$daemon_root/data" --runroot "$daemon_runroot" --storage-driver "$pdriver"
       --cgroup-manager cgroupfs --events-backend file --tmpdir "$daemon_root/tmp")
}

# Extra flags for `run`/`create` per engine.
run_flags() {
  case "$1" in
    podman) echo "--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024" ;;
    *) echo "--network none" ;;
  esac
}

# ---------------------------------------------------------------- timing
now_ns() { date +%s%N; }

median_ms() {  # numbers (ns) on stdin -> median in ms
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f\n", m / 1e6 }'
}

# time_it FILE CMD...: run CMD (output discarded), append its wall time in ns to FILE.
time_it() {
  local file="$1" start end
  shift
  start="$(now_ns)"
  if ! "$@" >"$work/last.out" 2>&1; then
    say "failed: $* : $(tail -n 3 "$work/last.out" | tr '\n' ' ')"
    return 1
  fi
  end="$(now_ns)"
  echo $((end - start)) >>"$file"
}

declare -A result

measure() {
  local engine="$1" driver="$2" flags i id samples
  flags="$(run_flags "$engine")"
  samples="$work/samples"
  : >"$samples.load"; : >"$samples.create"; : >"$samples.run"
  for i in $(seq 1 "$runs"); do
    "${CLI[@]}" rmi -f "$image_ref" >/dev/null 2>&1 || true
    time_it "$samples.load" "${CLI[@]}" load -i "$image_tar" || return 1
  done
  # shellcheck disable=SC2086
  "${CLI[@]}" run --rm $flags "$image_ref" true >/dev/null 2>&1 || true  # warm-up
  for i in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    time_it "$samples.create" "${CLI[@]}" create $flags --name "sbs-$i" "$image_ref" true || return 1
    "${CLI[@]}" rm -f "sbs-$i" >/dev/null 2>&1 || true
  done
  for i in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    time_it "$samples.run" "${CLI[@]}" run --rm $flags "$image_ref" true || return 1
  done
  "${CLI[@]}" rmi -f "$image_ref" >/dev/null 2>&1 || true
  for action in load create run; do
    result["$engine/$driver/$action"]="$(median_ms <"$samples.$action")"
  done
}

# ---------------------------------------------------------------- main
make_image
IFS=, read -r -a driver_list <<<"$drivers"
IFS=, read -r -a engine_list <<<"$engines"
for driver in "${driver_list[@]}"; do
  for engine in "${engine_list[@]}"; do
    case "$engine" in strata|dockerd|podman) ;; *) die "unknown engine $engine" ;; esac
    say "$engine on $driver ..."
    if "start_$engine" "$driver"; then
      measure "$engine" "$driver" || say "$engine on $driver: measurement failed"
    else
      say "$engine on $driver: skipped"
    fi
    stop_daemon
  done
done

# The table: medians in ms, and each engine's time over Strata's on the same driver.
echo
echo "side by side: medians of $runs run(s) in ms; image = busybox + $layers x $layer_size; ratio = engine / strata"
printf '%-9s %-8s' driver action
for engine in "${engine_list[@]}"; do printf ' %10s' "$engine"; done
for engine in "${engine_list[@]}"; do [ "$engine" = strata ] || printf ' %16s' "$engine/strata"; done
echo
for driver in "${driver_list[@]}"; do
  for action in load create run; do
    printf '%-9s %-8s' "$driver" "$action"
    for engine in "${engine_list[@]}"; do printf ' %10s' "${result[$engine/$driver/$action]:--}"; done
    base="${result[strata/$driver/$action]:-}"
    for engine in "${engine_list[@]}"; do
      [ "$engine" = strata ] && continue
      other="${result[$engine/$driver/$action]:-}"
      if [ -n "$base" ] && [ "$base" != - ] && [ -n "$other" ] && [ "$other" != - ]; then
        printf ' %15sx' "$(awk -v a="$other" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
      else
        printf ' %16s' -
      fi
    done
    echo
  done
done
