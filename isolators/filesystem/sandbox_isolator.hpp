// SandboxIsolator ("filesystem/sandbox"): what the task sees of the host's files besides its
// rootfs — its sandbox work dir at /mnt/sandbox (SandboxLayout), the spec's volumes, and the
// /proc and /sys paths masked or made read-only (as runc/crun do by default). Issue 9's
// security isolator may take the masked and read-only paths over (the merge takes the union).
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
