// Recovery: at startup, rebuild the task table from the checkpoints in run_dir, re-attach to
// shims that still run (and re-arm their kill grace deadlines), settle tasks that ended while
// berthd was away, record launches that berthd's stop interrupted as failed, and remove
// whatever no record owns (bundle dirs, sandbox dirs, cgroups, image leases, stray mounts).
// Orphan sandboxes are moved into the trash and removed in the background (trash.hpp).
// Runs once on the loop thread before the API serves; nothing else touches the table then.
#pragma once

#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/images.hpp"
#include "agent/node_cgroups.hpp"
#include "agent/supervisor.hpp"
#include "agent/task_table.hpp"
#include "agent/trash.hpp"
#include "isolators/registry.hpp"

namespace berth::agent {

class Recovery {
 public:
  Recovery(const Config& config, const NodeCgroups& cgroups, TaskTable& table, Supervisor& supervisor,
           isolators::Registry& isolators, EventBus& events, Images* images, Trash& trash)
      : config_(config), cgroups_(cgroups), table_(table), supervisor_(supervisor), isolators_(isolators),
        events_(events), images_(images), trash_(trash) {}

  Status run();

 private:
  Result<std::vector<ContainerRecord>> load_checkpoints(std::vector<std::string>* removed);
  void recover_one(ContainerRecord rec);
  void reconcile(std::vector<std::string>* removed);
  void remove_stray_mounts(std::vector<std::string>* removed);

  const Config& config_;
  const NodeCgroups& cgroups_;
  TaskTable& table_;
  Supervisor& supervisor_;
  isolators::Registry& isolators_;
  EventBus& events_;
  Images* images_;
  Trash& trash_;  // orphan sandboxes go here: startup never waits for a tree a task filled
};

}  // namespace berth::agent
