// /proc/<pid>/mountinfo, parsed once for everyone (cgroups finds cgroup2, recovery finds stray
// mounts). Fields are unescaped: the kernel writes space, tab, newline and backslash in paths
// as octal escapes ("\040"), so "/mnt/my dir" appears as "/mnt/my\040dir".
// Line format (proc(5)): id parent major:minor root mount-point options [optional...] -
// fstype source super-options. Malformed lines are skipped. No state; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::fs {

struct MountEntry {
  uint64_t id = 0;
  uint64_t parent_id = 0;
  std::string root;         // the path inside the file system that is mounted here
  std::string mount_point;
  std::string options;
  std::string fstype;
  std::string source;
  std::string super_options;
};

// "\ooo" (three octal digits) becomes that byte; everything else stays as it is.
std::string unescape_mount_field(std::string_view field);
std::vector<MountEntry> parse_mountinfo(std::string_view text);
// This process's mounts.
Result<std::vector<MountEntry>> read_mountinfo();

}  // namespace berth::fs
