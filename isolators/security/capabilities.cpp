#include "isolators/security/capabilities.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace berth::isolators {
namespace {

constexpr std::array<std::string_view, 14> kDefaultNames = {
    "CHOWN",  "DAC_OVERRIDE", "FOWNER",           "FSETID",  "KILL",       "SETGID",      "SETUID",
    "SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"};

std::string upper_without_prefix(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  if (s.rfind("CAP_", 0) == 0) s.erase(0, 4);
  return s;
}

bool is_all(std::string_view name) { return upper_without_prefix(name) == "ALL"; }

CapabilitySet bit(int n) { return CapabilitySet{1} << n; }

Status check_names(const std::vector<std::string>& names, const std::string& field) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (is_all(names[i]) || capability_number(names[i])) continue;
    return make_error(Code::kInvalidArgument,
                      "field '" + field + "/" + std::to_string(i) + "': unknown capability '" + names[i] +
                          "'; give a kernel capability name such as NET_ADMIN or CAP_SYS_PTRACE, or ALL");
  }
  return ok();
}

}  // namespace

CapabilitySet default_capabilities() {
  CapabilitySet set = 0;
  for (auto n : kDefaultNames) set |= bit(*capability_number(n));
  return set;
}

bool has_capability(CapabilitySet set, int number) { return (set & bit(number)) != 0; }

Status check_capabilities(const Capabilities& caps) {
  BERTH_CHECK(check_names(caps.add, "/security/capabilities/add"));
  return check_names(caps.drop, "/security/capabilities/drop");
}

CapabilitySet capability_set(const Security& security) {
  if (security.privileged) return kAllCapabilities;
  const Capabilities& c = security.capabilities;
  CapabilitySet set = default_capabilities();
  for (const auto& n : c.drop) {
    if (is_all(n)) set = 0;
    else if (auto num = capability_number(n)) set &= ~bit(*num);
  }
  for (const auto& n : c.add) {
    if (is_all(n)) set = kAllCapabilities;
    else if (auto num = capability_number(n)) set |= bit(*num);
  }
  return set;
}

}  // namespace berth::isolators
