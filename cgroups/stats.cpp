#include "cgroups/stats.hpp"

namespace berth::cgroups {
namespace {

template <typename T>
Status take(std::optional<T>& field, Result<T> r) {
  return read_optional(field, std::move(r));
}

}  // namespace

Result<Stats> snapshot(const TaskCgroups& task) {
  Stats s;
  const Cgroup& mem = task.for_controller("memory");
  const Cgroup& cpu = task.for_controller("cpu");
  const Cgroup& pid = task.for_controller("pids");
  BERTH_CHECK(take(s.memory_current, memory::current(mem)));
  BERTH_CHECK(take(s.memory_peak, memory::peak(mem)));
  BERTH_CHECK(take(s.memory_max, memory::max(mem)));
  BERTH_CHECK(take(s.memory_high, memory::high(mem)));
  BERTH_CHECK(take(s.memory_swap_max, memory::swap_max(mem)));
  BERTH_CHECK(take(s.memory_events, memory::events(mem)));
  BERTH_CHECK(take(s.cpu_stat, cpu::stat(task)));
  BERTH_CHECK(take(s.cpu_max, cpu::max(cpu)));
  BERTH_CHECK(take(s.cpu_weight, cpu::weight(cpu)));
  BERTH_CHECK(take(s.pids_current, pids::current(pid)));
  BERTH_CHECK(take(s.pids_max, pids::max(pid)));
  BERTH_CHECK(take(s.pids_events, pids::events(pid)));
  // PSI is kept by cgroup v2 itself, controller or not: the unified directory has it on hybrid
  // hosts too (the v1 hierarchies never do).
  BERTH_CHECK(take(s.cpu_pressure, pressure::read(task.unified(), pressure::Resource::kCpu)));
  BERTH_CHECK(take(s.memory_pressure, pressure::read(task.unified(), pressure::Resource::kMemory)));
  BERTH_CHECK(take(s.io_pressure, pressure::read(task.unified(), pressure::Resource::kIo)));
  return s;
}

}  // namespace berth::cgroups
