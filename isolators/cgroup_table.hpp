// CgroupTable<S>: the per-task state of a cgroup isolator — the task's cgroup (a dir fd) and
// whatever the isolator remembers (S) — keyed by container id. Open-by-path is the only way
// in, so prepare() and recover() adopt a task the same way. Not thread-safe (isolators run
// under the Registry's lock).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"

namespace berth::isolators {

template <typename S>
class CgroupTable {
 public:
  struct Entry {
    cgroups::Cgroup cg;
    S state;
  };

  // Opens `path` and records it under `id` (replacing an older entry).
  Result<Entry*> adopt(const std::string& id, const std::string& path, S state) {
    BERTH_TRY(cgroups::Cgroup cg, cgroups::Cgroup::open(path));
    entries_.erase(id);
    auto [it, inserted] = entries_.emplace(id, Entry{std::move(cg), std::move(state)});
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

}  // namespace berth::isolators
