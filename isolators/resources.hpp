// Resources and Policy: what a task is allocated and what happens when it breaches it, as
// the launch spec says (docs/API.md). Plain values; `any()` says whether a limit was asked for.
// A Resources also serves as a partial update (POST /v1/containers/{id}/update): the fields
// set replace the task's, the others stay.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace berth::isolators {

struct Resources {
  std::optional<double> cpus;              // cpu.max quota/period and cpu.weight ∝ cpus
  std::optional<std::string> cpuset;       // cpuset.cpus, e.g. "0-1"
  std::optional<uint64_t> memory_mb;       // memory.max
  std::optional<uint64_t> memory_high_mb;  // memory.high (throttle, never kill)
  std::optional<uint64_t> memory_swap_mb;  // memory.swap.max (0 when memory_mb is set and this is not)
  std::optional<uint64_t> pids;            // pids.max
  std::optional<uint64_t> disk_mb;         // sandbox work/ + writable layer
  bool any() const { return cpus || cpuset || memory_mb || memory_high_mb || memory_swap_mb || pids || disk_mb; }
  // The fields `update` sets replace ours.
  void apply(const Resources& update);
  bool operator==(const Resources&) const = default;
};

struct Policy {
  bool oom_group = true;       // "oom": "group" (whole task dies) or "process"
  bool kill_on_pids = false;   // "kill_on": ["pids"]
  std::optional<uint64_t> max_runtime_s;
  bool operator==(const Policy&) const = default;
};

}  // namespace berth::isolators
