// Path resolution inside a root file system that came from an image: every lookup goes through
// common/fs's one openat2 policy with Confine::kInRoot, so ".." and absolute symlinks resolve as
// they would after pivot_root — inside the root, never above it. Used by berthd (user lookup)
// and by the task's child before pivot_root (creating mount points). No state; thread-safe.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fs.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::sandbox {

// Opens `path` (absolute or relative; both mean "from the root") with RESOLVE_IN_ROOT and
// RESOLVE_NO_MAGICLINKS. O_CLOEXEC is always added.
using fs::open_in_root;

enum class NodeKind { kDirectory, kFile };

// Makes sure `path` exists beneath the root as a directory (creating parents, mode 0755) or as
// an empty regular file, and returns an fd of it — the fd to mount onto through
// /proc/self/fd/N, so a symlink swapped in later cannot redirect the mount.
Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, NodeKind kind);

// Reads a small file beneath the root; refuses files above `max_bytes` (a hostile image).
Result<std::string> read_in_root(int rootfd, const std::string& path, size_t max_bytes);

}  // namespace berth::sandbox
