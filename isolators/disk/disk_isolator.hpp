// DiskIsolator ("disk/du"): what a task has written to its sandbox (work/, its /mnt/sandbox)
// and to its writable layer (overlay/upper/), counted in allocated blocks. The kernel has no
// event for this (and this host's ext4 has no project quotas), so a worker thread walks those
// trees: running tasks with `disk_mb` about once a second, others when their usage is asked
// for. Each walk is iterative and has a budget (entries and time, fs::WalkBudget): a task's
// tree costs the worker time, never berthd's stack or memory.
// Over the limit is fatal (reason disk_limit); a walk stopped by its budget under the limit is
// reported once, not fatal (reason disk_unmeasured, naming the budget).
// Logs are capped by log rotation, not counted here.
// Usage: the last measurement (none before the first walk ends), limit, io.pressure.
// Threading: the Isolator methods run under the Registry's lock and never walk: tick() and
// usage() only read the last measurement. The worker holds `mu_` only to pick a task and to
// store its result, never while walking; cleanup cancels a walk of its task.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "common/tree.hpp"
#include "isolators/isolator.hpp"

namespace berth::isolators {

struct DiskUsage {
  uint64_t bytes = 0;          // a lower bound when `stop` is not kComplete
  uint64_t entries = 0;
  fs::WalkStop stop = fs::WalkStop::kComplete;
  std::string stop_reason;     // "" when complete
};

// Bytes allocated under `dir` (files, dirs, symlinks; not following links or crossing
// mounts), within `budget`. A missing dir is 0.
Result<DiskUsage> disk_usage(const std::string& dir, const fs::WalkBudget& budget = {});

class DiskIsolator : public Isolator {
 public:
  explicit DiskIsolator(int64_t check_every_ns = 1'000'000'000, fs::WalkBudget budget = {});
  ~DiskIsolator() override;
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
  struct State {  // the Registry's view, under its lock
    std::shared_ptr<const cgroups::TaskCgroups> cgroups;  // for io.pressure
    std::optional<uint64_t> limit_bytes;
    bool running = false;  // checked from isolate() on: a breach needs a task to kill
    bool reported = false;
    bool unmeasured_reported = false;
  };
  struct Target {  // the worker's view, under mu_
    std::string sandbox_dir;
    bool periodic = false;   // running with a limit
    bool requested = false;  // usage() asked; measure once soon
    int64_t measured_at_ms = 0;
    std::optional<DiskUsage> last;
  };
  void set_target(const ContainerId& id, const std::string& sandbox_dir, const State& s);
  std::optional<DiskUsage> last_of(const ContainerId& id, bool request);
  void run_worker();
  DiskUsage measure(const std::string& sandbox_dir);

  int64_t every_ms_;
  fs::WalkBudget budget_;
  std::map<ContainerId, State> tasks_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::map<ContainerId, Target> targets_;
  ContainerId walking_;  // the task being walked, "" when none
  std::atomic<bool> cancel_walk_{false};
  bool stop_ = false;
  std::thread worker_;  // last: started once everything above exists
};

}  // namespace berth::isolators
