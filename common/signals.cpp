#include "common/signals.hpp"

#include <signal.h>
#include <string.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace berth {

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return std::string("SIG") + (abbrev ? abbrev : std::to_string(sig));
}

std::optional<int> parse_signal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (text.size() > 3) return std::nullopt;
    int n = std::atoi(std::string(text).c_str());
    if (n < 1 || n > SIGRTMAX) return std::nullopt;
    return n;
  }
  std::string name(text);
  if (name.size() > 3 && ::strncasecmp(name.c_str(), "SIG", 3) == 0) name = name.substr(3);
  for (int i = 1; i <= SIGRTMAX; ++i) {
    const char* abbrev = ::sigabbrev_np(i);
    if (abbrev && ::strcasecmp(abbrev, name.c_str()) == 0) return i;
  }
  return std::nullopt;
}

}  // namespace berth
