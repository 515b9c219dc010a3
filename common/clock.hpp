// Wall-clock helpers: timestamps are int64 nanoseconds since the Unix epoch (CLOCK_REALTIME)
// in records, and RFC 3339 UTC with milliseconds in the API ("2026-11-25T18:00:00.123Z").
#pragma once

#include <cstdint>
#include <string>

namespace berth {

int64_t now_ns();
std::string rfc3339(int64_t ns);  // "" for 0
// Monotonic milliseconds, for deadlines.
int64_t monotonic_ms();

}  // namespace berth
