// shim.json: what berthd tells one shim beyond the OCI bundle — which task it is, where the
// task's sandbox directory (logs, exit.json) and cgroup are, and how much log to keep.
// Parsing is strict: unknown keys are refused so a newer berthd cannot be half-understood.
// Plain value type; no threading concerns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::sandbox {

struct ShimConfig {
  std::string id;
  std::string sandbox_dir;   // absolute; stdout, stderr, exit.json live here
  std::string cgroup;        // absolute path of the task's cgroup v2 directory, already created
  std::vector<std::string> cgroups_v1;  // its v1 directories, "ctrl,ctrl:/path" (joined before exec)
  uint64_t log_max_bytes = 10 * 1024 * 1024;
  uint32_t log_max_files = 3;
};

Result<ShimConfig> parse_shim_config(const std::string& json_text);
std::string to_json(const ShimConfig& config);

}  // namespace berth::sandbox
