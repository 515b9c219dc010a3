// Translation of a task spec, plus what the isolators add to its launch (the Registry's merged
// LaunchAdditions), into the OCI runtime spec the shim's launcher applies. translate() only
// merges: namespaces, mounts, masked/read-only paths, sysctls, seccomp and hooks come from the
// isolators; the task spec gives the process (command, env, cwd, user, rlimits, hostname).
// Pure: all machine lookups (the user's ids, paths of the bundle and sandbox) come in as
// arguments, so the mapping is unit-testable.
#pragma once

#include <string>

#include "agent/task_spec.hpp"
#include "isolators/isolator.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::agent {

struct TaskPaths {
  std::string rootfs_mount;  // empty dir in the bundle: the overlay is mounted here
  std::string lowerdir;      // read-only layers (the spec's rootfs, or image layers joined by ':')
  std::string upperdir;      // in the sandbox
  std::string workdir;       // overlay work dir, in the sandbox
};

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// kInvalidArgument when the spec sets what an isolator sets (an env key, an rlimit): the
// message names the isolator and the field to remove.
Result<sandbox::OciSpec> translate(const TaskSpec& spec, const std::string& id, const TaskPaths& paths,
                                   const sandbox::OciUser& user, const isolators::LaunchAdditions& additions);

}  // namespace berth::agent
