// Exec into a running task: starts a process with the task's confinement, as berth-shim's exec
// mode (berth-shim --exec) does for berthd. The sequence mirrors a launch (launcher.hpp):
//
//   helper (single-threaded, host namespaces)              child
//   pidfd_open(task pid) + start-time check
//   setns(pidfd, CLONE_NEWPID): its children are born in the task's pid namespace
//   clone3(CLONE_INTO_CGROUP task's unified cgroup) ────►  waits for "go"
//   join the child to the task's v1 hierarchies
//   send "go" ───────────────────────────────────────────►  oom_score_adj, rlimits,
//                                                          setns(pidfd, mount|net|uts|ipc|
//                                                          cgroup|user): "/" is the task's root,
//                                                          user resolved in it, stdio, bounding
//                                                          set, user, capabilities, no_new_privs,
//                                                          close every fd > 2, chdir, seccomp,
//                                                          execve resolved in the task's root
//   recv: EOF = running / message = error  ◄──
//   wait for it, killing it (SIGKILL) at the timeout
//
// The helper runs from berthd's sealed memfd copy of the shim, so /proc/self/exe of the child
// until its execve (and /proc/<helper>/exe) is never the host's binary (CVE-2019-5736), and
// the command runs only from the task's root, never from the host's.
// Threading: call from a single-threaded process (the shim in exec mode).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>

#include "common/result.hpp"
#include "sandbox/exec_request.hpp"
#include "sandbox/launcher.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// The running task, as berthd's record names it, and where its processes go.
struct ExecTarget {
  pid_t pid = 0;
  unsigned long long start_time = 0;
  int cgroup_fd = -1;                               // its unified cgroup
  std::function<Status(pid_t)> join_other_cgroups;  // its v1 ones
  std::function<Status(pid_t)> join_all_cgroups;    // all, where CLONE_INTO_CGROUP is refused
};

struct ExecOutcome {
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool timed_out = false;
};

// The spec the exec'd process gets: the task's, with the request's command, environment laid
// over the task's, and working directory (the user is resolved later, inside the root).
OciSpec exec_spec(const OciSpec& task, const ExecRequest& request);

// Runs the request in the task and waits for it. A command that cannot start is
// kInvalidArgument with the launcher's message (`exec "nope": executable file not found in
// $PATH`); a task that is gone is kFailedPrecondition.
Result<ExecOutcome> exec_in_task(const OciSpec& task, const ExecRequest& request, const TaskStdio& stdio,
                                 const ExecTarget& target);

}  // namespace berth::sandbox
