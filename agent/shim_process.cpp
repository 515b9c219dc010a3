#include "agent/shim_process.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include <map>
#include <vector>
#include <mutex>

#include "agent/loop.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "sandbox/layout.hpp"

namespace berth::agent {

Result<UniqueFd> open_process(pid_t pid, unsigned long long start_time) {
  if (pid <= 0) return make_error(Code::kNotFound, "no pid");
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return errno_error("pidfd_open " + std::to_string(pid));
  UniqueFd pidfd = UniqueFd::adopt(static_cast<int>(fd));
  auto st = fs::process_start_time(pid);
  if (!st || *st != start_time)
    return make_error(Code::kNotFound, "process " + std::to_string(pid) + " is gone (pid reused)");
  return pidfd;
}

namespace {

constexpr unsigned kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

Result<UniqueFd> seal_copy(const std::string& path) {
  BERTH_TRY_CTX(UniqueFd file, fs::open_at(AT_FDCWD, path, O_RDONLY), "shim " + path);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return errno_error("stat shim " + path);
  int m = ::memfd_create("berth-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (m < 0) return errno_error("memfd for the shim");
  UniqueFd mem = UniqueFd::adopt(m);
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = ::sendfile(mem.get(), file.get(), nullptr, static_cast<size_t>(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("copy shim " + path + " into its memfd");
    done += n;
  }
  if (::fchmod(mem.get(), 0555) != 0) return errno_error("chmod the shim's memfd");
  if (::fcntl(mem.get(), F_ADD_SEALS, kSeals) != 0) return errno_error("seal the shim's memfd");
  return mem;
}

// The sealed copy of `path`, made on first use.
Result<int> sealed_shim(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, UniqueFd> copies;
  std::lock_guard lk(mu);
  auto it = copies.find(path);
  if (it == copies.end()) {
    BERTH_TRY(UniqueFd mem, seal_copy(path));
    it = copies.emplace(path, std::move(mem)).first;
  }
  return it->second.get();
}

}  // namespace

namespace {

constexpr size_t kMaxShimFds = 8;

// Starts the sealed copy of `shim_path` with `args` (argv[0] is the path), in `cgroup`, with
// exactly `fds` as its 0..fds.size()-1 (those above 2 inherited; all others closed).
Result<ShimHandle> spawn_sealed(const std::string& shim_path, const std::vector<std::string>& args,
                                const std::vector<int>& fds, const std::string& cgroup_path) {
  if (fds.size() > kMaxShimFds) return make_error(Code::kInternal, "spawn_sealed: too many fds");
  BERTH_TRY(int image, sealed_shim(shim_path));
  BERTH_TRY(UniqueFd cgroup, fs::open_dir(cgroup_path));
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  const int n = static_cast<int>(fds.size());

  // clone3 places the shim in its cgroup as it is born (writing cgroup.procs afterwards costs
  // ~10 ms here) and hands back a pidfd with no window for pid reuse.
  int pidfd = -1;
  struct clone_args cargs {};
  cargs.flags = CLONE_INTO_CGROUP | CLONE_PIDFD;
  cargs.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  cargs.exit_signal = SIGCHLD;
  cargs.cgroup = static_cast<uint64_t>(cgroup.get());
  long pid = ::syscall(SYS_clone3, &cargs, sizeof(cargs));
  if (pid < 0) return errno_error("start shim (clone3)");
  if (pid == 0) {
    // Child of a threaded process: async-signal-safe calls only, on fds opened above. The fd
    // calls are raw syscalls: a sanitizer's interceptors would update the parent's fd records
    // from this copy of its memory (TSan reported the new fd numbers as races with the threads
    // that own those numbers in berthd, and its report ended this child before the exec).
    Loop::unblock_signals_in_child();
    // Above the targets first, so the dups below cannot close it; likewise the sources of the
    // dups (a low fd could be overwritten before it is copied).
    auto dup_above = [n](int fd) { return static_cast<int>(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, n)); };
    int exe = dup_above(image);
    if (exe < 0) ::_exit(126);
    int from[kMaxShimFds];
    for (int i = 0; i < n; ++i)
      if ((from[i] = dup_above(fds[static_cast<size_t>(i)])) < 0) ::_exit(126);
    for (int i = 0; i < n; ++i)
      if (::syscall(SYS_dup3, from[i], i, 0) < 0) ::_exit(126);
    ::syscall(SYS_close_range, static_cast<unsigned>(n), ~0U, CLOSE_RANGE_CLOEXEC);
    ::syscall(SYS_execveat, exe, "", const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp), AT_EMPTY_PATH);
    static const char kMsg[] = "berth-shim: execve failed\n";
    (void)!::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  ShimHandle h;
  h.pid = static_cast<pid_t>(pid);
  h.pidfd = UniqueFd::adopt(pidfd);
  h.start_time = fs::process_start_time(h.pid).value_or(0);
  return h;
}

}  // namespace

Result<ShimHandle> spawn_shim(const std::string& shim_path, const std::string& bundle_dir,
                              const std::string& shims_cgroup) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return errno_error("pipe");
  UniqueFd status_r = UniqueFd::adopt(pipefd[0]);
  UniqueFd status_w = UniqueFd::adopt(pipefd[1]);
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return errno_error("pipe");
  UniqueFd release_r = UniqueFd::adopt(pipefd[0]);
  UniqueFd release_w = UniqueFd::adopt(pipefd[1]);
  BERTH_TRY(UniqueFd log, fs::open_at(AT_FDCWD, sandbox::RunDirLayout(bundle_dir).shim_log_path(),
                                      O_WRONLY | O_CREAT | O_APPEND, 0640));
  BERTH_TRY(UniqueFd devnull, fs::open_at(AT_FDCWD, "/dev/null", O_RDWR));
  std::vector<int> fds = {devnull.get(), devnull.get(), log.get(), status_w.get(), release_r.get()};
  BERTH_TRY(ShimHandle h, spawn_sealed(shim_path, {shim_path, "--bundle", bundle_dir}, fds, shims_cgroup));
  h.status = std::move(status_r);
  h.release = std::move(release_w);
  return h;
}

Result<ShimHandle> spawn_exec_helper(const std::string& shim_path, const ExecHelperArgs& a) {
  BERTH_TRY(UniqueFd devnull, fs::open_at(AT_FDCWD, "/dev/null", O_RDONLY));
  std::vector<int> fds = {devnull.get(), a.stdout_fd, a.stderr_fd, a.control_fd};
  return spawn_sealed(shim_path,
                      {shim_path, "--exec", a.bundle_dir, "--pid", std::to_string(a.task_pid), "--start-time",
                       std::to_string(a.task_start_time)},
                      fds, a.shims_cgroup);
}

Result<LaunchReport> read_launch_report(ShimHandle& shim, std::chrono::milliseconds timeout,
                                        const std::string& bundle_dir) {
  std::string line;
  int64_t deadline = monotonic_ms() + timeout.count();
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return make_error(Code::kUnavailable, "the shim did not report within " +
                                                             std::to_string(timeout.count() / 1000) + " s");
    struct pollfd pfd {shim.status.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return errno_error("poll shim status");
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(shim.status.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read shim status");
    }
    if (n == 0) break;
    line.append(buf, static_cast<size_t>(n));
    if (line.find('\n') != std::string::npos) break;
  }
  LaunchReport report;
  if (line.empty()) {
    auto log = fs::read_file(sandbox::RunDirLayout(bundle_dir).shim_log_path()).value_or("");
    if (log.size() > 400) log = log.substr(log.size() - 400);
    report.error = "the shim exited without reporting" + (log.empty() ? std::string() : ": " + log);
    while (!report.error.empty() && report.error.back() == '\n') report.error.pop_back();
    return report;
  }
  auto doc = json::parse(line);
  if (!doc) return std::move(doc).error().wrap("shim status");
  if (doc->HasMember("error")) {
    report.error = json::get_string(*doc, "error");
    return report;
  }
  report.ok = true;
  report.pid = static_cast<pid_t>(json::get_int(*doc, "pid"));
  report.start_time = json::get_uint(*doc, "start_time");
  if (report.pid <= 0) return make_error(Code::kInternal, "shim status has no pid: " + line);
  return report;
}

Status release_task(ShimHandle& shim) {
  char go = 1;
  ssize_t n;
  do n = ::write(shim.release.get(), &go, 1); while (n < 0 && errno == EINTR);
  int err = errno;
  shim.release.reset();
  // A shim that is gone reports (or not) through its status pipe; that is the error to show.
  if (n != 1 && err != EPIPE) return errno_error(err, "release the task to the shim");
  return ok();
}

}  // namespace berth::agent
