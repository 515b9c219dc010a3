#include "isolators/max_runtime/max_runtime_isolator.hpp"

#include "common/clock.hpp"

namespace berth::isolators {

Status MaxRuntimeIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) tasks_[s.id] = State{s.spec.policy.max_runtime_s, s.started_at_ns};
  return ok();
}

Result<LaunchAdditions> MaxRuntimeIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  tasks_[id] = State{spec.policy.max_runtime_s, 0};
  return LaunchAdditions{};
}

Status MaxRuntimeIsolator::isolate(const ContainerId& id, pid_t, int64_t started_at_ns) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  it->second.started_at_ns = started_at_ns;
  return ok();
}

Result<Usage> MaxRuntimeIsolator::usage(const ContainerId& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  Usage u;
  if (it->second.started_at_ns) u.runtime_s = (now_ns() - it->second.started_at_ns) / 1'000'000'000;
  u.max_runtime_s = it->second.limit_s;
  return u;
}

Status MaxRuntimeIsolator::cleanup(const ContainerId& id) {
  tasks_.erase(id);
  return ok();
}

std::vector<ContainerLimitation> MaxRuntimeIsolator::tick(int64_t now) {
  std::vector<ContainerLimitation> out;
  for (auto& [id, s] : tasks_) {
    if (!s.limit_s || !s.started_at_ns || s.reported) continue;
    if (now - s.started_at_ns < static_cast<int64_t>(*s.limit_s) * 1'000'000'000) continue;
    s.reported = true;
    out.push_back({id, Limitation{"max_runtime", "max_runtime", true,
                                  "the task ran for its max_runtime_s of " + std::to_string(*s.limit_s) + " s"}});
  }
  return out;
}

}  // namespace berth::isolators
