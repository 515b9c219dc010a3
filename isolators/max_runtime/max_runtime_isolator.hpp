// MaxRuntimeIsolator ("max_runtime"): a task with max_runtime_s is killed that long after it
// started (reason max_runtime), checked on the Registry's tick (a few times a second), so the
// kill comes within a tick of the deadline. After a berthd restart the deadline counts from
// the task's recorded start, not from the restart.
// Usage: runtime and the limit. Threading: under the Registry's lock.
#pragma once

#include <map>
#include <optional>

#include "isolators/isolator.hpp"

namespace berth::isolators {

class MaxRuntimeIsolator : public Isolator {
 public:
  std::string_view name() const override { return "max_runtime"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Status isolate(const ContainerId&, pid_t, int64_t started_at_ns) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;
  std::vector<ContainerLimitation> tick(int64_t now_ns) override;

 private:
  struct State {
    std::optional<uint64_t> limit_s;
    int64_t started_at_ns = 0;
    bool reported = false;
  };
  std::map<ContainerId, State> tasks_;
};

}  // namespace berth::isolators
