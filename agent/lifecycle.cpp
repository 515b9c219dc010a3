// Kill requests, exit handling and reaping. Exit handling runs on the loop thread when a
// shim's pidfd turns readable: the shim has recorded the task's exit in the sandbox (or died
// without doing so, which makes the task `lost`), and berthd turns that into the termination
// record, removes the cgroup and announces the exit.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/containers.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "agent/stats.hpp"
#include "common/signals.hpp"
#include "sandbox/exit_record.hpp"

namespace berth::agent {

Result<ContainerRecord> Containers::kill(const std::string& id_or_name, int signal, uint32_t grace_s,
                                         const Caller& caller) {
  std::lock_guard lk(mu_);
  auto e = find_locked(id_or_name);
  if (!e) return make_error(Code::kNotFound, "no container '" + id_or_name + "'");
  if (e->rec.state != State::kRunning)
    return make_error(Code::kFailedPrecondition,
                      "container '" + id_or_name + "' is not running (state " + state_name(e->rec.state) + ")");
  if (!e->rec.kill_requested) {
    e->rec.kill_requested = true;
    BERTH_CHECK(checkpoint_locked(e->rec));
  }
  if (signal == SIGKILL) {
    BERTH_TRY(cgroups::Cgroup cg, cgroups::Cgroup::open(e->rec.cgroup));
    BERTH_CHECK(cg.kill());
  } else if (e->task_pidfd.valid()) {
    if (::syscall(SYS_pidfd_send_signal, e->task_pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
      return errno_error("signal " + signal_name(signal) + " to container " + e->rec.id);
  } else {
    return make_error(Code::kInternal, "container " + e->rec.id + " has no handle on its task");
  }
  if (signal != SIGKILL && grace_s > 0) {
    std::string id = e->rec.id;
    loop_.post([this, id, grace_s] {
      uint64_t timer = loop_.add_timer_ms(uint64_t{grace_s} * 1000, [this, id] { escalate_kill(id); });
      std::lock_guard lk2(mu_);
      auto it = by_id_.find(id);
      if (it != by_id_.end() && !is_final(it->second->rec.state)) it->second->grace_timer = timer;
      else loop_.cancel_timer(timer);
    });
  }
  publish("container.kill", e->rec,
          "\"signal\":\"" + signal_name(signal) + "\",\"grace_period_s\":" + std::to_string(grace_s) +
              ",\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)) + ",\"by_pid\":" + std::to_string(caller.pid));
  return e->rec;
}

void Containers::escalate_kill(const std::string& id) {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  it->second->grace_timer = 0;
  if (it->second->rec.state != State::kRunning) return;
  log::info("container " + id + " outlived its grace period; killing every process in it");
  auto cg = cgroups::Cgroup::open(it->second->rec.cgroup);
  auto killed = cg ? cg->kill() : Status(cg.error());
  if (!killed) log::error("kill container " + id + ": " + killed.error().message);
}

void Containers::watch_shim(const std::string& id, UniqueFd shim_pidfd) {
  auto fd = std::make_shared<UniqueFd>(std::move(shim_pidfd));
  auto watched = loop_.watch_once(fd->get(), [this, id, fd] { on_shim_exit(id); });
  if (!watched) {
    log::error("watch shim of " + id + ": " + watched.error().message);
  }
}

void Containers::on_shim_exit(const std::string& id) {
  reap_children();
  // Breaches the kernel announced before the task ended are acted on (recorded) first.
  handle_limitations(isolators_->dispatch_events());
  std::optional<ContainerRecord> settled;
  {
    std::lock_guard lk(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    Entry& e = *it->second;
    if (!is_final(e.rec.state)) {
      settle(e, "");
      settled = e.rec;
      e.saving_record = true;
    }
  }
  // Waiters have their answer; the durable copy of the record is written without the lock
  // (the shim's fsynced exit.json already lets a restarted berthd rebuild it).
  if (settled) {
    save_termination(*settled);
    std::lock_guard lk(mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) it->second->saving_record = false;
    changed_.notify_all();
  }
  // The record is final and checkpointed with the cgroup's last counters; now the cgroup goes.
  auto cleaned = isolators_->cleanup(id);
  if (!cleaned) log::warn("isolators cleanup of " + id + ": " + cleaned.error().message);
  auto removed = containers_cg_->remove_child(id, std::chrono::seconds(5));
  if (!removed) log::warn("remove cgroup of " + id + ": " + removed.error().message);
}

void Containers::settle(Entry& e, const std::string& lost_reason) {
  ContainerRecord& r = e.rec;
  Termination t;
  auto text = fs::read_file(r.sandbox_dir + "/exit.json");
  auto exit = text ? sandbox::parse_exit_record(*text) : Result<sandbox::ExitRecord>(text.error());
  if (exit) {
    t.exit_code = exit->exit_code;
    t.signal = exit->signal;
    t.started_at_ns = exit->started_at_ns;
    t.finished_at_ns = exit->finished_at_ns ? exit->finished_at_ns : now_ns();
    if (exit->launch_error) {
      t.reason = "launch_failed";
      t.message = *exit->launch_error;
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
  // The cgroup still exists: its counters are the record's usage, and say what ended it.
  isolators::Usage usage = final_usage_locked(r);
  t.usage = usage_json(usage);
  t.limits = limits_json(r.spec.resources, r.spec.policy);
  if (t.reason == "exited" || t.reason == "killed" || t.reason == "lost") {
    const auto& mev = usage.cgroup.memory_events;
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
  r.exit = t;
  r.state = t.reason == "launch_failed" ? State::kFailed : State::kExited;
  r.finished_at_ns = t.finished_at_ns;
  e.task_pidfd.reset();
  if (e.grace_timer) {
    loop_.cancel_timer(e.grace_timer);
    e.grace_timer = 0;
  }
  auto cp = checkpoint_locked(r);
  if (!cp) log::error("checkpoint " + r.id + ": " + cp.error().message);
  publish(t.reason == "lost" ? "container.lost" : "container.exited", r);
  changed_.notify_all();
}

void Containers::save_termination(const ContainerRecord& r) {
  auto saved = fs::write_file_atomic(r.sandbox_dir + "/termination.json", termination_json(*r.exit), 0644);
  if (!saved) log::warn("record termination of " + r.id + ": " + saved.error().message);
}

void Containers::reap_children() {
  int status;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

}  // namespace berth::agent
