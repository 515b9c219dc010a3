// Containers: berthd's tasks as the API sees them. A facade over the parts that do the work,
// each one concern:
//   TaskTable  (task_table.hpp)  records, their lock, find/list/wait, checkpoints, events
//   Launcher   (launch.hpp)      the launch steps, each with its undo
//   Supervisor (supervisor.hpp)  shim watches, exit settlement, kill grace timers, limit breaches
//   Recovery   (recovery.hpp)    startup: checkpoints back into the table, orphans removed
// plus removal, live update and usage here (containers.cpp, limits.cpp).
//
// State machine: pending → pulling → preparing → running → exited, or → failed before
// running; states only move forward. Every transition is checkpointed (state.json, atomic)
// before it is published as an event, so a restarted berthd resumes from what was last
// announced; the exit itself is made durable by the shim's exit.json.
//
// Threading: API handlers call in from many threads; exit handling, grace timers and limit
// breaches run on the Loop thread; slow cleanup on the Supervisor's worker. Lock order:
// TaskTable → isolators::Registry → EventBus (task_table.hpp).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/container.hpp"
#include "agent/events.hpp"
#include "agent/exec.hpp"
#include "agent/images.hpp"
#include "agent/launch.hpp"
#include "agent/loop.hpp"
#include "agent/node_cgroups.hpp"
#include "agent/supervisor.hpp"
#include "agent/task_table.hpp"
#include "agent/trash.hpp"
#include "isolators/registry.hpp"

namespace berth::agent {

// What running tasks are allocated, summed (for /v1/info).
struct Allocation {
  double cpus = 0;
  uint64_t memory_mb = 0;
  uint64_t pids = 0;
  uint64_t disk_mb = 0;
  size_t tasks = 0;
};

class Containers {
 public:
  // `images` may be null: tasks then run from a rootfs only.
  Containers(Config config, Loop& loop, EventBus& events, Images* images);
  ~Containers();

  // Finds the cgroup2 mount, creates berth's root, containers/ and shims/ cgroups and the
  // run/state dirs. Called once before recover().
  Status init();
  // Loads checkpoints, re-attaches to live shims, settles tasks that ended while berthd was
  // down, and removes whatever no record owns. Loop thread, before serving the API.
  Status recover();

  // On failure `id` (optional) names the record the failed launch left, if it left one.
  Result<ContainerRecord> launch(TaskSpec spec, const Caller& caller, std::string* id = nullptr) {
    return launcher_->launch(std::move(spec), caller, id);
  }
  Result<ContainerRecord> get(const std::string& id_or_name) const { return table_.get(id_or_name); }
  std::vector<ContainerRecord> list() const { return table_.list(); }
  Result<ContainerRecord> kill(const std::string& id_or_name, int signal, uint32_t grace_s, const Caller& caller) {
    return supervisor_->kill(id_or_name, signal, grace_s, caller);
  }
  // Waits until the task ended; nullopt on timeout (timeout_ms < 0: forever).
  Result<std::optional<Termination>> wait(const std::string& id_or_name, int timeout_ms) const {
    return table_.wait(id_or_name, timeout_ms);
  }
  Status remove(const std::string& id_or_name, bool force, const Caller& caller);

  // Runs a command inside a running task with its confinement (agent/exec.hpp) and waits for
  // it: kNotFound for an unknown task, kFailedPrecondition for one that is not running.
  Result<ExecResult> exec(const std::string& id_or_name, const sandbox::ExecRequest& request,
                          std::function<bool()> cancelled) const;

  // Applies new limits to a running task at once (the fields given replace its own).
  Result<ContainerRecord> update(const std::string& id_or_name, const Resources& resources, const Caller& caller);
  // Usage next to limits (agent/stats.hpp): live for a running task, the termination
  // record's for one that ended. stats_all: every running task.
  Result<std::string> stats(const std::string& id_or_name) const;
  std::vector<std::string> stats_all() const;
  Allocation allocated() const;
  std::vector<std::string> isolator_names() const { return isolators_->names(); }

  const NodeCgroups& cgroups() const { return cgroups_; }
  const Config& config() const { return config_; }

 private:
  Status remove_files(const ContainerRecord& rec);

  Config config_;
  Loop& loop_;
  EventBus& events_;
  Images* images_;
  NodeCgroups cgroups_;
  std::unique_ptr<isolators::Registry> isolators_;
  TaskTable table_;
  std::unique_ptr<Trash> trash_;  // sandboxes removed in the background
  // Declared after what they use: destroyed first (the supervisor's worker drains its queue).
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<Launcher> launcher_;
};

}  // namespace berth::agent
