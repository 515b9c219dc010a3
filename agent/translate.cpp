#include "agent/translate.hpp"

#include <algorithm>
#include <cctype>

namespace berth::agent {

namespace {

std::string rlimit_type(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return "RLIMIT_" + upper;
}

}  // namespace

sandbox::OciSpec translate(const TaskSpec& spec, const std::string& id, const TaskPaths& paths,
                           const sandbox::OciUser& user) {
  sandbox::OciSpec oci;
  oci.args = spec.command;
  oci.hostname = !spec.hostname.empty() ? spec.hostname : (!spec.name.empty() ? spec.name : id.substr(0, 12));

  // The task's own env wins over the defaults; PATH and HOSTNAME are there unless overridden.
  std::map<std::string, std::string> env = {{"PATH", kDefaultPath}, {"HOSTNAME", oci.hostname}};
  if (user.uid == 0) env["HOME"] = "/root";
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : env) oci.env.push_back(k + "=" + v);

  oci.cwd = spec.working_dir.empty() ? "/" : spec.working_dir;
  oci.user = user;
  // Without an RLIMIT_NOFILE here the launcher gives the task its own default (soft 1024),
  // never berthd's limits.
  for (const auto& r : spec.rlimits) oci.rlimits.push_back({rlimit_type(r.name), r.soft, r.hard});
  oci.oom_score_adj = 0;
  oci.root_path = paths.rootfs_mount;
  oci.namespaces = {"pid", "mount", "uts", "ipc", "network", "cgroup"};
  oci.masked_paths = {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                      "/proc/timer_list", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"};
  oci.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

  oci.mounts.push_back({kSandboxMountPoint, "bind", paths.sandbox_work, {"rbind", "rw", "nosuid", "nodev"}});
  for (const auto& v : spec.volumes) {
    std::vector<std::string> opts = {"rbind", v.read_only ? "ro" : "rw", "nosuid", "nodev"};
    oci.mounts.push_back({v.container_path, "bind", v.host_path, opts});
  }

  oci.annotations["berth.overlay.lowerdir"] = paths.lowerdir;
  oci.annotations["berth.overlay.upperdir"] = paths.upperdir;
  oci.annotations["berth.overlay.workdir"] = paths.workdir;
  oci.annotations["berth.container.id"] = id;
  if (!spec.name.empty()) oci.annotations["berth.container.name"] = spec.name;
  return oci;
}

}  // namespace berth::agent
