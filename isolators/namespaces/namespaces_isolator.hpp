// NamespacesIsolator ("namespaces"): the namespaces every task gets new — pid, mount, uts,
// ipc, cgroup, and network (loopback only) until the network isolator (issue 10) takes the
// network namespace over: then "network" leaves this list and that isolator adds it (new, or
// joined by path for a netns it prepared); the merge refuses two isolators adding it.
// Threading: under the Registry's lock.
#pragma once

#include "isolators/launch_only_isolator.hpp"

namespace berth::isolators {

class NamespacesIsolator : public LaunchOnlyIsolator {
 public:
  std::string_view name() const override { return "namespaces"; }

 protected:
  Result<LaunchAdditions> additions(const ContainerId&, const ContainerSpec&) override;
};

}  // namespace berth::isolators
