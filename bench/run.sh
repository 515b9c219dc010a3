#!/bin/bash
# bench/run.sh — the issue-2 benchmarks in one run, berth side by side with its peers:
#   1. launch latency of /bin/true (API request → exit observed) vs crun and runc
#   2. private memory per task monitor (berth-shim vs conmon) with N tasks running
# Prints a table and writes bench/results-<UTC date>.txt. Root only. Everything it creates
# (temp dir, berthd, its cgroup subtree, runtime state, processes) is removed on exit; a
# before/after listing of /sys/fs/cgroup proves no cgroup is left behind.
#
#   3. (issue 3) image pull: bench/pull.sh, cold and warm, vs skopeo + umoci and curl + tar
#
# Knobs (environment): ITERATIONS (200), WARMUP (20), BLOCK (10), TASKS (20);
#   PARTS (launch,memory,pull): which parts run, e.g. PARTS=pull or PARTS=launch,memory.
#   pull.sh has its own knobs (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
PARTS=${PARTS:-launch,memory,pull}
has() { [[ ",$PARTS," == *",$1,"* ]]; }
if ! has launch && ! has memory; then
  if has pull; then exec bash bench/pull.sh; fi
  exit 0
fi
ITERATIONS=${ITERATIONS:-200} WARMUP=${WARMUP:-20} BLOCK=${BLOCK:-10} TASKS=${TASKS:-20}
BUILD=${BUILD:-build}

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in crun runc conmon jq curl busybox; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (make deps)" >&2; exit 1; }
done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/berth" "$BUILD/bench/launch_latency" "$BUILD/bench/spawn_probe"

. bench/cgroups.sh
T=$(mktemp -d /tmp/berth-bench-XXXXXX)
chmod 755 "$T"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/bench-${T##*-}"
BERTHD_PIDS=()
find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$T/cgroups.before"

cleanup() {
  set +e
  for sock in "$T"/*.sock; do
    [ -S "$sock" ] || continue
    # Whatever a failed run left: removed through the API.
    for id in $(curl -sS --unix-socket "$sock" http://localhost/v1/containers 2>/dev/null | jq -r '.containers[].id' 2>/dev/null); do
      curl -sS --unix-socket "$sock" -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
    done
  done
  for pid in "${BERTHD_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for f in "$T"/conmon-*/*/conmon.pid; do  # conmons of a failed memory run, by pid
    [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
  done
  for st in "$T/crun-state" "$T/runc-state"; do
    rt=/usr/bin/crun; [ "$st" = "$T/runc-state" ] && rt=/usr/sbin/runc
    [ -d "$st" ] || continue
    for id in $("$rt" --root "$st" list -q 2>/dev/null); do "$rt" --root "$st" delete -f "$id" >/dev/null 2>&1; done
  done
  remove_bench_cgroups "/berth/bench-${T##*-}-*"  # each berthd's root, in cgroup2 and every v1 hierarchy
  find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$T/cgroups.after"
  left=$(comm -13 "$T/cgroups.before" "$T/cgroups.after" | grep -E 'berth/bench-|bench-' || true)
  [ -n "$left" ] && echo "bench: WARNING: cgroups left behind:" && echo "$left"
  rm -rf "$T"
}
trap cleanup EXIT

# A busybox-static root filesystem, shared read-only by every runtime.
. bench/busybox_rootfs.sh
R="$T/rootfs"
make_busybox_rootfs "$R"

# Three berthds, each on its own socket, dirs and cgroup subtree (no --debug: logging is not
# what we time), differing only in where their state lives — fsync is a large part of the path:
#   berth        run_dir and state_dir on this machine's disk (ext4 here; what the tests do)
#   berth-prod   run_dir on a tmpfs (as /run is in production), state_dir on disk
#   berth-tmpfs  both on a tmpfs: no fsync cost at all (a lower bound)
# The tmpfs is mounted in berthd's own private mount namespace (its shims inherit it).
. bench/berthd.sh
mkdir -p "$T/disk" "$T/tmpfs" "$T/prod-run"
start_berthd berth "$T/disk/run" "$T/disk/state"
start_berthd berth-prod "$T/prod-run/run" "$T/disk/prod-state" "${ON_TMPFS[@]}" "$T/prod-run"
start_berthd berth-tmpfs "$T/tmpfs/run" "$T/tmpfs/state" "${ON_TMPFS[@]}" "$T/tmpfs"

# The OCI bundle for crun and runc: `crun spec`, adapted to berth's task (namespaces pid mount
# uts ipc network cgroup, no terminal, the same root read-only; berth mounts an overlay over it).
B="$T/bundle"
mkdir -p "$B" "$T/crun-state" "$T/runc-state"
(cd "$B" && crun spec)
jq --arg r "$R" '.process.args = ["/bin/true"] | .process.terminal = false
  | .root = {path: $r, readonly: true}
  | .linux.namespaces = [{type: "pid"}, {type: "mount"}, {type: "uts"}, {type: "ipc"}, {type: "network"}, {type: "cgroup"}]' \
  "$B/config.json" >"$B/config.json.new" && mv "$B/config.json.new" "$B/config.json"

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-$DATE.txt"
CMD="ITERATIONS=$ITERATIONS WARMUP=$WARMUP BLOCK=$BLOCK TASKS=$TASKS ./bench/run.sh"
{
  echo "# berth benchmarks, $DATE"
  echo "command: $CMD   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus, $(free -g | awk '/Mem:/{print $2}') GiB," \
    "kernel $(uname -r), cgroup2 at $CG2 (controllers: $(cat "$CG2/cgroup.controllers"))"
  echo "peers: $(crun --version | head -1), $(runc --version | head -1), $(conmon --version | head -1)"
  echo
  echo "parts: $PARTS"
  echo "## 1. launch latency of /bin/true, request → exit observed ($ITERATIONS each after $WARMUP warm-up, blocks of $BLOCK, rotating order)"
  echo "crun: cgroup2 controller list masked in the driver's private mount namespace (crun 1.8 refuses hybrid hosts otherwise)"
} | tee "$OUT"

if has launch; then
"$BUILD/bench/launch_latency" --berth "berth=$T/berth.sock" --berth "berth-prod=$T/berth-prod.sock" \
  --berth "berth-tmpfs=$T/berth-tmpfs.sock" --rootfs "$R" --bundle "$B" \
  --crun-root "$T/crun-state" --runc-root "$T/runc-state" --samples "$T/latency.tsv" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --block "$BLOCK" \
  --mask-cgroup2-controllers "$T/empty" | tee -a "$OUT"

# Where berth's time goes: kernel tracepoints (cheap, unlike strace) over PROFILE_ITERATIONS
# launches against berth-tmpfs (no fsync in the way), phases by bench/breakdown.py.
if command -v perf >/dev/null && [ "${PROFILE_ITERATIONS:-20}" -gt 0 ]; then
  ev=sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit
  ev=$ev,syscalls:sys_enter_execve,syscalls:sys_enter_execveat,syscalls:sys_enter_clone3,syscalls:sys_exit_clone3,syscalls:sys_exit_wait4
  perf record -q -a -o "$T/perf.data" -e "$ev" -e syscalls:sys_enter_write --filter "fd == 3" -- "$BUILD/bench/launch_latency" --berth "berth-tmpfs=$T/berth-tmpfs.sock" \
    --rootfs "$R" --bundle "$B" --modes berth-tmpfs --iterations "${PROFILE_ITERATIONS:-20}" --warmup 0 \
    --block 1 >/dev/null 2>"$T/perf.err" || { cat "$T/perf.err" "$T/berth-tmpfs.log" >&2; ls -la "$T" >&2; }
  perf script -i "$T/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null \
    | grep -E '^ *(berthd|berth-shim|memfd:berth-shi|true|launch_latency|MHD-)' >"$T/perf.txt" || true
  { echo; echo "## 1b. berth-tmpfs phases (perf tracepoints, ${PROFILE_ITERATIONS:-20} launches, one after the other)"
    python3 bench/breakdown.py "$T/perf.txt"; } | tee -a "$OUT"
fi
fi  # launch

if has memory; then

# Shim memory: berth-shim through the API; conmon with runc directly, with crun inside a private
# mount namespace that masks the cgroup2 controller list (as above).
sm=bench/shim_memory.sh
bash "$sm" berth "$T/berth-tmpfs.sock" "$R" "$TASKS" "$T/mem-berth.tsv"
bash "$sm" conmon /usr/sbin/runc "$T/runc-state" "$B/config.json" "$R" "$TASKS" "$T/conmon-runc" "$T/mem-conmon-runc.tsv"
: >"$T/empty"
unshare -m --propagation private bash -c "mount --bind '$T/empty' $CG2/cgroup.controllers &&
  bash '$sm' conmon /usr/bin/crun '$T/crun-state' '$B/config.json' '$R' '$TASKS' '$T/conmon-crun' '$T/mem-conmon-crun.tsv'"

{
  echo
  echo "## 2. monitor memory per task, $TASKS tasks 'sleep 60' running (kB, mean per monitor process, /proc/<pid>/smaps_rollup)"
  cat "$T"/mem-berth.tsv "$T"/mem-conmon-runc.tsv "$T"/mem-conmon-crun.tsv | awk -F'\t' '
    { n[$1]++; rss[$1]+=$3; pss[$1]+=$4; pc[$1]+=$5; pd[$1]+=$6; an[$1]+=$7; if (!($1 in o)) { o[$1]=++k; w[k]=$1 } }
    END {
      printf "%-14s %4s %8s %8s %10s %10s %12s %8s\n", "monitor", "n", "Rss", "Pss", "Priv_Clean", "Priv_Dirty", "Private(C+D)", "Anon"
      for (i = 1; i <= k; i++) { m = w[i]; c = n[m]
        printf "%-14s %4d %8.0f %8.0f %10.0f %10.0f %12.0f %8.0f\n", m, c, rss[m]/c, pss[m]/c, pc[m]/c, pd[m]/c, (pc[m]+pd[m])/c, an[m]/c }
      b = "berth-shim"
      for (i = 1; i <= k; i++) { m = w[i]; if (m == b) continue
        printf "ratio %s/%-12s Pss %.2f  Private %.2f\n", b, m, pss[b]/pss[m], (pc[b]+pd[b])/(pc[m]+pd[m]) }
    }'
} | tee -a "$OUT"
# Experimental berth-shim link variants (built here into build/bench/shim/, the committed
# Makefile rule is untouched), each behind its own berthd, same N tasks: where the shim's
# private memory comes from.
if [ "${SHIM_VARIANTS:-1}" = 1 ]; then
  V="$BUILD/bench/shim"
  mkdir -p "$V"
  objs="$BUILD/sandbox/shim/main.o $BUILD/sandbox/shim/shim.o $BUILD/libberth.a"
  g++ -Wl,--as-needed -o "$V/berth-shim-dynamic" $objs                 # = the committed rule (it links nothing else)
  g++ -Wl,--as-needed -static-libstdc++ -static-libgcc -o "$V/berth-shim-static-libstdc++" $objs
  g++ -static -o "$V/berth-shim-static" $objs
  for v in dynamic static-libstdc++ static; do
    SHIM="$PWD/$V/berth-shim-$v" start_berthd "shim-$v" "$T/shim-$v/run" "$T/shim-$v/state"
    bash "$sm" berth "$T/shim-$v.sock" "$R" "$TASKS" "$T/mem-v-$v.tsv"
    sed -i "s/^berth-shim\t/shim-$v\t/" "$T/mem-v-$v.tsv"
  done
  {
    echo
    echo "## 3. berth-shim link variants, $TASKS tasks each (kB, mean per shim; file size in bytes)"
    for v in dynamic static-libstdc++ static; do printf '%s: %s bytes  ' "$v" "$(stat -c %s "$V/berth-shim-$v")"; done; echo
    cat "$T"/mem-v-*.tsv | awk -F'\t' '
      { n[$1]++; rss[$1]+=$3; pss[$1]+=$4; pc[$1]+=$5; pd[$1]+=$6; an[$1]+=$7; if (!($1 in o)) { o[$1]=++k; w[k]=$1 } }
      END {
        printf "%-24s %4s %8s %8s %10s %10s %12s %8s\n", "variant", "n", "Rss", "Pss", "Priv_Clean", "Priv_Dirty", "Private(C+D)", "Anon"
        for (i = 1; i <= k; i++) { m = w[i]; c = n[m]
          printf "%-24s %4d %8.0f %8.0f %10.0f %10.0f %12.0f %8.0f\n", m, c, rss[m]/c, pss[m]/c, pc[m]/c, pd[m]/c, (pc[m]+pd[m])/c, an[m]/c }
      }'
  } | tee -a "$OUT"
  # Spawn costs behind the phases of 1b: moving a process into a cgroup by writing cgroup.procs
  # (what berthd does for each shim) against clone3(CLONE_INTO_CGROUP), and fork+exec of each
  # shim variant; 50 ms apart, as launches are.
  mkdir -p "$CGROOT-probe"
  {
    echo
    echo "## 4. spawn costs (bench/spawn_probe, 100 runs each, 50 ms apart)"
    "$BUILD/bench/spawn_probe" "$CGROOT-probe" 100 50 "$V"/berth-shim-dynamic "$V"/berth-shim-static-libstdc++ "$V"/berth-shim-static
  } | tee -a "$OUT"
fi
fi  # memory
echo "bench: wrote $OUT"
if has pull; then bash bench/pull.sh; fi
