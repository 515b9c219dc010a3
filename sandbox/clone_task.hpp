// The parent's side of starting a process in a task: clone3 (optionally straight into a
// cgroup, always with a pidfd), the verdict read from the sync socket (sync_channel.hpp) and
// the kill that undoes a half-started child. Shared by a launch (launcher.hpp) and an exec
// into a running task (exec.hpp), which start their children the same way.
// Threading: call from a single-threaded process (the shim).
#pragma once

#include <sys/types.h>

#include "common/result.hpp"

namespace berth::sandbox {

// Returns the child's pid (0 in the child) and fills pidfd in the parent. CLONE_INTO_CGROUP
// in `flags` clones into `cgroup_fd`.
pid_t clone3_task(unsigned long long flags, int cgroup_fd, int* pidfd);

void kill_and_reap(pid_t pid, int pidfd);

// Reads the child's verdict: EOF (execve closed the socket) is ok, else its SyncFailure as an
// error (a missing or unreadable command is kInvalidArgument: the user's to fix).
Status read_verdict(int sync_fd);

}  // namespace berth::sandbox
