#include "agent/exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/shim_process.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::agent {
namespace {

constexpr int kTickMs = 100;
// After the helper's result: output still in the pipes is read until EOF, but processes the
// command left running in the task (holding the pipes) are not waited for beyond this.
constexpr int64_t kDrainMs = 1000;
constexpr size_t kMaxResultBytes = 64 * 1024;

struct Channel {
  UniqueFd fd;
  std::string* data;
  bool* truncated;
  size_t cap;
  bool open = true;

  // Reads what is there; false on EOF.
  bool pump() {
    char buf[16 * 1024];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n <= 0) return false;
      size_t room = cap - std::min(cap, data->size());
      data->append(buf, std::min(room, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) > room) *truncated = true;
    }
  }
};

Result<UniqueFd> nonblocking_pipe(UniqueFd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return errno_error("pipe");
  write_end = UniqueFd::adopt(p[1]);
  if (::fcntl(p[1], F_SETFL, 0) != 0) return errno_error("pipe flags");  // the command's end blocks
  return UniqueFd::adopt(p[0]);
}

Status send_request(int fd, const sandbox::ExecRequest& request) {
  std::string text = sandbox::to_json(request);
  BERTH_CHECK_CTX(fs::write_all(fd, text.data(), text.size()), "send the exec request");
  if (::shutdown(fd, SHUT_WR) != 0) return errno_error("send the exec request");
  return ok();
}

Code code_named(const std::string& name) {
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists, Code::kPermissionDenied,
                 Code::kFailedPrecondition, Code::kUnavailable})
    if (name == code_name(c)) return c;
  return Code::kInternal;
}

Status parse_result(const std::string& line, ExecResult& r) {
  if (line.empty()) return make_error(Code::kInternal, "the exec helper ended without a result");
  BERTH_TRY_CTX(auto doc, json::parse(line), "exec helper result");
  if (doc.HasMember("error")) return make_error(code_named(json::get_string(doc, "code")), json::get_string(doc, "error"));
  if (doc.HasMember("exit_code")) r.exit_code = static_cast<int>(json::get_int(doc, "exit_code"));
  if (doc.HasMember("signal")) r.signal = static_cast<int>(json::get_int(doc, "signal"));
  r.timed_out = json::get_bool(doc, "timed_out");
  return ok();
}

}  // namespace

Result<ExecResult> run_exec(const ContainerRecord& rec, const sandbox::ExecRequest& request, const ExecEnv& env) {
  ExecResult r;
  std::string result_line;
  bool result_truncated = false;
  UniqueFd out_w, err_w;
  BERTH_TRY(UniqueFd out_r, nonblocking_pipe(out_w));
  BERTH_TRY(UniqueFd err_r, nonblocking_pipe(err_w));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno_error("exec control socket");
  UniqueFd control = UniqueFd::adopt(sv[0]);
  UniqueFd helper_end = UniqueFd::adopt(sv[1]);

  ExecHelperArgs args{rec.bundle_dir, rec.pid, rec.pid_start_time, env.shims_cgroup,
                      out_w.get(), err_w.get(), helper_end.get()};
  BERTH_TRY_CTX(ShimHandle helper, spawn_exec_helper(env.shim_path, args), "exec");
  out_w.reset();
  err_w.reset();
  helper_end.reset();
  auto kill_helper = [&] { ::syscall(SYS_pidfd_send_signal, helper.pidfd.get(), SIGKILL, nullptr, 0); };
  if (auto sent = send_request(control.get(), request); !sent) {
    kill_helper();
    return std::move(sent).error();
  }
  if (::fcntl(control.get(), F_SETFL, O_NONBLOCK) != 0) return errno_error("exec control socket");

  Channel chans[3] = {{std::move(out_r), &r.out, &r.out_truncated, ExecResult::kMaxOutputBytes},
                      {std::move(err_r), &r.err, &r.err_truncated, ExecResult::kMaxOutputBytes},
                      {std::move(control), &result_line, &result_truncated, kMaxResultBytes}};
  int64_t deadline = monotonic_ms() + (static_cast<int64_t>(request.timeout_s) + ExecResult::kHelperGraceS) * 1000;
  int64_t drain_until = 0;
  bool killed = false;
  while (chans[0].open || chans[1].open || chans[2].open) {
    int64_t now = monotonic_ms();
    if (!chans[2].open && drain_until == 0) drain_until = now + kDrainMs;
    if (drain_until != 0 && now >= drain_until) break;
    if (!killed && (now >= deadline || (env.cancelled && env.cancelled()))) {
      kill_helper();
      killed = true;
    }
    struct pollfd p[3];
    for (int i = 0; i < 3; ++i) p[i] = {chans[i].open ? chans[i].fd.get() : -1, POLLIN, 0};
    int n = ::poll(p, 3, kTickMs);
    if (n < 0 && errno != EINTR) return errno_error("poll the exec's output");
    for (int i = 0; i < 3 && n > 0; ++i)
      if (p[i].revents && chans[i].open) chans[i].open = chans[i].pump();
  }
  if (killed && result_line.empty())
    return make_error(Code::kUnavailable, env.cancelled && env.cancelled() ? "the exec was cancelled"
                                                                           : "the exec helper did not finish in time; killed");
  BERTH_CHECK(parse_result(result_line, r));
  return r;
}

std::string exec_result_json(const ExecResult& r) {
  json::JsonWriter w;
  w.begin_object();
  if (r.exit_code) w.kv("exit_code", *r.exit_code);
  else w.key("exit_code").null();
  if (r.signal) w.kv("signal", *r.signal);
  w.kv("timed_out", r.timed_out).kv("stdout", r.out).kv("stderr", r.err)
      .kv("stdout_truncated", r.out_truncated).kv("stderr_truncated", r.err_truncated);
  return w.end_object().str();
}

}  // namespace berth::agent
