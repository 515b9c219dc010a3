// ExecRequest: a command to run inside a running task (POST /v1/containers/{id}/exec, and the
// same JSON on berth-shim --exec's control socket): the argv, environment entries added to the
// task's own ("KEY=value", replacing a key the task has), the user ("uid", "uid:gid", "name",
// "name:group", resolved inside the task's root; empty: the task's), the working directory
// (absolute, inside the task's root; empty: the task's) and a timeout after which the process
// is killed. Parsing is strict (schema): unknown keys, an empty command, a NUL byte, an entry
// without "=" or a relative cwd are kInvalidArgument saying what to change.
// Plain value type; no threading concerns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::sandbox {

struct ExecRequest {
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string user;
  std::string cwd;
  uint32_t timeout_s = 60;

  static constexpr uint32_t kMaxTimeoutS = 86400;
  static constexpr size_t kMaxArgs = 4096;
};

Result<ExecRequest> parse_exec_request(const std::string& json_text);
std::string to_json(const ExecRequest& request);

// The task's environment with `extra` laid over it: an entry whose key the task has replaces
// it in place, the others are appended in order.
std::vector<std::string> merge_env(const std::vector<std::string>& task_env, const std::vector<std::string>& extra);

}  // namespace berth::sandbox
