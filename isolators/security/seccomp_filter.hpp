// compile_seccomp: a SeccompProfile, for a task with a given capability set, compiled with
// libseccomp into the classic-BPF program (struct sock_filter[]) the shim installs with
// PR_SET_SECCOMP just before execve. The filter checks the architecture first; the profile's
// architectures are all covered (x86_64 always, plus i386 and x32 when listed; berth's default
// lists all three), and a syscall of an architecture the filter does not cover is killed by
// libseccomp's bad-arch action. Rules whose "includes"/"excludes" capabilities the set does not
// meet are left out. Syscall names libseccomp does not know are skipped (newer than it).
// Compiling is milliseconds of work: berthd compiles its default profile for the default
// capability set once at startup (SeccompCache) and custom profiles once per launch.
// Thread-safe (no shared state; libseccomp contexts are local).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "common/result.hpp"
#include "isolators/security/seccomp_profile.hpp"

namespace berth::isolators {

using SeccompProgram = std::vector<uint8_t>;  // struct sock_filter[], as LaunchAdditions holds it

Result<SeccompProgram> compile_seccomp(const SeccompProfile& profile, CapabilitySet caps);

// The default profile's program per capability set, compiled on first use (the default set's
// at construction, so berthd pays for it at startup, not on the first launch).
// Thread-safe (a mutex around the map).
class SeccompCache {
 public:
  static Result<SeccompCache> create();
  SeccompCache(SeccompCache&& o) noexcept : programs_(std::move(o.programs_)) {}
  Result<SeccompProgram> default_program(CapabilitySet caps);

 private:
  SeccompCache() = default;
  std::mutex mu_;
  std::map<CapabilitySet, SeccompProgram> programs_;
};

}  // namespace berth::isolators
