// Translation of a task spec into the OCI runtime spec the shim's launcher applies. Pure: all
// machine lookups (the user's ids, paths of the bundle and sandbox) come in as arguments, so
// the mapping is unit-testable.
#pragma once

#include <string>

#include "agent/task_spec.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::agent {

struct TaskPaths {
  std::string rootfs_mount;  // empty dir in the bundle: the overlay is mounted here
  std::string lowerdir;      // read-only layers (the spec's rootfs, or image layers joined by ':')
  std::string upperdir;      // in the sandbox
  std::string workdir;       // overlay work dir, in the sandbox
  std::string sandbox_work;  // mounted at /mnt/sandbox
};

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
inline constexpr const char* kSandboxMountPoint = "/mnt/sandbox";

sandbox::OciSpec translate(const TaskSpec& spec, const std::string& id, const TaskPaths& paths,
                           const sandbox::OciUser& user);

}  // namespace berth::agent
