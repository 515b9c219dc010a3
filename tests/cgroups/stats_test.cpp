#include "cgroups/stats.hpp"

#include <gtest/gtest.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

constexpr const char* kPsi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
                             "full avg10=0.00 avg60=0.00 avg300=0.00 total=3\n";

TEST(Stats, FullSnapshot) {
  testing::FakeTree t;
  t.put("memory.current", "100\n");
  t.put("memory.peak", "200\n");
  t.put("memory.max", "33554432\n");
  t.put("memory.high", "max\n");
  t.put("memory.swap.max", "0\n");
  t.put("memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 1\n");
  t.put("cpu.stat", "usage_usec 9\nuser_usec 5\nsystem_usec 4\nnr_periods 3\nnr_throttled 2\n"
                    "throttled_usec 1\n");
  t.put("cpu.max", "50000 100000\n");
  t.put("cpu.weight", "50\n");
  t.put("pids.current", "4\n");
  t.put("pids.max", "10\n");
  t.put("pids.events", "max 2\n");
  t.put("cpu.pressure", kPsi);
  t.put("memory.pressure", kPsi);
  t.put("io.pressure", kPsi);
  auto s = snapshot(*TaskCgroups::open(t.path()).value()).value();
  EXPECT_EQ(s.memory_current, 100u);
  EXPECT_EQ(s.memory_peak, 200u);
  // Stats fields are optional<Limit>: compare the inner Limit, not the nested optional.
  ASSERT_TRUE(s.memory_max && s.memory_high && s.memory_swap_max && s.pids_max);
  EXPECT_EQ(*s.memory_max, Limit{33554432});
  EXPECT_EQ(*s.memory_high, Limit{});
  EXPECT_EQ(*s.memory_swap_max, Limit{0});
  ASSERT_TRUE(s.memory_events.has_value());
  EXPECT_EQ(s.memory_events->oom_group_kill, 1u);
  ASSERT_TRUE(s.cpu_stat.has_value());
  EXPECT_EQ(s.cpu_stat->nr_throttled, 2u);
  EXPECT_EQ(s.cpu_max, (cpu::Max{50000, 100000}));
  EXPECT_EQ(s.cpu_weight, 50u);
  EXPECT_EQ(s.pids_current, 4u);
  EXPECT_EQ(*s.pids_max, Limit{10});
  EXPECT_EQ(s.pids_events->max, 2u);
  EXPECT_EQ(s.io_pressure->full->total_usec, 3u);
}

TEST(Stats, HybridHostWithoutControllers) {
  // What /sys/fs/cgroup/unified offers on our test machines: core files only.
  testing::FakeTree t;
  t.put("cpu.stat", "usage_usec 9\nuser_usec 5\nsystem_usec 4\n");
  t.put("cpu.pressure", kPsi);
  t.put("memory.pressure", kPsi);
  t.put("io.pressure", kPsi);
  auto s = snapshot(*TaskCgroups::open(t.path()).value()).value();
  EXPECT_FALSE(s.memory_current.has_value());
  EXPECT_FALSE(s.memory_max.has_value());
  EXPECT_FALSE(s.memory_events.has_value());
  EXPECT_FALSE(s.pids_max.has_value());
  EXPECT_FALSE(s.cpu_max.has_value());
  ASSERT_TRUE(s.cpu_stat.has_value());
  EXPECT_EQ(s.cpu_stat->usage_usec, 9u);
  EXPECT_FALSE(s.cpu_stat->nr_throttled.has_value());
  EXPECT_TRUE(s.memory_pressure.has_value());
}

TEST(Stats, CorruptFileFailsTheSnapshot) {
  testing::FakeTree t;
  t.put("memory.events", "garbage\n");
  auto r = snapshot(*TaskCgroups::open(t.path()).value());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("memory.events"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace berth::cgroups
