#include "isolators/security/security_check.hpp"

#include <cctype>
#include <string_view>

#include "isolators/security/capabilities.hpp"
#include "isolators/security/seccomp_filter.hpp"
#include "isolators/security/seccomp_profile.hpp"

namespace berth::isolators {
namespace {

bool valid_sysctl_name(const std::string& k) {
  if (k.empty() || k.front() == '.' || k.back() == '.' || k.find("..") != std::string::npos) return false;
  for (char c : k)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

Status check_sysctls(const std::map<std::string, std::string>& sysctls) {
  for (const auto& [name, value] : sysctls) {
    std::string field = "field '/security/sysctls/" + name + "'";
    if (!valid_sysctl_name(name))
      return make_error(Code::kInvalidArgument, field + ": not a sysctl name like net.ipv4.ip_forward");
    if (!sysctl_is_namespaced(name))
      return make_error(Code::kInvalidArgument,
                        field + ": sysctl '" + name +
                            "' is not scoped by the task's own namespaces, so setting it would change the host; "
                            "only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* may be set");
    if (value.empty() || value.find('\n') != std::string::npos)
      return make_error(Code::kInvalidArgument, field + ": give a one-line, non-empty value");
  }
  return ok();
}

Status check_devices(const std::vector<DeviceAllow>& devices) {
  for (size_t i = 0; i < devices.size(); ++i) {
    const DeviceAllow& d = devices[i];
    std::string field = "field '/security/devices/" + std::to_string(i) + "'";
    if (d.type != 'c' && d.type != 'b' && d.type != 'a')
      return make_error(Code::kInvalidArgument, field + ": type must be 'c', 'b' or 'a' (all)");
    bool seen[3] = {};
    if (d.access.empty()) return make_error(Code::kInvalidArgument, field + ": access must be some of 'rwm'");
    for (char c : d.access) {
      size_t at = std::string_view("rwm").find(c);
      if (at == std::string_view::npos || seen[at])
        return make_error(Code::kInvalidArgument, field + ": access '" + d.access + "' must be some of r, w, m, each once");
      seen[at] = true;
    }
    if (d.major < -1 || d.minor < -1)
      return make_error(Code::kInvalidArgument, field + ": major and minor are numbers, or -1 for any");
    if (d.path.empty()) continue;
    if (d.type == 'a')
      return make_error(Code::kInvalidArgument, field + ": a node at '" + d.path + "' needs type 'c' or 'b', not 'a'");
    if (d.major < 0 || d.minor < 0)
      return make_error(Code::kInvalidArgument, field + ": a node at '" + d.path + "' needs its major and minor numbers");
    if (d.path.rfind("/dev/", 0) != 0 || d.path.find("/..") != std::string::npos || d.path.find("//") != std::string::npos)
      return make_error(Code::kInvalidArgument, field + ": path '" + d.path + "' must be a normalised path under /dev/");
  }
  return ok();
}

}  // namespace

bool sysctl_is_namespaced(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  return starts("net.") || starts("kernel.shm") || starts("kernel.msg") || name == "kernel.sem" ||
         starts("fs.mqueue.");
}

Status check_security(const Security& security) {
  BERTH_CHECK(check_capabilities(security.capabilities));
  BERTH_CHECK(check_sysctls(security.sysctls));
  BERTH_CHECK(check_devices(security.devices));
  if (security.seccomp.kind == SeccompChoice::Kind::kCustom) {
    BERTH_TRY(auto profile, parse_seccomp_profile(security.seccomp.profile_json));
    BERTH_CHECK(compile_seccomp(profile, capability_set(security)));
  }
  return ok();
}

}  // namespace berth::isolators
