// LaunchOnlyIsolator: the base of isolators that only add to the launch (namespaces, mounts,
// masked paths) and hold no kernel state of their own. It keeps the prepared ids so the
// isolator contract holds (usage of an unknown id is kNotFound, cleanup is idempotent,
// recover re-adopts); a subclass writes name() and additions().
// Threading: under the Registry's lock.
#pragma once

#include <set>

#include "isolators/isolator.hpp"

namespace berth::isolators {

class LaunchOnlyIsolator : public Isolator {
 public:
  Status recover(std::span<const ContainerState> known) override {
    for (const auto& s : known) ids_.insert(s.id);
    return ok();
  }
  Result<LaunchAdditions> prepare(const ContainerId& id, const ContainerSpec& spec) override {
    BERTH_TRY(LaunchAdditions a, additions(id, spec));
    ids_.insert(id);
    return a;
  }
  Result<Usage> usage(const ContainerId& id) override {
    if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
    return Usage{};
  }
  Status cleanup(const ContainerId& id) override {
    ids_.erase(id);
    return ok();
  }

 protected:
  virtual Result<LaunchAdditions> additions(const ContainerId& id, const ContainerSpec& spec) = 0;

 private:
  std::set<ContainerId> ids_;
};

}  // namespace berth::isolators
