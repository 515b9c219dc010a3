// TaskTable: the record of every task berthd knows, under one lock, with its checkpoint and
// the events that announce its changes.
//
// Invariants:
// - A record's state only moves forward: pending → pulling → preparing → running → exited, or
//   → failed from any state before running (advance_locked refuses anything else). So a late
//   step of a launch can never undo an exit that was already settled.
// - Each change is checkpointed and then published while the lock is held, so events come
//   out in the order the changes happened (a task's `container.started` before its
//   `container.exited`).
//
// Threading and lock order (kept everywhere in agent/):
//   TaskTable::mu_  →  isolators::Registry's lock  →  EventBus's lock.
// A thread holding a later lock never takes an earlier one. Nothing slow runs under mu_: no
// process is spawned or waited for, no tree is walked, nothing is fsynced (checkpoints are
// volatile writes to run_dir, which is tmpfs). Readers (get/list/wait) may run on any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/container.hpp"
#include "agent/events.hpp"
#include "common/unique_fd.hpp"

namespace berth::agent {

// One row of the table. Fields other than `rec` are berthd's handles on the live task.
struct Task {
  ContainerRecord rec;
  UniqueFd task_pidfd;
  uint64_t grace_timer = 0;  // Loop timer id of a pending kill escalation (loop thread)
  // Set from the exit's settlement until its cleanup (termination.json, cgroup removal) has
  // run on the worker; remove() waits for it so it never deletes a sandbox under that write.
  bool cleaning_up = false;
};

class TaskTable {
 public:
  explicit TaskTable(EventBus& events) : events_(events) {}

  std::unique_lock<std::mutex> lock() const { return std::unique_lock(mu_); }

  // *_locked: the caller holds lock().
  std::shared_ptr<Task> find_locked(const std::string& id_or_name) const;
  std::shared_ptr<Task> by_id_locked(const std::string& id) const;
  void insert_locked(std::shared_ptr<Task> task);
  void erase_locked(const std::string& id) { by_id_.erase(id); }
  std::vector<std::shared_ptr<Task>> all_locked() const;
  // Moves the task to `to` when that is a step forward; false (nothing changed) otherwise.
  bool advance_locked(Task& task, State to);
  // state.json in the task's bundle dir, atomic (readers never see half of it), not fsynced.
  Status checkpoint_locked(const ContainerRecord& rec);
  void publish_locked(const std::string& type, const ContainerRecord& rec, const std::string& extra = "");
  // Wakes wait() and the waiters of cleaning_up.
  void notify() { changed_.notify_all(); }
  void wait_locked(std::unique_lock<std::mutex>& lk, const std::function<bool()>& done) const {
    changed_.wait(lk, done);
  }

  Result<ContainerRecord> get(const std::string& id_or_name) const;
  std::vector<ContainerRecord> list() const;  // oldest first
  // Waits until the task ended; nullopt on timeout (timeout_ms < 0: forever).
  Result<std::optional<Termination>> wait(const std::string& id_or_name, int timeout_ms) const;

  static Error not_found(const std::string& id_or_name);

 private:
  EventBus& events_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Task>> by_id_;
};

}  // namespace berth::agent
