#!/usr/bin/env bash
# Side by side: the same image through Strata, dockerd and podman, per graph driver.
#
# Usage: sudo bash bench/side-by-side.sh [--drivers overlay2,vfs] [--engines strata,dockerd,podman]
#                                        [--runs 5] [--layers 5] [--layer-size 1M] [--strata BIN]
#                                        [--json FILE]
#
# For each engine and each driver, it starts a private instance on temporary roots, then times
# with the docker CLI (podman: its own CLI) --runs repetitions of
#   load     docker load -i IMAGE.tar       (the image is removed again between runs)
#   create   docker create IMAGE true       (removed again between runs)
#   run      docker run --rm IMAGE true     (after one warm-up run)
# and prints the medians with the ratio of each engine to Strata on the same driver. --json FILE
# writes every sample, min/median/max and the ratios.
#
# The image is made here: busybox-static as the bottom layer plus --layers layers of
# --layer-size random bytes each, as a docker-archive tar. Nothing is downloaded.
#
# dockerd (Debian: apt-get install docker.io) and podman (apt-get install podman) are not
# installed by the project's deploy scripts. An engine named in --engines that is missing is
# reported as missing, with the command that installs it, on stderr and in the table; the script
# then exits with status 3 after printing what it did measure. Strata uses --strata BIN, else
# $STRATA_BIN, else a release build, else target/debug/strata.
#
# Guarantees: no daemon started here outlives the script (they are stopped on exit, error and
# Ctrl-C, and their mounts undone); dockerd runs with --iptables=false --bridge=none
# --ip-forward=false and every container with --network none, and the script checks that
# net.ipv4.ip_forward is unchanged when it ends (it fails, and restores it, if not). The zfs
# drivers of dockerd and podman do not work on zfs-fuse, so zfs is measured for Strata only.
#
# btrfs needs STRATA_TEST_BTRFS_ROOT, zfs STRATA_TEST_ZFS_FSNAME and STRATA_TEST_ZFS_ROOT
# (eval "$(bash deploy/storage/btrfs.sh env)" etc.); other drivers work under
# SIDE_BY_SIDE_ROOT (default /var/lib/strata-side-by-side).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
BENCH_NAME=side-by-side
# shellcheck source=lib/engines.sh
. "$here/lib/engines.sh"

drivers="overlay2"
engines="strata,dockerd,podman"
runs=5
layers=5
layer_size="1M"
strata=""
json=""
command_line="$0 $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --drivers) drivers="$2"; shift 2 ;;
    --engines) engines="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    --layer-size) layer_size="$2"; shift 2 ;;
    --strata) strata="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "side-by-side.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: expected a whole number > 0"
[[ "$layers" =~ ^[0-9]+$ ]] || die "--layers $layers: expected a whole number"
to_bytes "$layer_size" >/dev/null
IFS=, read -r -a driver_list <<<"$drivers"
IFS=, read -r -a engine_list <<<"$engines"
for engine in "${engine_list[@]}"; do
  case "$engine" in strata|dockerd|podman) ;; *) die "unknown engine $engine (strata, dockerd, podman)" ;; esac
done
bench_init
strata="$(find_strata "$top" "$strata")"
say "strata binary: $strata"
base_root="${SIDE_BY_SIDE_ROOT:-/var/lib/strata-side-by-side}"
made_base_root=""
[ -d "$base_root" ] || made_base_root=1
remove_base_root() { [ -z "$made_base_root" ] || rmdir "$base_root" 2>/dev/null || true; }
BENCH_ON_EXIT_HOOK=remove_base_root

# Engines that are not installed: named, with the fix, and the exit status says so.
declare -A missing=()
command -v dockerd >/dev/null || missing[dockerd]="not installed (apt-get install docker.io)"
command -v podman >/dev/null || missing[podman]="not installed (apt-get install podman)"
for engine in "${engine_list[@]}"; do
  [ -z "${missing[$engine]:-}" ] || say "$engine is missing on this host: ${missing[$engine]}"
done

image_ref="strata-bench/side-by-side:latest"
image_tar="$BENCH_WORK/image.tar"

# Extra flags for `run`/`create` per engine.
run_flags() {
  case "$1" in
    podman) echo "--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024" ;;
    *) echo "--network none" ;;
  esac
}

declare -A result=()   # engine/driver/action -> "median min max" (ms)
declare -A samples=()  # engine/driver/action -> samples in ms, comma-separated
declare -A skipped=()  # engine/driver -> why

measure() {
  local engine="$1" driver="$2" flags i file action
  flags="$(run_flags "$engine")"
  file="$BENCH_WORK/samples"
  : >"$file.load"; : >"$file.create"; : >"$file.run"
  for i in $(seq 1 "$runs"); do
    "${ENGINE_CLI[@]}" rmi -f "$image_ref" >/dev/null 2>&1 || true
    time_it "$file.load" "${ENGINE_CLI[@]}" load -i "$image_tar" || return 1
  done
  # shellcheck disable=SC2086
  "${ENGINE_CLI[@]}" run --rm $flags "$image_ref" true >/dev/null 2>&1 || true  # warm-up
  for i in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    time_it "$file.create" "${ENGINE_CLI[@]}" create $flags --name "sbs-$i" "$image_ref" true || return 1
    "${ENGINE_CLI[@]}" rm -f "sbs-$i" >/dev/null 2>&1 || true
  done
  for i in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    time_it "$file.run" "${ENGINE_CLI[@]}" run --rm $flags "$image_ref" true || return 1
  done
  "${ENGINE_CLI[@]}" rmi -f "$image_ref" >/dev/null 2>&1 || true
  for action in load create run; do
    result["$engine/$driver/$action"]="$(stats_ms <"$file.$action")"
    samples["$engine/$driver/$action"]="$(awk '{ printf "%s%.3f", (NR > 1 ? "," : ""), $1 / 1e6 }' "$file.$action")"
  done
}

# ---------------------------------------------------------------- main
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
make_image "$image_tar" "$image_ref" "$layers" "$layer_size"
for driver in "${driver_list[@]}"; do
  for engine in "${engine_list[@]}"; do
    if [ -n "${missing[$engine]:-}" ]; then
      skipped["$engine/$driver"]="${missing[$engine]}"
      continue
    fi
    say "$engine on $driver ..."
    base="$(driver_base "$driver" "$base_root")" || { skipped["$engine/$driver"]="no store for $driver"; continue; }
    if case "$engine" in
         strata) start_strata "$strata" "$driver" "$base" ;;
         *) "start_$engine" "$driver" "$base" ;;
       esac; then
      measure "$engine" "$driver" || { say "$engine on $driver: measurement failed"; skipped["$engine/$driver"]="measurement failed"; }
    else
      say "$engine on $driver: could not start"
      skipped["$engine/$driver"]="could not start (see above)"
    fi
    stop_engine "$ENGINE_ROOT"
  done
done
finished_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The table: medians in ms, and each engine's time over Strata's on the same driver.
median() { local r="${result[$1]:-}"; echo "${r%% *}"; }
echo
echo "side by side: medians of $runs run(s) in ms; image = busybox + $layers x $layer_size; ratio = engine / strata"
echo "load average (1/5/15 min) before: $load_before, after: $load_after"
printf '%-9s %-8s' driver action
for engine in "${engine_list[@]}"; do printf ' %10s' "$engine"; done
for engine in "${engine_list[@]}"; do [ "$engine" = strata ] || printf ' %16s' "$engine/strata"; done
echo
for driver in "${driver_list[@]}"; do
  for action in load create run; do
    printf '%-9s %-8s' "$driver" "$action"
    for engine in "${engine_list[@]}"; do
      m="$(median "$engine/$driver/$action")"; printf ' %10s' "${m:--}"
    done
    for engine in "${engine_list[@]}"; do
      [ "$engine" = strata ] && continue
      r="$(ratio "$(median "$engine/$driver/$action")" "$(median "strata/$driver/$action")")"
      if [ "$r" = - ]; then printf ' %16s' -; else printf ' %15sx' "$r"; fi
    done
    echo
  done
done
for key in "${!skipped[@]}"; do
  echo "not measured: ${key%%/*} on ${key#*/}: ${skipped[$key]}"
done | sort

if [ -n "$json" ]; then
  {
    for key in "${!result[@]}"; do
      read -r med min max <<<"${result[$key]}"
      IFS=/ read -r engine driver action <<<"$key"
      jq -n --arg engine "$engine" --arg driver "$driver" --arg action "$action" \
        --argjson median "$med" --argjson min "$min" --argjson max "$max" \
        --argjson samples "[${samples[$key]}]" \
        '{engine: $engine, driver: $driver, action: $action, unit: "ms",
          median: $median, min: $min, max: $max, samples: $samples}'
    done
  } | jq -s --arg cmd "$command_line" --arg started "$started_at" --arg finished "$finished_at" \
      --arg load_before "$load_before" --arg load_after "$load_after" --arg kernel "$(uname -r)" \
      --argjson cpus "$(nproc)" --arg strata "$strata" --argjson runs "$runs" \
      --argjson layers "$layers" --arg layer_size "$layer_size" \
      --arg skipped "$(for k in "${!skipped[@]}"; do echo "$k: ${skipped[$k]}"; done)" '
      {tool: "bench/side-by-side.sh", command_line: $cmd, started_at: $started,
       finished_at: $finished, machine: {kernel: $kernel, cpus: $cpus},
       load_average: {before: $load_before, after: $load_after},
       config: {strata: $strata, runs: $runs, layers: $layers, layer_size: $layer_size},
       results: (sort_by(.driver, .action, .engine)),
       ratios: ([group_by(.driver + "/" + .action)[]
                 | (map(select(.engine == "strata"))[0].median) as $s
                 | map(select(.engine != "strata" and $s != null and $s > 0)
                       | {driver, action, engine, over_strata: ((.median / $s * 100 | round) / 100)})[]]),
       not_measured: ($skipped | split("\n") | map(select(length > 0)))}' >"$json.tmp"
  mv "$json.tmp" "$json"
  say "wrote $json"
fi

for engine in "${engine_list[@]}"; do
  [ -z "${missing[$engine]:-}" ] || { say "$engine was not measured: ${missing[$engine]}"; exit 3; }
done
