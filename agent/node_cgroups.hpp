// NodeCgroups: berth's cgroup subtree on this node, found and delegated once at startup:
// <root>/containers (one child per task, controllers enabled) and <root>/shims (every shim),
// plus <root>/agent when berthd has to leave its own cgroup so the levels above can delegate.
// On hybrid and v1 hosts the same root, relative to each hierarchy's mount, holds a
// containers/ directory in every v1 hierarchy berth uses (cgroups/hierarchies.hpp finds them);
// `serving` says which hierarchy enforces each controller, `notes` what differs there.
// Plain value after setup; read from any thread.
#pragma once

#include <map>
#include <optional>
#include <vector>
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
  struct Serving {
    cgroups::Kind kind;
    std::string mount;  // the hierarchy's mount point
    std::string root;   // berth's root in it
  };
  std::map<std::string, Serving> serving;  // per usable controller
  std::vector<std::string> notes;          // "memory_high_mb is a soft limit on cgroup v1", ...
};

Result<NodeCgroups> setup_node_cgroups(const Config& config);

}  // namespace berth::agent
