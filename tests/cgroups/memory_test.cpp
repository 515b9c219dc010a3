#include "cgroups/memory.hpp"

#include <gtest/gtest.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

// memory.events of a 6.1 kernel after an OOM kill under memory.max.
constexpr const char* kEventsAfterOom = "low 0\nhigh 0\nmax 67\noom 2\noom_kill 1\noom_group_kill 0\n";

TEST(MemoryEvents, Parses) {
  auto e = memory::parse_events(kEventsAfterOom).value();
  EXPECT_EQ(e.max, 67u);
  EXPECT_EQ(e.oom, 2u);
  EXPECT_EQ(e.oom_kill, 1u);
  EXPECT_EQ(e.oom_group_kill, 0u);
}

TEST(MemoryEvents, OlderKernelWithoutGroupKill) {
  auto e = memory::parse_events("low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\n").value();
  EXPECT_EQ(e, (memory::Events{0, 1, 2, 3, 4, 0}));
}

TEST(MemoryEvents, MissingCoreKeyIsAnError) {
  auto r = memory::parse_events("low 0\nhigh 0\nmax 0\noom 0\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("oom_kill"), std::string::npos);
}

TEST(Memory, SetsAndReadsLimits) {
  testing::FakeTree t;
  t.put("memory.max", "max\n");
  t.put("memory.high", "max\n");
  t.put("memory.swap.max", "max\n");
  t.put("memory.oom.group", "0\n");
  Cgroup cg = t.cgroup();
  ASSERT_TRUE(memory::set_max(cg, 32u << 20).has_value());
  ASSERT_TRUE(memory::set_high(cg, 30u << 20).has_value());
  ASSERT_TRUE(memory::set_swap_max(cg, 0).has_value());
  ASSERT_TRUE(memory::set_oom_group(cg, true).has_value());
  EXPECT_EQ(t.get("memory.max"), "33554432");
  EXPECT_EQ(t.get("memory.oom.group"), "1");
  EXPECT_EQ(memory::max(cg).value(), Limit{32u << 20});
  EXPECT_EQ(memory::high(cg).value(), Limit{30u << 20});
  EXPECT_EQ(memory::swap_max(cg).value(), Limit{0});
  EXPECT_TRUE(memory::oom_group(cg).value());
  // Back to unlimited: a shorter value must replace, not overlay, the old one.
  ASSERT_TRUE(memory::set_max(cg, Limit{}).has_value());
  EXPECT_EQ(t.get("memory.max"), "max");
  EXPECT_EQ(memory::max(cg).value(), Limit{});
}

TEST(Memory, ReadsUsage) {
  testing::FakeTree t;
  t.put("memory.current", "1048576\n");
  t.put("memory.peak", "2097152\n");
  t.put("memory.events", kEventsAfterOom);
  Cgroup cg = t.cgroup();
  EXPECT_EQ(memory::current(cg).value(), 1048576u);
  EXPECT_EQ(memory::peak(cg).value(), 2097152u);
  EXPECT_EQ(memory::events(cg).value().oom_kill, 1u);
}

TEST(Memory, MissingFileSaysWhichAndKeepsErrno) {
  testing::FakeTree t;
  auto r = memory::peak(t.cgroup());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_EQ(r.error().sys_errno, ENOENT);
  EXPECT_NE(r.error().message.find("memory.peak"), std::string::npos) << r.error().message;
}

TEST(Memory, GarbageSaysWhichFile) {
  testing::FakeTree t;
  t.put("memory.current", "lots\n");
  auto r = memory::current(t.cgroup());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("memory.current"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace berth::cgroups
