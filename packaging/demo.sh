#!/bin/bash
# berth's main job, end to end: start berthd, run a task from a busybox root filesystem, show
# its logs, status and exit; then a long-running task killed with a grace period. Runs in a
# temp dir and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build
[ "$(id -u)" = 0 ] || { echo "demo: run as root (berthd creates namespaces and cgroups)" >&2; exit 1; }

DEMO=$(mktemp -d /tmp/berth-demo-XXXXXX)
CG2=$(awk '$9 == "cgroup2" && $4 == "/" {print $5; exit}' /proc/self/mountinfo)
CGROOT="$CG2/berth/demo-${DEMO##*-}"
BERTHD_PID=
cleanup() {
  if [ -n "$BERTHD_PID" ]; then kill "$BERTHD_PID" 2>/dev/null || true; wait "$BERTHD_PID" 2>/dev/null || true; fi
  rmdir "$CGROOT/containers" "$CGROOT/shims" "$CGROOT" 2>/dev/null || true
  rmdir "$CG2/berth" 2>/dev/null || true
  rm -rf "$DEMO"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building a busybox root filesystem"
mkdir -p "$DEMO/rootfs"/{bin,etc,tmp,proc,sys,dev,mnt,root}
cp /bin/busybox "$DEMO/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$DEMO/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$DEMO/rootfs/etc/passwd"
echo 'root:x:0:' > "$DEMO/rootfs/etc/group"
echo "rootfs: $DEMO/rootfs ($(ls "$DEMO/rootfs/bin" | wc -l) programs)"

step "starting berthd"
cat > "$DEMO/agent.json" <<JSON
{"socket": "$DEMO/berth.sock", "run_dir": "$DEMO/run", "state_dir": "$DEMO/state",
 "cgroup_root": "$CGROOT"}
JSON
"$BIN/berthd" --config "$DEMO/agent.json" 2> "$DEMO/berthd.log" &
BERTHD_PID=$!
export BERTH_SOCKET=$DEMO/berth.sock
for _ in $(seq 100); do "$BIN/berth" info >/dev/null 2>&1 && break; sleep 0.05; done
"$BIN/berth" info

step "berth run (attached): the task's output, then its exit code"
set +e
"$BIN/berth" run --name hello --rootfs "$DEMO/rootfs" --env GREETING=hi -- \
  sh -c 'echo "$GREETING from $(hostname), pid $$ in its own namespace"; ls /mnt/sandbox >/dev/null; echo "oops" >&2; exit 3'
echo "exit code: $?"
set -e

step "berth ps -a"
"$BIN/berth" ps -a
step "berth logs hello / berth logs --stderr hello"
"$BIN/berth" logs hello
"$BIN/berth" logs --stderr hello
step "berth inspect hello (the termination record)"
"$BIN/berth" --json inspect hello | python3 -m json.tool 2>/dev/null | sed -n '/"exit"/,/}/p' || "$BIN/berth" inspect hello

step "a long-running task, killed with SIGTERM and a 2 s grace period"
"$BIN/berth" run -d --name sleeper --rootfs "$DEMO/rootfs" -- sh -c 'trap "" TERM; while :; do sleep 1; done'
"$BIN/berth" ps
"$BIN/berth" kill -s TERM --grace 2 sleeper
set +e; "$BIN/berth" wait sleeper; echo "wait exit code: $?"; set -e
"$BIN/berth" ps -a

step "cleaning up"
"$BIN/berth" rm hello sleeper
"$BIN/berth" ps -a
step "berthd's own log"
cat "$DEMO/berthd.log"
