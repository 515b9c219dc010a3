#include "isolators/userns/userns_isolator.hpp"

#include "common/fs.hpp"

namespace berth::isolators {

Result<std::unique_ptr<UserNamespaceIsolator>> UserNamespaceIsolator::create(const UserNamespaceConfig& config) {
  BERTH_TRY(IdRanges ranges, IdRanges::open(config));
  return std::unique_ptr<UserNamespaceIsolator>(new UserNamespaceIsolator(config, std::move(ranges)));
}

Status UserNamespaceIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) ids_.insert(s.id);
  // Tasks removed while berthd was down (their sandbox is gone) free their ranges now; every
  // checkpointed task, running or not, keeps its own.
  return ranges_.sweep();
}

Result<LaunchAdditions> UserNamespaceIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  LaunchAdditions a;
  if (spec.security.user_namespace.value_or(config_.default_on)) {
    BERTH_TRY(IdRange r, ranges_.acquire(id, spec.sandbox_dir));
    a.namespaces.push_back({"user", ""});
    a.uid_mappings.push_back({0, r.base, r.size});
    a.gid_mappings.push_back({0, r.base, r.size});
  }
  ids_.insert(id);
  return a;
}

Result<Usage> UserNamespaceIsolator::usage(const ContainerId& id) {
  if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  return Usage{};
}

Status UserNamespaceIsolator::cleanup(const ContainerId& id) {
  ids_.erase(id);
  auto range = ranges_.held(id);
  if (!range) return ok();
  // Cleanup runs at the task's exit; its files stay in its sandbox until it is removed, and
  // they belong to the range: it stays held until then (the next acquire or start sweeps).
  return ranges_.sweep();
}

}  // namespace berth::isolators
