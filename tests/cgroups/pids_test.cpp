#include "cgroups/pids.hpp"

#include <gtest/gtest.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

TEST(PidsEvents, Parses) {
  EXPECT_EQ(pids::parse_events("max 3\n").value().max, 3u);
  EXPECT_FALSE(pids::parse_events("\n").has_value());
}

TEST(Pids, SetsAndReads) {
  testing::FakeTree t;
  t.put("pids.max", "max\n");
  t.put("pids.current", "2\n");
  t.put("pids.events", "max 0\n");
  Cgroup cg = t.cgroup();
  ASSERT_TRUE(pids::set_max(cg, 200).has_value());
  EXPECT_EQ(pids::max(cg).value(), Limit{200});
  EXPECT_EQ(pids::current(cg).value(), 2u);
  EXPECT_EQ(pids::events(cg).value().max, 0u);
  ASSERT_TRUE(pids::set_max(cg, Limit{}).has_value());
  EXPECT_EQ(pids::max(cg).value(), Limit{});
}

TEST(Pids, ZeroIsAMistake) {
  testing::FakeTree t;
  t.put("pids.max", "max\n");
  auto r = pids::set_max(t.cgroup(), 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace berth::cgroups
