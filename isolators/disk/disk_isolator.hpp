// DiskIsolator ("disk/du"): what a task has written to its sandbox (work/, its /mnt/sandbox)
// and to its writable layer (overlay/upper/), counted in allocated blocks. The kernel has no
// event for this, so running tasks with `disk_mb` are measured about once a second (tick);
// over the limit is fatal (reason disk_limit). Logs are capped by log rotation, not counted here.
// Usage: used and limit bytes, io.pressure. Threading: under the Registry's lock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "isolators/isolator.hpp"

namespace berth::isolators {

// Bytes allocated under `dir` (files, dirs, symlinks; not following links or crossing
// mounts). A missing dir is 0.
Result<uint64_t> disk_usage(const std::string& dir);

class DiskIsolator : public Isolator {
 public:
  explicit DiskIsolator(int64_t check_every_ns = 1'000'000'000) : every_ns_(check_every_ns) {}
  std::string_view name() const override { return "disk/du"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Status isolate(const ContainerId&, pid_t, int64_t started_at_ns) override;
  Status check_update(const ContainerId&, const Resources&) override;
  Result<Undo> update(const ContainerId&, const Resources&) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;
  std::vector<ContainerLimitation> tick(int64_t now_ns) override;

 private:
  struct State {
    std::string sandbox_dir;
    std::shared_ptr<const cgroups::TaskCgroups> cgroups;  // for io.pressure
    std::optional<uint64_t> limit_bytes;
    int64_t checked_at_ns = 0;
    bool running = false;  // checked from isolate() on: a breach needs a task to kill
    bool reported = false;
  };
  Result<uint64_t> used(const State& s) const;
  int64_t every_ns_;
  std::map<ContainerId, State> tasks_;
};

}  // namespace berth::isolators
