// Usage next to allocation, as JSON: one isolators::Usage (read from a task's cgroup and
// sandbox) rendered with every counter beside its limit, for GET /v1/containers/{id}/stats,
// GET /v1/stats and the `usage` of a termination record (docs/API.md, "Stats").
// Limits are the kernel's own values (memory.max, cpu.max, pids.max), so what is shown is
// what is enforced. Pure functions; thread-safe.
#pragma once

#include <string>

#include "agent/container.hpp"
#include "isolators/isolator.hpp"

namespace berth::agent {

std::string usage_json(const isolators::Usage& u);
// {"id", "name", "state", "limits": {...}, "usage": {...}} for a running task.
std::string stats_json(const ContainerRecord& r, const isolators::Usage& u);

}  // namespace berth::agent
