// A container record: everything berthd knows about one task, and its checkpoint format.
// The record is the owner of the task's cgroup, bundle dir and sandbox dir: whatever a record
// names is removed with it, and startup removes whatever no record names.
// Checkpoints are versioned JSON (state.json in the bundle), written atomically; a newer
// version than we understand is refused rather than misread.
// Records are plain values; the TaskTable guards them with its lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/task_spec.hpp"
#include "common/result.hpp"

namespace berth::agent {

inline constexpr int kCheckpointVersion = 1;

enum class State { kPending, kPulling, kPreparing, kRunning, kExited, kFailed };
const char* state_name(State s);
Result<State> parse_state(const std::string& s);
inline bool is_final(State s) { return s == State::kExited || s == State::kFailed; }

// Why a task ended. `reason` is one of: exited, killed, launch_failed, lost, memory_limit,
// pids_limit, disk_limit, max_runtime (health_check comes with health checks). A task the
// kernel OOM-killed is memory_limit, never a plain exit by SIGKILL.
// `limits` and `usage` are JSON objects (docs/API.md): what the task was allowed and the
// counters read from its cgroup just before berthd removed it; empty when unknown.
struct Termination {
  std::string reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string message;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  // Brace-initialized so aggregate inits that stop at finished_at_ns stay warning-free.
  std::string limits{};
  std::string usage{};
};

struct ContainerRecord {
  std::string id;
  std::string name;
  State state = State::kPending;
  int64_t created_at_ns = 0;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  TaskSpec spec;
  pid_t shim_pid = 0;
  unsigned long long shim_start_time = 0;
  pid_t pid = 0;  // the task's main process, in berthd's pid namespace
  unsigned long long pid_start_time = 0;
  bool kill_requested = false;
  // When a kill's grace period ends (CLOCK_MONOTONIC ms, which runs on across a berthd
  // restart; run_dir does not outlive a reboot); 0: no escalation pending.
  int64_t kill_deadline_ms = 0;
  // A fatal limit breach berthd acted on (killed the task for); becomes the exit's reason.
  std::string limit_reason;
  std::string limit_message;
  std::optional<Termination> exit;
  std::string bundle_dir;   // <run_dir>/containers/<id>
  std::string sandbox_dir;  // <state_dir>/sandboxes/<id>
  std::string cgroup;       // <cgroup_root>/containers/<id>
  std::vector<std::string> cgroups_v1;  // "ctrl,ctrl:/path" per v1 hierarchy (cgroups::V1Dir)
  // What the network isolator gave the task at prepare (agent/task_network.hpp); unset
  // before prepare.
  std::optional<isolators::TaskNetwork> network;
};

std::string termination_json(const Termination& t);

// The API's view of a container (docs/API.md).
std::string container_json(const ContainerRecord& r);

// Checkpoint: serialize / parse the whole record.
std::string checkpoint_json(const ContainerRecord& r);
Result<ContainerRecord> parse_checkpoint(const std::string& text);

}  // namespace berth::agent
