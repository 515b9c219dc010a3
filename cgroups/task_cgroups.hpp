// TaskCgroups: the one owner of a task's cgroup directories — one per hierarchy that serves a
// controller berth uses. Today that is the unified (v2) hierarchy only; issue 8 adds the v1
// hierarchies (memory, cpu,cpuacct, pids, freezer, ...) here, behind the same methods, so
// isolators, the shim and the agent never learn which hierarchy holds what.
//
// TaskCgroupRoot is berth's parent of all task cgroups (…/berth/containers in each hierarchy):
// it creates a task's directories before the task exists (the task is cloned straight into
// the unified one and joins the others before exec), re-opens them after a restart, lists them
// for orphan cleanup, and removes them (kill, wait for empty, rmdir — in every hierarchy).
//
// Invariants: a TaskCgroups always holds an open directory fd in every hierarchy it names; it
// never creates anything outside its root; removal is bounded in entries (a task that nests
// cgroups cannot make it recurse or run forever) and idempotent (a missing dir is done).
// Threading: const methods are safe from several threads (the kernel serializes writes);
// objects are shared as shared_ptr<const TaskCgroups> between the agent and its isolators.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"

namespace berth::cgroups {

class TaskCgroups {
 public:
  // Adopts an existing task cgroup by its unified path (the shim, tests). kNotFound if gone.
  static Result<std::shared_ptr<const TaskCgroups>> open(const std::string& unified_path);

  const std::string& id() const { return id_; }
  // The directory the task is cloned into (CLONE_INTO_CGROUP) and whose path is recorded.
  const Cgroup& unified() const { return unified_; }
  const std::string& path() const { return unified_.path(); }
  // The directory holding `controller` ("memory", "cpu", "pids", ...): where an isolator
  // writes its limit files and reads its counters. The unified one until v1 backends exist.
  const Cgroup& for_controller(std::string_view controller) const;

  // Puts `pid` in the task's directories other than the unified one (none yet): the launcher
  // calls it while the task is blocked, after cloning it into unified().
  Status join_other_hierarchies(pid_t pid) const;
  // Puts `pid` in every directory (the launcher's fallback where CLONE_INTO_CGROUP is refused).
  Status join_all(pid_t pid) const;

  // Kills every process of the task at once: cgroup.kill where the kernel has it; else freeze,
  // SIGKILL every pid in every directory (and sub-directory), thaw, repeated until none is
  // left, so no process can fork its way out.
  Status kill() const;
  Status freeze(std::chrono::milliseconds timeout) const;
  Status thaw() const;
  Result<bool> populated() const;
  // kFailedPrecondition on timeout.
  Status wait_empty(std::chrono::milliseconds timeout) const;

 private:
  friend class TaskCgroupRoot;
  TaskCgroups(std::string id, Cgroup unified) : id_(std::move(id)), unified_(std::move(unified)) {}
  std::string id_;
  Cgroup unified_;
};

class TaskCgroupRoot {
 public:
  // The parent of every task cgroup, in each hierarchy (today: the unified one at `unified`).
  static Result<TaskCgroupRoot> open_or_create(const std::string& unified_path);
  // Adopts an already-open parent (the agent's containers cgroup).
  static TaskCgroupRoot adopt(Cgroup unified) { return TaskCgroupRoot(std::move(unified)); }

  const std::string& path() const { return unified_.path(); }
  // Where the task `id`'s unified directory is (for the checkpoint and the shim).
  std::string path_of(const std::string& id) const { return unified_.path() + "/" + id; }

  // Creates the task's directory in every hierarchy (an existing one is reused).
  Result<std::shared_ptr<const TaskCgroups>> create(const std::string& id) const;
  // Opens the task's directories; kNotFound when it has none (already removed).
  Result<std::shared_ptr<const TaskCgroups>> open(const std::string& id) const;
  // Kills what still runs, waits up to `timeout` for it to go, removes every directory
  // (nested ones first). Unknown ids are fine. Bounded by kMaxRemoveEntries directories.
  Status remove(const std::string& id, std::chrono::milliseconds timeout) const;
  // The ids that have a directory (for startup's orphan cleanup).
  std::vector<std::string> ids() const;

  static constexpr size_t kMaxRemoveEntries = 10000;

 private:
  explicit TaskCgroupRoot(Cgroup unified) : unified_(std::move(unified)) {}
  Cgroup unified_;
};

}  // namespace berth::cgroups
