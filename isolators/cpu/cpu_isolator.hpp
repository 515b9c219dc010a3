// CpuIsolator ("cgroups/cpu"): `cpus` becomes cpu.max (quota per 100 ms period, so a busy
// task gets at most that share of wall time) and cpu.weight proportional to it (so tasks
// contending for the same CPUs share by allocation); `cpuset` pins the task to CPUs.
// Usage: cpu.stat (usage, throttling), the limits as the kernel has them, cpu.pressure.
// cpu.stat exists without the cpu controller, so usage works on every host.
// Threading: under the Registry's lock.
#pragma once

#include "isolators/cgroup_table.hpp"
#include "isolators/isolator.hpp"

namespace berth::isolators {

class CpuIsolator : public Isolator {
 public:
  CpuIsolator(bool cpu_controller, bool cpuset_controller)
      : cpu_(cpu_controller), cpuset_(cpuset_controller) {}
  std::string_view name() const override { return "cgroups/cpu"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Status check_update(const ContainerId&, const Resources&) override;
  Result<Undo> update(const ContainerId&, const Resources&) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;

 private:
  Status apply(const cgroups::TaskCgroups& task, const Resources& r) const;
  struct State {};
  bool cpu_;
  bool cpuset_;
  CgroupTable<State> table_;
};

}  // namespace berth::isolators
