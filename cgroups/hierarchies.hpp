// Hierarchies: which cgroup hierarchy serves each controller on this node, found from
// /proc/self/mountinfo (every cgroup and cgroup2 mount; a v1 mount's super options name its
// controllers, "rw,cpu,cpuacct") and /proc/self/cgroup ("N:ctrl1,ctrl2:/path", berthd's own
// cgroup in each hierarchy; "0::/path" for the unified one). Never hard-coded paths: on a pure
// v2 host every controller is in the unified hierarchy; on a hybrid host (cgroup v1 controllers
// beside a cgroup2 with none) each v1 controller is served by its own mount, and cpu and cpuacct
// may be one hierarchy ("cpu,cpuacct") or two. "name=systemd" and controllers berth does not use
// are not controllers here.
// Pure functions over text (unit-tested with fake texts); a plain value; thread-safe to read.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"

namespace berth::cgroups {

// The controllers berth knows how to use, in either hierarchy kind.
const std::set<std::string>& known_controllers();

struct Hierarchy {
  Kind kind = Kind::kV2;
  std::string mount;                  // mount point, e.g. /sys/fs/cgroup/memory
  std::set<std::string> controllers;  // v1: from the super options; v2: filled by the caller
  std::string own;                    // berthd's cgroup relative to the mount ("" at the root)
  // "cpu,cpuacct": the hierarchy's name in /proc/<pid>/cgroup and in records.
  std::string name() const;
  std::string own_path() const { return mount + own; }
};

struct Hierarchies {
  std::optional<Hierarchy> unified;
  std::vector<Hierarchy> v1;  // one per mounted v1 hierarchy with a known controller
  // The v1 hierarchy holding `controller`, or nullptr (then only the unified one can).
  const Hierarchy* v1_for(std::string_view controller) const;
};

// From the two texts; a v1 hierarchy missing from `proc_cgroup_text` is skipped (berthd is
// not in it, so it has no place to nest under). Mounts of a sub-cgroup (root != "/") count
// only when berthd's cgroup is at or below that root.
Hierarchies parse_hierarchies(const std::string& mountinfo_text, const std::string& proc_cgroup_text);
Result<Hierarchies> discover_hierarchies();

}  // namespace berth::cgroups
