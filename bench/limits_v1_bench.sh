#!/bin/bash
# bench/limits_v1_bench.sh — issue 8: what cpu+memory+pids limits cost at launch on a hybrid
# host, where the limits are enforced through the cgroup v1 hierarchies, against runc with the
# same limits in its config.json. /bin/true from a busybox rootfs, in one run, interleaved in
# rotating blocks (bench/launch_latency), as ratios:
#   berth               POST /v1/containers → exit observed (GET …/wait); the DELETE is not timed
#   berth-limits        the same with "resources": {"cpus": 0.5, "memory_mb": 64, "pids": 64}
#   runc-detach         `runc run --detach` → the container's init reaped (launch_latency is a
#                       child subreaper); `runc delete` not timed: the same span as berth's
#   runc-detach-limits  the same with linux.resources cpu quota 50000/period 100000/shares 512,
#                       memory limit and memory+swap 64 MiB, pids limit 64 (what berth writes for those)
#   runc-run            `runc run` → runc exits (its own teardown of cgroups and state included)
#   runc-run-limits     the same with the limits
# Before timing, one `sleep` task each of berth and runc with the limits shows the values both
# wrote and the hierarchies each task sits in. berthd keeps run_dir and state_dir on a tmpfs (in
# its own mount namespace): fsync is not what is measured. Root only; removes everything it
# creates (berthd by pid, its and runc's cgroups in every hierarchy, the temp dir).
# Knobs: ITERATIONS (100), WARMUP (10), BLOCK (10). Writes bench/results-limits-v1-<UTC>.txt and
# the per-launch samples next to it (.tsv).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${ITERATIONS:-100} WARMUP=${WARMUP:-10} BLOCK=${BLOCK:-10}
BUILD=${BUILD:-build}
RUNC=/usr/sbin/runc
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in "$RUNC" jq curl busybox python3; do command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 1; }; done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/bench/launch_latency"
. bench/cgroups.sh

T=$(mktemp -d /tmp/berth-v1bench-XXXXXX)
chmod 755 "$T"
TAG=v1bench-${T##*-}
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/$TAG"           # berthd NAME's root is $CGROOT-NAME, nested alike in every v1 hierarchy
RUNC_CG="/berth/$TAG-runc/task"    # runc's cgroupsPath, in every hierarchy
BERTHD_PIDS=()
cleanup() {
  set +e
  for id in $(curl -sS --unix-socket "$T/berth.sock" http://localhost/v1/containers 2>/dev/null | jq -r '.containers[].id' 2>/dev/null); do
    curl -sS --unix-socket "$T/berth.sock" -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
  done
  for pid in "${BERTHD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  for id in $("$RUNC" --root "$T/runc-state" list -q 2>/dev/null); do "$RUNC" --root "$T/runc-state" delete -f "$id" >/dev/null 2>&1; done
  remove_bench_cgroups "/berth/$TAG-berth" "/berth/$TAG-runc"
  left=$(bench_cgroups_left "/berth/$TAG-berth" "/berth/$TAG-runc")
  [ -n "$left" ] && echo "bench: WARNING: cgroups left behind:" && echo "$left"
  rm -rf "$T"
}
trap cleanup EXIT

. bench/busybox_rootfs.sh
R="$T/rootfs"
make_busybox_rootfs "$R"

. bench/berthd.sh
mkdir -p "$T/tmpfs"
start_berthd berth "$T/tmpfs/run" "$T/tmpfs/state" "${ON_TMPFS[@]}" "$T/tmpfs"
api() { curl -sS --unix-socket "$T/berth.sock" "$@"; }

# runc's own default spec (`runc spec`: its capabilities, masked paths, devices rule; no
# seccomp), adapted to berth's task: the same namespaces, /bin/true, the same read-only root,
# and a cgroupsPath inside berth's subtree (by default runc would nest under its caller's cgroup).
LIMITS='{"cpus": 0.5, "memory_mb": 64, "pids": 64}'
mkdir -p "$T/runc-state" "$T/runc-plain" "$T/runc-limits" "$T/runc-sleep"
(cd "$T/runc-plain" && "$RUNC" spec)
jq --arg r "$R" --arg cg "$RUNC_CG" '.process.args = ["/bin/true"] | .process.terminal = false
  | .root = {path: $r, readonly: true} | .linux.cgroupsPath = $cg
  | .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "uts"}, {type: "ipc"}, {type: "network"}, {type: "cgroup"}]' \
  "$T/runc-plain/config.json" >"$T/c.json" && mv "$T/c.json" "$T/runc-plain/config.json"
jq '.linux.resources.cpu = {quota: 50000, period: 100000, shares: 512}
  | .linux.resources.memory = {limit: 67108864, swap: 67108864} | .linux.resources.pids = {limit: 64}' \
  "$T/runc-plain/config.json" >"$T/runc-limits/config.json"
jq '.process.args = ["/bin/sleep", "60"]' "$T/runc-limits/config.json" >"$T/runc-sleep/config.json"

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-limits-v1-$DATE.txt"
SAMPLES="bench/results-limits-v1-$DATE.tsv"
{
  echo "# berth limits on a hybrid host (cgroup v1) vs runc, launch latency, $DATE"
  echo "command: ITERATIONS=$ITERATIONS WARMUP=$WARMUP BLOCK=$BLOCK ./bench/limits_v1_bench.sh   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus, kernel $(uname -r), $("$RUNC" --version | head -1)"
  echo "uptime before: $(uptime)"
  echo "berth limits: $LIMITS; runc: linux.resources $(jq -c '.linux.resources | {cpu, memory, pids}' "$T/runc-limits/config.json")"
  echo "berthd /v1/info cgroup: $(api http://localhost/v1/info | jq -c '.cgroup')"
  echo
  echo "## The limits each wrote (one 'sleep' task each, read from its cgroups)"
} | tee "$OUT"

# show_task_cgroups PID: the task's cgroup in each hierarchy and the limit files there.
show_task_cgroups() {
  local pid=$1 line ctrls rel mnt f
  while IFS= read -r line; do
    ctrls=${line#*:}; ctrls=${ctrls%%:*}; rel=${line#*:*:}
    case "$ctrls" in
      "") mnt=$CG2 ;;
      cpu|cpuacct|memory|pids|cpuset|devices|freezer|blkio) mnt=/sys/fs/cgroup/$ctrls ;;
      *) continue ;;
    esac
    printf '  %-8s %s' "${ctrls:-unified}" "$rel"
    for f in cpu.cfs_quota_us cpu.cfs_period_us cpu.shares memory.limit_in_bytes memory.memsw.limit_in_bytes \
             memory.soft_limit_in_bytes pids.max; do
      [ -f "$mnt$rel/$f" ] && printf '  %s=%s' "$f" "$(cat "$mnt$rel/$f")"
    done
    echo
  done <"/proc/$pid/cgroup"
}
id=$(api -X POST -H 'Content-Type: application/json' http://localhost/v1/containers \
  -d "{\"rootfs\": \"$R\", \"command\": [\"/bin/sleep\", \"60\"], \"resources\": $LIMITS}" | jq -r .id)
pid=$(api "http://localhost/v1/containers/$id" | jq -r .pid)
{ echo "berth task (pid $pid):"; show_task_cgroups "$pid"; } | tee -a "$OUT"
api -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
"$RUNC" --root "$T/runc-state" run --detach --pid-file "$T/sleep.pid" --bundle "$T/runc-sleep" probe </dev/null >/dev/null
{ echo "runc task (pid $(cat "$T/sleep.pid")):"; show_task_cgroups "$(cat "$T/sleep.pid")"; } | tee -a "$OUT"
"$RUNC" --root "$T/runc-state" delete -f probe

MODES=berth,berth-limits,runc-detach,runc-detach-limits,runc-run,runc-run-limits
{
  echo
  echo "## Launch latency of /bin/true ($ITERATIONS each after $WARMUP warm-up, blocks of $BLOCK, rotating order; ms)"
} | tee -a "$OUT"
"$BUILD/bench/launch_latency" --berth "berth=$T/berth.sock" --berth "berth-limits=$T/berth.sock" \
  --resources "berth-limits=$LIMITS" \
  --runc-detached "runc-detach=$T/runc-plain" --runc-detached "runc-detach-limits=$T/runc-limits" \
  --runc "runc-run=$T/runc-plain" --runc "runc-run-limits=$T/runc-limits" --modes "$MODES" \
  --rootfs "$R" --bundle "$T/runc-plain" --runc-root "$T/runc-state" --samples "$SAMPLES" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --block "$BLOCK" | tee -a "$OUT"

# The ratios the issue asks for, with bootstrap intervals (bench/ratios.py).
python3 bench/ratios.py "$SAMPLES" berth-limits/berth runc-detach-limits/runc-detach runc-run-limits/runc-run \
  berth-limits/runc-detach-limits berth/runc-detach berth-limits/runc-run-limits berth/runc-run | tee -a "$OUT"
echo "uptime after: $(uptime)" | tee -a "$OUT"
echo "bench: wrote $OUT and $SAMPLES"
