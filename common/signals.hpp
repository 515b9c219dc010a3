// Signal names and numbers, shared by the agent (records, kill requests) and the CLI:
// "SIGKILL" for 9, and "SIGTERM", "TERM", "term" or "15" for 15. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth {

std::string signal_name(int sig);                       // "SIGKILL", or "SIG<n>" when unnamed
std::optional<int> parse_signal(std::string_view text);  // nullopt when unknown or out of range

}  // namespace berth
