// Walking trees that a task, an image or a client controls: their depth and width are theirs
// to choose (a 200,000-deep chain, millions of entries), so nothing here recurses, builds a
// path string per level or grows with the tree beyond what the walk's budget allows.
//
//  - fs::remove_tree_at (declared in common/fs.hpp) empties a tree by descend-then-climb: in
//    each directory it unlinks what it can, descends into the first non-empty subdirectory and,
//    once a directory is empty, climbs back and rescans the parent (which now removes the
//    emptied child). It holds at most kMaxHeldFds directory fds; above those it climbs through
//    ".." (openat on the dir fd, checked to stay on the same mount). Memory: O(1) in depth and
//    width.
//  - walk_tree_at visits every entry once, in the same way but remembering where it was in each
//    directory (an 8-byte getdents offset per level, the fd only for the kMaxHeldFds deepest),
//    and stops at its budget (entries, time, or a cancel flag), saying which one it hit.
// Neither follows a symlink or enters another mount (same st_dev and mount id).
// Threading: no shared state; thread-safe. A tree mutated while it is walked is walked as it
// is met; removal then fails rather than loop ("keeps changing").
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace berth::fs {

constexpr size_t kMaxHeldFds = 32;

struct WalkBudget {
  uint64_t max_entries = 10'000'000;
  int64_t max_ms = 30'000;
  const std::atomic<bool>* cancel = nullptr;  // checked as often as the clock
};

enum class WalkStop { kComplete, kEntryBudget, kTimeBudget, kCancelled };

struct WalkTotals {
  uint64_t entries = 0;
  WalkStop stop = WalkStop::kComplete;
  // "" when complete; otherwise which budget ended the walk, with its value.
  std::string stop_reason(const WalkBudget& budget) const;
};

// Calls on_entry for dirfd/name itself and every entry below it (lstat results), not
// following symlinks nor entering other mounts. A missing dirfd/name is an empty walk.
Result<WalkTotals> walk_tree_at(int dirfd, const std::string& name, const WalkBudget& budget,
                                const std::function<void(const struct stat&)>& on_entry);

}  // namespace berth::fs
