// UserNamespaceIsolator ("security/userns"): a task with "security": {"user_namespace": true}
// (or every task, where the node's config makes it the default) gets a new user namespace
// whose root is the first id of a host range of its own (IdRanges), with uid and gid maps
// over the whole range. The launcher creates the task's other namespaces owned by it and
// builds the root from idmapped layers (sandbox/idmap.hpp); the agent gives the task's own
// dirs (overlay upper, /mnt/sandbox) to the range.
// The range is held as long as the task's sandbox dir exists (until the task is removed, not
// only until it exits: its files on disk belong to the range) and survives a berthd restart.
// Threading: under the Registry's lock.
#pragma once

#include <set>

#include "isolators/isolator.hpp"
#include "isolators/userns/id_ranges.hpp"

namespace berth::isolators {

class UserNamespaceIsolator : public Isolator {
 public:
  static Result<std::unique_ptr<UserNamespaceIsolator>> create(const UserNamespaceConfig& config);

  std::string_view name() const override { return "security/userns"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override;
  Result<Usage> usage(const ContainerId&) override;
  Status cleanup(const ContainerId&) override;

 private:
  UserNamespaceIsolator(UserNamespaceConfig config, IdRanges ranges)
      : config_(std::move(config)), ranges_(std::move(ranges)) {}

  UserNamespaceConfig config_;
  IdRanges ranges_;
  std::set<ContainerId> ids_;
};

}  // namespace berth::isolators
