// Isolator: one kind of limit on a task (cpu, memory, pids, disk, max_runtime), with the
// Mesos-style lifecycle: recover after a berthd restart, prepare before the task exists (the
// shim clones the task straight into its cgroup, so limits are in place before its first
// instruction), isolate once it runs, update live, report usage, cleanup at the end.
//
// Contract (checked by tests/isolators/conformance_test.cpp for every isolator):
//  - cleanup(id) for an id never prepared, or already cleaned up, is ok and does nothing;
//  - prepare then cleanup leaves no state behind (a later usage(id) is kNotFound);
//  - recover(known) re-adopts running tasks so update/usage/cleanup work as before the restart.
// Breaches are not polled by callers: an isolator turns a cgroup event (memory.events,
// pids.events) or a tick into a Limitation, returned to the Registry, which hands it to the
// agent on the event loop.
//
// Threading: an isolator is called only by its Registry, under the Registry's lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/events.hpp"
#include "cgroups/stats.hpp"
#include "common/result.hpp"
#include "isolators/resources.hpp"

namespace berth::isolators {

using ContainerId = std::string;

// What an isolator needs to know about a task.
struct ContainerSpec {
  Resources resources;
  Policy policy;
  std::string cgroup;       // the task's cgroup directory (exists before prepare)
  std::string sandbox_dir;  // work/ and overlay/upper/ are what disk_mb counts
};

// A task known from its checkpoint, for recover().
struct ContainerState {
  ContainerId id;
  ContainerSpec spec;
  int64_t started_at_ns = 0;  // 0 when it never ran
};

// A breach. `reason` is the termination reason when fatal (memory_limit, pids_limit,
// disk_limit, max_runtime) or the event's name when not (memory_oom, pids_limit).
struct Limitation {
  std::string resource;  // "memory", "pids", "disk", "max_runtime"
  std::string reason;
  bool fatal = false;
  std::string message;
};

struct ContainerLimitation {
  ContainerId id;
  Limitation limitation;
};

// Usage: what the kernel counts (a cgroups::Stats, each isolator filling its own part) plus
// what berth measures itself.
struct Usage {
  cgroups::Stats cgroup;
  std::optional<uint64_t> disk_used_bytes;
  std::optional<uint64_t> disk_limit_bytes;
  std::optional<int64_t> runtime_s;
  std::optional<uint64_t> max_runtime_s;
};
// Copies the fields `from` has into `into`.
void merge(Usage& into, const Usage& from);

// Nothing for the launch to add yet (the cgroup is the only handle); kept so isolators that
// need mounts or env (network, filesystem) slot in without changing the interface.
struct LaunchAdditions {};

class Isolator {
 public:
  virtual ~Isolator() = default;
  virtual std::string_view name() const = 0;  // "cgroups/memory"
  virtual Status recover(std::span<const ContainerState> known) {
    (void)known;
    return ok();
  }
  virtual Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) = 0;
  virtual Status isolate(const ContainerId&, pid_t, int64_t /*started_at_ns*/) { return ok(); }
  virtual Status update(const ContainerId&, const Resources&) { return ok(); }
  virtual Result<Usage> usage(const ContainerId&) = 0;
  virtual Status cleanup(const ContainerId&) = 0;  // unknown id: ok; once; after prepare

  // A watched cgroup event file of `id` changed; returns the breaches it shows.
  virtual std::vector<Limitation> on_event(const ContainerId&, cgroups::EventFile) { return {}; }
  // Called a few times a second (every 250 ms); returns the breaches found (time- and
  // space-based limits, which have no kernel event).
  virtual std::vector<ContainerLimitation> tick(int64_t now_ns) {
    (void)now_ns;
    return {};
  }
};

}  // namespace berth::isolators
