#include "isolators/network/cni_exec.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.hpp"
#include "common/unique_fd.hpp"

namespace berth::isolators {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe");
  return Pipe{UniqueFd::adopt(fds[0]), UniqueFd::adopt(fds[1])};
}

struct Child {
  pid_t pid = 0;  // the waiter (see start)
  UniqueFd pidfd;
  UniqueFd status;  // read end: the plugin's wait status, written by the waiter
};

// berthd reaps every child with waitpid(-1) (its shims), which would take a plugin's exit
// status. So the plugin runs under a short-lived waiter, cloned from berthd: it forks the
// plugin, waits for it and writes its wait status to a pipe; whoever reaps the waiter does not
// matter. Waiter and plugin share a process group (the timeout kills both). Only raw,
// async-signal-safe syscalls between clone and execve: berthd has threads.
Result<Child> start(const CniExec& e, const Pipe& in, const Pipe& out, const Pipe& err) {
  std::vector<char*> argv{const_cast<char*>(e.path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const auto& v : e.env) envp.push_back(const_cast<char*>(v.c_str()));
  envp.push_back(nullptr);
  BERTH_TRY(Pipe status, make_pipe());
  int pidfd = -1;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr));
  if (pid < 0) return errno_error("start " + e.path);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in.read.get(), 0);
    ::dup2(out.write.get(), 1);
    ::dup2(err.write.get(), 2);
    int fd = ::dup2(status.write.get(), 3);
    ::close_range(4, ~0U, 0);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    pid_t plugin = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    if (plugin == 0) {
      ::close(fd);
      ::execve(e.path.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(0);
    ::close(1);
    ::close(2);
    int wstatus = 127 << 8;
    if (plugin > 0)
      while (::waitpid(plugin, &wstatus, 0) < 0 && errno == EINTR) {}
    (void)!::write(fd, &wstatus, sizeof wstatus);
    ::_exit(0);
  }
  return Child{pid, UniqueFd::adopt(pidfd), std::move(status.read)};
}

// The waiter may already be reaped by berthd's waitpid(-1): that is fine, its status is not
// what we want.
void reap(const Child& c) {
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()), &info, WEXITED) != 0 &&
         errno == EINTR) {}
}

// The plugin's exit status (128 + signal when killed), from the waiter's pipe.
Result<int> plugin_status(const Child& c) {
  int wstatus = 0;
  ssize_t n;
  while ((n = ::read(c.status.get(), &wstatus, sizeof wstatus)) < 0 && errno == EINTR) {}
  if (n != sizeof wstatus) return make_error(Code::kInternal, "the plugin's waiter died before reporting its status");
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

void kill_group(const Child& c) {
  ::kill(-c.pid, SIGKILL);  // waiter and plugin (the group is ours: the plugin has not ended)
  ::syscall(SYS_pidfd_send_signal, c.pidfd.get(), SIGKILL, nullptr, 0);
  reap(c);
}

Error timed_out(const CniExec& e, const Child& c) {
  kill_group(c);
  return make_error(Code::kUnavailable, "did not finish within " + std::to_string(e.timeout.count()) +
                                            " ms and was killed");
}

// Reads what is there into `into`; false at EOF.
Result<bool> drain(int fd, std::string& into, size_t budget, const char* what) {
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? Result<bool>(true) : Result<bool>(errno_error("read plugin output"));
  if (n == 0) return false;
  if (into.size() + static_cast<size_t>(n) > budget)
    return make_error(Code::kInternal, std::string("wrote more than ") + std::to_string(budget) + " bytes to " + what);
  into.append(buf, static_cast<size_t>(n));
  return true;
}

struct Io {
  UniqueFd in, out, err;
  std::string stdout_text, stderr_text;
};

// Feeds stdin and collects stdout/stderr until both are closed or the deadline passes.
Result<bool> exchange(const CniExec& e, Io& io, Clock::time_point deadline) {
  size_t written = 0;
  if (::fcntl(io.in.get(), F_SETFL, O_NONBLOCK) != 0) return errno_error("plugin stdin");
  while (io.out || io.err) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    struct pollfd p[3] = {{io.in ? io.in.get() : -1, POLLOUT, 0}, {io.out ? io.out.get() : -1, POLLIN, 0},
                          {io.err ? io.err.get() : -1, POLLIN, 0}};
    int r = ::poll(p, 3, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return errno_error("wait for plugin");
    if (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
      ssize_t n = ::write(io.in.get(), e.stdin_text.data() + written, e.stdin_text.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == e.stdin_text.size()) io.in.reset();
    }
    if (p[1].revents) {
      BERTH_TRY(bool more, drain(io.out.get(), io.stdout_text, kCniMaxOutput, "stdout"));
      if (!more) io.out.reset();
    }
    if (p[2].revents) {
      BERTH_TRY(bool more, drain(io.err.get(), io.stderr_text, kCniMaxStderr, "stderr"));
      if (!more) io.err.reset();
    }
  }
  return true;
}

// Waits for the child's exit until the deadline; false when it passed.
Result<bool> wait_exit(const Child& c, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    struct pollfd p {c.pidfd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return errno_error("wait for plugin");
  }
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

std::string cni_error_message(const std::string& out, const std::string& fallback) {
  auto doc = json::parse(out);
  if (!doc || !doc->IsObject() || !doc->HasMember("msg")) return fallback;
  std::string msg = json::get_string(*doc, "msg");
  std::string details = json::get_string(*doc, "details");
  if (!details.empty()) msg += ": " + details;
  return msg + " (code " + std::to_string(json::get_uint(*doc, "code")) + ")";
}

Result<std::string> exec_cni_plugin(const CniExec& e) {
  auto deadline = Clock::now() + e.timeout;
  BERTH_TRY(Pipe in, make_pipe());
  BERTH_TRY(Pipe out, make_pipe());
  BERTH_TRY(Pipe err, make_pipe());
  BERTH_TRY(Child child, start(e, in, out, err));
  Io io{std::move(in.write), std::move(out.read), std::move(err.read), {}, {}};
  in.read.reset();
  out.write.reset();
  err.write.reset();
  auto exchanged = exchange(e, io, deadline);
  if (!exchanged) {
    kill_group(child);
    return std::move(exchanged).error();
  }
  if (!*exchanged) return timed_out(e, child);
  BERTH_TRY(bool exited, wait_exit(child, deadline));
  if (!exited) return timed_out(e, child);
  reap(child);
  BERTH_TRY(int status, plugin_status(child));
  if (status == 0) return std::move(io.stdout_text);
  std::string fallback = last_line(io.stderr_text);
  if (status == 127 && fallback.empty()) fallback = "could not be executed";
  if (fallback.empty()) fallback = "exited with status " + std::to_string(status);
  return make_error(Code::kInternal, cni_error_message(io.stdout_text, fallback));
}

}  // namespace berth::isolators
