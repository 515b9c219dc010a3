#!/bin/bash
# bench/security_bench.sh — issue 9: what confinement costs at launch. /bin/true, request →
# exit observed, in alternating blocks (bench/launch_latency):
#   berth-confined    the default confinement (capabilities, no_new_privs, seccomp, masked paths)
#   berth-privileged  "security": {"privileged": true} (all caps, no filter, nothing masked)
#   crun-default      `crun spec`'s defaults (its capabilities, no_new_privs, masked paths; no seccomp)
#   crun-seccomp      the same plus berth's default profile in OCI form (berthd --print-seccomp-profile)
# berthd runs with run_dir and state_dir on a tmpfs (in its own mount namespace), so fsync is
# not what is measured. Root only; removes everything it creates.
#   berth-noseccomp   (SPLIT=1) the default confinement with "seccomp": "unconfined", to tell the
#                     filter's share from the capabilities' and the masked paths'
# Then the kernel floor (bench/seccomp_floor): the same filter installed by a bare fork+exec.
# Knobs: ITERATIONS (200), WARMUP (20), BLOCK (10), SPLIT (0). Writes bench/results-security-<UTC>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${ITERATIONS:-200} WARMUP=${WARMUP:-20} BLOCK=${BLOCK:-10} SPLIT=${SPLIT:-0}
BUILD=${BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in crun jq curl busybox; do command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 1; }; done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/bench/launch_latency" "$BUILD/bench/seccomp_floor"
. bench/cgroups.sh

T=$(mktemp -d /tmp/berth-secbench-XXXXXX)
chmod 755 "$T"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/secbench-${T##*-}"  # berthd NAME gets $CGROOT-NAME
BERTHD_PIDS=()
cleanup() {
  set +e
  for id in $(curl -sS --unix-socket "$T/berth.sock" http://localhost/v1/containers 2>/dev/null | jq -r '.containers[].id' 2>/dev/null); do
    curl -sS --unix-socket "$T/berth.sock" -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
  done
  for pid in "${BERTHD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  for id in $(crun --root "$T/crun-state" list -q 2>/dev/null); do crun --root "$T/crun-state" delete -f "$id" >/dev/null 2>&1; done
  remove_bench_cgroups "/berth/secbench-${T##*-}-*"  # the cgroup2 root and its twin in each v1 hierarchy
  rm -rf "$T"
}
trap cleanup EXIT

# A busybox-static root filesystem, shared read-only by every runtime.
. bench/busybox_rootfs.sh
R="$T/rootfs"
make_busybox_rootfs "$R"

. bench/berthd.sh
mkdir -p "$T/tmpfs"
start_berthd berth "$T/tmpfs/run" "$T/tmpfs/state" "${ON_TMPFS[@]}" "$T/tmpfs"

# crun's own default spec, adapted to the task (berth's namespaces, /bin/true, the same root).
mkdir -p "$T/crun-state" "$T/crun-default" "$T/crun-seccomp"
(cd "$T/crun-default" && crun spec)
jq --arg r "$R" '.process.args = ["/bin/true"] | .process.terminal = false | .root = {path: $r, readonly: true}
  | .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "uts"}, {type: "ipc"}, {type: "network"}, {type: "cgroup"}]' \
  "$T/crun-default/config.json" >"$T/c.json" && mv "$T/c.json" "$T/crun-default/config.json"
"$BUILD/berthd" --print-seccomp-profile >"$T/profile.json"
jq --slurpfile p "$T/profile.json" '.linux.seccomp = $p[0]' "$T/crun-default/config.json" >"$T/crun-seccomp/config.json"

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-security-$DATE.txt"
SAMPLES="bench/results-security-$DATE.tsv"  # one line per launch
{
  echo "# berth confinement cost at launch, $DATE"
  echo "command: ITERATIONS=$ITERATIONS WARMUP=$WARMUP BLOCK=$BLOCK SPLIT=$SPLIT ./bench/security_bench.sh   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(nproc) cpus, kernel $(uname -r), $(crun --version | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "crun-seccomp profile: $(jq '.syscalls | length' "$T/profile.json") rules from berthd --print-seccomp-profile"
} | tee "$OUT"
: >"$T/empty"
MODES=berth-confined,berth-privileged,crun-default,crun-seccomp
[ "$SPLIT" = 1 ] && MODES=berth-confined,berth-noseccomp,berth-privileged
"$BUILD/bench/launch_latency" --berth "berth-confined=$T/berth.sock" --berth "berth-privileged=$T/berth.sock" \
  --berth "berth-noseccomp=$T/berth.sock" --security 'berth-privileged={"privileged": true}' \
  --security 'berth-noseccomp={"seccomp": "unconfined"}' \
  --crun "crun-default=$T/crun-default" --crun "crun-seccomp=$T/crun-seccomp" --modes "$MODES" \
  --rootfs "$R" --bundle "$T/crun-default" --crun-root "$T/crun-state" --samples "$SAMPLES" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --block "$BLOCK" --mask-cgroup2-controllers "$T/empty" | tee -a "$OUT"
# The target's differences, with bootstrap intervals (bench/ratios.py).
if [ "$SPLIT" = 1 ]; then
  python3 bench/ratios.py "$SAMPLES" berth-confined/berth-privileged berth-noseccomp/berth-privileged \
    berth-confined/berth-noseccomp | tee -a "$OUT"
else
  python3 bench/ratios.py "$SAMPLES" berth-confined/berth-privileged berth-confined/crun-seccomp \
    berth-confined/crun-default crun-seccomp/crun-default | tee -a "$OUT"
fi
# The kernel's own price for the filter, no runtime in the way (bench/seccomp_floor.cpp): fork,
# no_new_privs, PR_SET_SECCOMP with no filter / a one-instruction filter / berth's program,
# exec of the same static /bin/true, reaped.
FLOOR="bench/results-security-floor-$DATE.tsv"
{ echo; echo "## kernel floor: fork → PR_SET_SECCOMP → exec /bin/true → reaped ($ITERATIONS each, blocks of $BLOCK)"; } | tee -a "$OUT"
"$BUILD/bench/seccomp_floor" "$R/bin/true" "$ITERATIONS" "$BLOCK" "$FLOOR" | tee -a "$OUT"
python3 bench/ratios.py "$FLOOR" berth/none one-insn/none berth/one-insn | tee -a "$OUT"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
