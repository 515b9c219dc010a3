// The launcher starts a task from an OCI spec: clone3() into new namespaces and straight into
// the task's cgroup (CLONE_INTO_CGROUP, so nothing of the task is ever charged to the shim's
// cgroup), with a pidfd for the caller. The child sets up its root and process (see
// child.hpp) and reports any failure as errno + message over a SOCK_SEQPACKET sync socket;
// EOF on that socket after the close-on-exec execve means the task runs.
//
// Sequence:  parent                                child
//            clone3 ───────────────────────────►   waits for "go"
//            [fallback: write pid to cgroup.procs]
//            [isolate seam: the task is blocked here]
//            send "go" ────────────────────────►   mounts, pivot_root, user, execve
//            recv: EOF = running / message = error ◄──
//
// Threading: call from a single-threaded process (the shim); the child runs on a copy of the
// caller's memory between clone and execve and allocates there.
#pragma once

#include <sys/types.h>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// Borrowed fds that become the task's 0, 1 and 2.
struct TaskStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

struct LaunchedTask {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// Starts the task. On failure the child has been reaped and the error's message is what a
// user needs: `exec "/bin/nope": No such file or directory`.
Result<LaunchedTask> launch(const OciSpec& spec, const TaskStdio& stdio, const cgroups::Cgroup& cgroup);

// Namespace clone flags for the spec's linux.namespaces; a mount namespace is required (the
// launcher mounts, and no mount may appear in the host's namespace).
Result<unsigned long long> namespace_flags(const OciSpec& spec);

// The paths execve tries for args[0]: itself when it holds a '/', else each directory of
// PATH from `env` (or the usual default PATH) joined with it.
std::vector<std::string> exec_candidates(const std::string& command, const std::vector<std::string>& env);

}  // namespace berth::sandbox
