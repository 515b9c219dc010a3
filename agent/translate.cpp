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

// Defaults, then the task's own env (which wins over them), then what isolators add (which
// the task may not override: a PORT0 or a proxy setting an isolator owns).
Result<std::vector<std::string>> merge_env(const TaskSpec& spec, const sandbox::OciSpec& oci,
                                           const sandbox::OciUser& user, const isolators::LaunchAdditions& add) {
  std::map<std::string, std::string> env = {{"PATH", kDefaultPath}, {"HOSTNAME", oci.hostname}};
  if (user.uid == 0) env["HOME"] = "/root";
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : add.env) {
    if (spec.env.count(k))
      return make_error(Code::kInvalidArgument, "field '/env/" + k + "': " + k +
                                                    " is set by berth for this task; remove it from the spec");
    env[k] = v;
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

Result<sandbox::OciSpec> translate(const TaskSpec& spec, const std::string& id, const TaskPaths& paths,
                                   const sandbox::OciUser& user, const isolators::LaunchAdditions& add) {
  sandbox::OciSpec oci;
  oci.args = spec.command;
  oci.hostname = !spec.hostname.empty() ? spec.hostname : (!spec.name.empty() ? spec.name : id.substr(0, 12));
  BERTH_TRY(oci.env, merge_env(spec, oci, user, add));

  oci.cwd = spec.working_dir.empty() ? "/" : spec.working_dir;
  oci.user = user;
  // Without an RLIMIT_NOFILE here the launcher gives the task its own default (soft 1024),
  // never berthd's limits.
  for (const auto& r : spec.rlimits) oci.rlimits.push_back({rlimit_type(r.name), r.soft, r.hard});
  for (const auto& r : add.rlimits) {
    for (const auto& have : oci.rlimits)
      if (have.type == r.type)
        return make_error(Code::kInvalidArgument, "field '/rlimits': " + r.type + " is set by berth for this task; remove it from the spec");
    oci.rlimits.push_back(r);
  }
  oci.oom_score_adj = 0;
  oci.root_path = paths.rootfs_mount;
  oci.no_new_privileges = add.no_new_privileges;
  if (add.capabilities)
    oci.capabilities = sandbox::capabilities_for(add.capabilities->set, add.capabilities->ambient, user.uid);
  oci.root_readonly = add.readonly_rootfs;
  oci.sys_readonly = !add.writable_sys;
  oci.namespaces = add.namespaces;
  oci.uid_mappings = add.uid_mappings;
  oci.gid_mappings = add.gid_mappings;
  oci.mounts = add.mounts;
  oci.masked_paths = add.masked_paths;
  oci.readonly_paths = add.readonly_paths;
  oci.devices = add.device_nodes;
  oci.sysctls = add.sysctls;
  oci.seccomp_bpf = add.seccomp_bpf;
  oci.create_runtime_hooks = add.hooks;

  oci.annotations["berth.overlay.lowerdir"] = paths.lowerdir;
  oci.annotations["berth.overlay.upperdir"] = paths.upperdir;
  oci.annotations["berth.overlay.workdir"] = paths.workdir;
  oci.annotations["berth.container.id"] = id;
  if (!spec.name.empty()) oci.annotations["berth.container.name"] = spec.name;
  return oci;
}

}  // namespace berth::agent
