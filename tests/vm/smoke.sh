#!/bin/bash
# Smoke test of the VM that tests/vm/run.sh boots: cgroup2 with every controller the VM tests
# use (cpu, cpuset, memory, pids) enabled for children, pressure (PSI) files, a memory.max that
# really OOM-kills, a pids.max that really refuses forks, a cpu.max that throttles, a cpuset
# that pins, and overlayfs. On the host it re-runs itself inside the VM; inside (BERTH_IN_VM=1) it asserts.
# Exits 0 only if every assertion holds. With BERTH_VM_OUT set, a copy of the log lands there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ "${BERTH_IN_VM:-}" != 1 ]; then
  exec "$here/run.sh" --timeout "${BERTH_VM_TIMEOUT:-300}" -- "$here/smoke.sh" "$@"
fi

failures=0
log_file=/tmp/berth-vm-smoke.log
: > "$log_file"
say() { echo "$*" | tee -a "$log_file"; }
pass() { say "PASS: $*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

cg=/sys/fs/cgroup
say "kernel $(uname -r)"

# --- cgroup2 with controllers -------------------------------------------------------------
check "cgroup2 mounted at $cg" test "$(stat -f -c %T "$cg")" = cgroup2fs
ctrls=$(cat "$cg/cgroup.controllers")
subtree=$(cat "$cg/cgroup.subtree_control")
say "controllers: $ctrls"
# Every controller a VM test needs (tests/vm/*_test.cpp): a missing one fails here by name.
for c in cpu cpuset memory pids; do
  check "controller $c available" grep -qw "$c" <<<"$ctrls"
  check "controller $c enabled for children" grep -qw "$c" <<<"$subtree"
done
check "pressure (PSI) files at the root" test -r "$cg/memory.pressure" -a -r "$cg/cpu.pressure"

# --- memory.max OOM-kills -----------------------------------------------------------------
mem="$cg/smoke-mem"
rmdir "$mem" 2>/dev/null || true
mkdir "$mem"
echo 32M > "$mem/memory.max"
echo 0 > "$mem/memory.swap.max" 2>/dev/null || true
check "memory.max reads back 32M" test "$(cat "$mem/memory.max")" = 33554432
# `tail` keeps the last line in anonymous memory; /dev/zero has no newline, so it must hold
# all 100 MB at once.
set +e
bash -c "echo \$\$ > '$mem/cgroup.procs'; exec bash -c 'set -o pipefail; head -c 100M /dev/zero | tail -n 1 > /dev/null'"
rc=$?
set -e
say "hog exit status: $rc"
check "hog was SIGKILLed (exit status 137)" test "$rc" -eq 137
oom_kill=$(awk '$1 == "oom_kill" {print $2}' "$mem/memory.events")
say "memory.events: $(tr '\n' ' ' < "$mem/memory.events")"
say "memory.peak: $(cat "$mem/memory.peak" 2>/dev/null || echo n/a)"
check "memory.events oom_kill >= 1 (got ${oom_kill:-none})" test "${oom_kill:-0}" -ge 1
peak=$(cat "$mem/memory.peak" 2>/dev/null || echo 0)
check "memory.peak <= memory.max" test "$peak" -le 33554432
rmdir "$mem"

# --- pids.max refuses forks ---------------------------------------------------------------
pids="$cg/smoke-pids"
rmdir "$pids" 2>/dev/null || true
mkdir "$pids"
echo 4 > "$pids/pids.max"
set +e
bash -c "echo \$\$ > '$pids/cgroup.procs'; for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait" \
  2>/dev/null
set -e
pids_max_events=$(awk '$1 == "max" {print $2}' "$pids/pids.events")
check "pids.events max >= 1 (got ${pids_max_events:-none})" test "${pids_max_events:-0}" -ge 1
echo 1 > "$pids/cgroup.kill" 2>/dev/null || true
for _ in $(seq 50); do grep -q 'populated 0' "$pids/cgroup.events" && break; sleep 0.1; done
rmdir "$pids"

# --- cpu.max applies ----------------------------------------------------------------------
cpu="$cg/smoke-cpu"
rmdir "$cpu" 2>/dev/null || true
mkdir "$cpu"
echo "10000 100000" > "$cpu/cpu.max"
check "cpu.max reads back" test "$(cat "$cpu/cpu.max")" = "10000 100000"
# A spinner runs until the kernel throttles it (up to 30 s: a guest under TCG on a loaded host
# may take seconds to even start it).
bash -c "echo \$\$ > '$cpu/cgroup.procs'; exec bash -c 'while :; do :; done'" &
spinner=$!
for _ in $(seq 300); do
  throttled=$(awk '$1 == "nr_throttled" {print $2}' "$cpu/cpu.stat")
  [ "${throttled:-0}" -gt 0 ] && break
  sleep 0.1
done
kill -KILL "$spinner"; wait "$spinner" 2>/dev/null || true
check "cpu.stat nr_throttled > 0 (got ${throttled:-none})" test "${throttled:-0}" -gt 0
rmdir "$cpu"

# --- cpuset pins ----------------------------------------------------------------------------
cpuset="$cg/smoke-cpuset"
rmdir "$cpuset" 2>/dev/null || true
mkdir "$cpuset"
echo 0 > "$cpuset/cpuset.cpus"
check "cpuset.cpus.effective is 0" test "$(cat "$cpuset/cpuset.cpus.effective")" = 0
allowed=$(bash -c "echo \$\$ > '$cpuset/cgroup.procs'; grep Cpus_allowed_list /proc/self/status" | awk '{print $2}')
check "a member runs on CPU 0 only (got ${allowed:-none})" test "$allowed" = 0
rmdir "$cpuset"

# --- overlayfs ----------------------------------------------------------------------------
ov=$(mktemp -d /var/lib/berth-smoke-ovl.XXXXXX)
mkdir -p "$ov"/{lower,upper,work,merged}
echo from-lower > "$ov/lower/a"
if mount -t overlay overlay -o "lowerdir=$ov/lower,upperdir=$ov/upper,workdir=$ov/work" \
     "$ov/merged"; then
  pass "overlayfs mounts"
  echo from-merged > "$ov/merged/b"
  check "overlay shows the lower file" grep -q from-lower "$ov/merged/a"
  check "overlay writes land in upper" grep -q from-merged "$ov/upper/b"
  umount "$ov/merged"
else
  fail "overlayfs mounts"
fi
rm -rf "$ov"

if [ -n "${BERTH_VM_OUT:-}" ]; then cp "$log_file" "$BERTH_VM_OUT/smoke.log"; fi
if [ "$failures" -eq 0 ]; then say "smoke: all assertions hold"; exit 0; fi
say "smoke: $failures assertion(s) failed"
exit 1
