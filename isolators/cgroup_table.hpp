// CgroupTable<S>: the per-task state of a cgroup isolator — the task's cgroups (shared with
// their owner, cgroups::TaskCgroups, which the agent created) and whatever the isolator
// remembers (S) — keyed by container id. An entry also names the directory that holds the
// isolator's controller, so the isolator never knows which hierarchy that is (v2 or v1).
// prepare() and recover() adopt a task the same way. Not thread-safe (isolators run under the
// Registry's lock).
//
// snapshot_files(): what an isolator's update() returns as its Undo — the current text of
// the files it is about to write, written back on undo.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"
#include "isolators/isolator.hpp"

namespace berth::isolators {

template <typename S>
class CgroupTable {
 public:
  struct Entry {
    std::shared_ptr<const cgroups::TaskCgroups> task;
    const cgroups::Cgroup* dir;  // task->for_controller(controller), owned by task
    S state;
    const cgroups::Cgroup& cg() const { return *dir; }
  };

  // Records `task` under `id` (replacing an older entry), for the isolator of `controller`.
  Result<Entry*> adopt(const std::string& id, std::shared_ptr<const cgroups::TaskCgroups> task,
                       std::string_view controller, S state) {
    if (!task) return make_error(Code::kFailedPrecondition, "task '" + id + "' has no cgroup");
    const cgroups::Cgroup* dir = &task->for_controller(controller);
    entries_.erase(id);
    auto [it, inserted] = entries_.emplace(id, Entry{std::move(task), dir, std::move(state)});
    (void)inserted;
    return &it->second;
  }
  Entry* find(const std::string& id) {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  Result<Entry*> get(const std::string& id) {
    if (Entry* e = find(id)) return e;
    return make_error(Code::kNotFound, "no task '" + id + "'");
  }
  void erase(const std::string& id) { entries_.erase(id); }
  std::map<std::string, Entry>& all() { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

// Reads `files` of `dir` now; the Undo writes that text back (every file, reporting the first
// failure). `task` keeps the directory open for as long as the Undo lives.
inline Result<Undo> snapshot_files(std::shared_ptr<const cgroups::TaskCgroups> task, const cgroups::Cgroup& dir,
                                   const std::vector<std::string>& files) {
  std::vector<std::pair<std::string, std::string>> saved;
  for (const auto& f : files) {
    BERTH_TRY(std::string text, dir.read(f));
    while (!text.empty() && text.back() == '\n') text.pop_back();
    saved.emplace_back(f, std::move(text));
  }
  return Undo([task = std::move(task), d = &dir, saved = std::move(saved)]() -> Status {
    Status first = ok();
    for (const auto& [f, text] : saved) {
      auto st = d->write(f, text);
      if (!st && first) first = std::move(st);
    }
    return first;
  });
}

}  // namespace berth::isolators
