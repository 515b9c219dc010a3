// SandboxIsolator ("filesystem/sandbox"): what the task sees of the host's files besides its
// rootfs — its sandbox work dir at /mnt/sandbox (SandboxLayout) and the spec's volumes. The
// masked and read-only /proc and /sys paths are the security isolator's (security/).
// Threading: under the Registry's lock.
#pragma once

#include "isolators/launch_only_isolator.hpp"

namespace berth::isolators {

class SandboxIsolator : public LaunchOnlyIsolator {
 public:
  std::string_view name() const override { return "filesystem/sandbox"; }

 protected:
  Result<LaunchAdditions> additions(const ContainerId&, const ContainerSpec&) override;
};

}  // namespace berth::isolators
