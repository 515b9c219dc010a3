// MemoryIsolator ("cgroups/memory"): memory.max from memory_mb, memory.high and
// memory.swap.max when asked (swap.max 0 when only memory_mb is given, so the limit is the
// task's real footprint), and memory.oom.group from the policy: "group" (default) makes an
// OOM kill take the whole task, "process" only the offending process.
// Breaches come from memory.events: a group OOM kill is fatal (reason memory_limit); an OOM
// kill of one process under "process" is reported as a non-fatal memory_oom event.
// Usage: memory.current/peak/events, the limits as the kernel has them, memory.pressure.
// Threading: under the Registry's lock.
#pragma once

#include "cgroups/memory.hpp"
#include "isolators/cgroup_table.hpp"
#include "isolators/isolator.hpp"

namespace berth::isolators {

class MemoryIsolator : public Isolator {
 public:
  explicit MemoryIsolator(bool controller) : controller_(controller) {}
  std::string_view name() const override { return "cgroups/memory"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Status check_update(const ContainerId&, const Resources&) override;
  Result<Undo> update(const ContainerId&, const Resources&) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;
  std::vector<Limitation> on_event(const ContainerId&, cgroups::EventFile) override;
  // A cgroup v1 OOM notification comes before the kill is counted: every tick re-reads the
  // counters (a no-op where nothing changed).
  std::vector<ContainerLimitation> tick(int64_t now_ns) override;

 private:
  struct State {
    bool oom_group = true;
    cgroups::memory::Events seen;
  };
  Status apply(const cgroups::Cgroup& cg, const Resources& r, bool initial) const;
  bool controller_;
  CgroupTable<State> table_;
};

}  // namespace berth::isolators
