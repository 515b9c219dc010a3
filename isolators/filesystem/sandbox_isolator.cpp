#include "isolators/filesystem/sandbox_isolator.hpp"

#include "sandbox/layout.hpp"

namespace berth::isolators {

Result<LaunchAdditions> SandboxIsolator::additions(const ContainerId& id, const ContainerSpec& spec) {
  if (spec.sandbox_dir.empty() || spec.sandbox_dir[0] != '/')
    return make_error(Code::kInvalidArgument, "task '" + id + "' has no absolute sandbox directory");
  LaunchAdditions a;
  sandbox::SandboxLayout layout(spec.sandbox_dir);
  a.mounts.push_back({sandbox::SandboxLayout::kMountPoint, "bind", layout.work_path(), {"rbind", "rw", "nosuid", "nodev"}});
  for (const auto& v : spec.volumes)
    a.mounts.push_back({v.container_path, "bind", v.host_path, {"rbind", v.read_only ? "ro" : "rw", "nosuid", "nodev"}});
  return a;
}

}  // namespace berth::isolators
