#include "isolators/memory/memory_isolator.hpp"

#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"

namespace berth::isolators {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

}  // namespace

Status MemoryIsolator::apply(const cgroups::Cgroup& cg, const Resources& r, bool initial) const {
  bool asked = r.memory_mb || r.memory_high_mb || r.memory_swap_mb;
  if (!asked) return ok();
  if (!controller_) return make_error(Code::kFailedPrecondition, "the memory controller is not available");
  if (r.memory_high_mb) BERTH_CHECK(cgroups::memory::set_high(cg, *r.memory_high_mb * kMiB));
  if (r.memory_mb) BERTH_CHECK(cgroups::memory::set_max(cg, *r.memory_mb * kMiB));
  // Without swap accounting there is no swap to limit (/v1/info says so).
  if (cgroups::memory::can_limit_swap(cg)) {
    if (r.memory_swap_mb) {
      BERTH_CHECK(cgroups::memory::set_swap_max(cg, *r.memory_swap_mb * kMiB));
    } else if (initial && r.memory_mb) {
      BERTH_CHECK(cgroups::memory::set_swap_max(cg, uint64_t{0}));
    }
  }
  return ok();
}

Status MemoryIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) {
    auto e = table_.adopt(s.id, s.spec.cgroups, "memory", State{s.spec.policy.oom_group, {}});
    // Counts from before the restart are not news; the termination record reads them anyway.
    if (e && controller_) {
      if (auto ev = cgroups::memory::events((*e)->cg())) (*e)->state.seen = *ev;
    }
  }
  return ok();
}

Result<LaunchAdditions> MemoryIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(auto* e, table_.adopt(id, spec.cgroups, "memory", State{spec.policy.oom_group, {}}));
  if (controller_) BERTH_CHECK(cgroups::memory::set_oom_group(e->cg(), spec.policy.oom_group));
  BERTH_CHECK(apply(e->cg(), spec.resources, true));
  return LaunchAdditions{};
}

Status MemoryIsolator::check_update(const ContainerId& id, const Resources& r) {
  BERTH_TRY(auto* e, table_.get(id));
  (void)e;
  bool asked = r.memory_mb || r.memory_high_mb || r.memory_swap_mb;
  if (asked && !controller_) return make_error(Code::kFailedPrecondition, "the memory controller is not available");
  return ok();
}

Result<Undo> MemoryIsolator::update(const ContainerId& id, const Resources& r) {
  BERTH_CHECK(check_update(id, r));
  BERTH_TRY(auto* e, table_.get(id));
  // The undo sets the old limits back through memory::, which keeps the files' ordering
  // rules (on v1 memsw must stay >= the limit, so raw text written back in a fixed order
  // could be refused).
  BERTH_TRY(cgroups::Limit old_high, cgroups::memory::high(e->cg()));
  BERTH_TRY(cgroups::Limit old_max, cgroups::memory::max(e->cg()));
  std::optional<cgroups::Limit> old_swap;
  if (cgroups::memory::can_limit_swap(e->cg())) {
    BERTH_TRY(old_swap, cgroups::memory::swap_max(e->cg()));
  }
  Undo undo = [task = e->task, dir = e->dir, old_high, old_max, old_swap]() -> Status {
    BERTH_CHECK(cgroups::memory::set_high(*dir, old_high));
    BERTH_CHECK(cgroups::memory::set_max(*dir, old_max));
    if (old_swap) BERTH_CHECK(cgroups::memory::set_swap_max(*dir, *old_swap));
    return ok();
  };
  if (auto applied = apply(e->cg(), r, false); !applied) {
    (void)undo();
    return std::move(applied).error();
  }
  return undo;
}

Result<Usage> MemoryIsolator::usage(const ContainerId& id) {
  BERTH_TRY(auto* e, table_.get(id));
  Usage u;
  cgroups::Stats& s = u.cgroup;
  if (controller_) {
    BERTH_CHECK(cgroups::read_optional(s.memory_current, cgroups::memory::current(e->cg())));
    BERTH_CHECK(cgroups::read_optional(s.memory_peak, cgroups::memory::peak(e->cg())));
    BERTH_CHECK(cgroups::read_optional(s.memory_max, cgroups::memory::max(e->cg())));
    BERTH_CHECK(cgroups::read_optional(s.memory_high, cgroups::memory::high(e->cg())));
    BERTH_CHECK(cgroups::read_optional(s.memory_swap_max, cgroups::memory::swap_max(e->cg())));
    BERTH_CHECK(cgroups::read_optional(s.memory_events, cgroups::memory::events(e->cg())));
  }
  BERTH_CHECK(cgroups::read_optional(s.memory_pressure,
                                     cgroups::pressure::read(e->task->unified(), cgroups::pressure::Resource::kMemory)));
  return u;
}

Status MemoryIsolator::cleanup(const ContainerId& id) {
  table_.erase(id);
  return ok();
}

std::vector<ContainerLimitation> MemoryIsolator::tick(int64_t now_ns) {
  (void)now_ns;
  std::vector<ContainerLimitation> out;
  if (!controller_) return out;
  for (auto& [id, e] : table_.all())
    for (auto& l : on_event(id, cgroups::EventFile::kMemoryEvents)) out.push_back({id, std::move(l)});
  return out;
}

std::vector<Limitation> MemoryIsolator::on_event(const ContainerId& id, cgroups::EventFile file) {
  std::vector<Limitation> out;
  if (file != cgroups::EventFile::kMemoryEvents) return out;
  auto* e = table_.find(id);
  if (!e) return out;
  auto ev = cgroups::memory::events(e->cg());
  if (!ev) return out;
  const auto before = e->state.seen;
  e->state.seen = *ev;
  uint64_t kills = ev->oom_kill - std::min(ev->oom_kill, before.oom_kill);
  uint64_t group_kills = ev->oom_group_kill - std::min(ev->oom_group_kill, before.oom_group_kill);
  auto limit = cgroups::memory::max(e->cg());
  std::string at = limit && *limit ? " at its memory limit of " + std::to_string(**limit / kMiB) + " MiB" : "";
  if (group_kills > 0 || (kills > 0 && e->state.oom_group)) {
    out.push_back(Limitation{"memory", "memory_limit", true,
                             "the task ran out of memory" + at + "; the OOM killer stopped all of it"});
  } else if (kills > 0) {
    out.push_back(Limitation{"memory", "memory_oom", false,
                             "the OOM killer killed " + std::to_string(kills) + " process(es) of the task" + at +
                                 " (oom: process; the task goes on)"});
  }
  return out;
}

}  // namespace berth::isolators
