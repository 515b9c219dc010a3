// berth's seccomp profiles as compiled programs: a small classic-BPF interpreter runs the
// program libseccomp produced on a seccomp_data, so each rule is checked for every ABI
// (x86_64, i386, x32), whatever the test machine's kernel offers (some refuse int 0x80
// outright), and independently of the capabilities that also guard many of these calls.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "isolators/security/capabilities.hpp"
#include "isolators/security/seccomp_filter.hpp"
#include "isolators/security/seccomp_profile.hpp"

namespace berth::isolators {
namespace {

// Runs a classic BPF seccomp program on `data`; returns its SECCOMP_RET_* value.
uint32_t run_bpf(const SeccompProgram& program, const seccomp_data& data) {
  const auto* insns = reinterpret_cast<const sock_filter*>(program.data());
  size_t n = program.size() / sizeof(sock_filter);
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  const auto* bytes = reinterpret_cast<const uint8_t*>(&data);
  for (size_t pc = 0; pc < n; ++pc) {
    const sock_filter& i = insns[pc];
    uint32_t src = BPF_SRC(i.code) == BPF_X ? x : i.k;
    switch (BPF_CLASS(i.code)) {
      case BPF_LD:
        if (BPF_MODE(i.code) == BPF_ABS) std::memcpy(&a, bytes + i.k, 4);
        else if (BPF_MODE(i.code) == BPF_IMM) a = i.k;
        else if (BPF_MODE(i.code) == BPF_MEM) a = mem[i.k];
        else ADD_FAILURE() << "ld mode " << i.code;
        break;
      case BPF_LDX:
        x = BPF_MODE(i.code) == BPF_MEM ? mem[i.k] : i.k;
        break;
      case BPF_ST: mem[i.k] = a; break;
      case BPF_STX: mem[i.k] = x; break;
      case BPF_ALU:
        switch (BPF_OP(i.code)) {
          case BPF_AND: a &= src; break;
          case BPF_OR: a |= src; break;
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_RSH: a >>= src; break;
          case BPF_LSH: a <<= src; break;
          default: ADD_FAILURE() << "alu op " << i.code;
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(i.code) == BPF_JA) { pc += i.k; break; }
        bool t = false;
        switch (BPF_OP(i.code)) {
          case BPF_JEQ: t = a == src; break;
          case BPF_JGT: t = a > src; break;
          case BPF_JGE: t = a >= src; break;
          case BPF_JSET: t = (a & src) != 0; break;
          default: ADD_FAILURE() << "jmp op " << i.code;
        }
        pc += t ? i.jt : i.jf;
        break;
      }
      case BPF_RET: return BPF_RVAL(i.code) == BPF_A ? a : i.k;
      case BPF_MISC: if (BPF_MISCOP(i.code) == BPF_TAX) x = a; else a = x; break;
      default: ADD_FAILURE() << "class " << i.code; return 0;
    }
  }
  ADD_FAILURE() << "fell off the program";
  return 0;
}

constexpr uint32_t kX32 = 0x40000000;
uint32_t errno_ret(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

uint32_t call(const SeccompProgram& p, uint32_t arch, int nr, uint64_t arg0 = 0) {
  seccomp_data d{};
  d.arch = arch;
  d.nr = nr;
  d.args[0] = arg0;
  return run_bpf(p, d);
}

class DefaultProfile : public ::testing::Test {
 protected:
  static SeccompProgram compile(CapabilitySet caps) { return compile_seccomp(default_seccomp_profile(), caps).value(); }
  SeccompProgram p_ = compile(default_capabilities());
};

TEST_F(DefaultProfile, AllowsOrdinaryCallsOnEveryAbi) {
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 0 /*read*/), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 56 /*clone*/, SIGCHLD), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 272 /*unshare*/, CLONE_FILES), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p_, AUDIT_ARCH_I386, 20 /*getpid*/), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p_, AUDIT_ARCH_I386, 3 /*read*/), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, kX32 | 39 /*getpid*/), SECCOMP_RET_ALLOW);
}

TEST_F(DefaultProfile, RefusesWhatItDocumentsWithEperm) {
  struct { const char* name; int x86_64; int i386; } refused[] = {
      {"mount", 165, 21},        {"umount2", 166, 52},     {"pivot_root", 155, 217}, {"keyctl", 250, 288},
      {"add_key", 248, 286},     {"bpf", 321, 357},        {"perf_event_open", 298, 336},
      {"init_module", 175, 128}, {"finit_module", 313, 350}, {"kexec_load", 246, 283},
      {"reboot", 169, 88},       {"setns", 308, 346},      {"open_by_handle_at", 304, 342},
      {"userfaultfd", 323, 374}, {"io_uring_setup", 425, 425}, {"ptrace", 101, 26},
      {"clock_settime", 227, 264}, {"settimeofday", 164, 79}, {"adjtimex", 159, 124},
      {"swapon", 167, 87},       {"acct", 163, 51},        {"quotactl", 179, 131},
      {"move_mount", 429, 429},  {"open_tree", 428, 428},  {"fsopen", 430, 430}};
  for (const auto& r : refused) {
    EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, r.x86_64), errno_ret(EPERM)) << r.name << " x86_64";
    EXPECT_EQ(call(p_, AUDIT_ARCH_I386, r.i386), errno_ret(EPERM)) << r.name << " i386";
    // x32 shares x86_64's numbers, except calls with pointer-laden arguments (512 and up).
    int x32 = std::string(r.name) == "kexec_load" ? 528 : std::string(r.name) == "ptrace" ? 521 : r.x86_64;
    EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, kX32 | x32), errno_ret(EPERM)) << r.name << " x32";
  }
}

TEST_F(DefaultProfile, RefusesNamespaceFlagsOnCloneAndUnshareAndSendsClone3ToClone) {
  for (uint64_t flag : {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP}) {
    EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 56, flag | SIGCHLD), errno_ret(EPERM)) << flag;
    EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 272, flag), errno_ret(EPERM)) << flag;
    EXPECT_EQ(call(p_, AUDIT_ARCH_I386, 310 /*unshare*/, flag), errno_ret(EPERM)) << flag;
    EXPECT_EQ(call(p_, AUDIT_ARCH_I386, 120 /*clone*/, flag), errno_ret(EPERM)) << flag;
  }
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 272, CLONE_NEWTIME), errno_ret(EPERM));
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 435 /*clone3*/), errno_ret(ENOSYS));
}

TEST_F(DefaultProfile, AnswersEnosysForWhatItDoesNotKnowAndKillsOtherAbis) {
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 457 /*statmount*/), errno_ret(ENOSYS));
  EXPECT_EQ(call(p_, AUDIT_ARCH_X86_64, 1000), errno_ret(ENOSYS));
  EXPECT_EQ(call(p_, AUDIT_ARCH_I386, 1000), errno_ret(ENOSYS));
  uint32_t other = call(p_, AUDIT_ARCH_AARCH64, 0);
  EXPECT_TRUE(other == SECCOMP_RET_KILL_THREAD || other == SECCOMP_RET_KILL_PROCESS) << std::hex << other;
}

TEST_F(DefaultProfile, ACapabilityAllowsTheCallsItGuards) {
  auto bit = [](const char* n) { return CapabilitySet{1} << *capability_number(n); };
  SeccompProgram ptrace = compile(default_capabilities() | bit("SYS_PTRACE"));
  EXPECT_EQ(call(ptrace, AUDIT_ARCH_X86_64, 101), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(ptrace, AUDIT_ARCH_X86_64, 165), errno_ret(EPERM));
  SeccompProgram admin = compile(default_capabilities() | bit("SYS_ADMIN"));
  EXPECT_EQ(call(admin, AUDIT_ARCH_X86_64, 165), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(admin, AUDIT_ARCH_X86_64, 272, CLONE_NEWNS), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(admin, AUDIT_ARCH_X86_64, 435), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(admin, AUDIT_ARCH_X86_64, 250 /*keyctl*/), errno_ret(EPERM));  // never
  SeccompProgram bpf = compile(default_capabilities() | bit("BPF"));
  EXPECT_EQ(call(bpf, AUDIT_ARCH_X86_64, 321), SECCOMP_RET_ALLOW);
}

TEST(SeccompCache, GivesTheSameProgramAsCompilingAndCompilesOncePerCapabilityCombination) {
  auto cache = SeccompCache::create();
  ASSERT_TRUE(cache.has_value()) << cache.error().message;
  auto a = cache->default_program(default_capabilities());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, compile_seccomp(default_seccomp_profile(), default_capabilities()).value());
  // A capability no rule depends on (LEASE) gives the same program.
  EXPECT_EQ(*cache->default_program(default_capabilities() | (CapabilitySet{1} << 28)), *a);
}

TEST(CustomProfile, ADockerProfileBlockingMkdir) {
  auto profile = parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
      "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_call_yet"], "action": "SCMP_ACT_ERRNO"},
                   {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
                   {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})");
  ASSERT_TRUE(profile.has_value()) << profile.error().message;
  auto p = compile_seccomp(*profile, default_capabilities()).value();
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 83 /*mkdir*/), errno_ret(EPERM));
  EXPECT_EQ(call(p, AUDIT_ARCH_I386, 39 /*mkdir*/), errno_ret(EPERM));
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 0), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 101), errno_ret(ENOSYS));
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 135 /*personality*/, 8), errno_ret(EPERM));
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 135, 0), SECCOMP_RET_ALLOW);
  auto with_ptrace = compile_seccomp(*profile, default_capabilities() | (CapabilitySet{1} << 19)).value();
  EXPECT_EQ(call(with_ptrace, AUDIT_ARCH_X86_64, 101), SECCOMP_RET_ALLOW);
}

TEST(CustomProfile, TheDefaultExportedInOciFormCompilesToTheSameProgram) {
  for (CapabilitySet caps : {default_capabilities(), default_capabilities() | (CapabilitySet{1} << 21)}) {
    auto exported = parse_seccomp_profile(to_oci_json(default_seccomp_profile(), caps));
    ASSERT_TRUE(exported.has_value()) << exported.error().message;
    EXPECT_EQ(compile_seccomp(*exported, 0).value(), compile_seccomp(default_seccomp_profile(), caps).value());
  }
}

TEST(CustomProfile, TheOciFormToo) {
  auto profile = parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]})");
  ASSERT_TRUE(profile.has_value()) << profile.error().message;
  auto p = compile_seccomp(*profile, 0).value();
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 1), SECCOMP_RET_ALLOW);
  EXPECT_EQ(call(p, AUDIT_ARCH_X86_64, 2), errno_ret(ENOSYS));
}

}  // namespace
}  // namespace berth::isolators
