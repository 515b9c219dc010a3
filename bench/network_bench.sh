#!/bin/bash
# bench/network_bench.sh — issue 10: what a task's network costs at launch. /bin/true, request →
# exit observed, in alternating blocks (bench/launch_latency):
#   berth-none    "network": {"mode": "none"} (own netns, loopback only)
#   berth-bridge  "network": {"mode": "bridge"} (berth's own bridge, IPAM, veth via libmnl)
#   berth-cni     "network": {"mode": "cni", "name": "benchnet"}: Debian's bridge + host-local +
#                 portmap + bandwidth plugins, run by berthd (ADD in the timed span, DEL at
#                 the untimed DELETE)
#   crun-cni      the same plugins called by this script (ip netns add, ADD of each plugin with
#                 prevResult), then `crun run` in that netns; DEL and netns removal untimed
#   crun-none     crun in a new netns of its own (reference)
# Everything runs in a network namespace this script creates (berthd, its bridges, the CNI
# bridge, the benchmark itself), never in the machine's own; berthd's run_dir and state_dir
# are on a tmpfs. Root only; removes everything it creates.
# Knobs: ITERATIONS (100), WARMUP (10), BLOCK (10), PORT (0; 1: berth-bridge with one port
# mapping), MODES (all five, comma-separated; e.g. berth-none,berth-bridge for the bridge's own
# cost in a short run), PROFILE_ITERATIONS (0; N: afterwards, N launches each of berth-none and
# berth-bridge under perf tracepoints, phases by bench/breakdown.py), PAUSE_MS (0; N: an untimed
# N ms gap after each launch, so the previous task's teardown in the kernel is over),
# MASQUERADE (true: the bridge config's "masquerade" rule in berth's nft table).
# Writes bench/results-network-<UTC>.txt and .tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${ITERATIONS:-100} WARMUP=${WARMUP:-10} BLOCK=${BLOCK:-10} PORT=${PORT:-0} PAUSE_MS=${PAUSE_MS:-0}
MODES=${MODES:-berth-none,berth-bridge,berth-cni,crun-cni,crun-none}
MASQUERADE=${MASQUERADE:-true}
BUILD=${BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in crun jq curl busybox ip nsenter /usr/lib/cni/bridge; do
  command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 1; }
done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/bench/launch_latency"
. bench/cgroups.sh

T=$(mktemp -d /tmp/berth-netbench-XXXXXX)
chmod 755 "$T"
NS=berth-netbench-${T##*-}        # berthd, the bridges and the benchmark live here
TASKNS=berth-netbench-task-${T##*-}  # crun-cni's task netns (one at a time)
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/netbench-${T##*-}"
BERTHD_PIDS=()
cleanup() {
  set +e
  for id in $(curl -sS --unix-socket "$T/berth.sock" http://localhost/v1/containers 2>/dev/null | jq -r '.containers[].id' 2>/dev/null); do
    curl -sS --unix-socket "$T/berth.sock" -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
  done
  for pid in "${BERTHD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  for id in $(crun --root "$T/crun-state" list -q 2>/dev/null); do crun --root "$T/crun-state" delete -f "$id" >/dev/null 2>&1; done
  [ -e "/run/netns/$TASKNS" ] && ip netns del "$TASKNS"
  ip netns del "$NS" 2>/dev/null
  remove_bench_cgroups "/berth/netbench-${T##*-}-*"
  rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
IN_NS=(nsenter "--net=/run/netns/$NS")

. bench/busybox_rootfs.sh
R="$T/rootfs"
make_busybox_rootfs "$R"

# The CNI network both CNI modes use: Debian's plugins, host-local's leases in $T.
mkdir -p "$T/cni" "$T/cni-ipam"
cat >"$T/cni/10-bench.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "benchnet", "plugins": [
  {"type": "bridge", "bridge": "cnibench0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.123.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$T/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
  {"type": "bandwidth", "capabilities": {"bandwidth": true}}]}
JSON

. bench/berthd.sh
mkdir -p "$T/tmpfs"
BERTHD_EXTRA='"network": {"bridge": {"name": "bbench0", "subnet": "10.124.0.0/16", "masquerade": '"$MASQUERADE"'},
  "cni": {"config_dir": "'"$T/cni"'", "plugin_dirs": ["/usr/lib/cni"]}}' \
  start_berthd berth "$T/tmpfs/run" "$T/tmpfs/state" "${IN_NS[@]}" "${ON_TMPFS[@]}" "$T/tmpfs"

# crun's default spec with the task's namespaces: crun-none gets a new netns, crun-cni joins
# the one the plugins prepared.
mkdir -p "$T/crun-state" "$T/crun-none" "$T/crun-cni"
(cd "$T/crun-none" && crun spec)
jq --arg r "$R" '.process.args = ["/bin/true"] | .process.terminal = false | .root = {path: $r, readonly: true}
  | .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "uts"}, {type: "ipc"}, {type: "network"}, {type: "cgroup"}]' \
  "$T/crun-none/config.json" >"$T/c.json" && mv "$T/c.json" "$T/crun-none/config.json"
jq --arg ns "/run/netns/$TASKNS" '.linux.namespaces |= map(if .type == "network" then .path = $ns else . end)' \
  "$T/crun-none/config.json" >"$T/crun-cni/config.json"

# Each plugin's stdin, as berthd builds it (name, cniVersion; prevResult spliced in by bash).
for i in 0 1 2; do
  jq -c --argjson i "$i" '.plugins[$i] + {name: .name, cniVersion: .cniVersion}' "$T/cni/10-bench.conflist" >"$T/add$i.json"
  jq -c --argjson i "$i" '.plugins[$i] + {name: .name, cniVersion: .cniVersion, prevResult: "@PREV@"}' \
    "$T/cni/10-bench.conflist" | sed 's/"@PREV@"/@PREV@/' >"$T/prev$i.json"
done
cat >"$T/crun-cni.sh" <<SH
#!/bin/bash
set -euo pipefail
export CNI_CONTAINERID=\$2 CNI_NETNS=/run/netns/$TASKNS CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
plugin() {  # plugin COMMAND INDEX TYPE PREV
  local conf
  if [ -z "\$4" ]; then conf=\$(<"$T/add\$2.json"); else conf=\$(<"$T/prev\$2.json"); conf=\${conf/@PREV@/\$4}; fi
  CNI_COMMAND=\$1 /usr/lib/cni/\$3 <<<"\$conf"
}
if [ "\$1" = up ]; then
  ip netns add $TASKNS
  r=\$(plugin ADD 0 bridge "")
  r=\$(plugin ADD 1 portmap "\$r")
  r=\$(plugin ADD 2 bandwidth "\$r")
  printf '%s' "\$r" >"$T/result.json"
  exec crun --root "$T/crun-state" run --bundle "$T/crun-cni" "\$2"
fi
r=\$(<"$T/result.json")
plugin DEL 2 bandwidth "\$r" >/dev/null
plugin DEL 1 portmap "\$r" >/dev/null
plugin DEL 0 bridge "\$r" >/dev/null
ip netns del $TASKNS
SH
chmod +x "$T/crun-cni.sh"

BRIDGE_NET='{"mode": "bridge"}'
[ "$PORT" = 1 ] && BRIDGE_NET='{"mode": "bridge", "ports": [{"container_port": 8080, "host_port": 0}]}'
DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-network-$DATE.txt"
SAMPLES="bench/results-network-$DATE.tsv"
{
  echo "# berth network modes at launch, $DATE"
  echo "command: ITERATIONS=$ITERATIONS WARMUP=$WARMUP BLOCK=$BLOCK PORT=$PORT PAUSE_MS=$PAUSE_MS MODES=$MODES MASQUERADE=$MASQUERADE ./bench/network_bench.sh   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(nproc) cpus, kernel $(uname -r), $(crun --version | head -1), containernetworking-plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "berth-bridge network: $BRIDGE_NET"
} | tee "$OUT"
: >"$T/empty"
"${IN_NS[@]}" "$BUILD/bench/launch_latency" --berth "berth-none=$T/berth.sock" --berth "berth-bridge=$T/berth.sock" \
  --berth "berth-cni=$T/berth.sock" --network 'berth-none={"mode": "none"}' --network "berth-bridge=$BRIDGE_NET" \
  --network 'berth-cni={"mode": "cni", "name": "benchnet"}' --script "crun-cni=$T/crun-cni.sh" \
  --crun "crun-none=$T/crun-none" --modes "$MODES" \
  --rootfs "$R" --bundle "$T/crun-none" --crun-root "$T/crun-state" --samples "$SAMPLES" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --block "$BLOCK" --pause-ms "$PAUSE_MS" \
  --mask-cgroup2-controllers "$T/empty" | tee -a "$OUT"
PAIRS=()
for p in berth-bridge/berth-none berth-cni/berth-bridge crun-cni/berth-bridge berth-cni/crun-cni crun-cni/crun-none; do
  [[ ",$MODES," == *",${p%/*},"* && ",$MODES," == *",${p#*/},"* ]] && PAIRS+=("$p")
done
python3 bench/ratios.py "$SAMPLES" "${PAIRS[@]}" | tee -a "$OUT"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"

# Where the bridge's time goes: the same kernel tracepoints as bench/run.sh's profile, over
# PROFILE_ITERATIONS launches of each berth mode, one after the other.
if [ "${PROFILE_ITERATIONS:-0}" -gt 0 ]; then
  ev=sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit
  ev=$ev,syscalls:sys_enter_execve,syscalls:sys_enter_execveat,syscalls:sys_enter_clone3,syscalls:sys_exit_clone3,syscalls:sys_exit_wait4
  for m in berth-none berth-bridge; do
    net='{"mode": "none"}'; [ "$m" = berth-bridge ] && net=$BRIDGE_NET
    perf record -q -a -o "$T/perf.data" -e "$ev" -e syscalls:sys_enter_write --filter "fd == 3" -- \
      "${IN_NS[@]}" "$BUILD/bench/launch_latency" --berth "$m=$T/berth.sock" --network "$m=$net" --modes "$m" \
      --rootfs "$R" --bundle "$T/crun-none" --iterations "$PROFILE_ITERATIONS" --warmup 0 --block 1 >/dev/null 2>"$T/perf.err" \
      || { cat "$T/perf.err" >&2; continue; }
    perf script -i "$T/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null \
      | grep -E '^ *(berthd|berth-shim|memfd:berth-shi|true|launch_latency|MHD-)' >"$T/perf.txt" || true
    { echo; echo "## $m phases (perf tracepoints, $PROFILE_ITERATIONS launches, one after the other)"
      python3 bench/breakdown.py "$T/perf.txt"; } | tee -a "$OUT"
  done
fi
