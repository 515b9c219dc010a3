// Registry: the ordered table of isolators berthd runs for every task. prepare() runs them in
// order, merges their LaunchAdditions (rules in launch_additions.hpp) and returns the result
// for translate(); it confines the task's cgroup to the merged device rules
// (cgroups/devices.hpp) before the task exists; if one fails, or the merge finds a conflict,
// or the device rules cannot be applied, it cleans up those already prepared in reverse. cleanup() runs them in reverse, always all of them, and is idempotent and fine for
// unknown ids. update() is all or nothing: every isolator checks the update first, then each
// applies it; if one still fails, the ones before it are undone (their previous values
// written back) in reverse.
//
// It also owns the EventWatcher over the tasks' cgroup event files (memory.events,
// pids.events, cgroup.events): the agent puts fd() into its event loop and calls
// dispatch_events() when it is readable, and tick() every 250 ms; both return the
// breaches found, which the caller acts on (kill, record, announce) after the Registry's lock
// is released, so the caller may call back into the Registry.
//
// Threading: every public method takes the Registry's lock, so API threads (prepare, update,
// usage) and the loop thread (dispatch_events, tick, cleanup) may call concurrently.
// Isolators themselves run only under that lock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cgroups/events.hpp"
#include "isolators/isolator.hpp"
#include "isolators/userns/id_ranges.hpp"

namespace berth::isolators {

class Registry {
 public:
  // The standard table for a node whose task cgroups can use `controllers`: namespaces,
  // security/userns, network (with the node's `network` config), filesystem/sandbox, cpu, memory,
  // pids, disk, max_runtime, devices. The only list of isolators.
  static Result<std::unique_ptr<Registry>> create_default(const std::set<std::string>& controllers,
                                                          const NetworkConfig& network = {},
                                                          const UserNamespaceConfig& userns = {});
  static Result<std::unique_ptr<Registry>> create(std::vector<std::unique_ptr<Isolator>> isolators);

  int fd() const { return watcher_.fd(); }
  std::vector<std::string> names() const;

  Status recover(std::span<const ContainerState> known);
  Result<LaunchAdditions> prepare(const ContainerId& id, const ContainerSpec& spec);
  Status ready(const ContainerId& id);  // every isolator's ready(), in table order
  Status isolate(const ContainerId& id, pid_t pid, int64_t started_at_ns);
  Status update(const ContainerId& id, const Resources& resources);
  Result<Usage> usage(const ContainerId& id);
  Status cleanup(const ContainerId& id);

  std::vector<ContainerLimitation> dispatch_events();
  std::vector<ContainerLimitation> tick(int64_t now_ns);

 private:
  Registry(std::vector<std::unique_ptr<Isolator>> isolators, cgroups::EventWatcher watcher)
      : isolators_(std::move(isolators)), watcher_(std::move(watcher)) {}
  Status cleanup_locked(const ContainerId& id, size_t prepared);
  Status release_devices_locked(const cgroups::TaskCgroups& task);
  void watch_locked(const ContainerId& id, const ContainerSpec& spec);
  Result<LaunchAdditions> prepare_all_locked(const ContainerId& id, const ContainerSpec& spec, size_t* prepared);

  std::mutex mu_;
  std::vector<std::unique_ptr<Isolator>> isolators_;
  cgroups::EventWatcher watcher_;
  std::set<ContainerId> known_;
  // Tasks whose cgroups hold device rules (or may, after recover): released at cleanup.
  std::map<ContainerId, std::shared_ptr<const cgroups::TaskCgroups>> confined_;
};

}  // namespace berth::isolators
