// Launcher: starts one task. Each step is named and, until the point of no return, pushes its
// undo onto a chain that runs in reverse if a later step fails:
//
//   check_spec → reserve (record) → resolve_root (image lease) → prepare_dirs →
//   create_cgroup (+ isolators' prepare, their LaunchAdditions) → write_bundle →
//   checkpoint `preparing`                                                  [point of no return]
//   → fetch_artifacts → start_shim (+ checkpoint of the shim's pid) → read the report →
//   isolate → checkpoint `running` → publish `container.started` → watch the shim.
//
// Past the point of no return the record stays and every outcome is recorded in it: a
// failure marks it `failed` (reason launch_failed, with the cause) and stops whatever was
// started. A checkpoint that cannot be written once the shim runs is such a failure: the task
// is killed and the client gets an error, rather than a task that the next restart would kill.
// The shim is watched only after the task is recorded as running (or failed), so its exit is
// always settled after its start (no `exited` before `started`, no running-forever record).
//
// Threading: launch() runs on an API thread and holds the table lock only for short record
// updates; isolate() and everything slow run outside it (lock order in task_table.hpp).
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "agent/config.hpp"
#include "agent/images.hpp"
#include "agent/node_cgroups.hpp"
#include "agent/shim_process.hpp"
#include "agent/supervisor.hpp"
#include "agent/task_table.hpp"
#include "isolators/registry.hpp"

namespace berth::agent {

isolators::ContainerSpec isolator_spec(const ContainerRecord& rec);

class Launcher {
 public:
  // `images` may be null: tasks then run from a rootfs only.
  Launcher(const Config& config, const NodeCgroups& cgroups, TaskTable& table, Supervisor& supervisor,
           isolators::Registry& isolators, Images* images)
      : config_(config), cgroups_(cgroups), table_(table), supervisor_(supervisor), isolators_(isolators),
        images_(images) {}

  // `id` (optional) learns the new record's id as soon as it exists, so a caller can name a
  // launch that failed after its record was made (the record stays, state failed).
  Result<ContainerRecord> launch(TaskSpec spec, const Caller& caller, std::string* id = nullptr);
  // Refuses limits no usable controller can enforce (also for live updates).
  Status check_resources(const Resources& r) const;

 private:
  // What the task's root is made of, once its image (if any) is resolved.
  struct Root {
    std::string lowerdir;        // overlay lowerdir: the rootfs, or image layers joined by ':'
    std::string top;             // the directory whose owner and mode "/" takes
    std::string passwd_root;     // where etc/passwd and etc/group are read for user names
    TaskSpec effective;          // the spec with the image's Entrypoint/Cmd/Env/WorkingDir/User
  };

  Status check_spec(const TaskSpec& spec) const;
  Result<std::shared_ptr<Task>> reserve(TaskSpec spec);
  Result<Root> resolve_root(const ContainerRecord& rec);
  Status prepare_dirs(const ContainerRecord& rec, const Root& root);
  Status write_bundle(const ContainerRecord& rec, const Root& root, const isolators::LaunchAdditions& additions);
  // The task's cgroup with its limits; what the isolators add to the launch.
  Result<isolators::LaunchAdditions> create_cgroup(const ContainerRecord& rec);
  Status fetch_artifacts(const ContainerRecord& rec);
  // Writes `next` as the task's checkpoint and, only when that worked, makes it the record.
  // Applies `change` to a copy of the record, checkpoints the copy and only then makes it the
  // record (its state through advance_locked); on failure nothing changes.
  Status commit(Task& task, const std::function<void(ContainerRecord&)>& change);
  // The report said the task runs: isolate, checkpoint `running`, publish, watch the shim.
  Result<ContainerRecord> record_running(Task& task, ShimHandle& shim, const LaunchReport& report);
  // Past the point of no return: stops what runs, records `failed` with `message`, and hands
  // the shim (if any) to the supervisor, whose exit handling cleans up.
  Error fail(Task& task, const std::string& message, ShimHandle* shim, Code code = Code::kInvalidArgument);

  const Config& config_;
  const NodeCgroups& cgroups_;
  TaskTable& table_;
  Supervisor& supervisor_;
  isolators::Registry& isolators_;
  Images* images_;
};

}  // namespace berth::agent
