// TaskCgroups: the one owner of a task's cgroup directories — one per hierarchy that serves a
// controller berth uses: the unified (v2) one always, plus one per v1 hierarchy on hybrid and
// v1 hosts (memory, cpu, cpuacct — or "cpu,cpuacct" —, pids, freezer, ...), behind the same
// methods, so isolators, the shim and the agent never learn which hierarchy holds what.
// A v1 directory is named for records and the shim as "ctrl1,ctrl2:/path" (the shape of a
// /proc/<pid>/cgroup line), so a restarted berthd or a shim re-opens exactly those.
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
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"

namespace berth::cgroups {

// One v1 directory of a task (or of the root): the controllers its hierarchy holds.
struct V1Dir {
  std::set<std::string> controllers;
  Cgroup cg;
  std::string spec() const;  // "cpu,cpuacct:/sys/fs/cgroup/cpu,cpuacct/berth/containers/x"
};
// Parses a spec() back: kInvalidArgument on a malformed one.
Result<std::pair<std::set<std::string>, std::string>> parse_v1_spec(const std::string& spec);

class TaskCgroups {
 public:
  // Adopts an existing task cgroup by its unified path and its v1 directories' specs (the
  // shim, recovery, tests). kNotFound if the unified one is gone; a gone v1 one is skipped.
  static Result<std::shared_ptr<const TaskCgroups>> open(const std::string& unified_path,
                                                         const std::vector<std::string>& v1_specs = {});

  const std::string& id() const { return id_; }
  // The directory the task is cloned into (CLONE_INTO_CGROUP) and whose path is recorded.
  const Cgroup& unified() const { return unified_; }
  const std::string& path() const { return unified_.path(); }
  // The directory holding `controller` ("memory", "cpu", "pids", ...): where an isolator
  // writes its limit files and reads its counters: the v1 directory whose hierarchy holds
  // it, else the unified one.
  const Cgroup& for_controller(std::string_view controller) const;
  const std::vector<V1Dir>& v1() const { return v1_; }
  std::vector<std::string> v1_specs() const;

  // Puts `pid` in the task's directories other than the unified one (the v1 ones): the launcher
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
  TaskCgroups(std::string id, Cgroup unified, std::vector<V1Dir> v1)
      : id_(std::move(id)), unified_(std::move(unified)), v1_(std::move(v1)) {}
  const Cgroup* freezer() const;
  std::string id_;
  Cgroup unified_;
  std::vector<V1Dir> v1_;
};

class TaskCgroupRoot {
 public:
  // The parent of every task cgroup, in each hierarchy: the unified one at `unified`.
  static Result<TaskCgroupRoot> open_or_create(const std::string& unified_path);
  // Adopts already-open parents (the agent's containers cgroup in each hierarchy).
  static TaskCgroupRoot adopt(Cgroup unified, std::vector<V1Dir> v1 = {}) {
    return TaskCgroupRoot(std::move(unified), std::move(v1));
  }

  const std::string& path() const { return unified_.path(); }
  const std::vector<V1Dir>& v1() const { return v1_; }
  // Where the task `id`'s unified directory is (for the checkpoint and the shim).
  std::string path_of(const std::string& id) const { return unified_.path() + "/" + id; }
  // Its v1 directories, as TaskCgroups::open takes them.
  std::vector<std::string> v1_specs_of(const std::string& id) const;

  // Creates the task's directory in every hierarchy (an existing one is reused).
  Result<std::shared_ptr<const TaskCgroups>> create(const std::string& id) const;
  // Opens the task's directories; kNotFound when it has none (already removed).
  Result<std::shared_ptr<const TaskCgroups>> open(const std::string& id) const;
  // Kills what still runs, waits up to `timeout` for it to go, removes every directory
  // (nested ones first). Unknown ids are fine. Bounded by kMaxRemoveEntries directories.
  Status remove(const std::string& id, std::chrono::milliseconds timeout) const;
  // The ids that have a directory in any hierarchy (for startup's orphan cleanup).
  std::vector<std::string> ids() const;

  static constexpr size_t kMaxRemoveEntries = 10000;

 private:
  TaskCgroupRoot(Cgroup unified, std::vector<V1Dir> v1) : unified_(std::move(unified)), v1_(std::move(v1)) {}
  Status remove_dir(const Cgroup& parent, const std::string& id, std::chrono::milliseconds timeout) const;
  Cgroup unified_;
  std::vector<V1Dir> v1_;
};

}  // namespace berth::cgroups
