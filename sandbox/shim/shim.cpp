#include "sandbox/shim/shim.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "cgroups/task_cgroups.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "sandbox/exit_record.hpp"
#include "sandbox/launcher.hpp"
#include "sandbox/layout.hpp"
#include "sandbox/log_writer.hpp"
#include "sandbox/oci_spec.hpp"
#include "sandbox/shim_config.hpp"

namespace berth::sandbox::shim {
namespace {

using std::chrono::milliseconds;

// After the task's init exits the kernel kills the rest of its pid namespace at once; this
// only has to cover the exit of a task without one, before the shim kills what is left.
constexpr milliseconds kEmptyGrace{2000};
constexpr milliseconds kAfterKill{5000};
// Output still buffered in a pipe is read until EOF; a writer that escaped the cgroup
// (impossible in a pid namespace) cannot hold the shim forever.
constexpr int kDrainIdleMs = 2000;

// Reused read buffer: static so it costs no heap and only the pages that output touches.
char g_buf[32 * 1024];

void report_status(int& status_fd, const std::string& line) {
  if (status_fd < 0) return;
  std::string text = line + "\n";
  auto written = fs::write_all(status_fd, text.data(), text.size());
  if (!written) diag("status pipe: " + written.error().message);
  ::close(status_fd);
  status_fd = -1;
}

struct Stream {
  const char* name;
  UniqueFd read_end;
  std::optional<LogWriter> log;
  bool log_failed = false;

  // Reads what is available; false on EOF (or an error, which ends the stream too).
  bool pump() {
    for (;;) {
      ssize_t n = ::read(read_end.get(), g_buf, sizeof(g_buf));
      if (n > 0) {
        write_out(std::string_view(g_buf, static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n < 0) diag(std::string("read task ") + name + ": " + std::strerror(errno));
      return false;
    }
  }

  void write_out(std::string_view data) {
    auto appended = log->append(data);
    // A full disk must not stall the task: drop output, say so once.
    if (!appended && !log_failed) diag(std::string("write ") + name + ": " + appended.error().message);
    log_failed = !appended;
  }
};

// The exit record goes to the bundle dir under run_dir first (volatile, like berthd's own
// checkpoint there), then durably to the sandbox: a full state_dir never loses the exit.
// 0 when at least one copy was written.
int write_exit_record(const std::string& bundle_dir, int sandbox_fd, const ExitRecord& record) {
  std::string text = to_json(record) + "\n";
  std::string copy_path = RunDirLayout(bundle_dir).exit_path();
  auto copy = fs::write_file_atomic(copy_path, text, 0644, fs::Durability::kVolatile);
  if (!copy) diag("write " + copy_path + ": " + copy.error().message);
  auto written = sandbox_fd >= 0 ? fs::write_file_atomic(sandbox_fd, SandboxLayout::kExit, text)
                                 : Status(make_error(Code::kNotFound, "no sandbox directory"));
  if (!written) diag("write exit.json: " + written.error().message);
  return copy || written ? 0 : 1;
}

// berthd's go for the task (one byte on fd 4), sent once it finished preparing it.
Status wait_for_release(int fd) {
  char go = 0;
  ssize_t n;
  do n = ::read(fd, &go, 1); while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n < 0) return errno_error("wait for berthd to release the task");
  if (n == 0 || go != 1)
    return make_error(Code::kUnavailable, "berthd did not release the task (its preparation failed, or berthd ended)");
  return ok();
}

class Shim {
 public:
  Shim(const ShimConfig& cfg, const OciSpec& spec, std::string bundle_dir, int status_fd, int release_fd)
      : cfg_(cfg), spec_(spec), bundle_dir_(std::move(bundle_dir)), status_fd_(status_fd), release_fd_(release_fd) {}

  int run();

 private:
  Status setup();
  Status start_task();
  void loop();
  void reap();
  void finish_task();
  void drain();
  int write_exit();

  const ShimConfig& cfg_;
  const OciSpec& spec_;
  std::string bundle_dir_;
  int status_fd_;
  int release_fd_;  // -1: nobody holds the task
  UniqueFd sandbox_;
  std::shared_ptr<const cgroups::TaskCgroups> cgroups_;
  UniqueFd sigfd_, epoll_;
  Stream out_{"stdout", {}, {}}, err_{"stderr", {}, {}};
  LaunchedTask task_;
  ExitRecord record_;
  bool task_done_ = false;
};

Status Shim::setup() {
  BERTH_TRY_CTX(sandbox_, fs::open_dir(cfg_.sandbox_dir), "sandbox directory");
  BERTH_TRY_CTX(cgroups_, cgroups::TaskCgroups::open(cfg_.cgroup, cfg_.cgroups_v1), "task cgroup");
  // Orphans of the task (its pid namespace's leftovers) are re-parented to us, not to berthd.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return errno_error("become child subreaper");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return errno_error("block SIGCHLD");
  int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return errno_error("signalfd");
  sigfd_ = UniqueFd::adopt(sfd);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno_error("epoll");
  epoll_ = UniqueFd::adopt(ep);
  BERTH_TRY(auto out_log, LogWriter::open(sandbox_.get(), SandboxLayout::kStdout, cfg_.log_max_bytes, cfg_.log_max_files));
  BERTH_TRY(auto err_log, LogWriter::open(sandbox_.get(), SandboxLayout::kStderr, cfg_.log_max_bytes, cfg_.log_max_files));
  out_.log.emplace(std::move(out_log));
  err_.log.emplace(std::move(err_log));
  return ok();
}

Status Shim::start_task() {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return errno_error("stdout pipe");
  UniqueFd out_w = UniqueFd::adopt(out[1]);
  out_.read_end = UniqueFd::adopt(out[0]);
  if (::pipe2(err, O_CLOEXEC) != 0) return errno_error("stderr pipe");
  UniqueFd err_w = UniqueFd::adopt(err[1]);
  err_.read_end = UniqueFd::adopt(err[0]);
  BERTH_TRY(UniqueFd null, fs::open_at(AT_FDCWD, "/dev/null", O_RDONLY));
  for (int fd : {out_.read_end.get(), err_.read_end.get()})
    if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return errno_error("nonblocking pipe");

  record_.started_at_ns = now_ns();
  LaunchTarget target;
  target.cgroup_fd = cgroups_->unified().fd();
  target.join_other_cgroups = [this](pid_t pid) { return cgroups_->join_other_hierarchies(pid); };
  target.join_all_cgroups = [this](pid_t pid) { return cgroups_->join_all(pid); };
  target.bundle_dir = bundle_dir_;
  if (release_fd_ >= 0) target.before_release = [this] { return wait_for_release(release_fd_); };
  BERTH_TRY(task_, launch(spec_, TaskStdio{null.get(), out_w.get(), err_w.get()}, target));
  record_.pid = task_.pid;
  // Registered before the loop, with the write ends still open: nothing can be missed.
  struct Watch { int fd; uint64_t tag; };
  for (Watch w : {Watch{out_.read_end.get(), 0}, Watch{err_.read_end.get(), 1},
                  Watch{task_.pidfd.get(), 2}, Watch{sigfd_.get(), 3}}) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = w.tag;
    // The task runs already: a failure here must not abandon it. Without the pidfd or
    // signalfd watch the loop still wakes for output; without a pipe watch the drain after
    // the exit reads it (the task may block on a full pipe meanwhile: logged).
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, w.fd, &ev) != 0)
      diag(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  return ok();  // our copies of the write ends close here, or the pipes would never reach EOF
}

void Shim::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (pid == task_.pid) {
      set_wait_status(record_, status);
      record_.finished_at_ns = now_ns();
      task_done_ = true;
    }
  }
}

void Shim::loop() {
  Stream* streams[] = {&out_, &err_};
  bool open[] = {true, true};
  while (!task_done_) {
    struct epoll_event events[4];
    int n = ::epoll_wait(epoll_.get(), events, 4, -1);
    if (n < 0 && errno != EINTR) {
      diag(std::string("epoll_wait: ") + std::strerror(errno));
      struct pollfd p {task_.pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, 1000);
    }
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag <= 1) {
        if (!streams[tag]->pump() && open[tag]) {
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, streams[tag]->read_end.get(), nullptr);
          open[tag] = false;
        }
      } else if (tag == 3) {
        struct signalfd_siginfo si;
        while (::read(sigfd_.get(), &si, sizeof(si)) > 0) {}
      }
    }
    reap();
  }
}

// The main process is gone: everything else in the task's cgroup goes with it.
void Shim::finish_task() {
  // With its own pid namespace, the task's init exiting has already killed (and the kernel
  // has waited for) everything else in it; cgroup.events turns "populated 0" only 10-25 ms
  // later, which would be pure latency. berthd's cgroup removal still waits for emptiness.
  if (has_namespace(spec_, "pid")) {
    reap();
    return;
  }
  auto empty = cgroups_->wait_empty(kEmptyGrace);
  if (!empty) {
    diag("task exited, killing what is left in " + cgroups_->path());
    auto killed = cgroups_->kill();
    if (!killed) diag("kill " + cgroups_->path() + ": " + killed.error().message);
    empty = cgroups_->wait_empty(kAfterKill);
    if (!empty) diag(empty.error().message);
  }
  reap();
}

// Reads both pipes to EOF so the task's last lines are never lost.
void Shim::drain() {
  Stream* streams[] = {&out_, &err_};
  bool open[] = {out_.read_end.valid(), err_.read_end.valid()};
  while (open[0] || open[1]) {
    struct pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (!open[i]) continue;
      p[n] = {streams[i]->read_end.get(), POLLIN, 0};
      which[n++] = i;
    }
    int r = ::poll(p, n, kDrainIdleMs);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      diag("task output did not reach EOF; something outside the task holds its pipes");
      break;
    }
    for (nfds_t k = 0; k < n; ++k)
      if (p[k].revents) open[which[k]] = streams[which[k]]->pump();
  }
  reap();
}

int Shim::write_exit() { return write_exit_record(bundle_dir_, sandbox_.get(), record_); }

int Shim::run() {
  auto ready = setup();
  if (ready) ready = start_task();
  if (!ready) {
    const std::string& msg = ready.error().message;
    diag("launch failed: " + msg);
    report_status(status_fd_, json::JsonWriter().begin_object().kv("error", msg).end_object().str());
    record_.launch_error = msg;
    record_.pid = 0;
    record_.exit_code.reset();
    record_.signal.reset();
    if (record_.started_at_ns == 0) record_.started_at_ns = now_ns();
    record_.finished_at_ns = now_ns();
    return write_exit();
  }
  auto start_time = fs::process_start_time(task_.pid);
  json::JsonWriter w;
  w.begin_object().kv("pid", static_cast<long>(task_.pid));
  if (start_time) w.kv("start_time", *start_time);
  else diag("start time of " + std::to_string(task_.pid) + ": " + start_time.error().message);
  report_status(status_fd_, w.end_object().str());
  diag("task " + cfg_.id + " running as pid " + std::to_string(task_.pid));

  loop();
  finish_task();
  drain();
  if (record_.exit_code) diag("task exited with status " + std::to_string(*record_.exit_code));
  else if (record_.signal) diag("task killed by signal " + std::to_string(*record_.signal));
  return write_exit();
}

}  // namespace

void diag(const std::string& message) {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  ::gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  char head[64];
  int len = std::snprintf(head, sizeof(head), "%s.%03ldZ berth-shim[%d] ", when, ts.tv_nsec / 1000000,
                          static_cast<int>(::getpid()));
  std::string line(head, static_cast<size_t>(len));
  line += message;
  line += '\n';
  (void)fs::write_all(2, line.data(), line.size());
}

int run(const std::string& bundle_dir, int status_fd, int release_fd) {
  auto fail = [&](const std::string& msg) {
    diag(msg);
    report_status(status_fd, json::JsonWriter().begin_object().kv("error", msg).end_object().str());
    return 1;
  };
  auto cfg_text = fs::read_file(RunDirLayout(bundle_dir).shim_config_path());
  if (!cfg_text) return fail(cfg_text.error().message);
  auto cfg = parse_shim_config(*cfg_text);
  if (!cfg) return fail(cfg.error().message);

  Result<OciSpec> spec = read_oci_spec(RunDirLayout(bundle_dir).config_path());
  if (!spec) {
    // The sandbox exists: a bad spec is a failed launch and leaves its record like any other.
    std::string msg = spec.error().message;
    diag("launch failed: " + msg);
    report_status(status_fd, json::JsonWriter().begin_object().kv("error", msg).end_object().str());
    ExitRecord r;
    r.launch_error = msg;
    r.started_at_ns = r.finished_at_ns = now_ns();
    auto sandbox = fs::open_dir(cfg->sandbox_dir);
    return write_exit_record(bundle_dir, sandbox ? sandbox->get() : -1, r);
  }
  Shim shim(*cfg, *spec, bundle_dir, status_fd, release_fd);
  return shim.run();
}

}  // namespace berth::sandbox::shim
