// The on-disk layout of one task: its sandbox directory (state_dir/sandboxes/<id>: logs,
// records, the work dir mounted at /mnt/sandbox, the overlay's writable layer) and its run
// directory (run_dir/containers/<id>: the checkpoint, the OCI bundle, the shim's files).
// Every component (agent, shim, isolators, translate) names these entries through this file
// only, so the layout is changed in one place.
//
// Each entry exists in two spellings: a relative name (`kExit`, for *_at calls against the
// directory's fd, the preferred way) and an absolute path (`exit_path()`, for messages, mount
// sources and the few calls that need a path). Invariant: the relative names never hold "..",
// never start with '/', and the absolute paths are `dir() + "/" + name`.
// Plain values; no threading concerns.
#pragma once

#include <string>
#include <string_view>

namespace berth::sandbox {

class SandboxLayout {
 public:
  static constexpr const char* kStdout = "stdout";
  static constexpr const char* kStderr = "stderr";
  static constexpr const char* kExit = "exit.json";                 // written by the shim
  static constexpr const char* kTermination = "termination.json";   // written by berthd
  static constexpr const char* kWork = "work";                      // the task's /mnt/sandbox
  static constexpr const char* kOverlay = "overlay";
  static constexpr const char* kOverlayUpper = "overlay/upper";     // the task's writable layer
  static constexpr const char* kOverlayWork = "overlay/work";       // overlayfs' scratch dir
  // Where the sandbox's work dir appears inside the task.
  static constexpr const char* kMountPoint = "/mnt/sandbox";

  explicit SandboxLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  // "stdout" for generation 0 (the file being written), "stdout.N" for the N-th rotated one.
  static std::string log_name(std::string_view stream, unsigned generation);

  std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }
  std::string log_path(std::string_view stream, unsigned generation) const { return path(log_name(stream, generation)); }
  std::string exit_path() const { return path(kExit); }
  std::string termination_path() const { return path(kTermination); }
  std::string work_path() const { return path(kWork); }
  std::string overlay_upper_path() const { return path(kOverlayUpper); }
  std::string overlay_work_path() const { return path(kOverlayWork); }

 private:
  std::string dir_;
};

class RunDirLayout {
 public:
  static constexpr const char* kState = "state.json";    // berthd's checkpoint of the task
  static constexpr const char* kConfig = "config.json";  // the OCI spec the shim launches
  static constexpr const char* kShimConfig = "shim.json";
  static constexpr const char* kShimLog = "shim.log";    // the shim's stderr
  static constexpr const char* kRootfs = "rootfs";       // empty dir: the overlay's mount point
  static constexpr const char* kSeccomp = "seccomp.bpf";  // the task's seccomp program, raw
  // The shim's copy of the sandbox's exit.json: a full state_dir never loses an exit.
  static constexpr const char* kExit = "exit.json";

  explicit RunDirLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }
  std::string state_path() const { return path(kState); }
  std::string config_path() const { return path(kConfig); }
  std::string shim_config_path() const { return path(kShimConfig); }
  std::string shim_log_path() const { return path(kShimLog); }
  std::string rootfs_path() const { return path(kRootfs); }
  std::string seccomp_path() const { return path(kSeccomp); }
  std::string exit_path() const { return path(kExit); }

 private:
  std::string dir_;
};

}  // namespace berth::sandbox
