// PidsIsolator ("cgroups/pids"): pids.max from `pids`. A fork refused at the cap is counted
// in pids.events; each rise is reported as a pids_limit event (at most one a second per task,
// so a fork bomb does not flood the event stream), fatal only with "kill_on": ["pids"].
// Usage: pids.current, pids.max, pids.events. Threading: under the Registry's lock.
#pragma once

#include <cstdint>

#include "isolators/cgroup_table.hpp"
#include "isolators/isolator.hpp"

namespace berth::isolators {

class PidsIsolator : public Isolator {
 public:
  explicit PidsIsolator(bool controller) : controller_(controller) {}
  std::string_view name() const override { return "cgroups/pids"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Status check_update(const ContainerId&, const Resources&) override;
  Result<Undo> update(const ContainerId&, const Resources&) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;
  std::vector<Limitation> on_event(const ContainerId&, cgroups::EventFile) override;
  // cgroup v1's pids.events raises no inotify event: every tick re-reads the counter (a no-op
  // where nothing changed, so it costs v2 one small read per task).
  std::vector<ContainerLimitation> tick(int64_t now_ns) override;

 private:
  struct State {
    bool fatal = false;
    uint64_t seen = 0;            // pids.events "max" last reported
    int64_t reported_at_ns = 0;   // when the last event went out
    bool killed = false;
  };
  bool controller_;
  CgroupTable<State> table_;
};

}  // namespace berth::isolators
