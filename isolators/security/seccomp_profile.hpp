// SeccompProfile: a seccomp policy as data, in the shape of the Docker/Podman JSON profile and
// of the OCI runtime spec's linux.seccomp (the same fields; both accepted): a default action,
// the architectures it covers, and rules of syscall names -> action, optionally conditioned on
// arguments and (Docker's "includes"/"excludes") on capabilities.
// parse_seccomp_profile() reads a custom profile from a task's spec (every malformed field is
// kInvalidArgument naming it); default_seccomp_profile() is berth's own (docs/SECCOMP.md).
// Plain value types; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/security/capabilities.hpp"

namespace berth::isolators {

enum class SeccompAction { kAllow, kErrno, kKillThread, kKillProcess, kTrap, kLog, kTrace };

struct SeccompArg {
  unsigned index = 0;  // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;
  // SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ (value_two is the datum, value the mask)
  enum class Op { kNe, kLt, kLe, kEq, kGe, kGt, kMaskedEq } op = Op::kEq;
  bool operator==(const SeccompArg&) const = default;
};

struct SeccompRule {
  std::vector<std::string> names;  // names unknown to libseccomp are skipped (newer syscalls)
  SeccompAction action = SeccompAction::kAllow;
  uint32_t errno_ret = 1;          // kErrno (EPERM unless given) and kTrace
  std::vector<SeccompArg> args;    // all must hold
  CapabilitySet caps_all = 0;      // the rule applies only if the task has each of these
  CapabilitySet caps_none = 0;     // ... and none of these
  bool operator==(const SeccompRule&) const = default;
};

enum class SeccompArch { kX86_64, kX86, kX32 };

struct SeccompProfile {
  SeccompAction default_action = SeccompAction::kErrno;
  uint32_t default_errno = 1;
  std::vector<SeccompArch> architectures;  // empty: the native one (x86_64)
  std::vector<SeccompRule> rules;
  bool operator==(const SeccompProfile&) const = default;
};

// Parses a Docker/Podman or OCI profile. Architectures other than x86 ones are ignored (berth
// runs on x86_64); an unknown action, op, architecture or field is kInvalidArgument naming
// "/security/seccomp/<path>".
Result<SeccompProfile> parse_seccomp_profile(const std::string& json_text);

// `profile` as an OCI linux.seccomp object (also a Docker profile) for a task with `caps`: the
// rules whose capability conditions `caps` meets, without the conditions. What berth applies,
// for an operator to read or another runtime to load (bench/: crun with the same filter).
std::string to_oci_json(const SeccompProfile& profile, CapabilitySet caps);

// berth's default allowlist (docs/SECCOMP.md): ENOSYS for syscalls it does not know, EPERM for
// the ones it refuses, some allowed only with a capability (ptrace with SYS_PTRACE, ...).
const SeccompProfile& default_seccomp_profile();

}  // namespace berth::isolators
