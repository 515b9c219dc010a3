// The launch spec's "security" object: parsed into isolators::Security, and every mistake a
// 400 (kInvalidArgument) naming the field and what to change.
#include <gtest/gtest.h>

#include "agent/task_spec.hpp"

namespace berth::agent {
namespace {

std::string spec_with(const std::string& security) {
  return R"({"rootfs": "/srv/r", "command": ["/bin/true"], "security": )" + security + "}";
}

TEST(SecuritySpec, DefaultsAreConfined) {
  auto s = parse_task_spec(R"({"rootfs": "/srv/r", "command": ["/bin/true"]})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_FALSE(s->security.privileged);
  EXPECT_TRUE(s->security.no_new_privileges);
  EXPECT_EQ(s->security.seccomp.kind, isolators::SeccompChoice::Kind::kDefault);
  EXPECT_FALSE(s->security.read_only_rootfs);
  EXPECT_FALSE(s->security.user_namespace.has_value());
}

TEST(SecuritySpec, ParsesEveryField) {
  auto s = parse_task_spec(spec_with(R"({"capabilities": {"add": ["NET_ADMIN", "cap_sys_ptrace"], "drop": ["ALL"],
      "ambient": true}, "no_new_privileges": false, "seccomp": "unconfined", "read_only_rootfs": true,
      "sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "fs.mqueue.msg_max": "20"},
      "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "access": "rw"}, {"type": "b"}],
      "user_namespace": true})"));
  ASSERT_TRUE(s.has_value()) << s.error().message;
  const auto& sec = s->security;
  EXPECT_EQ(sec.capabilities.add, (std::vector<std::string>{"NET_ADMIN", "cap_sys_ptrace"}));
  EXPECT_EQ(sec.capabilities.drop, (std::vector<std::string>{"ALL"}));
  EXPECT_TRUE(sec.capabilities.ambient);
  EXPECT_FALSE(sec.no_new_privileges);
  EXPECT_EQ(sec.seccomp.kind, isolators::SeccompChoice::Kind::kUnconfined);
  EXPECT_TRUE(sec.read_only_rootfs);
  EXPECT_EQ(sec.sysctls.size(), 3u);
  ASSERT_EQ(sec.devices.size(), 2u);
  EXPECT_EQ(sec.devices[0], (isolators::DeviceAllow{"/dev/fuse", 'c', 10, 229, "rw"}));
  EXPECT_EQ(sec.devices[1], (isolators::DeviceAllow{"", 'b', -1, -1, "rwm"}));
  EXPECT_EQ(sec.user_namespace, true);
}

TEST(SecuritySpec, PrivilegedTurnsNoNewPrivilegesOffUnlessAsked) {
  auto p = parse_task_spec(spec_with(R"({"privileged": true})"));
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_TRUE(p->security.privileged);
  EXPECT_FALSE(p->security.no_new_privileges);
  auto q = parse_task_spec(spec_with(R"({"privileged": true, "no_new_privileges": true})"));
  ASSERT_TRUE(q.has_value()) << q.error().message;
  EXPECT_TRUE(q->security.no_new_privileges);
}

TEST(SecuritySpec, KeepsACustomSeccompProfile) {
  auto s = parse_task_spec(spec_with(R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}})"));
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->security.seccomp.kind, isolators::SeccompChoice::Kind::kCustom);
  EXPECT_NE(s->security.seccomp.profile_json.find("mkdirat"), std::string::npos);
}

struct Bad {
  const char* security;
  const char* expect;
};
class SecuritySpecRejects : public ::testing::TestWithParam<Bad> {};

TEST_P(SecuritySpecRejects, WithAMessageNamingIt) {
  auto s = parse_task_spec(spec_with(GetParam().security));
  ASSERT_FALSE(s.has_value()) << GetParam().security;
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  EXPECT_NE(s.error().message.find(GetParam().expect), std::string::npos) << s.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Bad, SecuritySpecRejects,
    ::testing::Values(
        Bad{R"({"privileges": true})", "privileges"},
        Bad{R"({"capabilities": {"add": ["NET_ADMINN"]}})", "unknown capability 'NET_ADMINN'"},
        Bad{R"({"capabilities": {"drop": ["CHOWN", "SYS_FOO"]}})", "/security/capabilities/drop/1"},
        Bad{R"({"sysctls": {"kernel.panic": "1"}})", "kernel.panic"},
        Bad{R"({"sysctls": {"vm.swappiness": "10"}})", "only net.*"},
        Bad{R"({"sysctls": {"net..x": "1"}})", "not a sysctl name"},
        Bad{R"({"devices": [{"path": "/dev/sda", "type": "x", "major": 8, "minor": 0}]})", "type"},
        Bad{R"({"devices": [{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "access": "rwx"}]})", "access"},
        Bad{R"({"devices": [{"path": "/dev/sda", "type": "b"}]})", "major and minor"},
        Bad{R"({"devices": [{"path": "/etc/passwd", "type": "c", "major": 1, "minor": 3}]})", "path"},
        Bad{R"({"seccomp": "strict"})", "seccomp"},
        Bad{R"({"seccomp": {"syscalls": []}})", "/security/seccomp/defaultAction"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_NOPE"}})", "unknown action 'SCMP_ACT_NOPE'"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}})",
            "/security/seccomp/architectures/0"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}})",
            "/security/seccomp/syscalls/0/action"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}})",
            "/security/seccomp/syscalls/0/args/0/index"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}})",
            "SCMP_CMP_LIKE"},
        Bad{R"({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscals": []}})", "/security/seccomp/syscals"}));

}  // namespace
}  // namespace berth::agent
