#include "isolators/memory/memory_isolator.hpp"

#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"
#include <sys/stat.h>

namespace berth::isolators {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

bool has_file(const cgroups::Cgroup& cg, const char* file) {
  struct stat st {};
  return ::fstatat(cg.fd(), file, &st, 0) == 0;
}

}  // namespace

Status MemoryIsolator::apply(const cgroups::Cgroup& cg, const Resources& r, bool initial) const {
  bool asked = r.memory_mb || r.memory_high_mb || r.memory_swap_mb;
  if (!asked) return ok();
  if (!controller_) return make_error(Code::kFailedPrecondition, "the memory controller is not available");
  if (r.memory_high_mb) BERTH_CHECK(cgroups::memory::set_high(cg, *r.memory_high_mb * kMiB));
  if (r.memory_mb) BERTH_CHECK(cgroups::memory::set_max(cg, *r.memory_mb * kMiB));
  // Without swap accounting (no memory.swap.max) there is no swap to limit.
  if (has_file(cg, "memory.swap.max")) {
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
  std::vector<std::string> files;
  if (r.memory_high_mb) files.push_back("memory.high");
  if (r.memory_mb) files.push_back("memory.max");
  if (r.memory_swap_mb && has_file(e->cg(), "memory.swap.max")) files.push_back("memory.swap.max");
  BERTH_TRY(Undo undo, snapshot_files(e->task, e->cg(), files));
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
                                     cgroups::pressure::read(e->cg(), cgroups::pressure::Resource::kMemory)));
  return u;
}

Status MemoryIsolator::cleanup(const ContainerId& id) {
  table_.erase(id);
  return ok();
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
  std::string at = limit && *limit ? " at memory.max " + std::to_string(**limit / kMiB) + " MiB" : "";
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
