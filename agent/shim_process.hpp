// Starting a berth-shim for one task and reading its launch report.
// The shim is cloned from berthd (which is multi-threaded), so the child between clone and
// execve only makes async-signal-safe syscalls on fds opened beforehand. The shim's fd 3 is
// the status pipe: one JSON line, {"pid":N,"start_time":T} once the task runs or
// {"error":"..."} when the launch failed. berthd is a child subreaper and reaps shims.
//
// The shim is never executed from its file: berthd copies the file once (per path) into a
// sealed memfd (no write, grow, shrink or further sealing) and every shim runs from that copy
// (execveat AT_EMPTY_PATH). So /proc/<shim>/exe, and /proc/self/exe of the task's process
// until its execve, name the sealed copy, never the host's binary: a task that reaches it
// (CVE-2019-5736: "#!/proc/self/exe", or opening /proc/<pid>/exe) cannot write berth's files.
// The copy is made under a mutex; spawn_shim is safe from several threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::agent {

struct ShimHandle {
  pid_t pid = 0;
  unsigned long long start_time = 0;
  UniqueFd pidfd;
  UniqueFd status;   // read end of the status pipe (the shim's fd 3)
  UniqueFd release;  // write end of the release pipe (the shim's fd 4); launches only
};

// Starts `shim_path --bundle bundle_dir` (clone3 straight into `shims_cgroup`, a cgroup dir
// path); its stderr goes to bundle_dir/shim.log. The shim starts the task but holds it (before
// its namespaces are joined and its first instruction) until release_task(): berthd finishes
// the task's preparation (Registry::ready, a bridge task's network) while the shim starts.
Result<ShimHandle> spawn_shim(const std::string& shim_path, const std::string& bundle_dir,
                              const std::string& shims_cgroup);

// A short-lived berth-shim --exec (sandbox/exec.hpp) that runs one command in the running
// task `task_pid` of `bundle_dir`: its stdout and stderr are the given (borrowed) fds, its fd 3
// the control socket (request in, result line out). It runs from the same sealed copy.
struct ExecHelperArgs {
  std::string bundle_dir;
  pid_t task_pid = 0;
  unsigned long long task_start_time = 0;
  std::string shims_cgroup;
  int stdout_fd = -1, stderr_fd = -1, control_fd = -1;
};
Result<ShimHandle> spawn_exec_helper(const std::string& shim_path, const ExecHelperArgs& args);

// Lets the shim release the task (one byte on the release pipe, which is then closed). Closing
// the pipe without it (a failed launch, a berthd that died) makes the shim fail the launch.
Status release_task(ShimHandle& shim);

struct LaunchReport {
  bool ok = false;
  pid_t pid = 0;
  unsigned long long start_time = 0;
  std::string error;  // the launcher's message when !ok
};

// Reads the shim's one-line report. kUnavailable on timeout; a shim that died without a word
// is reported as a launch error naming its log.
Result<LaunchReport> read_launch_report(ShimHandle& shim, std::chrono::milliseconds timeout,
                                        const std::string& bundle_dir);

// pidfd_open that also checks the start time, so a recycled pid is never mistaken for ours.
Result<UniqueFd> open_process(pid_t pid, unsigned long long start_time);

}  // namespace berth::agent
