// DevicesIsolator ("devices"): which device nodes a task may open. Every task gets the
// standard nodes (cgroups::default_device_rules: null, zero, full, random, urandom, tty,
// console, ptmx, pts/*), so a node it mknods for a disk of the host cannot be opened;
// security.devices allows more by type and major:minor; security.privileged allows every
// device (the host's nodes are not bound in: a privileged task mknods what it needs). A rule
// with a "path" also creates that node in the task's /dev. The rules go out as LaunchAdditions::devices: the Registry applies the merged set to
// the task's cgroup before the task exists (cgroups/devices.hpp) and releases it at cleanup,
// and the kernel keeps it across a berthd restart, so this isolator holds nothing of its own.
// Threading: under the Registry's lock.
#pragma once

#include "isolators/launch_only_isolator.hpp"

namespace berth::isolators {

class DevicesIsolator : public LaunchOnlyIsolator {
 public:
  std::string_view name() const override { return "devices"; }

 protected:
  Result<LaunchAdditions> additions(const ContainerId& id, const ContainerSpec& spec) override;
};

}  // namespace berth::isolators
