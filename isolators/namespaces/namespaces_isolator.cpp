#include "isolators/namespaces/namespaces_isolator.hpp"

namespace berth::isolators {

Result<LaunchAdditions> NamespacesIsolator::additions(const ContainerId&, const ContainerSpec&) {
  LaunchAdditions a;
  for (const char* type : {"pid", "mount", "uts", "ipc", "cgroup"}) a.namespaces.push_back({type, ""});
  return a;
}

}  // namespace berth::isolators
