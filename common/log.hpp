// Process-wide logging for the binaries (berthd, berth-shim). Library code never logs: it
// returns errors, and the caller that handles one logs it once. Goes to journald when the
// process was started by systemd (JOURNAL_STREAM names our stderr), to stderr otherwise.
// Thread-safe: each call emits one whole line.
#pragma once

#include <string>

namespace berth::log {

enum class Level { kDebug, kInfo, kWarning, kError };

// Call once at startup; `ident` is the syslog identifier ("berthd").
void init(const std::string& ident, bool debug);
void write(Level level, const std::string& message);

inline void debug(const std::string& m) { write(Level::kDebug, m); }
inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarning, m); }
inline void error(const std::string& m) { write(Level::kError, m); }

}  // namespace berth::log
