// Startup recovery (recovery.hpp).
#include "agent/recovery.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <set>

#include "agent/launch.hpp"
#include "agent/shim_process.hpp"
#include "sandbox/layout.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/mountinfo.hpp"

namespace berth::agent {

Status Recovery::run() {
  std::vector<std::string> removed;
  BERTH_TRY_CTX(std::vector<ContainerRecord> records, load_checkpoints(&removed), "recover");
  // The isolators re-adopt every task that may still run (its limits, event watches, runtime
  // deadline from its recorded start) before any is settled or watched again.
  std::vector<isolators::ContainerState> known;
  for (const auto& r : records)
    if (r.state == State::kRunning) known.push_back({r.id, isolator_spec(r), r.started_at_ns});
  if (auto st = isolators_.recover(known); !st) log::warn("recover isolators: " + st.error().message);
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

Result<std::vector<ContainerRecord>> Recovery::load_checkpoints(std::vector<std::string>* removed) {
  std::vector<ContainerRecord> records;
  BERTH_TRY(auto names, fs::list_dir(config_.containers_run_dir()));
  for (const auto& id : names) {
    std::string dir = config_.containers_run_dir() + "/" + id;
    auto text = fs::read_file(sandbox::RunDirLayout(dir).state_path());
    auto rec = text ? parse_checkpoint(*text) : Result<ContainerRecord>(text.error());
    if (!rec || rec->id != id) {
      // Crashed before the first checkpoint (or a foreign file): nothing was announced.
      log::warn("recover: bundle " + dir + " has no usable checkpoint (" +
                (rec ? std::string("id mismatch") : rec.error().message) + "); removing it");
      auto r = fs::remove_tree(dir);
      if (r) removed->push_back("bundle " + id);
      continue;
    }
    records.push_back(std::move(rec).value());
  }
  return records;
}

void Recovery::recover_one(ContainerRecord rec) {
  auto task = std::make_shared<Task>();
  task->rec = std::move(rec);
  ContainerRecord& r = task->rec;
  const std::string id = r.id;
  auto lk = table_.lock();
  table_.insert_locked(task);
  if (is_final(r.state)) return;

  auto shim = open_process(r.shim_pid, r.shim_start_time);
  if (r.state == State::kRunning) {
    if (shim) {
      auto pidfd = open_process(r.pid, r.pid_start_time);
      if (pidfd) task->task_pidfd = std::move(pidfd).value();
      log::info("recover: container " + id + " is running (shim " + std::to_string(r.shim_pid) + ")");
      int64_t deadline = r.kill_deadline_ms;
      lk.unlock();
      supervisor_.watch(id, std::move(shim).value());
      if (deadline) supervisor_.arm_grace(id, deadline);  // the grace period runs on from where it was
      return;
    }
    lk.unlock();
    // The shim is gone: its exit.json (if it wrote one) says how the task ended.
    supervisor_.settle(id, "the shim (pid " + std::to_string(r.shim_pid) +
                               ") is gone and left no exit record; the task's exit is unknown");
    if (auto now = table_.get(id); now && now->exit)
      log::info("recover: container " + id + " ended while berthd was down: " + now->exit->message);
    return;
  }
  // pending/preparing: berthd died mid-launch. The caller never got an answer, so stop what
  // may have started and record the failure rather than guess.
  if (shim) ::syscall(SYS_pidfd_send_signal, shim->get(), SIGKILL, nullptr, 0);
  (void)supervisor_.kill_task(r);
  table_.advance_locked(*task, State::kFailed);
  r.finished_at_ns = now_ns();
  r.exit = Termination{"launch_failed", std::nullopt, std::nullopt,
                       "berthd stopped while the task was starting", 0, r.finished_at_ns};
  auto cp = table_.checkpoint_locked(r);
  if (!cp) log::error("checkpoint " + id + ": " + cp.error().message);
  table_.publish_locked("container.failed", r);
}

// Stray mounts below berth's dirs: berth mounts only inside task mount namespaces, so any
// mount here is left over from something else and would pin the dirs we remove.
void Recovery::remove_stray_mounts(std::vector<std::string>* removed) {
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
}

void Recovery::reconcile(std::vector<std::string>* removed) {
  std::set<std::string> keep_cgroups;  // of tasks that may run, or whose cleanup is queued
  std::set<std::string> known;
  {
    auto lk = table_.lock();
    for (const auto& t : table_.all_locked()) {
      known.insert(t->rec.id);
      if (!is_final(t->rec.state) || t->cleaning_up) keep_cgroups.insert(t->rec.id);
    }
  }
  remove_stray_mounts(removed);
  if (auto names = fs::list_dir(config_.sandboxes_dir())) {
    for (const auto& n : *names) {
      if (known.count(n)) continue;
      auto r = trash_.discard(config_.sandboxes_dir() + "/" + n, n);
      if (r) removed->push_back("sandbox " + n);
      else log::warn("reconcile: " + r.error().message);
    }
  }
  if (images_) {
    auto released = images_->release_unknown(known);
    if (!released) log::warn("reconcile: image leases: " + released.error().message);
    else for (const auto& t : *released) removed->push_back("image lease " + t);
  }
  for (const auto& n : cgroups_.tasks->ids()) {
    if (keep_cgroups.count(n)) continue;
    auto r = cgroups_.tasks->remove(n, std::chrono::seconds(5));
    if (!r) {
      log::warn("reconcile: remove cgroup " + n + ": " + r.error().message);
    } else if (!known.count(n)) {
      removed->push_back("cgroup " + n);
    }
  }
}

}  // namespace berth::agent
