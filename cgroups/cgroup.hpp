// A cgroup v2 node, held as a directory fd. Every file operation is relative to that fd, so a
// Cgroup can point at the real hierarchy or at a fake tree in a temp dir (unit tests).
// Invariant: a Cgroup always holds an open directory; `path()` is only for messages and for
// children that must be named to the kernel (CLONE_INTO_CGROUP takes an fd, not a path).
// Thread-safety: const methods are safe from several threads; the kernel serializes writes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::cgroups {

// Where the cgroup2 hierarchy is mounted, read from a mountinfo text (/proc/self/mountinfo).
// On hybrid hosts this is /sys/fs/cgroup/unified; on pure v2 hosts /sys/fs/cgroup.
Result<std::string> find_cgroup2_mount(const std::string& mountinfo_text);
Result<std::string> find_cgroup2_mount();

// The cgroup2 path of a process, from the "0::/path" line of /proc/<pid>/cgroup text.
Result<std::string> parse_own_cgroup(const std::string& proc_cgroup_text);
Result<std::string> own_cgroup();

class Cgroup {
 public:
  // Opens an existing cgroup directory.
  static Result<Cgroup> open(const std::string& path);
  // Opens `path`, creating it and any missing parents.
  static Result<Cgroup> open_or_create(const std::string& path);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

  Result<Cgroup> child(const std::string& name) const;          // must exist
  Result<Cgroup> create_child(const std::string& name) const;   // EEXIST is fine
  std::vector<std::string> children() const;

  Result<std::string> read(const std::string& file) const;
  Status write(const std::string& file, const std::string& value) const;

  // Controllers available to this cgroup (cgroup.controllers).
  Result<std::set<std::string>> controllers() const;
  // Enables controllers for children (cgroup.subtree_control); "+cpu +memory".
  Status enable_controllers(const std::set<std::string>& names) const;

  // "populated 1" line of cgroup.events.
  Result<bool> populated() const;
  Result<std::vector<pid_t>> procs() const;
  Status add_proc(pid_t pid) const;
  // Kills every process in this cgroup and below (cgroup.kill, falling back to SIGKILL of
  // each pid in cgroup.procs on kernels without it).
  Status kill() const;
  // Waits until cgroup.events says unpopulated; kFailedPrecondition on timeout.
  Status wait_empty(std::chrono::milliseconds timeout) const;

  // Removes child `name` (and its empty descendants), killing what still runs there first.
  Status remove_child(const std::string& name, std::chrono::milliseconds timeout) const;

 private:
  Cgroup(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

}  // namespace berth::cgroups
