// ScopeGuard: runs an undo action when the scope ends unless dismissed at the commit point.
// Multi-step prepares stack these so a failure at step N undoes steps 1..N-1 in reverse.
#pragma once

#include <functional>
#include <utility>

namespace berth {

class ScopeGuard {
 public:
  explicit ScopeGuard(std::function<void()> undo) : undo_(std::move(undo)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (undo_) undo_();
  }
  void dismiss() { undo_ = nullptr; }

 private:
  std::function<void()> undo_;
};

}  // namespace berth
