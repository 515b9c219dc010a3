// The pids controller of one cgroup: a cap on tasks (threads count, not just processes) in
// the cgroup and below (pids.max), the count now (pids.current) and how often a fork or
// clone failed at the cap (pids.events "max"). Stateless over a Cgroup; thread-safe as far as
// the Cgroup is.
#pragma once

#include <cstdint>
#include <string_view>

#include "cgroups/cgroup.hpp"
#include "cgroups/file_format.hpp"
#include "common/result.hpp"

namespace berth::cgroups::pids {

struct Events {
  uint64_t max = 0;  // forks refused at pids.max
  bool operator==(const Events&) const = default;
};

Result<Events> parse_events(std::string_view pids_events_text);

Status set_max(const Cgroup& cg, const Limit& tasks);
Result<Limit> max(const Cgroup& cg);
Result<uint64_t> current(const Cgroup& cg);
Result<Events> events(const Cgroup& cg);

}  // namespace berth::cgroups::pids
