#include "cgroups/stats.hpp"

namespace berth::cgroups {
namespace {

template <typename T>
Status take(std::optional<T>& field, Result<T> r) {
  return read_optional(field, std::move(r));
}

}  // namespace

Result<Stats> snapshot(const Cgroup& cg) {
  Stats s;
  BERTH_CHECK(take(s.memory_current, memory::current(cg)));
  BERTH_CHECK(take(s.memory_peak, memory::peak(cg)));
  BERTH_CHECK(take(s.memory_max, memory::max(cg)));
  BERTH_CHECK(take(s.memory_high, memory::high(cg)));
  BERTH_CHECK(take(s.memory_swap_max, memory::swap_max(cg)));
  BERTH_CHECK(take(s.memory_events, memory::events(cg)));
  BERTH_CHECK(take(s.cpu_stat, cpu::stat(cg)));
  BERTH_CHECK(take(s.cpu_max, cpu::max(cg)));
  BERTH_CHECK(take(s.cpu_weight, cpu::weight(cg)));
  BERTH_CHECK(take(s.pids_current, pids::current(cg)));
  BERTH_CHECK(take(s.pids_max, pids::max(cg)));
  BERTH_CHECK(take(s.pids_events, pids::events(cg)));
  BERTH_CHECK(take(s.cpu_pressure, pressure::read(cg, pressure::Resource::kCpu)));
  BERTH_CHECK(take(s.memory_pressure, pressure::read(cg, pressure::Resource::kMemory)));
  BERTH_CHECK(take(s.io_pressure, pressure::read(cg, pressure::Resource::kIo)));
  return s;
}

}  // namespace berth::cgroups
