// The `berth run` flags that loosen a task's confinement (docs/API.md "Confinement"), as
// Docker and Podman spell them, and the launch spec's "security" object they become:
//   --privileged, --cap-add CAP, --cap-drop CAP, --read-only, --sysctl K=V,
//   --security-opt seccomp=unconfined|seccomp=FILE (a Docker/OCI profile, read here),
//   --security-opt no-new-privileges[=true|false], --device PATH[:ACCESS] (type and numbers
//   read from the node's PATH). berthd checks names and values (a 400 naming them).
// Plain value code; no threading concerns.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace berth::cli {

struct DeviceOption {
  std::string path;
  char type = 'c';
  long major = 0, minor = 0;
  std::string access = "rwm";
  bool operator==(const DeviceOption&) const = default;
};

struct SecurityOptions {
  bool privileged = false;
  bool read_only = false;
  std::vector<std::string> cap_add, cap_drop;
  std::string seccomp;               // "" (default), "unconfined", or a profile's JSON text
  std::optional<bool> no_new_privileges;
  std::map<std::string, std::string> sysctls;
  std::vector<DeviceOption> devices;
  bool any() const;
};

// Handles `option` (one of the names above, without the flags) with `value`; false when the
// option is not one of them.
Result<bool> parse_security_option(const std::string& option, const std::string& value, SecurityOptions& o);
// Writes "security": {...} into an object the caller opened (nothing when !o.any()).
void write_security(json::JsonWriter& w, const SecurityOptions& o);

}  // namespace berth::cli
