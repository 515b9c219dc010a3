// Pressure stall information (PSI) of one cgroup: the share of wall time in which some (or
// all) of its runnable tasks were stalled waiting for CPU, memory or IO, as running averages
// over 10 s, 60 s and 300 s (percent) and a total (µs). A rising memory "full" means the task
// spends its time in reclaim: the sign it is about to hit its limit, before any OOM kill.
//   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
// "full" is absent for cpu on kernels before 5.13. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "cgroups/cgroup.hpp"
#include "common/result.hpp"

namespace berth::cgroups::pressure {

enum class Resource { kCpu, kMemory, kIo };
const char* file_name(Resource r);  // "cpu.pressure", ...

struct Line {
  double avg10 = 0;
  double avg60 = 0;
  double avg300 = 0;
  uint64_t total_usec = 0;
  bool operator==(const Line&) const = default;
};

struct Pressure {
  Line some;
  std::optional<Line> full;
  bool operator==(const Pressure&) const = default;
};

Result<Pressure> parse(std::string_view pressure_text);
Result<Pressure> read(const Cgroup& cg, Resource r);

}  // namespace berth::cgroups::pressure
