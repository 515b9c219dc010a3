#!/usr/bin/env python3
"""breakdown.py: phases of berth's launch path from a `perf script` of bench/profile.sh's events.

Reads `perf script -F comm,pid,tid,time,event,trace` lines; prints, per iteration and as medians,
the time spent between the markers below (ms). Iterations are delimited by the driver's three
requests (POST, GET wait, DELETE): its sys_enter_write calls.
"""
import re
import statistics
import sys

# berthd runs the shim from a sealed memfd (agent/shim_process.cpp): its comm is then the memfd's
# name, cut to 15 characters.
SHIM_COMMS = ("berth-shim", "memfd:berth-shi")
LINE = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$')

PHASES = [
    ("post", "fork_shim", "berthd: request → fork of the shim (prepare dirs, bundle, cgroup, checkpoints)"),
    ("fork_shim", "execve_shim", "shim child: cgroup.procs write (migration) before execve"),
    ("execve_shim", "exec_done", "execve of berth-shim (drop berthd's mm copy, load)"),
    ("exec_done", "clone_task", "berth-shim start: dynamic linking, config parse, setup"),
    ("clone_task", "task_cloned", "clone3 of the task (new namespaces)"),
    ("task_cloned", "exec_true", "task: mounts, pivot_root, exec /bin/true"),
    ("exec_true", "report", "shim reports the pid to berthd (status pipe)"),
    ("report", "post_reply", "berthd: report → 201 read by the client (checkpoint, reply)"),
    ("exec_true", "true_exit", "/bin/true runs"),
    ("true_exit", "reaped", "kernel exit (namespace teardown) → shim reaps"),
    ("reaped", "shim_exit", "shim: wait for empty cgroup, drain, exit.json"),
    ("shim_exit", "wait_reply", "berthd: shim exit → wait reply (termination, checkpoint)"),
    ("post", "post_reply", "  = POST → 201 (client side)"),
    ("post", "wait_reply", "  = total"),
]

# With syscalls:sys_{enter,exit}_prctl recorded: the task's part around installing its filter.
SECCOMP_PHASES = [
    ("task_cloned", "seccomp", "  task: up to PR_SET_SECCOMP"),
    ("seccomp", "seccomp_done", "  task: PR_SET_SECCOMP (the kernel checks, converts and JITs the filter)"),
    ("seccomp_done", "task_execve", "  task: PR_SET_SECCOMP → execve"),
]
EXEC_PHASES = [
    ("task_cloned", "task_execve", "  task: setup up to execve"),
    ("task_execve", "exec_true", "  task: execve of /bin/true"),
]


def main(path):
    its, cur = [], None
    shim_pid = task_pid = None
    forked, exec_entered = {}, {}
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, tid, t, ev, rest = m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)) * 1000, m.group(5), m.group(6)
        if comm == "launch_latency" and ev == "syscalls:sys_enter_write":
            if cur is None or "wait_reply" in cur:
                cur = {"post": t}
                its.append(cur)
                shim_pid = task_pid = None
            elif "post_reply" not in cur:
                cur["post_reply"] = t
            else:
                cur["wait_reply"] = t
            continue
        if cur is None:
            continue
        # The shim is the child of one of berthd's threads that execs berth-shim (by path, or
        # from its memfd through execveat): its fork and execve are known once it execs.
        if ev == "sched:sched_process_fork" and comm.startswith(("MHD-", "berthd")):
            forked[int(re.search(r"child_pid=(\d+)", rest).group(1))] = t
        elif ev in ("syscalls:sys_enter_execve", "syscalls:sys_enter_execveat"):
            exec_entered[pid] = t
            if pid == task_pid and "task_execve" not in cur:
                cur["task_execve"] = t
        elif (ev == "sched:sched_process_exec" and pid in forked and "exec_done" not in cur
              and ("berth-shim" in rest or "filename=/dev/fd/" in rest)):
            cur["fork_shim"], cur["execve_shim"], cur["exec_done"] = forked[pid], exec_entered.get(pid, t), t
            shim_pid = pid
        elif ev == "syscalls:sys_enter_clone3" and comm in SHIM_COMMS and pid == shim_pid and "clone_task" not in cur:
            cur["clone_task"] = t
        elif ev == "syscalls:sys_exit_clone3" and comm in SHIM_COMMS and pid != shim_pid and rest.strip() == "0x0":
            cur["task_cloned"], task_pid = t, pid
        elif (ev == "syscalls:sys_enter_write" and pid == shim_pid and "exec_done" in cur and "report" not in cur
              and rest.startswith("fd: 0x00000003")):
            cur["report"] = t
        elif ev == "syscalls:sys_enter_prctl" and pid == task_pid and rest.startswith("option: 0x00000016"):
            cur["seccomp"] = t  # PR_SET_SECCOMP (recorded when the prctl events are)
        elif ev == "syscalls:sys_exit_prctl" and pid == task_pid and "seccomp" in cur and "seccomp_done" not in cur:
            cur["seccomp_done"] = t
        elif ev == "sched:sched_process_exec" and "filename=/bin/true" in rest:
            cur["exec_true"] = t
        elif ev == "sched:sched_process_exit" and comm == "true":
            cur["true_exit"] = t
        elif ev == "syscalls:sys_exit_wait4" and pid == shim_pid and task_pid and rest.strip() == hex(task_pid):
            cur["reaped"] = t
        elif ev == "sched:sched_process_exit" and comm in SHIM_COMMS and pid == shim_pid:
            cur["shim_exit"] = t
    done = [i for i in its if all(k in i for a, b, _ in PHASES for k in (a, b))]
    if not done:
        sys.exit("breakdown: no complete iteration found")
    print(f"berth launch path, {len(done)} iterations (ms): median  min  max")
    inner = EXEC_PHASES if all("task_execve" in i for i in done) else []
    if inner and all("seccomp_done" in i for i in done):
        inner = inner[:1] + SECCOMP_PHASES + inner[1:]
    phases = PHASES[:6] + inner + PHASES[6:]
    for a, b, what in phases:
        d = [i[b] - i[a] for i in done]
        print(f"  {statistics.median(d):7.2f} {min(d):7.2f} {max(d):7.2f}  {what}")


if __name__ == "__main__":
    main(sys.argv[1])
