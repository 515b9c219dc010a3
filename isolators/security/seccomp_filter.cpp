#include "isolators/security/seccomp_filter.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace berth::isolators {
namespace {

struct CtxFree {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};
using Ctx = std::unique_ptr<void, CtxFree>;

uint32_t to_scmp(SeccompAction a, uint32_t errno_ret) {
  switch (a) {
    case SeccompAction::kAllow: return SCMP_ACT_ALLOW;
    case SeccompAction::kErrno: return SCMP_ACT_ERRNO(errno_ret);
    case SeccompAction::kKillThread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::kKillProcess: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::kTrap: return SCMP_ACT_TRAP;
    case SeccompAction::kLog: return SCMP_ACT_LOG;
    case SeccompAction::kTrace: return SCMP_ACT_TRACE(errno_ret);
  }
  return SCMP_ACT_KILL_PROCESS;
}

uint32_t to_scmp(SeccompArch a) {
  switch (a) {
    case SeccompArch::kX86_64: return SCMP_ARCH_X86_64;
    case SeccompArch::kX86: return SCMP_ARCH_X86;
    case SeccompArch::kX32: return SCMP_ARCH_X32;
  }
  return SCMP_ARCH_X86_64;
}

scmp_arg_cmp to_scmp(const SeccompArg& a) {
  scmp_compare op = SCMP_CMP_EQ;
  switch (a.op) {
    case SeccompArg::Op::kNe: op = SCMP_CMP_NE; break;
    case SeccompArg::Op::kLt: op = SCMP_CMP_LT; break;
    case SeccompArg::Op::kLe: op = SCMP_CMP_LE; break;
    case SeccompArg::Op::kEq: op = SCMP_CMP_EQ; break;
    case SeccompArg::Op::kGe: op = SCMP_CMP_GE; break;
    case SeccompArg::Op::kGt: op = SCMP_CMP_GT; break;
    case SeccompArg::Op::kMaskedEq: op = SCMP_CMP_MASKED_EQ; break;
  }
  return scmp_arg_cmp{a.index, op, a.value, a.value_two};
}

Error seccomp_error(int rc, const std::string& what) { return errno_error(-rc, "seccomp: " + what); }

Status add_rule(scmp_filter_ctx ctx, const SeccompRule& r, uint32_t default_action) {
  uint32_t action = to_scmp(r.action, r.errno_ret);
  if (action == default_action) return ok();  // libseccomp refuses a rule that changes nothing
  std::vector<scmp_arg_cmp> args;
  for (const auto& a : r.args) args.push_back(to_scmp(a));
  for (const auto& name : r.names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // newer than this libseccomp: the default action applies
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.data());
    if (rc != 0) return seccomp_error(rc, "rule for '" + name + "' (its arguments cannot be checked on every listed architecture?)");
  }
  return ok();
}

Result<SeccompProgram> export_program(scmp_filter_ctx ctx) {
  UniqueFd fd = UniqueFd::adopt(::memfd_create("berth-seccomp", MFD_CLOEXEC));
  if (!fd) return errno_error("memfd_create for the seccomp program");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc != 0) return seccomp_error(rc, "export the BPF program");
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) return errno_error("seek in the seccomp program");
  SeccompProgram out(static_cast<size_t>(size));
  if (::pread(fd.get(), out.data(), out.size(), 0) != static_cast<ssize_t>(out.size()))
    return errno_error("read the seccomp program back");
  return out;
}

bool applies(const SeccompRule& r, CapabilitySet caps) {
  return (caps & r.caps_all) == r.caps_all && (caps & r.caps_none) == 0;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const SeccompProfile& profile, CapabilitySet caps) {
  uint32_t def = to_scmp(profile.default_action, profile.default_errno);
  Ctx ctx(seccomp_init(def));
  if (!ctx) return make_error(Code::kInvalidArgument, "seccomp: the default action is not one libseccomp accepts");
  // No no_new_privs from libseccomp: the shim sets it as the spec says, and we only export.
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);  // a binary tree over syscall numbers
  for (SeccompArch a : profile.architectures) {
    if (a == SeccompArch::kX86_64) continue;  // the native one, already in
    int rc = seccomp_arch_add(ctx.get(), to_scmp(a));
    if (rc != 0 && rc != -EEXIST) return seccomp_error(rc, "add an architecture");
  }
  for (const auto& r : profile.rules)
    if (applies(r, caps)) BERTH_CHECK(add_rule(ctx.get(), r, def));
  return export_program(ctx.get());
}

Result<SeccompCache> SeccompCache::create() {
  SeccompCache cache;
  BERTH_CHECK(cache.default_program(default_capabilities()));
  return cache;
}

Result<SeccompProgram> SeccompCache::default_program(CapabilitySet caps) {
  // Only the capabilities some rule depends on make a difference: the key is those, so the
  // map holds at most one program per combination of them.
  CapabilitySet relevant = 0;
  for (const auto& r : default_seccomp_profile().rules) relevant |= r.caps_all | r.caps_none;
  CapabilitySet key = caps & relevant;
  std::lock_guard lock(mu_);
  if (auto it = programs_.find(key); it != programs_.end()) return it->second;
  BERTH_TRY(auto program, compile_seccomp(default_seccomp_profile(), key));
  programs_.emplace(key, program);
  return program;
}

}  // namespace berth::isolators
