#include "cgroups/pressure.hpp"

#include <gtest/gtest.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

TEST(Pressure, ParsesSomeAndFull) {
  auto p = pressure::parse(
      "some avg10=1.50 avg60=0.25 avg300=0.05 total=123456\n"
      "full avg10=0.75 avg60=0.10 avg300=0.00 total=6543\n").value();
  EXPECT_DOUBLE_EQ(p.some.avg10, 1.5);
  EXPECT_DOUBLE_EQ(p.some.avg60, 0.25);
  EXPECT_DOUBLE_EQ(p.some.avg300, 0.05);
  EXPECT_EQ(p.some.total_usec, 123456u);
  ASSERT_TRUE(p.full.has_value());
  EXPECT_DOUBLE_EQ(p.full->avg10, 0.75);
  EXPECT_EQ(p.full->total_usec, 6543u);
}

TEST(Pressure, CpuWithoutFullOnOldKernels) {
  auto p = pressure::parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").value();
  EXPECT_FALSE(p.full.has_value());
}

TEST(Pressure, RejectsMalformed) {
  EXPECT_FALSE(pressure::parse("").has_value());
  EXPECT_FALSE(pressure::parse("full avg10=0 avg60=0 avg300=0 total=0\n").has_value());
  EXPECT_FALSE(pressure::parse("some avg10=0 avg60=0 total=0\n").has_value());
  EXPECT_FALSE(pressure::parse("some avg10=x avg60=0 avg300=0 total=0\n").has_value());
  EXPECT_FALSE(pressure::parse("most avg10=0 avg60=0 avg300=0 total=0\n").has_value());
}

TEST(Pressure, ReadsFile) {
  testing::FakeTree t;
  t.put("memory.pressure", "some avg10=2.00 avg60=1.00 avg300=0.50 total=10\n"
                           "full avg10=1.00 avg60=0.50 avg300=0.25 total=5\n");
  auto p = pressure::read(t.cgroup(), pressure::Resource::kMemory).value();
  EXPECT_DOUBLE_EQ(p.some.avg10, 2.0);
  auto missing = pressure::read(t.cgroup(), pressure::Resource::kIo);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("io.pressure"), std::string::npos);
}

}  // namespace
}  // namespace berth::cgroups
