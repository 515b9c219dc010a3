// NodeCgroups: berth's cgroup v2 subtree on this node, found and delegated once at startup:
// <root>/containers (one child per task, controllers enabled) and <root>/shims (every shim),
// plus <root>/agent when berthd has to leave its own cgroup so the levels above can delegate.
// Plain value after setup; read from any thread.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "agent/config.hpp"
#include "cgroups/cgroup.hpp"
#include "cgroups/task_cgroups.hpp"

namespace berth::agent {

struct NodeCgroups {
  std::string mount;                  // where cgroup2 is mounted
  std::string root;                   // berth's root cgroup
  std::set<std::string> controllers;  // usable by tasks
  bool hybrid = false;                // cgroup v1 controllers mounted beside it
  std::optional<cgroups::TaskCgroupRoot> tasks;  // <root>/containers: every task's cgroup
  std::string shims_path;             // <root>/shims
};

Result<NodeCgroups> setup_node_cgroups(const Config& config);

}  // namespace berth::agent
