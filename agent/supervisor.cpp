#include "agent/supervisor.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>

#include "agent/stats.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/signals.hpp"
#include "sandbox/exit_record.hpp"
#include "sandbox/layout.hpp"

namespace berth::agent {
namespace {

constexpr uint64_t kTickMs = 250;

// What a task left behind, read without any lock.
struct Outcome {
  std::optional<sandbox::ExitRecord> exit;  // nullopt: the shim recorded nothing
  isolators::Usage usage;
};

// The shim writes exit.json into the sandbox (durable) and into the bundle dir under run_dir,
// so a full state_dir never turns an exit into `lost`.
std::optional<sandbox::ExitRecord> read_exit_record(const ContainerRecord& r) {
  for (const std::string& path :
       {sandbox::SandboxLayout(r.sandbox_dir).exit_path(), sandbox::RunDirLayout(r.bundle_dir).exit_path()}) {
    auto text = fs::read_file(path);
    if (!text) continue;
    auto exit = sandbox::parse_exit_record(*text);
    if (exit) return *exit;
    log::warn("container " + r.id + ": " + path + ": " + exit.error().message);
  }
  return std::nullopt;
}

Termination termination_of(const ContainerRecord& r, const Outcome& o, const std::string& lost_reason) {
  Termination t;
  if (o.exit) {
    t.exit_code = o.exit->exit_code;
    t.signal = o.exit->signal;
    t.started_at_ns = o.exit->started_at_ns;
    t.finished_at_ns = o.exit->finished_at_ns ? o.exit->finished_at_ns : now_ns();
    if (o.exit->launch_error) {
      t.reason = "launch_failed";
      t.message = *o.exit->launch_error;
    } else {
      t.reason = r.kill_requested ? "killed" : "exited";
      t.message = t.signal ? "terminated by " + signal_name(*t.signal)
                           : "exited with code " + std::to_string(t.exit_code.value_or(-1));
      if (r.kill_requested) t.message += " after a kill request";
    }
  } else {
    t.reason = "lost";
    t.message = !lost_reason.empty() ? lost_reason
                                     : "the shim (pid " + std::to_string(r.shim_pid) +
                                           ") exited without recording the task's exit";
    t.started_at_ns = r.started_at_ns;
    t.finished_at_ns = now_ns();
  }
  if (!t.started_at_ns) t.started_at_ns = r.started_at_ns;
  t.usage = usage_json(o.usage);
  t.limits = limits_json(r.spec.resources, r.spec.policy);
  if (t.reason == "exited" || t.reason == "killed" || t.reason == "lost") {
    const auto& mev = o.usage.cgroup.memory_events;
    bool oom_killed = t.signal == SIGKILL && mev && mev->oom_kill > 0;
    if (!r.limit_reason.empty() && t.reason != "lost") {
      t.reason = r.limit_reason;
      t.message = r.limit_message + " (" + t.message + ")";
    } else if (oom_killed && !r.kill_requested) {
      // Caught here when the exit came before memory.events was read: never a plain 137.
      t.reason = "memory_limit";
      t.message = "the OOM killer stopped the task (oom_kill " + std::to_string(mev->oom_kill) + ") (" + t.message + ")";
    }
  }
  return t;
}

}  // namespace

Supervisor::Supervisor(Loop& loop, TaskTable& table, isolators::Registry& isolators,
                       const cgroups::TaskCgroupRoot& tasks)
    : loop_(loop), table_(table), isolators_(isolators), tasks_(tasks) {}

Status Supervisor::kill_task(const ContainerRecord& rec) const {
  BERTH_TRY(auto cgroups, tasks_.open(rec.id));
  return cgroups->kill();
}

void Supervisor::watch(const std::string& id, UniqueFd shim_pidfd) {
  auto fd = std::make_shared<UniqueFd>(std::move(shim_pidfd));
  auto watched = loop_.watch_once(fd->get(), [this, id, fd] { on_shim_exit(id); });
  if (!watched) log::error("watch shim of " + id + ": " + watched.error().message);
}

void Supervisor::post_watch(const std::string& id, UniqueFd shim_pidfd) {
  auto fd = std::make_shared<UniqueFd>(std::move(shim_pidfd));
  loop_.post([this, id, fd] { watch(id, std::move(*fd)); });
}

Result<ContainerRecord> Supervisor::kill(const std::string& id_or_name, int signal, uint32_t grace_s,
                                         const Caller& caller) {
  auto lk = table_.lock();
  auto t = table_.find_locked(id_or_name);
  if (!t) return TaskTable::not_found(id_or_name);
  ContainerRecord& r = t->rec;
  if (r.state != State::kRunning)
    return make_error(Code::kFailedPrecondition,
                      "container '" + id_or_name + "' is not running (state " + state_name(r.state) + ")");
  bool escalate = signal != SIGKILL && grace_s > 0;
  int64_t deadline = escalate ? monotonic_ms() + int64_t{grace_s} * 1000 : 0;
  bool changed = !r.kill_requested || (escalate && (!r.kill_deadline_ms || deadline < r.kill_deadline_ms));
  r.kill_requested = true;
  if (escalate && (!r.kill_deadline_ms || deadline < r.kill_deadline_ms)) r.kill_deadline_ms = deadline;
  if (changed) {
    // A full run_dir must not stop a kill: it goes ahead; only a restart would forget it.
    auto cp = table_.checkpoint_locked(r);
    if (!cp) log::error("checkpoint " + r.id + " (kill request): " + cp.error().message);
  }
  if (signal == SIGKILL) {
    BERTH_CHECK_CTX(kill_task(r), "kill container " + r.id);
  } else if (t->task_pidfd.valid()) {
    if (::syscall(SYS_pidfd_send_signal, t->task_pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
      return errno_error("signal " + signal_name(signal) + " to container " + r.id);
  } else {
    return make_error(Code::kInternal, "container " + r.id + " has no handle on its task");
  }
  if (escalate) {
    std::string id = r.id;
    int64_t when = r.kill_deadline_ms;
    loop_.post([this, id, when] { arm_grace(id, when); });
  }
  table_.publish_locked("container.kill", r,
                        "\"signal\":\"" + signal_name(signal) + "\",\"grace_period_s\":" + std::to_string(grace_s) +
                            ",\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)) +
                            ",\"by_pid\":" + std::to_string(caller.pid));
  return r;
}

void Supervisor::arm_grace(const std::string& id, int64_t deadline_ms) {
  int64_t left = std::max<int64_t>(0, deadline_ms - monotonic_ms());
  uint64_t timer = loop_.add_timer_ms(static_cast<uint64_t>(left), [this, id] { escalate_kill(id); });
  auto lk = table_.lock();
  auto t = table_.by_id_locked(id);
  if (!t || is_final(t->rec.state)) {
    loop_.cancel_timer(timer);
    return;
  }
  if (t->grace_timer) loop_.cancel_timer(t->grace_timer);  // an earlier deadline replaces it
  t->grace_timer = timer;
}

void Supervisor::escalate_kill(const std::string& id) {
  auto lk = table_.lock();
  auto t = table_.by_id_locked(id);
  if (!t) return;
  t->grace_timer = 0;
  if (t->rec.state != State::kRunning) return;
  log::info("container " + id + " outlived its grace period; killing every process in it");
  auto killed = kill_task(t->rec);
  if (!killed) log::error("kill container " + id + ": " + killed.error().message);
}

void Supervisor::on_shim_exit(const std::string& id) {
  reap_children();
  // Breaches the kernel announced before the task ended are acted on (recorded) first.
  handle_limitations(isolators_.dispatch_events());
  settle(id, "");
}

void Supervisor::settle(const std::string& id, const std::string& lost_reason) {
  auto rec = table_.get(id);
  if (!rec) return;
  if (is_final(rec->state)) {  // a failed launch: its record is made; only cleanup is left
    clean_up_after(id, rec->exit ? std::optional<ContainerRecord>(*rec) : std::nullopt);
    return;
  }
  Outcome o;
  o.exit = read_exit_record(*rec);
  // The cgroup still exists: its counters are the record's usage, and say what ended it.
  if (auto u = isolators_.usage(id)) {
    o.usage = *u;
  } else if (auto cg = tasks_.open(id)) {
    if (auto s = cgroups::snapshot(**cg)) o.usage.cgroup = *s;
  }
  std::optional<ContainerRecord> settled;
  {
    auto lk = table_.lock();
    auto t = table_.by_id_locked(id);
    if (!t || is_final(t->rec.state)) return;
    ContainerRecord& r = t->rec;
    Termination term = termination_of(r, o, lost_reason);
    // The shim's clock saw the start before berthd heard of it: times stay in order.
    if (term.started_at_ns && (!r.started_at_ns || term.started_at_ns < r.started_at_ns))
      r.started_at_ns = term.started_at_ns;
    if (term.finished_at_ns < r.started_at_ns) term.finished_at_ns = r.started_at_ns;
    r.exit = term;
    r.finished_at_ns = term.finished_at_ns;
    table_.advance_locked(*t, term.reason == "launch_failed" && r.state != State::kRunning ? State::kFailed
                                                                                              : State::kExited);
    r.kill_deadline_ms = 0;
    t->task_pidfd.reset();
    if (t->grace_timer) {
      loop_.cancel_timer(t->grace_timer);
      t->grace_timer = 0;
    }
    auto cp = table_.checkpoint_locked(r);
    if (!cp) log::error("checkpoint " + r.id + ": " + cp.error().message);
    table_.publish_locked(term.reason == "lost" ? "container.lost" : "container.exited", r);
    t->cleaning_up = true;  // with the exit itself, so remove() never races the cleanup
    settled = r;
  }
  table_.notify();
  clean_up_after(id, std::move(settled));
}

void Supervisor::clean_up_after(const std::string& id, std::optional<ContainerRecord> settled) {
  worker_.post([this, id, settled = std::move(settled)] {
    // Waiters already have their answer; this is the durable copy of the record.
    if (settled) save_termination(*settled);
    auto cleaned = isolators_.cleanup(id);
    if (!cleaned) log::warn("isolators cleanup of " + id + ": " + cleaned.error().message);
    auto removed = tasks_.remove(id, std::chrono::seconds(5));
    if (!removed) log::warn("remove cgroup of " + id + ": " + removed.error().message);
    {
      auto lk = table_.lock();
      if (auto t = table_.by_id_locked(id)) t->cleaning_up = false;
    }
    table_.notify();
  });
}

void Supervisor::save_termination(const ContainerRecord& r) {
  auto saved = fs::write_file_atomic(sandbox::SandboxLayout(r.sandbox_dir).termination_path(),
                                     termination_json(*r.exit), 0644);
  if (!saved) log::warn("record termination of " + r.id + ": " + saved.error().message);
}

void Supervisor::start_limit_events() {
  loop_.post([this] {
    auto watched = loop_.watch(isolators_.fd(), [this] { handle_limitations(isolators_.dispatch_events()); });
    if (!watched) log::error("watch cgroup events: " + watched.error().message);
    arm_limit_tick();
  });
}

// Each tick arms the next with a fresh closure that holds only `this`: nothing owns itself,
// so the pending timer is freed with the loop when berthd stops.
void Supervisor::arm_limit_tick() {
  loop_.add_timer_ms(kTickMs, [this] {
    handle_limitations(isolators_.tick(now_ns()));
    arm_limit_tick();
  });
}

void Supervisor::handle_limitations(std::vector<isolators::ContainerLimitation> found) {
  for (const auto& [id, l] : found) {
    auto lk = table_.lock();
    auto t = table_.by_id_locked(id);
    // Not only running tasks: the task runs (and may fork-bomb) before its launch report has
    // marked it running, and a breach then must not be lost.
    if (!t || is_final(t->rec.state)) continue;
    ContainerRecord& r = t->rec;
    if (l.fatal) {
      log::info("container " + id + " breached its " + l.resource + " limit; killing it: " + l.message);
      if (r.limit_reason.empty()) {
        r.limit_reason = l.reason;
        r.limit_message = l.message;
        auto cp = table_.checkpoint_locked(r);
        if (!cp) log::error("checkpoint " + id + ": " + cp.error().message);
      }
      auto killed = kill_task(r);
      if (!killed) log::error("kill container " + id + ": " + killed.error().message);
    } else {
      log::info("container " + id + ": " + l.message);
    }
    json::JsonWriter w;
    w.begin_object().kv("resource", l.resource).kv("reason", l.reason).kv("fatal", l.fatal)
        .kv("message", l.message).end_object();
    std::string fields = w.str();
    table_.publish_locked("container.limit", r, fields.substr(1, fields.size() - 2));
  }
}

void Supervisor::reap_children() {
  int status;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

}  // namespace berth::agent
