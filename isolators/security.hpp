// Security: how a task is confined, as its launch spec's "security" object says (docs/API.md).
// The defaults are the confined ones: the conventional capability set, no_new_privileges,
// berth's default seccomp profile, only the standard device nodes, no user namespace (unless
// the node's config makes it the default). An operator loosens a task explicitly: add/drop
// capabilities by name, "seccomp": "unconfined" or a custom profile, more devices, or
// "privileged": true, the one escape hatch (all capabilities, no seccomp, every device,
// /sys and /proc writable), which inspect and ps show as such.
// Plain values; parsed by agent/task_spec, applied by the security, devices and user-namespace
// isolators.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::isolators {

// "security": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"], "ambient": false}}.
// Names as the kernel's without "CAP_" (either spelling accepted, case-insensitive), or "ALL".
struct Capabilities {
  std::vector<std::string> add;
  std::vector<std::string> drop;
  bool ambient = false;  // a non-root user also gets the set as ambient capabilities
  bool operator==(const Capabilities&) const = default;
};

// "seccomp": "default" | "unconfined" | {a Docker/Podman JSON profile} | {an OCI linux.seccomp}.
struct SeccompChoice {
  enum class Kind { kDefault, kUnconfined, kCustom };
  Kind kind = Kind::kDefault;
  std::string profile_json;  // kCustom: the profile object as given
  bool operator==(const SeccompChoice&) const = default;
};

// "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "access": "rwm"}]:
// a device node created in the task's /dev and allowed by the device controller. major/minor
// -1 ("*") means any (for an allow rule without a node: omit "path").
struct DeviceAllow {
  std::string path;  // empty: a rule only, no node created
  char type = 'c';   // 'c', 'b' or 'a' (all)
  int64_t major = -1;
  int64_t minor = -1;
  std::string access = "rwm";
  bool operator==(const DeviceAllow&) const = default;
};

struct Security {
  bool privileged = false;
  Capabilities capabilities;
  bool no_new_privileges = true;
  SeccompChoice seccomp;
  bool read_only_rootfs = false;
  std::map<std::string, std::string> sysctls;  // only namespaced ones; others are a 400
  std::vector<DeviceAllow> devices;
  std::optional<bool> user_namespace;  // nullopt: the node's default (config)
  bool operator==(const Security&) const = default;
};

}  // namespace berth::isolators
