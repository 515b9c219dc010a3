// One snapshot of a cgroup's limits and usage, read file by file (not atomically: each value
// is exact, the set is not a single instant). A field is empty when its interface file does
// not exist — the controller is not enabled for this cgroup, or the kernel predates the file
// (memory.peak < 5.19) — so a snapshot works on hybrid hosts without cpu/memory/pids and says
// plainly what it could not see. Any other read or parse error fails the snapshot.
// Taken before a cgroup is removed, it is the usage part of a task's termination record.
// PSI is read where the controller's directory is: on a v1 one there is none, so it is null
// (unknown), never zero.
// Stateless; thread-safe as far as the Cgroup is.
#pragma once

#include <cstdint>
#include <optional>

#include "cgroups/cgroup.hpp"
#include "cgroups/cpu.hpp"
#include "cgroups/file_format.hpp"
#include "cgroups/memory.hpp"
#include "cgroups/pids.hpp"
#include "cgroups/pressure.hpp"
#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"

namespace berth::cgroups {

struct Stats {
  // memory
  std::optional<uint64_t> memory_current;
  std::optional<uint64_t> memory_peak;
  std::optional<Limit> memory_max;
  std::optional<Limit> memory_high;
  std::optional<Limit> memory_swap_max;
  std::optional<memory::Events> memory_events;
  // cpu
  std::optional<cpu::Stat> cpu_stat;
  std::optional<cpu::Max> cpu_max;
  std::optional<uint64_t> cpu_weight;
  // pids
  std::optional<uint64_t> pids_current;
  std::optional<Limit> pids_max;
  std::optional<pids::Events> pids_events;
  // pressure
  std::optional<pressure::Pressure> cpu_pressure;
  std::optional<pressure::Pressure> memory_pressure;
  std::optional<pressure::Pressure> io_pressure;
};

// Each controller's values from the directory serving it (TaskCgroups::for_controller).
Result<Stats> snapshot(const TaskCgroups& task);

// Stores a read into `field`; a missing file (ENOENT: no such controller here; EOPNOTSUPP:
// PSI compiled in but switched off) leaves it empty, any other error is returned.
template <typename T>
Status read_optional(std::optional<T>& field, Result<T> r) {
  if (r.has_value()) {
    field = std::move(r).value();
    return ok();
  }
  if (r.error().sys_errno == ENOENT || r.error().sys_errno == EOPNOTSUPP) return ok();
  return std::move(r).error();
}

}  // namespace berth::cgroups
