#include "common/log.hpp"

#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <atomic>
#include <cstdlib>
#include <mutex>

namespace berth::log {
namespace {

std::mutex g_mu;
std::string g_ident = "berth";
bool g_journal = false;
// Read on every write() without the lock (debug lines are dropped before formatting).
std::atomic<bool> g_debug{false};

// systemd sets JOURNAL_STREAM=<dev>:<ino> when stderr is connected to the journal.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}

int priority(Level l) {
  switch (l) {
    case Level::kDebug: return LOG_DEBUG;
    case Level::kInfo: return LOG_INFO;
    case Level::kWarning: return LOG_WARNING;
    case Level::kError: return LOG_ERR;
  }
  return LOG_INFO;
}

}  // namespace

void init(const std::string& ident, bool debug) {
  std::lock_guard lk(g_mu);
  g_ident = ident;
  g_debug.store(debug, std::memory_order_relaxed);
  g_journal = stderr_is_journal();
}

void write(Level level, const std::string& message) {
  if (level == Level::kDebug && !g_debug.load(std::memory_order_relaxed)) return;
  std::lock_guard lk(g_mu);
  if (g_journal) {
    sd_journal_send("MESSAGE=%s", message.c_str(), "PRIORITY=%d", priority(level),
                    "SYSLOG_IDENTIFIER=%s", g_ident.c_str(), nullptr);
    return;
  }
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000, g_ident.c_str(),
               static_cast<int>(::getpid()), level_name(level), message.c_str());
  std::fflush(stderr);
}

}  // namespace berth::log
