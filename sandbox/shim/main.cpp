// berth-shim entry point: process setup only (session, stdio, signals); see shim.hpp.
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "sandbox/layout.hpp"
#include "sandbox/shim/shim.hpp"

namespace {

constexpr int kStatusFd = 3;
constexpr int kReleaseFd = 4;  // launches only

int usage() {
  static const char kMsg[] = "usage: berth-shim --bundle <dir>\n"
                             "       berth-shim --exec <dir> --pid <pid> --start-time <ticks>\n";
  if (::fcntl(2, F_GETFD) >= 0) (void)!::write(2, kMsg, sizeof(kMsg) - 1);
  return 2;
}

// Points `fd` at `path`, so nothing is ever written to a closed or inherited descriptor.
void redirect(int fd, const char* path, int flags) {
  int f = ::open(path, flags | O_CLOEXEC, 0640);
  if (f < 0) f = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (f >= 0 && f != fd) {
    ::dup2(f, fd);
    ::close(f);
  }
}

// berth-shim --exec: fds 0-2 are the command's stdio, fd 3 the control socket (exec request
// in, one result line out); see sandbox/exec.hpp.
int exec_mode(const std::string& bundle, const std::string& pid, const std::string& start_time) {
  char* end = nullptr;
  long task = std::strtol(pid.c_str(), &end, 10);
  if (*end != '\0' || task <= 0) return usage();
  unsigned long long ticks = std::strtoull(start_time.c_str(), &end, 10);
  if (*end != '\0' || start_time.empty()) return usage();
  if (::fcntl(kStatusFd, F_GETFD) < 0) return usage();
  ::close_range(kStatusFd + 1, ~0U, 0);
  ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  return berth::sandbox::shim::run_exec(bundle, static_cast<pid_t>(task), ticks, kStatusFd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string bundle, exec_bundle, pid, start_time;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--bundle") == 0 && i + 1 < argc) bundle = argv[++i];
    else if (std::strcmp(argv[i], "--exec") == 0 && i + 1 < argc) exec_bundle = argv[++i];
    else if (std::strcmp(argv[i], "--pid") == 0 && i + 1 < argc) pid = argv[++i];
    else if (std::strcmp(argv[i], "--start-time") == 0 && i + 1 < argc) start_time = argv[++i];
    else return usage();
  }
  if (!exec_bundle.empty() && bundle.empty() && exec_bundle[0] == '/') return exec_mode(exec_bundle, pid, start_time);
  if (bundle.empty() || bundle[0] != '/') return usage();

  // Only the status and release pipes are expected beyond stdio; anything else berthd leaked
  // is not ours.
  ::close_range(kReleaseFd + 1, ~0U, 0);
  bool have_status = ::fcntl(kStatusFd, F_GETFD) >= 0;
  if (have_status) ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
  bool have_release = ::fcntl(kReleaseFd, F_GETFD) >= 0;
  if (have_release) ::fcntl(kReleaseFd, F_SETFD, FD_CLOEXEC);

  ::setsid();
  redirect(0, "/dev/null", O_RDONLY);
  redirect(1, "/dev/null", O_WRONLY);
  std::string log = berth::sandbox::RunDirLayout(bundle).shim_log_path();
  redirect(2, log.c_str(), O_WRONLY | O_APPEND | O_CREAT);

  // berthd signals the task directly; terminal and pipe signals must not take the shim down.
  for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM}) ::signal(sig, SIG_IGN);

  return berth::sandbox::shim::run(bundle, have_status ? kStatusFd : -1, have_release ? kReleaseFd : -1);
}
