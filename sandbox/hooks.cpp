#include "sandbox/hooks.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/unique_fd.hpp"

namespace berth::sandbox {
namespace {

std::string state_json(const OciSpec& spec, pid_t pid, const std::string& bundle_dir) {
  auto id = spec.annotations.find("berth.container.id");
  json::JsonWriter w;
  w.begin_object().kv("ociVersion", spec.oci_version)
      .kv("id", id == spec.annotations.end() ? std::string() : id->second)
      .kv("status", "created").kv("pid", static_cast<long>(pid)).kv("bundle", bundle_dir).end_object();
  return w.str();
}

// Waits for `child` (through its pidfd) until `timeout_s`; kills it after that.
Result<int> wait_hook(pid_t child, int pidfd, uint32_t timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {}
      return make_error(Code::kFailedPrecondition, "did not finish within " + std::to_string(timeout_s) + " s");
    }
    struct pollfd p {pidfd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return errno_error("wait for hook");
    if (r > 0) break;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return errno_error("reap hook");
  return status;
}

Status run_hook(const OciHook& hook, const std::string& state) {
  std::vector<char*> argv, envp;
  std::string arg0 = hook.path;
  if (hook.args.empty()) argv.push_back(arg0.data());
  for (const auto& a : hook.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : hook.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return errno_error("hook stdin pipe");
  UniqueFd read_end = UniqueFd::adopt(in[0]), write_end = UniqueFd::adopt(in[1]);
  int pidfd = -1;
  pid_t child = static_cast<pid_t>(::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr));
  if (child < 0) return errno_error("start hook");
  if (child == 0) {
    ::dup2(read_end.get(), 0);
    ::dup2(2, 1);
    ::close_range(3, ~0U, 0);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(hook.path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  UniqueFd pid_fd = UniqueFd::adopt(pidfd);
  read_end.reset();
  // The state is far below a pipe's buffer: this write never blocks on the hook.
  (void)fs::write_all(write_end.get(), state.data(), state.size());
  write_end.reset();
  BERTH_TRY(int status, wait_hook(child, pid_fd.get(), hook.timeout_s));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ok();
  if (WIFEXITED(status))
    return make_error(Code::kFailedPrecondition, "exited with status " + std::to_string(WEXITSTATUS(status)));
  return make_error(Code::kFailedPrecondition, "killed by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace

Status run_create_runtime_hooks(const OciSpec& spec, pid_t pid, const std::string& bundle_dir) {
  if (spec.create_runtime_hooks.empty()) return ok();
  std::string state = state_json(spec, pid, bundle_dir);
  for (const auto& hook : spec.create_runtime_hooks)
    BERTH_CHECK_CTX(run_hook(hook, state), "createRuntime hook " + hook.path);
  return ok();
}

}  // namespace berth::sandbox
