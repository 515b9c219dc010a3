// SecurityIsolator ("linux/security"): how a task is confined (isolators/security.hpp): its
// capabilities, no_new_privileges, seccomp program, sysctls, masked and read-only /proc and
// /sys paths, read-only rootfs. Privileged lifts all of it: every capability, no filter, no
// masked or read-only paths, /sys writable, no_new_privileges only if asked.
// The default seccomp profile is compiled once (SeccompCache, at construction, i.e. berthd's
// startup); a custom profile is compiled at each prepare. Holds no kernel state.
// Threading: under the Registry's lock.
#pragma once

#include "isolators/launch_only_isolator.hpp"
#include "isolators/security/seccomp_filter.hpp"

namespace berth::isolators {

class SecurityIsolator : public LaunchOnlyIsolator {
 public:
  static Result<std::unique_ptr<SecurityIsolator>> create();
  std::string_view name() const override { return "linux/security"; }

 protected:
  Result<LaunchAdditions> additions(const ContainerId&, const ContainerSpec&) override;

 private:
  explicit SecurityIsolator(SeccompCache cache) : seccomp_(std::move(cache)) {}
  Result<SeccompProgram> seccomp_program(const Security& s, CapabilitySet caps);
  SeccompCache seccomp_;
};

}  // namespace berth::isolators
