// A cgroup node, held as a directory fd. Every file operation is relative to that fd, so a
// Cgroup can point at the real hierarchy or at a fake tree in a temp dir (unit tests).
// A Cgroup knows the kind of hierarchy it is in (v2 unified or a v1 controller hierarchy),
// set at open and inherited by its children: the per-controller functions (memory::, cpu::,
// pids::) pick their files by it, so nothing above cgroups/ asks which kind it is.
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

enum class Kind { kV2, kV1 };
const char* kind_name(Kind k);  // "v2", "v1"

class Cgroup {
 public:
  // Opens an existing cgroup directory.
  static Result<Cgroup> open(const std::string& path, Kind kind = Kind::kV2);
  // Opens `path`, creating it and any missing parents.
  static Result<Cgroup> open_or_create(const std::string& path, Kind kind = Kind::kV2);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  Kind kind() const { return kind_; }
  bool has_file(const char* name) const;

  Result<Cgroup> child(const std::string& name) const;          // must exist
  // EEXIST is fine. A new v1 cpuset group starts with empty cpuset.cpus/mems (joining it
  // fails with ENOSPC): it gets its parent's.
  Result<Cgroup> create_child(const std::string& name) const;
  // Each level of `rel` ("a/b/c") under this one, created with create_child.
  Result<Cgroup> create_descendant(const std::string& rel) const;
  std::vector<std::string> children() const;

  Result<std::string> read(const std::string& file) const;
  Status write(const std::string& file, const std::string& value) const;

  // Controllers available to this cgroup (cgroup.controllers).
  Result<std::set<std::string>> controllers() const;
  // Enables controllers for children (cgroup.subtree_control); "+cpu +memory".
  Status enable_controllers(const std::set<std::string>& names) const;

  // "populated 1" line of cgroup.events (v2); any process here or below (v1, bounded walk).
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
  Cgroup(UniqueFd fd, std::string path, Kind kind) : fd_(std::move(fd)), path_(std::move(path)), kind_(kind) {}
  Result<bool> populated_v1() const;
  UniqueFd fd_;
  std::string path_;
  Kind kind_ = Kind::kV2;
};

}  // namespace berth::cgroups
