#include "isolators/pids/pids_isolator.hpp"

#include "cgroups/pids.hpp"
#include "cgroups/stats.hpp"
#include "common/clock.hpp"

namespace berth::isolators {
namespace {

constexpr int64_t kReportEveryNs = 1'000'000'000;

}  // namespace

Status PidsIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) {
    auto e = table_.adopt(s.id, s.spec.cgroups, "pids", State{s.spec.policy.kill_on_pids});
    if (e && controller_) {
      if (auto ev = cgroups::pids::events((*e)->cg())) (*e)->state.seen = ev->max;
    }
  }
  return ok();
}

Result<LaunchAdditions> PidsIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(auto* e, table_.adopt(id, spec.cgroups, "pids", State{spec.policy.kill_on_pids}));
  if (spec.resources.pids) {
    if (!controller_) return make_error(Code::kFailedPrecondition, "the pids controller is not available");
    BERTH_CHECK(cgroups::pids::set_max(e->cg(), *spec.resources.pids));
  }
  return LaunchAdditions{};
}

Status PidsIsolator::check_update(const ContainerId& id, const Resources& r) {
  BERTH_TRY(auto* e, table_.get(id));
  (void)e;
  if (r.pids && !controller_) return make_error(Code::kFailedPrecondition, "the pids controller is not available");
  return ok();
}

Result<Undo> PidsIsolator::update(const ContainerId& id, const Resources& r) {
  BERTH_CHECK(check_update(id, r));
  BERTH_TRY(auto* e, table_.get(id));
  if (!r.pids) return no_undo();
  BERTH_TRY(Undo undo, snapshot_files(e->task, e->cg(), {"pids.max"}));
  BERTH_CHECK(cgroups::pids::set_max(e->cg(), *r.pids));
  return undo;
}

Result<Usage> PidsIsolator::usage(const ContainerId& id) {
  BERTH_TRY(auto* e, table_.get(id));
  Usage u;
  if (controller_) {
    BERTH_CHECK(cgroups::read_optional(u.cgroup.pids_current, cgroups::pids::current(e->cg())));
    BERTH_CHECK(cgroups::read_optional(u.cgroup.pids_max, cgroups::pids::max(e->cg())));
    BERTH_CHECK(cgroups::read_optional(u.cgroup.pids_events, cgroups::pids::events(e->cg())));
  }
  return u;
}

Status PidsIsolator::cleanup(const ContainerId& id) {
  table_.erase(id);
  return ok();
}

std::vector<ContainerLimitation> PidsIsolator::tick(int64_t now_ns) {
  (void)now_ns;
  std::vector<ContainerLimitation> out;
  if (!controller_) return out;
  for (auto& [id, e] : table_.all())
    for (auto& l : on_event(id, cgroups::EventFile::kPidsEvents)) out.push_back({id, std::move(l)});
  return out;
}

std::vector<Limitation> PidsIsolator::on_event(const ContainerId& id, cgroups::EventFile file) {
  std::vector<Limitation> out;
  if (file != cgroups::EventFile::kPidsEvents) return out;
  auto* e = table_.find(id);
  if (!e || e->state.killed) return out;
  auto ev = cgroups::pids::events(e->cg());
  if (!ev || ev->max <= e->state.seen) return out;
  int64_t now = now_ns();
  if (!e->state.fatal && now - e->state.reported_at_ns < kReportEveryNs) return out;
  uint64_t refused = ev->max - e->state.seen;
  e->state.seen = ev->max;
  e->state.reported_at_ns = now;
  e->state.killed = e->state.fatal;
  auto limit = cgroups::pids::max(e->cg());
  std::string at = limit && *limit ? " at pids.max " + std::to_string(**limit) : "";
  out.push_back(Limitation{"pids", "pids_limit", e->state.fatal,
                           std::to_string(refused) + " fork(s) refused" + at +
                               (e->state.fatal ? " (kill_on: pids)" : "; the task goes on")});
  return out;
}

}  // namespace berth::isolators
