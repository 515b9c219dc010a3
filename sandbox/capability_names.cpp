#include "sandbox/capability_names.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace berth::sandbox {
namespace {

constexpr std::array<std::string_view, kLastCapability + 1> kNames = {
    "CHOWN",          "DAC_OVERRIDE",  "DAC_READ_SEARCH", "FOWNER",        "FSETID",
    "KILL",           "SETGID",        "SETUID",          "SETPCAP",       "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",     "NET_RAW",       "IPC_LOCK",
    "IPC_OWNER",      "SYS_MODULE",    "SYS_RAWIO",       "SYS_CHROOT",    "SYS_PTRACE",
    "SYS_PACCT",      "SYS_ADMIN",     "SYS_BOOT",        "SYS_NICE",      "SYS_RESOURCE",
    "SYS_TIME",       "SYS_TTY_CONFIG", "MKNOD",          "LEASE",         "AUDIT_WRITE",
    "AUDIT_CONTROL",  "SETFCAP",       "MAC_OVERRIDE",    "MAC_ADMIN",     "SYSLOG",
    "WAKE_ALARM",     "BLOCK_SUSPEND", "AUDIT_READ",      "PERFMON",       "BPF",
    "CHECKPOINT_RESTORE"};

}  // namespace

std::optional<int> capability_number(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  if (s.rfind("CAP_", 0) == 0) s.erase(0, 4);
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == s) return static_cast<int>(i);
  return std::nullopt;
}

std::string capability_name(int number) {
  if (number < 0 || number > kLastCapability) return std::to_string(number);
  return std::string(kNames[static_cast<size_t>(number)]);
}

}  // namespace berth::sandbox
