// A watcher over the event files of many cgroups: memory.events (OOM kills, limit hits),
// pids.events (refused forks) and cgroup.events (populated/frozen). The kernel raises an
// inotify IN_MODIFY on these files whenever a counter or state in them changes, so the agent
// learns of a breach as it happens instead of polling.
//
// cgroup v1 has no memory.events: an OOM there is announced through an eventfd registered
// with cgroup.event_control against memory.oom_control, and reported as the same
// Change{key, kMemoryEvents} (memory::events() reads the v1 counters). v1 pids.events raises
// no inotify event at all (seen on 6.x kernels): v1 pids breaches are found by the agent's
// limit tick instead.
//
// Single-threaded and non-blocking: fd() is an epoll fd holding the inotify fd and every
// eventfd, to put into the agent's event loop (poll/epoll/sd-event, readable when changes are
// pending); read_changes() drains them and says
// which cgroup (by the caller's key) and which file changed. It reports *that* something
// changed; the caller re-reads the file (memory::events, ...) for the new values, so merged
// or lost notifications never lose a count.
// Removal: cgroupfs (kernfs) raises no inotify event when a cgroup is removed, and a watch
// pins its file's inode, so whoever removes a cgroup unwatch()es it too (before or after).
// The agent learns that a task has ended from cgroup.events ("populated 0"), which does fire.
// Only where files really disappear (a fake tree) is a `removed` Change reported, once per key.
// Not thread-safe: one owner, one thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::cgroups {

enum class EventFile { kCgroupEvents, kMemoryEvents, kPidsEvents };
const char* event_file_name(EventFile f);  // "cgroup.events", ...

struct Change {
  std::string key;  // as given to watch()
  EventFile file;
  bool removed = false;  // the files went away; no further changes come for this key
  bool operator==(const Change&) const = default;
};

class EventWatcher {
 public:
  static Result<EventWatcher> create();

  int fd() const { return epoll_.get(); }

  // Watches the event files of `cg` that exist (cgroup.events always; memory.events and
  // pids.events when those controllers are enabled). kAlreadyExists if `key` is watched.
  // Returns the files now watched.
  Result<std::vector<EventFile>> watch(const std::string& key, const Cgroup& cg);
  // The same for a task's cgroups: cgroup.events of the unified directory, memory and pids
  // events of the directories serving them (an eventfd for a v1 memory one).
  Result<std::vector<EventFile>> watch(const std::string& key, const TaskCgroups& task);
  // Stops watching `key`; unknown keys are fine.
  void unwatch(const std::string& key);
  bool watching(const std::string& key) const { return keys_.count(key) != 0; }

  // Every change since the last call, in the kernel's order, at most one per key and file
  // per call. Empty when nothing is pending; never blocks.
  Result<std::vector<Change>> read_changes();

 private:
  struct Target {
    std::string key;
    EventFile file;
  };
  struct OomEventFd {
    UniqueFd eventfd;
    UniqueFd oom_control;  // must stay open while the eventfd is registered
  };
  EventWatcher(UniqueFd inotify, UniqueFd epoll) : inotify_(std::move(inotify)), epoll_(std::move(epoll)) {}
  void forget(int wd, const std::string& key);
  Status add_inotify(const std::string& key, const Cgroup& cg, EventFile f);
  Status add_oom_eventfd(const std::string& key, const Cgroup& v1_memory);

  UniqueFd inotify_;
  UniqueFd epoll_;
  std::map<std::string, OomEventFd> oom_fds_;
  std::map<int, std::vector<Target>> by_wd_;  // one inode may be watched under several keys
  std::map<std::string, std::vector<int>> keys_;
};

}  // namespace berth::cgroups
