// Startup recovery: rebuild the table from checkpoints, re-attach to shims that still run,
// settle tasks that ended while berthd was away, and remove whatever no record owns
// (bundle dirs, sandbox dirs, cgroups, stray mounts under berth's dirs).
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/containers.hpp"
#include "agent/shim_process.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/mountinfo.hpp"

namespace berth::agent {

Status Containers::recover() {
  std::vector<std::string> removed;
  std::vector<ContainerRecord> records;
  auto names = fs::list_dir(config_.containers_run_dir());
  if (!names) return std::move(names).error().wrap("recover");
  for (const auto& id : *names) {
    std::string dir = config_.containers_run_dir() + "/" + id;
    auto text = fs::read_file(dir + "/state.json");
    auto rec = text ? parse_checkpoint(*text) : Result<ContainerRecord>(text.error());
    if (!rec || rec->id != id) {
      // Crashed before the first checkpoint (or a foreign file): nothing was announced.
      log::warn("recover: bundle " + dir + " has no usable checkpoint (" +
                (rec ? std::string("id mismatch") : rec.error().message) + "); removing it");
      auto r = fs::remove_tree(dir);
      if (r) removed.push_back("bundle " + id);
      continue;
    }
    records.push_back(std::move(rec).value());
  }
  // The isolators re-adopt every task that may still run (its limits, event watches, runtime
  // deadline from its recorded start) before any is settled or watched again.
  std::vector<isolators::ContainerState> known;
  for (const auto& r : records)
    if (r.state == State::kRunning) known.push_back({r.id, isolator_spec(r), r.started_at_ns});
  if (auto st = isolators_->recover(known); !st) log::warn("recover isolators: " + st.error().message);
  for (auto& r : records) recover_one(std::move(r));
  reconcile(&removed);
  json::JsonWriter w;
  w.begin_array();
  for (const auto& r : removed) w.value(r);
  w.end_array();
  events_.publish("agent.reconciled", "\"removed\":" + w.str());
  if (!removed.empty()) {
    std::string all;
    for (const auto& r : removed) all += (all.empty() ? "" : ", ") + r;
    log::info("startup removed what no record owns: " + all);
  }
  return ok();
}

void Containers::recover_one(ContainerRecord rec) {
  auto e = std::make_shared<Entry>();
  e->rec = std::move(rec);
  ContainerRecord& r = e->rec;
  std::string id = r.id;
  std::lock_guard lk(mu_);
  by_id_.emplace(id, e);

  if (is_final(r.state)) return;
  auto shim = open_process(r.shim_pid, r.shim_start_time);
  if (r.state == State::kRunning) {
    if (shim) {
      auto task = open_process(r.pid, r.pid_start_time);
      if (task) e->task_pidfd = std::move(task).value();
      log::info("recover: container " + id + " is running (shim " + std::to_string(r.shim_pid) + ")");
      watch_shim(id, std::move(shim).value());
      return;
    }
    settle(*e, "the shim (pid " + std::to_string(r.shim_pid) +
                   ") is gone and left no exit record; the task's exit is unknown");
    save_termination(r);
    (void)isolators_->cleanup(id);
    log::info("recover: container " + id + " ended while berthd was down: " + r.exit->message);
    return;
  }
  // pending/preparing: berthd died mid-launch. The caller never got an answer, so stop what
  // may have started and record the failure rather than guess.
  if (shim) ::syscall(SYS_pidfd_send_signal, shim->get(), SIGKILL, nullptr, 0);
  if (auto cg = cgroups::Cgroup::open(r.cgroup)) (void)cg->kill();
  r.state = State::kFailed;
  r.finished_at_ns = now_ns();
  r.exit = Termination{"launch_failed", std::nullopt, std::nullopt,
                       "berthd stopped while the task was starting", 0, r.finished_at_ns};
  (void)checkpoint_locked(r);
  publish("container.failed", r);
}

void Containers::reconcile(std::vector<std::string>* removed) {
  std::set<std::string> live_cgroups;
  std::set<std::string> known;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, e] : by_id_) {
      known.insert(id);
      if (!is_final(e->rec.state)) live_cgroups.insert(id);
    }
  }
  // Stray mounts below berth's dirs: berth mounts only inside task mount namespaces, so any
  // mount here is left over from something else and would pin the dirs we remove.
  if (auto mi = fs::read_mountinfo()) {
    std::vector<std::string> mounts;
    for (const auto& m : *mi) {
      for (const std::string& dir : {config_.containers_run_dir() + "/", config_.sandboxes_dir() + "/"})
        if (m.mount_point.starts_with(dir)) mounts.push_back(m.mount_point);
    }
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
      if (::umount2(it->c_str(), MNT_DETACH) == 0) removed->push_back("mount " + *it);
    }
  }
  if (auto names = fs::list_dir(config_.sandboxes_dir())) {
    for (const auto& n : *names) {
      if (known.count(n)) continue;
      auto r = fs::remove_tree(config_.sandboxes_dir() + "/" + n);
      if (r) removed->push_back("sandbox " + n);
      else log::warn("reconcile: " + r.error().message);
    }
  }
  if (images_) {
    auto released = images_->release_unknown(known);
    if (!released) log::warn("reconcile: image leases: " + released.error().message);
    else for (const auto& t : *released) removed->push_back("image lease " + t);
  }
  for (const auto& n : containers_cg_->children()) {
    if (live_cgroups.count(n)) continue;
    auto r = containers_cg_->remove_child(n, std::chrono::seconds(5));
    if (!r) {
      log::warn("reconcile: remove cgroup " + n + ": " + r.error().message);
    } else if (!known.count(n)) {
      removed->push_back("cgroup " + n);
    }
  }
}

}  // namespace berth::agent
