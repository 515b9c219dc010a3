// Small file-system helpers that work relative to directory fds. Every fd is O_CLOEXEC.
// Paths that come from a user or an image go through open_beneath (openat2 RESOLVE_BENEATH),
// never through plain string concatenation. All functions are thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::fs {

Result<UniqueFd> open_dir(const std::string& path);
Result<UniqueFd> open_dir_at(int dirfd, const std::string& name);
Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);
// openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: `path` cannot leave `dirfd`.
Result<UniqueFd> open_beneath(int dirfd, const std::string& path, int flags, mode_t mode = 0);

// mkdir -p of an absolute or relative path; existing directories are fine.
Status mkdir_p(const std::string& path, mode_t mode = 0755);

Result<std::string> read_file(const std::string& path);
Result<std::string> read_file_at(int dirfd, const std::string& name);

// Writes `data` to dirfd/name.tmp, fsyncs, renames over dirfd/name and fsyncs the directory:
// readers see either the old or the new content, never a torn file, even after a crash.
// Durability::kVolatile skips the fsyncs (still atomic for readers) for files that do not
// outlive a reboot anyway, such as those under /run.
enum class Durability { kDurable, kVolatile };
Status write_file_atomic(int dirfd, const std::string& name, const std::string& data,
                         mode_t mode = 0644, Durability durability = Durability::kDurable);
Status write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644,
                         Durability durability = Durability::kDurable);

// Writes a whole buffer to an fd, retrying on EINTR and short writes.
Status write_all(int fd, const void* data, size_t len);

// Removes dirfd/name recursively without following symlinks and without crossing into
// another file system (a stray mount below is reported as EBUSY instead of being emptied).
Status remove_tree_at(int dirfd, const std::string& name);
Status remove_tree(const std::string& path);

// Names in a directory, without "." and "..".
Result<std::vector<std::string>> list_dir(const std::string& path);

bool exists(const std::string& path);

// Process start time (field 22 of /proc/<pid>/stat, in clock ticks since boot); with the pid it
// names one process for the life of the machine.
Result<unsigned long long> process_start_time(pid_t pid);

}  // namespace berth::fs
