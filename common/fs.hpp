// The one file-system layer: every path operation in berth goes through here, relative to
// directory fds, every fd O_CLOEXEC.
//
// Two kinds of paths, two kinds of calls:
//  - trusted host paths (config, berth's own dirs): open_dir(path), mkdir_p(path), read_file(path)
//    follow symlinks like open(2) does.
//  - paths that come from an image, a spec or a task: resolved beneath a RootedDir with the one
//    openat2 policy (open_confined): RESOLVE_IN_ROOT (".." and absolute symlinks stay inside, as
//    after pivot_root) or RESOLVE_BENEATH (refused if they would leave), always
//    RESOLVE_NO_MAGICLINKS, EINTR retried, EAGAIN (a concurrent rename raced the lookup)
//    retried up to kMaxRenameRaces times.
// open_dir_nofollow(dirfd, rel) is the strict relative open: no symlink anywhere in `rel`.
// Trees a task controls (removal, disk usage) are walked by common/tree.hpp, never here.
// Threading: no shared state; every function is thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::fs {

// ---- trusted host paths ----------------------------------------------------------------------

// Opens a trusted host directory; follows symlinks (like open(2)).
Result<UniqueFd> open_dir(const std::string& path);
// openat(2) plus O_CLOEXEC: follows symlinks unless `flags` says otherwise.
Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);
// Opens dirfd/rel as a directory refusing any symlink on the way (RESOLVE_NO_SYMLINKS) and any
// escape from dirfd (RESOLVE_BENEATH).
Result<UniqueFd> open_dir_nofollow(int dirfd, std::string_view rel);

// mkdir -p of an absolute or relative trusted path; existing directories are fine.
Status mkdir_p(const std::string& path, mode_t mode = 0755);

// ---- confined paths ---------------------------------------------------------------------------

enum class Confine {
  kInRoot,   // RESOLVE_IN_ROOT: dirfd is "/" for the path ("..", absolute symlinks stay inside)
  kBeneath,  // RESOLVE_BENEATH: a path that would leave dirfd fails with EXDEV
};
struct ResolveOptions {
  Confine confine = Confine::kBeneath;
  bool same_fs = false;  // RESOLVE_NO_XDEV: never cross a mount point
};
constexpr int kMaxRenameRaces = 64;

// The one openat2 policy (see the header comment). An empty path means dirfd itself.
Result<UniqueFd> open_confined(int dirfd, std::string_view path, int flags, mode_t mode, ResolveOptions how);
inline Result<UniqueFd> open_beneath(int dirfd, std::string_view path, int flags, mode_t mode = 0) {
  return open_confined(dirfd, path, flags, mode, {Confine::kBeneath, false});
}
inline Result<UniqueFd> open_in_root(int rootfd, std::string_view path, int flags, mode_t mode = 0) {
  return open_confined(rootfd, path, flags, mode, {Confine::kInRoot, false});
}

// The one path splitter: components of `path` without empty ones and ".", a leading "/"
// dropped. ".." is kept: callers that must refuse it look for it.
std::vector<std::string> split_path(std::string_view path);
bool has_dotdot(const std::vector<std::string>& parts);
// Joins parts[0, n) with '/'; "." when there are none.
std::string join_path(const std::vector<std::string>& parts, size_t n);

// mkdir -p of `rel` beneath dirfd under `how`, returning an O_RDONLY|O_DIRECTORY fd of the last
// directory. Each component is created relative to the fd of the one before (mkdirat never
// follows a symlink); a symlink met on the way is resolved under `how` from dirfd, so it
// cannot lead out. `mode` is for the directories it creates.
Result<UniqueFd> mkdir_p_beneath(int dirfd, std::string_view rel, mode_t mode, ResolveOptions how);

// A directory fd plus a name to show in messages: the root for confined lookups.
class RootedDir {
 public:
  RootedDir() = default;
  RootedDir(UniqueFd fd, std::string display, ResolveOptions how = {})
      : fd_(std::move(fd)), display_(std::move(display)), how_(how) {}
  // Opens a trusted host directory as the root.
  static Result<RootedDir> open(const std::string& path, ResolveOptions how = {});

  int fd() const { return fd_.get(); }
  const std::string& display() const { return display_; }
  // "<display>/<rel>", for messages only.
  std::string show(std::string_view rel) const;

  Result<UniqueFd> open(std::string_view rel, int flags, mode_t mode = 0) const;
  Result<UniqueFd> mkdir_p(std::string_view rel, mode_t mode = 0755) const;

 private:
  UniqueFd fd_;
  std::string display_;
  ResolveOptions how_;
};

// ---- reading and writing files ----------------------------------------------------------------

Result<std::string> read_file(const std::string& path);
Result<std::string> read_file_at(int dirfd, const std::string& name);

// Writes `data` to a uniquely named temp file beside dirfd/name ("<name>.<pid>.<n>.tmp", O_EXCL,
// so concurrent writers never share one; a crash can leave one behind, ending in ".tmp"), fsyncs, renames it over dirfd/name and fsyncs the directory: readers see
// either the old or the new content, never a torn file, even after a crash; of concurrent
// writers one wins whole. Durability::kVolatile skips the fsyncs (still atomic for readers) for
// files that do not outlive a reboot anyway, such as those under /run.
enum class Durability { kDurable, kVolatile };
Status write_file_atomic(int dirfd, const std::string& name, const std::string& data,
                         mode_t mode = 0644, Durability durability = Durability::kDurable);
Status write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644,
                         Durability durability = Durability::kDurable);

// Writes a whole buffer to an fd, retrying on EINTR and short writes.
Status write_all(int fd, const void* data, size_t len);

// ---- directories -------------------------------------------------------------------------------

// Removes dirfd/name and everything below it: iterative, memory bounded whatever the depth,
// no symlink followed, never entering another mount (one below is reported as EBUSY).
// Implemented in common/tree.cpp.
Status remove_tree_at(int dirfd, const std::string& name);
Status remove_tree(const std::string& path);

// Names in a trusted directory, without "." and "..".
Result<std::vector<std::string>> list_dir(const std::string& path);

bool exists(const std::string& path);

// Process start time (field 22 of /proc/<pid>/stat, in clock ticks since boot); with the pid it
// names one process for the life of the machine.
Result<unsigned long long> process_start_time(pid_t pid);

}  // namespace berth::fs
