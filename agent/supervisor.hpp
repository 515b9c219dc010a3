// Supervisor: watches each started task's shim and turns its end into the termination record;
// delivers kill requests and escalates them when the grace period runs out; acts on limit
// breaches the isolators report.
//
// A task's exit is settled in three parts: what the shim left (exit.json) and the cgroup's
// last counters are read without any lock; the record is moved to exited, checkpointed and
// published under the table lock; the durable termination.json, isolator cleanup and cgroup
// removal run on the worker thread. The shim is watched only once its launch has recorded the
// task as running (or failed), so an exit is never settled before the start it ends.
//
// Kill grace deadlines are part of the checkpoint (CLOCK_MONOTONIC, which runs on across a
// berthd restart) and are armed again by recovery.
//
// Threading: kill() from API threads; watch(), arm_grace(), the exit and limit handlers on the
// Loop thread. Lock order as in task_table.hpp.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "agent/loop.hpp"
#include "agent/task_table.hpp"
#include "agent/worker.hpp"
#include "cgroups/task_cgroups.hpp"
#include "isolators/registry.hpp"

namespace berth::agent {

struct Caller {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
};

class Supervisor {
 public:
  Supervisor(Loop& loop, TaskTable& table, isolators::Registry& isolators, const cgroups::TaskCgroupRoot& tasks);

  // Loop thread: calls on_shim_exit once the shim (its pidfd) has exited.
  void watch(const std::string& id, UniqueFd shim_pidfd);
  // Any thread: watch() on the loop.
  void post_watch(const std::string& id, UniqueFd shim_pidfd);

  Result<ContainerRecord> kill(const std::string& id_or_name, int signal, uint32_t grace_s, const Caller& caller);
  // Loop thread: SIGKILLs the task at `deadline_ms` (monotonic) unless it ended before.
  void arm_grace(const std::string& id, int64_t deadline_ms);

  // Settles a running task whose shim is gone; `lost_reason` is the message when the shim
  // recorded nothing. Then queues its cleanup.
  void settle(const std::string& id, const std::string& lost_reason);
  // Queues termination.json (when `settled`), isolator cleanup and cgroup removal on the
  // worker, which then clears the task's cleaning_up (set by the caller with the final state).
  void clean_up_after(const std::string& id, std::optional<ContainerRecord> settled);

  // Loop: the isolators' event fd and their tick.
  void start_limit_events();
  void arm_limit_tick();
  void handle_limitations(std::vector<isolators::ContainerLimitation> found);
  void reap_children();

  // Kills every process in the task's cgroup (the cgroup stays).
  Status kill_task(const ContainerRecord& rec) const;

 private:
  void on_shim_exit(const std::string& id);
  void escalate_kill(const std::string& id);
  void save_termination(const ContainerRecord& r);

  Loop& loop_;
  TaskTable& table_;
  isolators::Registry& isolators_;
  const cgroups::TaskCgroupRoot& tasks_;
  Worker worker_;  // last: joined (its queue run) before the references above go
};

}  // namespace berth::agent
