#include "sandbox/mount_options.hpp"

#include <sys/mount.h>

#include <string_view>

namespace berth::sandbox {

MountOptions parse_mount_options(const std::string& type, const std::vector<std::string>& options) {
  struct Flag { std::string_view name; bool clear; unsigned long flag; };
  static constexpr Flag kFlags[] = {
      {"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},
      {"nosuid", false, MS_NOSUID},    {"suid", true, MS_NOSUID},
      {"nodev", false, MS_NODEV},      {"dev", true, MS_NODEV},
      {"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},
      {"sync", false, MS_SYNCHRONOUS}, {"async", true, MS_SYNCHRONOUS},
      {"noatime", false, MS_NOATIME},  {"atime", true, MS_NOATIME},
      {"nodiratime", false, MS_NODIRATIME}, {"diratime", true, MS_NODIRATIME},
      {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
      {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
      {"dirsync", false, MS_DIRSYNC},  {"mand", false, MS_MANDLOCK}, {"nomand", true, MS_MANDLOCK},
  };
  struct Prop { std::string_view name; unsigned long flag; };
  static constexpr Prop kProps[] = {
      {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC},
      {"slave", MS_SLAVE},     {"rslave", MS_SLAVE | MS_REC},
      {"shared", MS_SHARED},   {"rshared", MS_SHARED | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  MountOptions out;
  out.bind = type == "bind";
  for (const auto& o : options) {
    if (o == "bind") { out.bind = true; continue; }
    if (o == "rbind") { out.bind = out.recursive = true; continue; }
    bool handled = false;
    for (const auto& f : kFlags) {
      if (o != f.name) continue;
      if (f.clear) out.flags &= ~f.flag; else out.flags |= f.flag;
      handled = true;
    }
    for (const auto& p : kProps) {
      if (o != p.name) continue;
      out.propagation = p.flag;
      handled = true;
    }
    if (handled) continue;
    if (!out.data.empty()) out.data += ',';
    out.data += o;
  }
  return out;
}

}  // namespace berth::sandbox
