// The subset of the OCI runtime spec (config.json, linux) that berth's launcher implements.
// berthd translates a task spec into one of these and writes it into the task's bundle; the
// shim reads it back and the launcher applies it. Fields we do not implement are refused by
// parse_oci_spec rather than ignored, so a bundle never means more than it does.
// Plain value types; no threading concerns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sandbox/capability_names.hpp"

namespace berth::sandbox {

struct OciUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additional_gids;
};

struct OciRlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct OciMount {
  std::string destination;  // absolute path inside the container
  std::string type;         // "bind", "proc", "tmpfs", ...
  std::string source;
  std::vector<std::string> options;  // "rbind", "ro", "nosuid", "mode=755", ...
};

// A namespace the task gets: a new one (path empty) or an existing one it joins (path of a
// /proc/<pid>/ns/<type> or a bind mount of it, e.g. a netns prepared by the network isolator).
struct OciNamespace {
  std::string type;  // "pid", "mount", "uts", "ipc", "network", "cgroup", "user"
  std::string path;
  bool operator==(const OciNamespace&) const = default;
};

// An executable run by the shim while the task exists but is blocked before its first
// instruction (OCI "createRuntime"), with the OCI state ({"id", "pid", "bundle", ...}) on stdin.
// A hook that fails or outlives timeout_s fails the launch.
struct OciHook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  uint32_t timeout_s = 10;
  bool operator==(const OciHook&) const = default;
};

// One line of a user namespace's uid_map or gid_map (OCI linux.uidMappings / gidMappings):
// ids container_id.. inside are host_id.. outside, `size` of them.
struct OciIdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
  bool operator==(const OciIdMapping&) const = default;
};

// process.capabilities: each set a mask (bit n = capability n), named "CAP_..." in the JSON.
// The launcher drops from the bounding set every capability outside `bounding` and gives the
// task exactly these sets (keeping them across the switch to its user); ambient ones must be
// in permitted and inheritable (parse_oci_spec checks).
struct OciCapabilities {
  CapabilitySet bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
  bool operator==(const OciCapabilities&) const = default;
};

// How a task's capability set lands in its process's sets, as runc/containerd do: for uid 0
// bounding = permitted = effective = `set`; for another user only bounding = `set` (it gains
// them only by exec'ing a setuid or file-capability program, which no_new_privs stops), or
// with `ambient` also permitted = inheritable = effective = ambient = `set`. Inheritable is
// empty for root (a later exec keeps capabilities only through the bounding set).
OciCapabilities capabilities_for(CapabilitySet set, bool ambient, uid_t uid);

// A device node created in the task's /dev (OCI linux.devices): "c" or "b", mode 0666 unless
// file_mode says otherwise. The launcher makes it with mknod, or binds the host's node where
// it may not mknod.
struct OciDevice {
  std::string path;  // "/dev/fuse"
  char type = 'c';
  int64_t major = 0, minor = 0;
  uint32_t file_mode = 0666;
  bool operator==(const OciDevice&) const = default;
};

struct OciSpec {
  std::string oci_version = "1.0.2";
  // process
  std::vector<std::string> args;
  std::vector<std::string> env;  // "KEY=value"
  std::string cwd = "/";
  OciUser user;
  std::vector<OciRlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<OciCapabilities> capabilities;  // absent: the task keeps the shim's (all)
  int oom_score_adj = 0;
  // root
  std::string root_path;  // the directory that becomes "/"
  bool root_readonly = false;
  // /sys read-only (the default); false for a privileged task. berth's extension, carried in
  // the "berth.sys.readonly" annotation ("false" when writable).
  bool sys_readonly = true;
  std::string hostname;
  std::vector<OciMount> mounts;
  // linux
  std::vector<OciNamespace> namespaces;
  // With a new "user" namespace: its maps (required then, refused otherwise). The task's
  // other namespaces are created owned by it, and the image layers are idmapped with it.
  std::vector<OciIdMapping> uid_mappings;
  std::vector<OciIdMapping> gid_mappings;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::vector<OciDevice> devices;  // linux.devices
  std::map<std::string, std::string> sysctls;  // "net.ipv4.ip_forward" -> "1", in the task's namespaces
  // A compiled seccomp filter (struct sock_filter[], host byte order), installed last before
  // execve. berth's extension, since the OCI "linux.seccomp" form is a profile, not a program:
  // carried as hex in the "berth.seccomp.bpf" annotation, or, when seccomp_bpf_file is set,
  // as a raw file named by the "berth.seccomp.bpf-file" annotation (berthd writes it next to
  // config.json: a launch then neither encodes nor parses 24 KB of hex, ~1 ms on the benchmark
  // host), which load_seccomp_file() reads into seccomp_bpf.
  std::vector<uint8_t> seccomp_bpf;
  std::string seccomp_bpf_file;  // an absolute path
  std::vector<OciHook> create_runtime_hooks;  // hooks.createRuntime
  // berth's own keys live in annotations (OCI-compatible): e.g.
  //   "berth.overlay.lowerdir", "berth.overlay.upperdir", "berth.overlay.workdir":
  //   the launcher mounts that overlay on root_path inside the task's mount namespace.
  std::map<std::string, std::string> annotations;
};

bool has_namespace(const OciSpec& spec, const std::string& type);

Result<OciSpec> parse_oci_spec(const std::string& json_text);
std::string to_json(const OciSpec& spec);
// Reads spec.seccomp_bpf_file (if set) into spec.seccomp_bpf: a regular file (not a symlink)
// of 1 to 4096 whole BPF instructions; kInvalidArgument naming the file otherwise.
Status load_seccomp_file(OciSpec& spec);
// A bundle's config.json as the shim runs it: read, parsed, its seccomp program loaded.
Result<OciSpec> read_oci_spec(const std::string& config_path);

}  // namespace berth::sandbox
