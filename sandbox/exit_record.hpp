// The termination record a shim leaves in <sandbox>/exit.json when its task has ended (or never
// started). The shim writes it atomically exactly once, after the task's cgroup is empty and its
// output is flushed; berthd reads it, also after a restart, to learn how the task ended.
// Invariant: exactly one of {exit_code, signal, launch_error} is set.
// Plain value type; no threading concerns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::sandbox {

struct ExitRecord {
  static constexpr int kVersion = 1;
  pid_t pid = 0;                        // host pid of the task; 0 if it never started
  std::optional<int> exit_code;         // set when the task called exit()
  std::optional<int> signal;            // set when a signal killed it
  int64_t started_at_ns = 0;            // CLOCK_REALTIME
  int64_t finished_at_ns = 0;           // CLOCK_REALTIME
  std::optional<std::string> launch_error;
};

std::string to_json(const ExitRecord& record);
// Refuses other versions and records that break the invariant: a reader must not guess.
Result<ExitRecord> parse_exit_record(const std::string& json_text);

// Fills exit_code or signal from a wait status (WIFEXITED / WIFSIGNALED).
void set_wait_status(ExitRecord& record, int wait_status);

}  // namespace berth::sandbox
