# Shared by bench/side-by-side.sh and bench/pull-vs-dockerd.sh (sourced, not run): the test
# image, private engines (Strata, dockerd, podman) and a private docker-registry, and the
# clean-up that guarantees none of them outlives the script.
#
# The sourcing script sets BENCH_NAME (the prefix of its messages) before sourcing, then calls
# bench_init once (it installs the EXIT/INT/TERM traps and makes $BENCH_WORK). Everything started
# through the functions here is registered and stopped by stop_engine / the exit trap.

say() { echo "$BENCH_NAME: $*" >&2; }
die() { say "$*"; exit 1; }

# require TOOL "how to install it": die naming the tool and the fix when it is missing.
require() {
  command -v "$1" >/dev/null || die "$1 is missing on this host: $2"
}

# ---------------------------------------------------------------- bookkeeping and clean-up
BENCH_WORK=""
BENCH_IP_FORWARD_BEFORE=""
declare -A ENGINE_PID=()      # engine root -> pid of its daemon ("" for podman)
declare -A ENGINE_EXTRA=()    # engine root -> another directory to delete with it (podman's run root)
REGISTRY_PID=""
REGISTRY_DIR=""
# The command prefix that drives the engine started last (docker -H ... or podman --root ...).
ENGINE_CLI=()
# Its root (the key for stop_engine).
ENGINE_ROOT=""

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

# stop_pid PID WHAT: SIGTERM, wait up to 30 s, then SIGKILL; always reaps it.
stop_pid() {
  local pid="$1" what="$2" i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "warning: $what (pid $pid) did not stop in 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# stop_engine ROOT: stop the daemon started on ROOT, any helper process of it still running
# from ROOT (dockerd's containerd and shims write pid files there), undo its mounts, delete it.
stop_engine() {
  local root="$1" pidfile pid
  [ -n "$root" ] || return 0
  stop_pid "${ENGINE_PID[$root]:-}" "the daemon on $root"
  if [ -d "$root" ]; then
    while read -r pidfile; do
      pid="$(cat "$pidfile" 2>/dev/null || true)"
      if [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$root"; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done < <(find "$root" -name '*.pid' 2>/dev/null)
    remove_tree "$root"
  fi
  [ -z "${ENGINE_EXTRA[$root]:-}" ] || remove_tree "${ENGINE_EXTRA[$root]}"
  unset "ENGINE_PID[$root]" "ENGINE_EXTRA[$root]"
  [ "$ENGINE_ROOT" != "$root" ] || { ENGINE_ROOT=""; ENGINE_CLI=(); }
}

stop_registry() {
  stop_pid "$REGISTRY_PID" "docker-registry"
  REGISTRY_PID=""
  [ -z "$REGISTRY_DIR" ] || rm -rf "$REGISTRY_DIR"
  REGISTRY_DIR=""
}

bench_on_exit() {
  local status=$? root after
  for root in "${!ENGINE_PID[@]}"; do stop_engine "$root"; done
  stop_registry
  [ -z "$BENCH_WORK" ] || rm -rf "$BENCH_WORK"
  [ -z "${BENCH_ON_EXIT_HOOK:-}" ] || "$BENCH_ON_EXIT_HOOK" || true
  after="$(cat /proc/sys/net/ipv4/ip_forward)"
  if [ "$after" != "$BENCH_IP_FORWARD_BEFORE" ]; then
    say "error: net.ipv4.ip_forward changed ($BENCH_IP_FORWARD_BEFORE -> $after) while running; restoring it"
    echo "$BENCH_IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
    [ "$status" -ne 0 ] || status=1
  fi
  exit "$status"
}

# bench_init: the checks every script needs, the work directory and the traps.
bench_init() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (the engines mount filesystems)"
  require docker "the docker CLI drives Strata and dockerd (Docker's docker-ce-cli, or apt-get install docker.io)"
  local tool
  for tool in curl jq sha256sum tar findmnt ss; do
    require "$tool" "apt-get install $(case "$tool" in
      sha256sum|tar) echo coreutils tar ;; findmnt) echo util-linux ;; ss) echo iproute2 ;;
      *) echo "$tool" ;; esac)"
  done
  require busybox "the test image's bottom layer is busybox-static (apt-get install busybox-static)"
  BENCH_IP_FORWARD_BEFORE="$(cat /proc/sys/net/ipv4/ip_forward)"
  BENCH_WORK="$(mktemp -d /tmp/strata-bench-sh.XXXXXX)"
  trap bench_on_exit EXIT
  trap 'exit 130' INT TERM
  # A private client configuration: no credentials or contexts of the host's user.
  export DOCKER_CONFIG="$BENCH_WORK/docker-config"
  mkdir -p "$DOCKER_CONFIG"
  echo '{}' >"$DOCKER_CONFIG/config.json"  # podman reads it too, and fails when it is missing
}

# find_strata TOP [BIN]: BIN when given, else $STRATA_BIN, else the release build
# ($CARGO_TARGET_DIR/release/strata, TOP/target/release/strata), else TOP/target/debug/strata.
find_strata() {
  local top="$1" given="$2" candidate
  if [ -n "$given" ]; then
    [ -x "$given" ] || die "--strata $given: not an executable"
    echo "$given"; return
  fi
  for candidate in "${STRATA_BIN:-}" "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/release/strata}" \
    "$top/target/release/strata" "$top/target/debug/strata"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  die "no strata binary: build it (cargo build --release --bin strata), or pass --strata BIN"
}

# ---------------------------------------------------------------- sizes and statistics
to_bytes() {
  local v="${1^^}" n unit
  n="${v%%[KMG]*}"; unit="${v#"$n"}"; unit="${unit%IB}"; unit="${unit%B}"
  [[ "$n" =~ ^[0-9]+$ ]] || die "size $1: expected a size such as 1M"
  case "$unit" in
    "") echo "$n" ;; K) echo $((n * 1024)) ;; M) echo $((n * 1024 * 1024)) ;;
    G) echo $((n * 1024 * 1024 * 1024)) ;; *) die "size $1: unknown unit" ;;
  esac
}

now_ns() { date +%s%N; }

# time_it FILE CMD...: run CMD (output kept in $BENCH_WORK/last.out), append its wall time in
# ns to FILE; on failure say what failed and return 1.
time_it() {
  local file="$1" start end
  shift
  start="$(now_ns)"
  if ! "$@" >"$BENCH_WORK/last.out" 2>&1; then
    say "failed: $* : $(tail -n 3 "$BENCH_WORK/last.out" | tr '\n' ' ')"
    return 1
  fi
  end="$(now_ns)"
  echo $((end - start)) >>"$file"
}

# stats_ms < samples(ns): "median min max" in ms, one decimal ("- - -" when empty).
stats_ms() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - -"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m / 1e6, v[1] / 1e6, v[NR] / 1e6 }'
}

# ratio A B: A / B with two decimals, "-" when either is missing or B is 0.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# ---------------------------------------------------------------- the test image
# make_image TAR REF LAYERS SIZE: a docker-archive at TAR tagged REF: busybox-static as the
# bottom layer (/bin/busybox, /bin/sh, /bin/true) plus LAYERS layers of SIZE random bytes each
# (/dataN/blob). Nothing is downloaded.
make_image() {
  local tar_out="$1" ref="$2" layers="$3" size="$4"
  local bytes dir layer i digest diff_ids="" layer_paths="" history=""
  bytes="$(to_bytes "$size")"
  dir="$BENCH_WORK/image"
  mkdir -p "$dir"
  for i in $(seq 0 "$layers"); do
    layer="$BENCH_WORK/layer$i"
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
      -cf "$BENCH_WORK/layer$i.tar" .
    digest="$(sha256sum "$BENCH_WORK/layer$i.tar" | cut -d' ' -f1)"
    mkdir -p "$dir/$digest"
    mv "$BENCH_WORK/layer$i.tar" "$dir/$digest/layer.tar"
    rm -rf "$layer"
    diff_ids="$diff_ids\"sha256:$digest\","
    layer_paths="$layer_paths\"$digest/layer.tar\","
    history="$history{\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"layer $i\"},"
  done
  jq -n --argjson diff_ids "[${diff_ids%,}]" --argjson history "[${history%,}]" '{
      architecture: "amd64", os: "linux", created: "2023-11-14T22:13:20Z",
      config: {Cmd: ["/bin/true"], Env: ["PATH=/bin"]},
      rootfs: {type: "layers", diff_ids: $diff_ids}, history: $history}' >"$BENCH_WORK/config.json"
  digest="$(sha256sum "$BENCH_WORK/config.json" | cut -d' ' -f1)"
  mv "$BENCH_WORK/config.json" "$dir/$digest.json"
  jq -n --arg config "$digest.json" --arg tag "$ref" --argjson layers "[${layer_paths%,}]" \
    '[{Config: $config, RepoTags: [$tag], Layers: $layers}]' >"$dir/manifest.json"
  tar -C "$dir" -cf "$tar_out" .
  rm -rf "$dir"
  say "image: busybox + $layers x $size random layers, $(du -h "$tar_out" | cut -f1) archive"
}

# ---------------------------------------------------------------- engines
# driver_base DRIVER DEFAULT: the directory an engine's root goes under for DRIVER.
driver_base() {
  case "$1" in
    btrfs) [ -n "${STRATA_TEST_BTRFS_ROOT:-}" ] || { say "btrfs needs STRATA_TEST_BTRFS_ROOT (eval \"\$(bash deploy/storage/btrfs.sh env)\")"; return 1; }
           echo "$STRATA_TEST_BTRFS_ROOT" ;;
    zfs) [ -n "${STRATA_TEST_ZFS_ROOT:-}" ] && [ -n "${STRATA_TEST_ZFS_FSNAME:-}" ] \
           || { say "zfs needs STRATA_TEST_ZFS_FSNAME and STRATA_TEST_ZFS_ROOT (eval \"\$(bash deploy/storage/zfs.sh env)\")"; return 1; }
         echo "$STRATA_TEST_ZFS_ROOT" ;;
    *) mkdir -p "$2"; echo "$2" ;;
  esac
}

# wait_for_socket SOCKET PID: until /_ping answers (30 s), or the daemon died.
wait_for_socket() {
  local socket="$1" pid="$2" i
  for i in $(seq 1 150); do
    curl -sf --max-time 5 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# start_strata STRATA_BIN DRIVER BASE [serve flags...]: a private `strata serve` on a fresh root
# under BASE (no metrics listener, a bridge of its own); sets ENGINE_CLI and ENGINE_ROOT.
start_strata() {
  local bin="$1" driver="$2" base="$3" root opts=()
  shift 3
  root="$(mktemp -d "$base/bench-strata-XXXXXX")"
  ENGINE_PID[$root]=""
  [ "$driver" != zfs ] || opts=(--storage-opt "zfs.fsname=$STRATA_TEST_ZFS_FSNAME")
  # The bridge name must be unique on the host and at most 15 bytes.
  "$bin" serve --data-root "$root/data" --exec-root "$root/exec" -H "unix://$root/strata.sock" \
    --storage-driver "$driver" --metrics-addr= --bridge "sb$$$RANDOM" "${opts[@]}" "$@" \
    >"$root/daemon.log" 2>&1 &
  ENGINE_PID[$root]=$!
  ENGINE_ROOT="$root"
  if ! wait_for_socket "$root/strata.sock" "${ENGINE_PID[$root]}"; then
    say "strata serve ($driver) did not come up in 30 s: $(tail -n 3 "$root/daemon.log" | tr '\n' ' ')"
    return 1
  fi
  ENGINE_CLI=(docker -H "unix://$root/strata.sock")
}

# start_dockerd DRIVER BASE [dockerd flags...]: a private dockerd (no iptables, no bridge, no
# ip_forward, its own data and exec roots and socket); sets ENGINE_CLI and ENGINE_ROOT.
start_dockerd() {
  local driver="$1" base="$2" root
  shift 2
  command -v dockerd >/dev/null || { say "dockerd is missing on this host (apt-get install docker.io)"; return 1; }
  [ "$driver" != zfs ] || { say "dockerd's zfs driver does not work on zfs-fuse"; return 1; }
  root="$(mktemp -d "$base/bench-dockerd-XXXXXX")"
  ENGINE_PID[$root]=""
  # A short exec root: containerd's socket paths must fit in sun_path.
  dockerd --iptables=false --ip6tables=false --bridge=none --ip-forward=false \
    --storage-driver="$driver" --data-root "$root/data" --exec-root "$root/x" \
    --pidfile "$root/dockerd.pid" -H "unix://$root/docker.sock" "$@" \
    >"$root/daemon.log" 2>&1 &
  ENGINE_PID[$root]=$!
  ENGINE_ROOT="$root"
  if ! wait_for_socket "$root/docker.sock" "${ENGINE_PID[$root]}"; then
    say "dockerd ($driver) did not come up in 30 s: $(tail -n 3 "$root/daemon.log" | tr '\n' ' ')"
    return 1
  fi
  ENGINE_CLI=(docker -H "unix://$root/docker.sock")
}

# start_podman DRIVER BASE: podman on fresh roots (no daemon: every command is a podman process);
# sets ENGINE_CLI and ENGINE_ROOT.
start_podman() {
  local driver="$1" base="$2" root pdriver="$1" runroot
  command -v podman >/dev/null || { say "podman is missing on this host (apt-get install podman)"; return 1; }
  [ "$driver" != zfs ] || { say "podman's zfs driver does not work on zfs-fuse"; return 1; }
  [ "$driver" != overlay2 ] || pdriver=overlay
  root="$(mktemp -d "$base/bench-podman-XXXXXX")"
  ENGINE_PID[$root]=""
  # podman refuses a run root longer than 50 characters.
  runroot="$(mktemp -d /run/sbs-podman.XXXXXX)"
  ENGINE_EXTRA[$root]="$runroot"
  ENGINE_ROOT="$root"
  ENGINE_CLI=(podman --root "$root/data" --runroot "$runroot" --storage-driver "$pdriver"
              --cgroup-manager cgroupfs --events-backend file --tmpdir "$root/tmp")
}

# ---------------------------------------------------------------- a private registry
REGISTRY_ADDR=""

# start_registry CONFIG: Debian's docker-registry on a free 127.0.0.1 port, storage in a
# private directory, configuration CONFIG (deploy/registry/config.yml); sets REGISTRY_ADDR.
start_registry() {
  local config="$1" attempt port i
  require docker-registry "apt-get install docker-registry"
  [ -f "$config" ] || die "the registry configuration $config is missing"
  REGISTRY_DIR="$(mktemp -d /tmp/strata-bench-registry.XXXXXX)"
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    ss -Htln "sport = :$port" | grep -q . && continue
    REGISTRY_ADDR="127.0.0.1:$port"
    REGISTRY_HTTP_ADDR="$REGISTRY_ADDR" \
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$REGISTRY_DIR/storage" \
      docker-registry serve "$config" >"$REGISTRY_DIR/registry.log" 2>&1 &
    REGISTRY_PID=$!
    for i in $(seq 1 150); do
      if curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" | grep -q '^200$'; then
        return 0
      fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.2
    done
    say "docker-registry on $REGISTRY_ADDR did not answer (attempt $attempt): $(tail -n 2 "$REGISTRY_DIR/registry.log" | tr '\n' ' ')"
    stop_pid "$REGISTRY_PID" "docker-registry"
    REGISTRY_PID=""
  done
  die "docker-registry did not start on a free 127.0.0.1 port"
}
