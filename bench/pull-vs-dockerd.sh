#!/usr/bin/env bash
# Pull vs dockerd: `docker pull` of the same image from the same local registry, through Strata
# and through dockerd, per graph driver.
#
# Usage: sudo bash bench/pull-vs-dockerd.sh [--drivers overlay2,vfs] [--runs 5] [--layers 7]
#                                           [--layer-size 8M] [--strata BIN] [--json FILE]
#
# It starts Debian's docker-registry on a free 127.0.0.1 port with a private storage directory
# (configuration deploy/registry/config.yml), builds the test image (busybox-static as the bottom
# layer plus --layers layers of --layer-size random bytes: 8 layers by default) and pushes it with
# skopeo over plain HTTP (skopeo gzips the layers). Then, per driver, it starts a private Strata
# and a private dockerd, both with --insecure-registry for that address, pulls once through each
# (a warm-up, not timed, which also checks that both end up with the same layer diff ids), and
# times --runs pulls through each, alternating which engine goes first, removing the image by id
# (docker rmi -f ID) after every pull and checking in the registry's access log that every
# timed pull fetched every layer. It prints min/median/max per engine and the ratio
# dockerd / Strata (above 1: Strata pulls faster). --json FILE writes every sample.
#
# Needs: docker (CLI), dockerd (Debian: apt-get install docker.io; not installed by the
# project's deploy scripts), docker-registry, skopeo, busybox-static, jq, curl. A missing one is
# an error naming it and the package to install; nothing is skipped.
#
# Guarantees: neither daemon nor the registry outlives the script (stopped on exit, error and
# Ctrl-C; mounts undone, roots deleted). dockerd runs with --iptables=false --ip6tables=false
# --bridge=none --ip-forward=false and private data/exec roots and socket; Strata with its own
# bridge name and no metrics listener. The script checks that net.ipv4.ip_forward is unchanged at
# the end (it fails, and restores it, if not). All traffic stays on 127.0.0.1.
#
# Roots go under PULL_BENCH_ROOT (default /var/lib/strata-pull-bench). Strata is --strata BIN,
# else $STRATA_BIN, else a release build, else target/debug/strata.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
BENCH_NAME=pull-vs-dockerd
# shellcheck source=lib/engines.sh
. "$here/lib/engines.sh"

drivers="overlay2"
runs=5
layers=7
layer_size="8M"
strata=""
json=""
command_line="$0 $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --drivers) drivers="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --layer-size) layer_size="$2"; shift 2 ;;
    --strata) strata="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pull-vs-dockerd.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: expected a whole number > 0"
[[ "$layers" =~ ^[0-9]+$ ]] || die "--layers $layers: expected a whole number"
to_bytes "$layer_size" >/dev/null
IFS=, read -r -a driver_list <<<"$drivers"
for driver in "${driver_list[@]}"; do
  case "$driver" in overlay2|vfs|btrfs) ;;
    *) die "--drivers: $driver is not supported here (overlay2, vfs, btrfs; dockerd's zfs driver does not work on zfs-fuse)" ;;
  esac
done
bench_init
require dockerd "this benchmark compares against dockerd (apt-get install docker.io)"
require skopeo "the test image is pushed with skopeo (apt-get install skopeo)"
require docker-registry "apt-get install docker-registry"
strata="$(find_strata "$top" "$strata")"
say "strata binary: $strata"
base_root="${PULL_BENCH_ROOT:-/var/lib/strata-pull-bench}"
made_base_root=""
[ -d "$base_root" ] || made_base_root=1
remove_base_root() { [ -z "$made_base_root" ] || rmdir "$base_root" 2>/dev/null || true; }
BENCH_ON_EXIT_HOOK=remove_base_root

started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- registry and image
start_registry "$top/deploy/registry/config.yml"
say "registry on $REGISTRY_ADDR"
image_tar="$BENCH_WORK/image.tar"
remote="$REGISTRY_ADDR/strata-bench/pull:latest"
make_image "$image_tar" "strata-bench/pull:latest" "$layers" "$layer_size"
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$image_tar" "docker://$remote" \
  >"$BENCH_WORK/skopeo.out" 2>&1 || die "skopeo could not push to $REGISTRY_ADDR: $(tail -n 3 "$BENCH_WORK/skopeo.out" | tr '\n' ' ')"
skopeo inspect --tls-verify=false --raw "docker://$remote" >"$BENCH_WORK/manifest.json" \
  || die "skopeo inspect of $remote failed"
pushed_layers="$(jq '.layers | length' "$BENCH_WORK/manifest.json")"
compressed_bytes="$(jq '[.layers[].size] | add' "$BENCH_WORK/manifest.json")"
[ "$pushed_layers" -eq $((layers + 1)) ] \
  || die "the registry holds $pushed_layers layers of $remote, expected $((layers + 1))"
rm -f "$image_tar"
say "pushed $remote: $pushed_layers layers, $compressed_bytes compressed bytes"

# ---------------------------------------------------------------- measuring
declare -A result=()   # engine/driver -> "median min max" (ms)
declare -A samples=()  # engine/driver -> samples in ms, comma-separated

# diff_ids ENGINE: the pulled image's layer diff ids, one line.
diff_ids() {
  local -n cli="$1"
  "${cli[@]}" image inspect --format '{{json .RootFS.Layers}}' "$remote"
}

# blob_gets: how many blobs of the test image the registry has served so far (its access log).
blob_gets() {
  grep -c "\"GET /v2/strata-bench/pull/blobs/sha256:[0-9a-f]* HTTP/1.1\" 200 " "$REGISTRY_DIR/registry.log" || true
}

# remove_pulled ENGINE: remove the image by id (docker rmi NAME:TAG is not enough on Strata:
# it leaves the image under its digest reference), then check nothing is left, so that the next
# pull downloads and unpacks every layer again.
remove_pulled() {
  local -n cli="$1"
  local id left
  id="$("${cli[@]}" image inspect --format '{{.Id}}' "$remote")" \
    || { say "docker image inspect $remote through $1 failed"; return 1; }
  "${cli[@]}" rmi -f "$id" >"$BENCH_WORK/rmi.out" 2>&1 \
    || { say "docker rmi -f $id through $1 failed: $(tail -n 2 "$BENCH_WORK/rmi.out" | tr '\n' ' ')"; return 1; }
  left="$("${cli[@]}" images -aq)"
  [ -z "$left" ] || { say "images left through $1 after docker rmi -f $id: $left"; return 1; }
}

# pull_once ENGINE FILE: time `docker pull` through ENGINE into FILE, check that every blob
# was fetched from the registry, then remove the image.
pull_once() {
  local -n cli="$1"
  local before after
  before="$(blob_gets)"
  time_it "$2" "${cli[@]}" pull "$remote" || return 1
  after="$(blob_gets)"
  [ $((after - before)) -ge "$pushed_layers" ] \
    || { say "a pull through $1 fetched $((after - before)) blobs, expected at least $pushed_layers layers: layers were left from an earlier pull"; return 1; }
  remove_pulled "$1"
}

measure_driver() {
  local driver="$1" base strata_root dockerd_root i
  base="$(driver_base "$driver" "$base_root")" || return 1
  start_strata "$strata" "$driver" "$base" --insecure-registry "$REGISTRY_ADDR" || return 1
  strata_root="$ENGINE_ROOT"; local strata_cli=("${ENGINE_CLI[@]}")
  start_dockerd "$driver" "$base" --insecure-registry "$REGISTRY_ADDR" || return 1
  dockerd_root="$ENGINE_ROOT"; local dockerd_cli=("${ENGINE_CLI[@]}")

  # Warm-up: one pull each, and both must hold the same layers.
  "${strata_cli[@]}" pull "$remote" >"$BENCH_WORK/pull.out" 2>&1 \
    || die "docker pull through Strata ($driver) failed: $(tail -n 3 "$BENCH_WORK/pull.out" | tr '\n' ' ')"
  "${dockerd_cli[@]}" pull "$remote" >"$BENCH_WORK/pull.out" 2>&1 \
    || die "docker pull through dockerd ($driver) failed: $(tail -n 3 "$BENCH_WORK/pull.out" | tr '\n' ' ')"
  local ours theirs
  ours="$(diff_ids strata_cli)"; theirs="$(diff_ids dockerd_cli)"
  [ "$ours" = "$theirs" ] || die "Strata and dockerd pulled different layers: $ours vs $theirs"
  [ "$(jq length <<<"$ours")" -eq "$pushed_layers" ] || die "Strata pulled $(jq length <<<"$ours") layers, expected $pushed_layers"
  remove_pulled strata_cli || return 1
  remove_pulled dockerd_cli || return 1

  : >"$BENCH_WORK/strata.ns"; : >"$BENCH_WORK/dockerd.ns"
  for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) -eq 1 ]; then
      pull_once strata_cli "$BENCH_WORK/strata.ns" && pull_once dockerd_cli "$BENCH_WORK/dockerd.ns" || return 1
    else
      pull_once dockerd_cli "$BENCH_WORK/dockerd.ns" && pull_once strata_cli "$BENCH_WORK/strata.ns" || return 1
    fi
    say "$driver: run $i/$runs done"
  done
  for engine in strata dockerd; do
    result["$engine/$driver"]="$(stats_ms <"$BENCH_WORK/$engine.ns")"
    samples["$engine/$driver"]="$(awk '{ printf "%s%.3f", (NR > 1 ? "," : ""), $1 / 1e6 }' "$BENCH_WORK/$engine.ns")"
  done
  stop_engine "$strata_root"
  stop_engine "$dockerd_root"
}

for driver in "${driver_list[@]}"; do
  say "$driver: Strata and dockerd ..."
  measure_driver "$driver" || die "$driver: the measurement failed (see above)"
done
finished_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
echo
echo "docker pull of $remote: busybox + $layers x $layer_size random layers ($pushed_layers layers, $compressed_bytes bytes gzipped)"
echo "$runs timed run(s) per engine after one warm-up; ms; ratio = dockerd / strata (above 1: Strata faster)"
echo "load average (1/5/15 min) before: $load_before, after: $load_after"
printf '%-9s %-8s %10s %10s %10s\n' driver engine median min max
for driver in "${driver_list[@]}"; do
  for engine in strata dockerd; do
    read -r med min max <<<"${result[$engine/$driver]}"
    printf '%-9s %-8s %10s %10s %10s\n' "$driver" "$engine" "$med" "$min" "$max"
  done
  printf '%-9s %-8s %9sx\n' "$driver" ratio "$(ratio "${result[dockerd/$driver]%% *}" "${result[strata/$driver]%% *}")"
done

if [ -n "$json" ]; then
  {
    for key in "${!result[@]}"; do
      read -r med min max <<<"${result[$key]}"
      jq -n --arg engine "${key%%/*}" --arg driver "${key#*/}" \
        --argjson median "$med" --argjson min "$min" --argjson max "$max" \
        --argjson samples "[${samples[$key]}]" \
        '{engine: $engine, driver: $driver, unit: "ms", median: $median, min: $min, max: $max, samples: $samples}'
    done
  } | jq -s --arg cmd "$command_line" --arg started "$started_at" --arg finished "$finished_at" \
      --arg load_before "$load_before" --arg load_after "$load_after" --arg kernel "$(uname -r)" \
      --argjson cpus "$(nproc)" --arg strata "$strata" --arg dockerd "$(dockerd --version)" \
      --argjson runs "$runs" --argjson layers "$pushed_layers" --arg layer_size "$layer_size" \
      --argjson compressed "$compressed_bytes" '
      {tool: "bench/pull-vs-dockerd.sh", command_line: $cmd, started_at: $started,
       finished_at: $finished, machine: {kernel: $kernel, cpus: $cpus},
       load_average: {before: $load_before, after: $load_after},
       config: {strata: $strata, dockerd: $dockerd, runs: $runs, image_layers: $layers,
                random_layer_size: $layer_size, compressed_bytes: $compressed},
       results: sort_by(.driver, .engine),
       ratios: [group_by(.driver)[]
                | {driver: .[0].driver,
                   dockerd_over_strata: ((map(select(.engine == "dockerd"))[0].median
                                          / map(select(.engine == "strata"))[0].median * 100 | round) / 100)}]}' \
      >"$json.tmp"
  mv "$json.tmp" "$json"
  say "wrote $json"
fi
