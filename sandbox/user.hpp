// Resolves a task's "user" string — "uid", "uid:gid", "name", "name:group" (mixed forms too) —
// against the root file system's own etc/passwd and etc/group, read through RESOLVE_IN_ROOT.
// Never NSS: the host's user database says nothing about an image, and NSS modules would run
// host code on image data. Supplementary groups are the etc/group entries that list the user.
// No state; thread-safe.
#pragma once

#include <string>

#include "common/result.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// `rootfs_dirfd` is a directory fd of the root file system. An unknown name is
// kInvalidArgument: `user "bob" not found in /etc/passwd of the root filesystem`.
Result<OciUser> resolve_user(int rootfs_dirfd, const std::string& spec);

}  // namespace berth::sandbox
