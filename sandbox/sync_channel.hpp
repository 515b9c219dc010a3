// The messages on the launcher's sync socket (SOCK_SEQPACKET, so one send is one receive).
// parent -> child: one "go" byte once the child may proceed (it is in its cgroup), with the
// fds of the namespaces it joins (SCM_RIGHTS, in the plan's order, at most kMaxJoinFds).
// child -> parent: at most one SyncFailure, then the child exits. Success sends nothing:
// the socket is close-on-exec, so the parent reading EOF means execve succeeded.
// Fixed-size, allocation-free: the child may use it at any step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace berth::sandbox {

// One per namespace type a task can join (all but pid, mount and user).
inline constexpr size_t kMaxJoinFds = 8;

struct SyncFailure {
  int32_t sys_errno = 0;
  char message[1020] = {};
};

// Child side: sends errno + message (truncated to fit) and never fails visibly — if the
// parent is gone there is nobody to tell.
void send_failure(int sync_fd, int sys_errno, const char* message);

// The fds that came with "go", close-on-exec; `truncated`: more were sent than fit (closed).
struct GoFds {
  int fds[kMaxJoinFds];
  size_t count = 0;
  bool truncated = false;
};

// Parent side: "go", with `count` (at most kMaxJoinFds) fds. false with errno set when it
// could not be sent (EINVAL: too many fds).
bool send_go(int sync_fd, const int* fds, size_t count);
// Child side: waits for "go"; 1 when it came (its fds in *out, none kept when out is null),
// 0 when the parent closed the socket first, -1 with errno set on an error.
int receive_go(int sync_fd, GoFds* out);

}  // namespace berth::sandbox
