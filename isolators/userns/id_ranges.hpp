// IdRanges: the host uid/gid ranges that task user namespaces map to, handed out from the
// node's pool (config "userns": {"pool": "A-B", "range_size": N}) in slots of range_size ids.
// Invariants:
//  - a range is never handed out twice: no two held ranges overlap, also across a berthd
//    restart (the table is written to the state file, atomically, before acquire returns)
//    and across a pool change (a range held under the old config still blocks its ids);
//  - a range is held while its holder path (the task's sandbox dir, where its files belong to
//    the range) exists; sweep() frees ranges whose holder is gone, so a task removed while
//    berthd was down is freed at the next start, and a checkpointed task keeps its range;
//  - an unreadable state file is an error, never an empty table (that could hand a held
//    range out again).
// Threading: not synchronised; the user-namespace isolator calls it under the Registry's lock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::isolators {

struct UserNamespaceConfig {
  bool default_on = false;            // tasks that do not say get a user namespace
  uint64_t pool_start = 1000000000;   // first host id of the pool
  uint64_t pool_count = 1000000000;   // ids in the pool
  uint64_t range_size = 65536;        // ids per task
  std::string state_file;             // "" = in memory only (tests)
};

struct IdRange {
  uint32_t base = 0;
  uint32_t size = 0;
  bool operator==(const IdRange&) const = default;
};

class IdRanges {
 public:
  // Loads the state file (a missing one is an empty table).
  static Result<IdRanges> open(const UserNamespaceConfig& config);

  // The range held for `owner`, or the lowest free slot of the pool, recorded with
  // `holder_path`. kUnavailable when the pool has no free slot (after a sweep).
  Result<IdRange> acquire(const std::string& owner, const std::string& holder_path);
  std::optional<IdRange> held(const std::string& owner) const;
  // Frees `owner`'s range (none held: ok).
  Status release(const std::string& owner);
  // Frees the ranges whose holder path no longer exists.
  Status sweep();
  size_t held_count() const { return by_owner_.size(); }

 private:
  struct Held {
    IdRange range;
    std::string holder;
  };
  explicit IdRanges(UserNamespaceConfig config) : config_(std::move(config)) {}
  Status load();
  Status save() const;
  std::optional<uint32_t> free_slot() const;

  UserNamespaceConfig config_;
  std::map<std::string, Held> by_owner_;
};

}  // namespace berth::isolators
