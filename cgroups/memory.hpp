// The memory controller of one cgroup: limits (memory.max, memory.high, memory.swap.max,
// memory.oom.group) and usage (memory.current, memory.peak, memory.events).
// memory.max is the hard limit: past it the kernel reclaims, then OOM-kills inside the cgroup
// (the whole cgroup with oom.group). memory.high throttles and reclaims, never kills.
// memory.events counts are cumulative for the life of the cgroup and its descendants.
// On cgroup v1 (Cgroup::kind()) the same functions use the v1 files: memory.limit_in_bytes
// (max), memory.soft_limit_in_bytes (high: soft, never throttles), memory.memsw.limit_in_bytes
// = memory + swap (swap_max, where the kernel accounts swap), memory.usage_in_bytes,
// memory.max_usage_in_bytes (peak), memory.failcnt (Events::max: times the limit was hit) and
// memory.oom_control (Events::oom_kill; Events::oom counts the same kills, v1 has no separate
// count). v1 has no oom.group: set_oom_group is accepted and does nothing (berthd kills the
// whole task itself when it sees the kill).
// Functions are stateless over a Cgroup; thread-safe as far as the Cgroup is.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

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
// v1: memory.oom_control ("oom_kill_disable 0\nunder_oom 0\noom_kill 3") and memory.failcnt.
Result<Events> parse_v1_events(std::string_view oom_control_text, std::string_view failcnt_text);
// v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages in bytes): nullopt for it.
Result<Limit> parse_v1_limit(std::string_view text);

// The interface files behind max/high/swap_max here (for snapshots to undo a change).
std::vector<std::string> limit_files(const Cgroup& cg);
// Whether swap can be limited here (memory.swap.max / memory.memsw.limit_in_bytes exists).
bool can_limit_swap(const Cgroup& cg);

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
