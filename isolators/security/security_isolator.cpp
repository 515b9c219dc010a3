#include "isolators/security/security_isolator.hpp"

#include "isolators/security/capabilities.hpp"
#include "isolators/security/security_check.hpp"

namespace berth::isolators {
namespace {

// As runc/crun/Docker mask and protect them: kernel memory, keys, timers and hardware
// interfaces hidden; the kernel's tunables and triggers readable but not writable.
const std::vector<std::string> kMaskedPaths = {"/proc/acpi",        "/proc/kcore",       "/proc/keys",
                                               "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                               "/proc/sched_debug", "/proc/scsi",        "/sys/firmware",
                                               "/sys/devices/virtual/powercap"};
const std::vector<std::string> kReadonlyPaths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                 "/proc/sysrq-trigger"};

}  // namespace

Result<std::unique_ptr<SecurityIsolator>> SecurityIsolator::create() {
  BERTH_TRY(SeccompCache cache, SeccompCache::create());
  return std::unique_ptr<SecurityIsolator>(new SecurityIsolator(std::move(cache)));
}

Result<SeccompProgram> SecurityIsolator::seccomp_program(const Security& s, CapabilitySet caps) {
  switch (s.seccomp.kind) {
    case SeccompChoice::Kind::kUnconfined: return SeccompProgram{};
    case SeccompChoice::Kind::kDefault: return seccomp_.default_program(caps);
    case SeccompChoice::Kind::kCustom: break;
  }
  BERTH_TRY(auto profile, parse_seccomp_profile(s.seccomp.profile_json));
  return compile_seccomp(profile, caps);
}

Result<LaunchAdditions> SecurityIsolator::additions(const ContainerId& id, const ContainerSpec& spec) {
  const Security& s = spec.security;
  // The API checked this already; a checkpointed spec from an older berthd is checked again.
  BERTH_CHECK_CTX(check_security(s), "task '" + id + "'");
  LaunchAdditions a;
  CapabilitySet caps = capability_set(s);
  a.capabilities = CapabilityGrant{caps, s.capabilities.ambient};
  a.no_new_privileges = s.no_new_privileges;
  a.readonly_rootfs = s.read_only_rootfs;
  a.sysctls = s.sysctls;
  if (s.privileged) {
    a.writable_sys = true;
    return a;
  }
  a.masked_paths = kMaskedPaths;
  a.readonly_paths = kReadonlyPaths;
  BERTH_TRY_CTX(a.seccomp_bpf, seccomp_program(s, caps), "task '" + id + "': seccomp");
  return a;
}

}  // namespace berth::isolators
