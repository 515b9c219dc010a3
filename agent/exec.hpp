// Exec into a running task, berthd's side (POST /v1/containers/{id}/exec): starts a
// berth-shim --exec helper from the sealed shim copy (shim_process.hpp), hands it the request,
// collects the command's stdout and stderr (each bounded by kMaxOutputBytes: what comes beyond
// is read and dropped, and the reply says it was truncated) and the helper's one-line result.
// The helper does the confinement (sandbox/exec.hpp) and enforces the timeout; berthd kills
// the helper (and so the command, which dies with it) if it outlives the timeout by
// kHelperGraceS or the client goes away. A helper whose berthd died (or restarted) still ends
// at the timeout, killing its command; the result is then lost. The helper is berthd's child,
// reaped by the Supervisor like shims; its result comes over the control socket.
// Threading: run_exec blocks its calling thread (an API handler's own) until the command
// ended; it touches no shared state.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "agent/container.hpp"
#include "common/result.hpp"
#include "sandbox/exec_request.hpp"

namespace berth::agent {

struct ExecResult {
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool timed_out = false;
  std::string out, err;
  bool out_truncated = false, err_truncated = false;

  static constexpr size_t kMaxOutputBytes = 1024 * 1024;
  static constexpr int kHelperGraceS = 10;
};

struct ExecEnv {
  std::string shim_path;
  std::string shims_cgroup;
  // Polled while waiting: true when the client went away or berthd stops.
  std::function<bool()> cancelled;
};

// Runs `request` in the running task `rec` (the caller checked it runs). An error from inside
// the task (a command that cannot start, a user not in its /etc/passwd) keeps its code.
Result<ExecResult> run_exec(const ContainerRecord& rec, const sandbox::ExecRequest& request, const ExecEnv& env);

// {"exit_code", "signal"?, "timed_out", "stdout", "stderr", "stdout_truncated", "stderr_truncated"}
std::string exec_result_json(const ExecResult& r);

}  // namespace berth::agent
