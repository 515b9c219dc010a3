// The memory controller of one cgroup: limits (memory.max, memory.high, memory.swap.max,
// memory.oom.group) and usage (memory.current, memory.peak, memory.events).
// memory.max is the hard limit: past it the kernel reclaims, then OOM-kills inside the cgroup
// (the whole cgroup with oom.group). memory.high throttles and reclaims, never kills.
// memory.events counts are cumulative for the life of the cgroup and its descendants.
// Functions are stateless over a Cgroup; thread-safe as far as the Cgroup is.
#pragma once

#include <cstdint>
#include <string_view>

#include "cgroups/cgroup.hpp"
#include "cgroups/file_format.hpp"
#include "common/result.hpp"

namespace berth::cgroups::memory {

struct Events {
  uint64_t low = 0;             // reclaimed below memory.low
  uint64_t high = 0;            // throttled over memory.high
  uint64_t max = 0;             // hit memory.max
  uint64_t oom = 0;             // allocation failed at the limit
  uint64_t oom_kill = 0;        // processes killed by the OOM killer
  uint64_t oom_group_kill = 0;  // whole-group kills (kernel 6.1+; 0 when absent)
  bool operator==(const Events&) const = default;
};

Result<Events> parse_events(std::string_view memory_events_text);

Status set_max(const Cgroup& cg, const Limit& bytes);
Status set_high(const Cgroup& cg, const Limit& bytes);
Status set_swap_max(const Cgroup& cg, const Limit& bytes);
// true: an OOM kill takes every process of the cgroup, so a task never runs half-killed.
Status set_oom_group(const Cgroup& cg, bool group);

Result<Limit> max(const Cgroup& cg);
Result<Limit> high(const Cgroup& cg);
Result<Limit> swap_max(const Cgroup& cg);
Result<bool> oom_group(const Cgroup& cg);
Result<uint64_t> current(const Cgroup& cg);
// High-water mark of memory.current (kernel 5.19+; kNotFound on older kernels).
Result<uint64_t> peak(const Cgroup& cg);
Result<Events> events(const Cgroup& cg);

}  // namespace berth::cgroups::memory
