// Trash: removes trees a task may have filled (sandboxes: a 25,000-deep chain, millions of
// files) without holding up whoever asked. discard() renames the tree into
// <state_dir>/trash/<label>-<n> in one renameat2 on the same file system, so it disappears
// from its place at once and is never seen half-deleted there; the removal itself runs on
// Trash's own worker thread (not the Supervisor's, so exit cleanups never wait behind a huge
// tree). resume() queues whatever an earlier berthd left in the trash.
//
// Invariants: only trash/ is ever removed in the background; a tree on another file system
// than trash/ (EXDEV) is removed in place, by the caller's thread, never copied. On shutdown the removal in progress finishes
// and the rest stays in trash/ for the next start.
//
// Threading: discard() and resume() from any thread; removals run one at a time on the worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "agent/worker.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::agent {

class Trash {
 public:
  // Creates (0700) and opens `dir`, which must be on the file system of what is discarded.
  static Result<std::unique_ptr<Trash>> open(const std::string& dir);
  ~Trash();

  // Moves `path` into the trash and queues its removal. A missing `path` is fine (nothing to
  // do). `label` names the entry (e.g. the task id), for the operator looking at trash/.
  Status discard(const std::string& path, const std::string& label);
  // Queues the removal of every entry in the trash (left by an earlier berthd).
  Status resume();

  const std::string& dir() const { return dir_; }

 private:
  Trash(std::string dir, UniqueFd fd) : dir_(std::move(dir)), fd_(std::move(fd)) {}
  void queue_removal(const std::string& name);

  std::string dir_;
  UniqueFd fd_;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> stopping_{false};
  Worker worker_;  // last: joined before the members above go
};

}  // namespace berth::agent
