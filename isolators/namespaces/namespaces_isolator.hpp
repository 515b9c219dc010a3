// NamespacesIsolator ("namespaces"): the namespaces every task gets new — pid, mount, uts,
// ipc, cgroup. The network namespace is the network isolator's (isolators/network/): new,
// or none at all for mode host; the merge refuses two isolators adding it.
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
