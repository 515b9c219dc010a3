// cgroups/devices: rule validation and text, the eBPF program's shape (what the kernel's
// verifier needs: no unreachable instruction, every jump inside the program), and the v1
// files written on a fake tree. The program's decisions are checked against the kernel by
// tests/integration/devices_test.cpp (loading needs root).
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>

#include "cgroups/devices.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

std::vector<bpf_insn> decode(const std::vector<uint8_t>& bytes) {
  std::vector<bpf_insn> out(bytes.size() / sizeof(bpf_insn));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(bpf_insn));
  return out;
}

// Every jump lands inside the program, and the last instruction is an exit.
void expect_well_formed(const std::vector<bpf_insn>& p) {
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
  for (size_t i = 0; i < p.size(); ++i) {
    if (BPF_CLASS(p[i].code) != BPF_JMP || BPF_OP(p[i].code) == BPF_EXIT) continue;
    long target = static_cast<long>(i) + 1 + p[i].off;
    EXPECT_GE(target, 0) << "insn " << i;
    EXPECT_LT(target, static_cast<long>(p.size())) << "insn " << i;
  }
}

TEST(DeviceRules, TextIsTheV1Syntax) {
  EXPECT_EQ(to_string(DeviceRule{true, 'c', 1, 3, "rwm"}), "c 1:3 rwm");
  EXPECT_EQ(to_string(DeviceRule{true, 'b', -1, -1, "m"}), "b *:* m");
  EXPECT_EQ(to_string(DeviceRule{true, 'c', 136, -1, "rw"}), "c 136:* rw");
}

TEST(DeviceRules, UnusableRulesAreRefusedSayingWhatToChange) {
  EXPECT_NE(validate(DeviceRule{true, 'x', 1, 3, "rwm"}).error().message.find("type must be"), std::string::npos);
  EXPECT_NE(validate(DeviceRule{true, 'c', 5000, 3, "rwm"}).error().message.find("major must be"), std::string::npos);
  EXPECT_NE(validate(DeviceRule{true, 'c', 1, 3, ""}).error().message.find("access must be"), std::string::npos);
  EXPECT_NE(validate(DeviceRule{true, 'c', 1, 3, "rx"}).error().message.find("access must be"), std::string::npos);
  EXPECT_TRUE(validate(DeviceRule{true, 'a', -1, -1, "rwm"}).has_value());
}

TEST(DeviceProgram, TheDefaultRulesCompileToAWellFormedProgram) {
  auto p = decode(compile_device_program(default_device_rules()));
  expect_well_formed(p);
  // The end refuses: r0 = 0 before the final exit.
  ASSERT_GE(p.size(), 2u);
  EXPECT_EQ(p[p.size() - 2].code, BPF_ALU64 | BPF_MOV | BPF_K);
  EXPECT_EQ(p[p.size() - 2].imm, 0);
}

// A catch-all rule decides everything: nothing may follow it (the verifier refuses
// unreachable instructions; privileged tasks failed to launch with that).
TEST(DeviceProgram, ACatchAllRuleEndsTheProgram) {
  auto p = decode(compile_device_program(all_devices_rule()));
  expect_well_formed(p);
  EXPECT_EQ(p[p.size() - 2].imm, 1) << "allows";
  auto with_more = decode(compile_device_program({{true, 'c', 1, 3, "rwm"}, {true, 'a', -1, -1, "rwm"}}));
  EXPECT_EQ(with_more.size(), p.size()) << "rules before the catch-all (emitted after it) are dropped";
}

TEST(DeviceV1, DenyAllThenOneWritePerRule) {
  testing::FakeTree t;
  t.put("devices.allow", "");
  t.put("devices.deny", "");
  auto task = TaskCgroups::open(t.path()).value();
  ASSERT_TRUE(restrict_devices(*task, {{true, 'c', 1, 3, "rwm"}, {false, 'c', 1, 5, "w"}}).has_value());
  EXPECT_EQ(t.get("devices.allow"), "c 1:3 rwm");
  EXPECT_EQ(t.get("devices.deny"), "c 1:5 w");  // after "a"
}

TEST(DeviceV1, NoControllerIsAClearError) {
  testing::FakeTree t;
  auto task = TaskCgroups::open(t.path()).value();
  auto st = restrict_devices(*task, default_device_rules());
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("no device controller"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace berth::cgroups
