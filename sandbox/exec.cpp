#include "sandbox/exec.hpp"

#include <linux/filter.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.hpp"
#include "sandbox/child.hpp"
#include "sandbox/clone_task.hpp"
#include "sandbox/sync_channel.hpp"

namespace berth::sandbox {
namespace {

Result<UniqueFd> open_task(const ExecTarget& target) {
  long fd = ::syscall(SYS_pidfd_open, target.pid, 0);
  if (fd < 0) {
    if (errno == ESRCH) return make_error(Code::kFailedPrecondition, "the task is not running");
    return errno_error("pidfd_open " + std::to_string(target.pid));
  }
  UniqueFd pidfd = UniqueFd::adopt(static_cast<int>(fd));
  // Checked after the pidfd pins the process: a recycled pid is never mistaken for the task.
  auto st = fs::process_start_time(target.pid);
  if (!st || *st != target.start_time) return make_error(Code::kFailedPrecondition, "the task is not running");
  return pidfd;
}

// Every namespace the task has (created or joined by path), as setns flags; the pid namespace
// separately (the helper joins it for its children).
Result<int> task_namespace_flags(const OciSpec& spec) {
  int flags = 0;
  for (const auto& n : spec.namespaces) {
    BERTH_TRY(int flag, namespace_flag(n.type));
    flags |= flag;
  }
  return flags;
}

Result<ChildPlan> exec_plan(const OciSpec& spec, const ExecRequest& request, const TaskStdio& stdio) {
  ChildPlan plan;
  plan.spec = &spec;
  plan.stdin_fd = stdio.in;
  plan.stdout_fd = stdio.out;
  plan.stderr_fd = stdio.err;
  BERTH_CHECK_CTX(plan_program(spec, plan), "the task's spec");
  plan.exec_user = request.user;
  plan.die_with_parent = true;
  return plan;
}

// Waits for the exec'd process; at the deadline kills it. Its own children, if it left any
// running, stay in the task like any process of the task.
Result<ExecOutcome> wait_for(pid_t pid, int pidfd, uint32_t timeout_s) {
  ExecOutcome out;
  struct pollfd p {pidfd, POLLIN, 0};
  int64_t timeout_ms = static_cast<int64_t>(timeout_s) * 1000;
  int r;
  do r = ::poll(&p, 1, static_cast<int>(timeout_ms)); while (r < 0 && errno == EINTR);
  if (r == 0) {
    out.timed_out = true;
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  }
  int status = 0;
  pid_t w;
  do w = ::waitpid(pid, &status, 0); while (w < 0 && errno == EINTR);
  if (w < 0) return errno_error("wait for the exec'd process");
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

}  // namespace

OciSpec exec_spec(const OciSpec& task, const ExecRequest& request) {
  OciSpec spec = task;
  spec.args = request.cmd;
  spec.env = merge_env(task.env, request.env);
  if (!request.cwd.empty()) spec.cwd = request.cwd;
  return spec;
}

Result<ExecOutcome> exec_in_task(const OciSpec& task, const ExecRequest& request, const TaskStdio& stdio,
                                 const ExecTarget& target) {
  if (request.cmd.empty()) return make_error(Code::kInvalidArgument, "the command is empty");
  BERTH_TRY(UniqueFd task_pidfd, open_task(target));
  BERTH_TRY(int ns_flags, task_namespace_flags(task));
  OciSpec spec = exec_spec(task, request);
  BERTH_TRY(ChildPlan plan, exec_plan(spec, request, stdio));
  plan.task_pidfd = task_pidfd.get();
  plan.task_ns_flags = ns_flags & ~CLONE_NEWPID;
  if ((ns_flags & CLONE_NEWPID) && ::setns(task_pidfd.get(), CLONE_NEWPID) != 0)
    return errno_error("join the task's pid namespace");

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno_error("sync socketpair");
  UniqueFd parent_end = UniqueFd::adopt(sv[0]);
  UniqueFd child_end = UniqueFd::adopt(sv[1]);
  plan.sync_fd = child_end.get();

  int pidfd = -1;
  bool into_cgroup = target.cgroup_fd >= 0;
  pid_t pid = clone3_task(into_cgroup ? CLONE_INTO_CGROUP : 0, target.cgroup_fd, &pidfd);
  bool moved_by_parent = false;
  if (into_cgroup && pid < 0 && errno != EAGAIN && errno != ENOMEM) {
    moved_by_parent = true;
    pid = clone3_task(0, -1, &pidfd);
  }
  if (pid < 0) {
    // The task's pids limit, or its pid namespace whose init has exited.
    if (errno == EAGAIN || errno == ENOMEM)
      return errno_error("start the process in the task (its pids limit is reached, or it is exiting)");
    return errno_error("start the process in the task (clone3)");
  }
  if (pid == 0) {
    parent_end.release();
    ::close(sv[0]);
    run_exec_child(plan);
  }
  UniqueFd child = UniqueFd::adopt(pidfd);
  child_end.reset();
  const auto& join = moved_by_parent ? target.join_all_cgroups : target.join_other_cgroups;
  if (join) {
    if (auto joined = join(pid); !joined) {
      kill_and_reap(pid, child.get());
      return std::move(joined).error().wrap("move the process into the task's cgroups");
    }
  }
  if (!send_go(parent_end.get(), nullptr, 0)) {
    int err = errno;
    kill_and_reap(pid, child.get());
    return errno_error(err, "release the process");
  }
  if (auto verdict = read_verdict(parent_end.get()); !verdict) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    return std::move(verdict).error();
  }
  return wait_for(pid, child.get(), request.timeout_s);
}

}  // namespace berth::sandbox
