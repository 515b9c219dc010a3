#!/bin/bash
# Root-only smoke test of berth-shim against a busybox-static rootfs (not part of `make
# unit-test`). Usage: shim_smoke.sh <berth-shim> [case ...]; prints each case's status line,
# exit.json and output. Creates everything under one temp dir and one cgroup below
# <cgroup2>/berth/, and removes both at the end.
set -u
SHIM=${1:?usage: shim_smoke.sh <berth-shim>}; shift
CG2=$(awk '$9=="cgroup2"{print $5; exit}' FS=' ' /proc/self/mountinfo)
[ -z "$CG2" ] && CG2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
T=$(mktemp -d /tmp/berth-smoke.XXXXXX)
CGROOT=$CG2/berth
mkdir -p "$CGROOT"
CGS=()
cleanup() {
  for cg in "${CGS[@]}"; do
    [ -d "$cg" ] && { [ -f "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill"; sleep 0.2; rmdir "$cg"; }
  done
  rmdir "$CGROOT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

R=$T/rootfs
mkdir -p $R/bin $R/etc $R/tmp $R/home/user
cp /bin/busybox $R/bin/busybox
for a in sh echo cat ls sleep hostname id ps readlink wc ip ifconfig touch mount; do ln -s busybox $R/bin/$a; done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' > $R/etc/passwd
printf 'root:x:0:\nuser:x:1000:\nstaff:x:50:user\n' > $R/etc/group
mkdir -p $T/data && echo "volume-data" > $T/data/file

# run_case NAME USER_JSON ARGS_JSON [EXTRA_TOP_LEVEL_JSON]
run_case() {
  local name=$1 user=$2 args=$3 extra=${4:-}
  local b=$T/$name/bundle s=$T/$name/sandbox cg=$CGROOT/smoke-$name-$$
  mkdir -p $b $s; mkdir "$cg"; CGS+=("$cg")
  cat > $b/config.json <<JSON
{"ociVersion": "1.0.2",
 "process": {"args": $args, "env": ["PATH=/bin", "HOME=/"], "cwd": "${CWD:-/}", "user": $user,
             "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]},
 "root": {"path": "$R", "readonly": ${RO:-false}}, "hostname": "task-$name",
 "mounts": [{"destination": "/mnt/sandbox", "type": "bind", "source": "$s", "options": ["rbind"]},
            {"destination": "/data", "type": "bind", "source": "$T/data", "options": ["rbind", "ro"]} ${MOUNTS:-}],
 "linux": {"namespaces": ${NS:-$ALL_NS},
           "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/sys/firmware", "/nonexistent"],
           "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]} $extra}
JSON
  echo "{\"id\": \"$name\", \"sandbox_dir\": \"$s\", \"cgroup\": \"$cg\", \"log_max_bytes\": 1048576, \"log_max_files\": 2}" > $b/shim.json
  echo "=== $name"
  "$SHIM" --bundle $b 3>$T/$name/status >/dev/null 2>>$b/shim.log &
  local shim_pid=$!
  for i in $(seq 100); do [ -s $T/$name/status ] && break; sleep 0.05; done
  sed 's/^/status: /' $T/$name/status
  local pid
  pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' $T/$name/status)
  # HOOK runs on the host while the task runs, with $pid the task's host pid.
  [ -n "${HOOK:-}" ] && [ -n "$pid" ] && eval "$HOOK"
  wait $shim_pid; echo "shim exit status: $?"
  echo "exit: $(cat $s/exit.json 2>/dev/null)"
  [ -s $s/stdout ] && sed 's/^/out: /' $s/stdout
  [ -s $s/stderr ] && sed 's/^/err: /' $s/stderr
  echo "cgroup populated: $(grep populated $cg/cgroup.events)"
  grep -v 'running as pid\|exited with\|killed by' $b/shim.log | sed 's/^/shim.log: /'
  return 0
}

ALL_NS='[{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}, {"type": "cgroup"}]'
ROOT='{"uid": 0, "gid": 0}'
USER='{"uid": 1000, "gid": 1000, "additionalGids": [50]}'
cases=${*:-echo}
for c in $cases; do
  case $c in
    echo) run_case echo "$ROOT" '["echo", "hello from the task"]' ;;
    exit) run_case exit "$ROOT" '["sh", "-c", "echo out; echo err >&2; exit 7"]' ;;
    signal) HOOK='sleep 0.2; kill -KILL $pid' run_case signal "$ROOT" '["sleep", "30"]' ;;
    hostfds) HOOK='sleep 0.2; ls -l /proc/$pid/fd | sed "s/^/task fd: /"; grep -c "" /proc/$pid/mountinfo | sed "s/^/task mounts: /"; grep -c berth-smoke /proc/self/mountinfo | sed "s/^/host mounts naming the rootfs: /"; grep -E "Max open files" /proc/$pid/limits; echo "host view: $(grep 0:: /proc/$pid/cgroup)"; nsenter -t $pid -m -p -C cat /proc/1/cgroup | grep 0:: | sed "s/^/task view: /"; cat /proc/$pid/oom_score_adj | sed "s/^/oom_score_adj: /"; kill -KILL $pid' run_case hostfds "$ROOT" '["sleep", "30"]' ;;
    overlay) mkdir -p $T/ovl/upper $T/ovl/work
             run_case overlay "$ROOT" '["sh", "-c", "echo new > /etc/written; cat /etc/written; mount | grep \" / \""]' ", \"annotations\": {\"berth.overlay.lowerdir\": \"$R\", \"berth.overlay.upperdir\": \"$T/ovl/upper\", \"berth.overlay.workdir\": \"$T/ovl/work\"}"
             echo "upper: $(ls $T/ovl/upper/etc)  lower has it: $(ls $R/etc/written 2>&1)" ;;
    cwd) CWD=/nonexistent run_case cwd "$ROOT" '["sh"]' ;;
    bulk) # Not in a pipeline: run_case must run in this shell so its cgroup is cleaned up.
          run_case bulk "$ROOT" '["sh", "-c", "i=0; while [ $i -lt 30000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo THE-LAST-LINE"]' > $T/bulk.out
          grep -v '^out: line-' $T/bulk.out
          ls -l $T/bulk/sandbox/ | sed 's/^/sandbox: /'; tail -c 200 $T/bulk/sandbox/stdout | tail -2 ;;
    memory) HOOK='sleep 0.3; grep -E "^(Rss|Pss|Private_Clean|Private_Dirty):" /proc/$shim_pid/smaps_rollup | sed "s/^/shim /"; awk "/^[0-9a-f]+-/{name=\$6} /^Private_Dirty/{if (\$2>0) print \"dirty\", \$2, name}" /proc/$shim_pid/smaps; kill -KILL $pid' run_case memory "$ROOT" '["sleep", "30"]' ;;
    shimsignals) HOOK='sleep 0.2; for sig in TERM HUP INT PIPE; do kill -$sig $shim_pid; done; sleep 0.2; kill -0 $shim_pid && echo "shim survived SIGTERM/HUP/INT/PIPE"' run_case shimsignals "$ROOT" '["sh", "-c", "sleep 1; echo still here"]' ;;
    nopidns) NS='[{"type": "mount"}, {"type": "uts"}]' run_case nopidns "$ROOT" '["sh", "-c", "sleep 1000 & echo left a sleeper behind; echo last line"]'
             grep -c . $T/nopidns/bundle/shim.log | sed "s/^/shim.log lines: /" ;;
    badoverlay) run_case badoverlay "$ROOT" '["true"]' ", \"annotations\": {\"berth.overlay.lowerdir\": \"$T/missing\", \"berth.overlay.upperdir\": \"$T/u\", \"berth.overlay.workdir\": \"$T/w\"}" ;;
    badmount) MOUNTS=", {\"destination\": \"/v\", \"type\": \"bind\", \"source\": \"$T/missing\"}" run_case badmount "$ROOT" '["true"]' ;;
    escape) ln -sfn /../../../../tmp $R/escape
            MOUNTS=", {\"destination\": \"/escape/in\", \"type\": \"bind\", \"source\": \"$T/data\", \"options\": [\"rbind\"]}" run_case escape "$ROOT" '["ls", "/escape/in", "/tmp"]' 
            echo "created on the host: $(ls -d /tmp/in 2>&1)  created in the rootfs: $(ls -d $R/tmp/in 2>&1)"; rm -f $R/escape; rmdir $R/tmp/in 2>/dev/null ;;
    masked) run_case masked "$ROOT" '["sh", "-c", "echo timer_list=$(wc -c < /proc/timer_list); ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches || echo proc-sys-ro-ok; ulimit -n; ulimit -Hn"]' ;;
    readonly) RO=true run_case readonly "$ROOT" '["sh", "-c", "touch /x || echo root-ro-ok; echo tmp > /dev/shm/x && echo shm-ok"]' ;;
    fds) run_case fds "$ROOT" '["sh", "-c", "for f in /proc/self/fd/*; do echo $f $(readlink $f); done"]' ;;
    pid1) run_case pid1 "$ROOT" '["sh", "-c", "echo self=$$; cat /proc/1/cmdline | tr \"\\\\0\" \" \"; echo; ps"]' ;;
    host) run_case host "$ROOT" '["sh", "-c", "hostname; ip link 2>/dev/null || ifconfig -a; cat /proc/self/cgroup"]' ;;
    nope) run_case nope "$ROOT" '["/bin/nope"]' ;;
    nopath) run_case nopath "$ROOT" '["nope"]' ;;
    badspec) run_case badspec "$ROOT" '["sh"]' ', "hooks": {}' ;;
    user) run_case user "$USER" '["sh", "-c", "id; cat /data/file; touch /data/x || echo ro-ok; echo w > /mnt/sandbox/w && echo sandbox-ok"]' ;;
    mounts) run_case mounts "$ROOT" '["sh", "-c", "cat /proc/self/mountinfo | cut -d\" \" -f5,9 | sort; ls -l /dev"]' ;;
    orphans) run_case orphans "$ROOT" '["sh", "-c", "sleep 1000 & sleep 1000 & echo started; echo last line"]' ;;
    *) echo "unknown case $c" ;;
  esac
done
