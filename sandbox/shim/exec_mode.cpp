// berth-shim --exec: runs one command inside a running task for berthd (sandbox/exec.hpp).
#include <sys/socket.h>
#include <unistd.h>

#include "cgroups/task_cgroups.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "sandbox/exec.hpp"
#include "sandbox/layout.hpp"
#include "sandbox/shim/shim.hpp"
#include "sandbox/shim_config.hpp"

namespace berth::sandbox::shim {
namespace {

constexpr size_t kMaxRequestBytes = 1024 * 1024;

// The request: everything berthd writes before it shuts down its sending side.
Result<std::string> read_request(int control_fd) {
  std::string text;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(control_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read the exec request");
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxRequestBytes) return make_error(Code::kInvalidArgument, "the exec request is over 1 MiB");
  }
}

Result<ExecOutcome> exec_from_bundle(const std::string& bundle_dir, pid_t pid, unsigned long long start_time,
                                     int control_fd) {
  BERTH_TRY(std::string request_text, read_request(control_fd));
  BERTH_TRY(ExecRequest request, parse_exec_request(request_text));
  RunDirLayout layout(bundle_dir);
  BERTH_TRY_CTX(std::string cfg_text, fs::read_file(layout.shim_config_path()), "exec");
  BERTH_TRY(ShimConfig cfg, parse_shim_config(cfg_text));
  BERTH_TRY_CTX(OciSpec task, read_oci_spec(layout.config_path()), "exec");
  BERTH_TRY_CTX(auto cgroups, cgroups::TaskCgroups::open(cfg.cgroup, cfg.cgroups_v1), "the task's cgroup");
  ExecTarget target;
  target.pid = pid;
  target.start_time = start_time;
  target.cgroup_fd = cgroups->unified().fd();
  target.join_other_cgroups = [&](pid_t p) { return cgroups->join_other_hierarchies(p); };
  target.join_all_cgroups = [&](pid_t p) { return cgroups->join_all(p); };
  return exec_in_task(task, request, TaskStdio{0, 1, 2}, target);
}

std::string outcome_json(const Result<ExecOutcome>& outcome) {
  json::JsonWriter w;
  w.begin_object();
  if (!outcome) {
    w.kv("error", outcome.error().message).kv("code", code_name(outcome.error().code));
  } else {
    if (outcome->exit_code) w.kv("exit_code", *outcome->exit_code);
    if (outcome->signal) w.kv("signal", *outcome->signal);
    w.kv("timed_out", outcome->timed_out);
  }
  return w.end_object().str() + "\n";
}

}  // namespace

int run_exec(const std::string& bundle_dir, pid_t pid, unsigned long long start_time, int control_fd) {
  auto outcome = exec_from_bundle(bundle_dir, pid, start_time, control_fd);
  // The exec'd process's stdout and stderr are ours too: berthd reads them to EOF, which
  // comes once this helper and the process (and what it left running) have closed them.
  ::close(0);
  ::close(1);
  ::close(2);
  std::string line = outcome_json(outcome);
  auto sent = fs::write_all(control_fd, line.data(), line.size());
  return sent && outcome ? 0 : 1;
}

}  // namespace berth::sandbox::shim
