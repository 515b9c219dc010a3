// OCI createRuntime hooks: executables run by the launcher (in the shim, with the shim's
// namespaces and privileges) once the task exists but before it is released to run its first
// instruction, one after the other in spec order. Each gets the OCI state on stdin
// ({"ociVersion", "id", "status": "created", "pid", "bundle"}), its own args and env (nothing
// of the shim's env), stdout/stderr on the shim's stderr (shim.log). A hook that exits non-zero,
// dies, or outlives its timeout (then killed) fails the launch with a message naming it.
// Threading: call from the single-threaded shim; forks.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

Status run_create_runtime_hooks(const OciSpec& spec, pid_t pid, const std::string& bundle_dir);

}  // namespace berth::sandbox
