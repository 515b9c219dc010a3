#include "sandbox/clone_task.hpp"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sync_channel.hpp"

namespace berth::sandbox {

pid_t clone3_task(unsigned long long flags, int cgroup_fd, int* pidfd) {
  struct clone_args args {};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (flags & CLONE_INTO_CGROUP) args.cgroup = static_cast<uint64_t>(cgroup_fd);
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof(args)));
}

void kill_and_reap(pid_t pid, int pidfd) {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
}

Status read_verdict(int sync_fd) {
  SyncFailure f;
  ssize_t n;
  do n = ::recv(sync_fd, &f, sizeof(f), 0); while (n < 0 && errno == EINTR);
  if (n < 0) return errno_error("read the task's start result");
  if (n == 0) return ok();
  f.message[sizeof(f.message) - 1] = '\0';
  Code code = f.sys_errno != 0 ? errno_error(f.sys_errno, "").code : Code::kInvalidArgument;
  // A missing file or command is the user's to fix, whatever errno says about it.
  if (f.sys_errno == ENOENT || f.sys_errno == ENOTDIR || f.sys_errno == EACCES) code = Code::kInvalidArgument;
  return Error{code, f.sys_errno, f.message};
}

}  // namespace berth::sandbox
