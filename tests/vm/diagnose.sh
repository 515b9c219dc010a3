#!/bin/bash
# Prints what a guest of tests/vm/run.sh is stuck on, to stdout (the serial console): every
# process with its state and kernel wait channel, the kernel stacks of the processes in
# uninterruptible sleep (D) and of the processes under PID (when given), and the kernel log's
# tail, which holds the hung-task and soft-lockup reports that loglevel=1 keeps off the console.
# Run by the guest's watchdogs (tests/vm/run.sh's stage 2 and tests/vm/suite.sh) when a command
# outlives its time, before they give up on it.
#
#   tests/vm/diagnose.sh [PID]
set -uo pipefail

root_pid=${1:-}
echo "=== berth-vm diagnostics (guest uptime $(cut -d' ' -f1 /proc/uptime)s)"
ps --deselect -p 2 --ppid 2 -o pid,ppid,stat,wchan:28,etimes,args --forest 2>/dev/null | cut -c1-200 | head -n 250

descendants() {  # descendants PID: PID and every process below it (breadth first, bounded)
  local queue=("$1") i=0 c
  while [ "$i" -lt "${#queue[@]}" ] && [ "$i" -lt 200 ]; do
    echo "${queue[$i]}"
    for c in $(cat "/proc/${queue[$i]}/task/"*/children 2>/dev/null); do queue+=("$c"); done
    i=$((i + 1))
  done
}
stacks=()
for stat in /proc/[0-9]*/stat; do
  pid=${stat#/proc/}; pid=${pid%/stat}
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "$stat" 2>/dev/null)
  [ "$state" = D ] && stacks+=("$pid")
done
[ -n "$root_pid" ] && stacks+=($(descendants "$root_pid" 2>/dev/null))
for pid in $(printf '%s\n' "${stacks[@]}" | sort -un | head -n 40); do
  echo "--- kernel stack of $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120))"
  cat "/proc/$pid/stack" 2>/dev/null
done
# Blocked tasks to the kernel log ('w'), then the log's tail.
echo w > /proc/sysrq-trigger 2>/dev/null
echo "--- kernel log (last 150 lines)"
dmesg 2>/dev/null | tail -n 150
echo "=== end of berth-vm diagnostics"
