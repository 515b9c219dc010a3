#include "cgroups/cpu.hpp"

#include <gtest/gtest.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

TEST(CpuMax, FromCpus) {
  EXPECT_EQ(cpu::max_for_cpus(0.5), (cpu::Max{50000, 100000}));
  EXPECT_EQ(cpu::max_for_cpus(2), (cpu::Max{200000, 100000}));
  EXPECT_EQ(cpu::max_for_cpus(0.001), (cpu::Max{1000, 100000}));  // kernel minimum
  EXPECT_EQ(cpu::max_for_cpus(0), (cpu::Max{std::nullopt, 100000}));
  EXPECT_EQ(cpu::max_for_cpus(-1), (cpu::Max{std::nullopt, 100000}));
  EXPECT_EQ(cpu::max_for_cpus(1.5, 10000), (cpu::Max{15000, 10000}));
}

TEST(CpuWeight, ProportionalToCpus) {
  EXPECT_EQ(cpu::weight_for_cpus(1), 100u);
  EXPECT_EQ(cpu::weight_for_cpus(0.5), 50u);
  EXPECT_EQ(cpu::weight_for_cpus(4), 400u);
  EXPECT_EQ(cpu::weight_for_cpus(0.001), 1u);
  EXPECT_EQ(cpu::weight_for_cpus(1000), 10000u);
  EXPECT_EQ(cpu::weight_for_cpus(0), 100u);
}

TEST(CpuMax, FormatAndParse) {
  EXPECT_EQ(cpu::format_max({50000, 100000}), "50000 100000");
  EXPECT_EQ(cpu::format_max({std::nullopt, 100000}), "max 100000");
  EXPECT_EQ(cpu::parse_max("max 100000\n").value(), (cpu::Max{std::nullopt, 100000}));
  EXPECT_EQ(cpu::parse_max("25000 50000").value(), (cpu::Max{25000, 50000}));
  EXPECT_FALSE(cpu::parse_max("25000").has_value());
  EXPECT_FALSE(cpu::parse_max("x 100000").has_value());
}

TEST(CpuStat, WithController) {
  auto s = cpu::parse_stat(
      "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 20\nnr_throttled 19\n"
      "throttled_usec 180000\nnr_bursts 0\nburst_usec 0\n").value();
  EXPECT_EQ(s.usage_usec, 2000u);
  EXPECT_EQ(s.user_usec, 1500u);
  EXPECT_EQ(s.nr_throttled, 19u);
  EXPECT_EQ(s.throttled_usec, 180000u);
}

TEST(CpuStat, WithoutControllerHasNoThrottling) {
  // A hybrid host's cgroup2 without the cpu controller shows only the core keys.
  auto s = cpu::parse_stat("usage_usec 10\nuser_usec 6\nsystem_usec 4\n").value();
  EXPECT_EQ(s.usage_usec, 10u);
  EXPECT_EQ(s.nr_throttled, std::nullopt);
  EXPECT_EQ(s.throttled_usec, std::nullopt);
  EXPECT_FALSE(cpu::parse_stat("user_usec 6\n").has_value());
}

TEST(Cpu, SetCpusWritesMaxAndWeight) {
  testing::FakeTree t;
  t.put("cpu.max", "max 100000\n");
  t.put("cpu.weight", "100\n");
  Cgroup cg = t.cgroup();
  ASSERT_TRUE(cpu::set_cpus(cg, 0.25).has_value());
  EXPECT_EQ(t.get("cpu.max"), "25000 100000");
  EXPECT_EQ(cpu::max(cg).value(), (cpu::Max{25000, 100000}));
  EXPECT_EQ(cpu::weight(cg).value(), 25u);
}

TEST(Cpu, RefusesWhatTheKernelWould) {
  testing::FakeTree t;
  t.put("cpu.max", "max 100000\n");
  t.put("cpu.weight", "100\n");
  Cgroup cg = t.cgroup();
  auto r = cpu::set_max(cg, {500, 100000});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(cpu::set_weight(cg, 0).error().code, Code::kInvalidArgument);
  EXPECT_EQ(cpu::set_weight(cg, 10001).error().code, Code::kInvalidArgument);
  EXPECT_EQ(t.get("cpu.weight"), "100\n");  // untouched
}

}  // namespace
}  // namespace berth::cgroups
