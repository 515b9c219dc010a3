#include "isolators/cpu/cpu_isolator.hpp"

#include "cgroups/cpu.hpp"
#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"

namespace berth::isolators {

Status CpuIsolator::apply(const cgroups::TaskCgroups& task, const Resources& r) const {
  if (r.cpus) {
    if (!cpu_) return make_error(Code::kFailedPrecondition, "the cpu controller is not available");
    BERTH_CHECK(cgroups::cpu::set_cpus(task.for_controller("cpu"), *r.cpus));
  }
  if (r.cpuset) {
    if (!cpuset_) return make_error(Code::kFailedPrecondition, "the cpuset controller is not available");
    BERTH_CHECK(task.for_controller("cpuset").write("cpuset.cpus", *r.cpuset));
  }
  return ok();
}

Status CpuIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) (void)table_.adopt(s.id, s.spec.cgroups, "cpu", State{});
  return ok();
}

Result<LaunchAdditions> CpuIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(auto* e, table_.adopt(id, spec.cgroups, "cpu", State{}));
  BERTH_CHECK(apply(*e->task, spec.resources));
  return LaunchAdditions{};
}

Status CpuIsolator::check_update(const ContainerId& id, const Resources& r) {
  BERTH_TRY(auto* e, table_.get(id));
  (void)e;
  if (r.cpus && !cpu_) return make_error(Code::kFailedPrecondition, "the cpu controller is not available");
  if (r.cpuset && !cpuset_) return make_error(Code::kFailedPrecondition, "the cpuset controller is not available");
  return ok();
}

Result<Undo> CpuIsolator::update(const ContainerId& id, const Resources& r) {
  BERTH_CHECK(check_update(id, r));
  BERTH_TRY(auto* e, table_.get(id));
  // cpu and cpuset may be two hierarchies (v1): one snapshot each.
  std::vector<std::string> cpu_files;
  if (r.cpus) cpu_files = cgroups::cpu::limit_files(e->cg());
  BERTH_TRY(Undo undo_cpu, snapshot_files(e->task, e->cg(), cpu_files));
  std::vector<std::string> cpuset_files;
  if (r.cpuset) cpuset_files.push_back("cpuset.cpus");
  BERTH_TRY(Undo undo_cpuset, snapshot_files(e->task, e->task->for_controller("cpuset"), cpuset_files));
  Undo undo = [undo_cpu, undo_cpuset]() -> Status {
    auto first = undo_cpu();
    auto second = undo_cpuset();
    return first ? second : first;
  };
  if (auto applied = apply(*e->task, r); !applied) {
    (void)undo();
    return std::move(applied).error();
  }
  return undo;
}

Result<Usage> CpuIsolator::usage(const ContainerId& id) {
  BERTH_TRY(auto* e, table_.get(id));
  Usage u;
  BERTH_CHECK(cgroups::read_optional(u.cgroup.cpu_stat, cgroups::cpu::stat(*e->task)));
  if (cpu_) {
    BERTH_CHECK(cgroups::read_optional(u.cgroup.cpu_max, cgroups::cpu::max(e->cg())));
    BERTH_CHECK(cgroups::read_optional(u.cgroup.cpu_weight, cgroups::cpu::weight(e->cg())));
  }
  BERTH_CHECK(cgroups::read_optional(u.cgroup.cpu_pressure, cgroups::pressure::read(e->task->unified(), cgroups::pressure::Resource::kCpu)));
  return u;
}

Status CpuIsolator::cleanup(const ContainerId& id) {
  table_.erase(id);
  return ok();
}

}  // namespace berth::isolators
