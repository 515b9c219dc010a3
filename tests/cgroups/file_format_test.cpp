#include "cgroups/file_format.hpp"

#include <gtest/gtest.h>

namespace berth::cgroups {
namespace {

TEST(FileFormat, ParsesUnsigned) {
  EXPECT_EQ(parse_u64("12345\n").value(), 12345u);
  EXPECT_EQ(parse_u64("0").value(), 0u);
  EXPECT_EQ(parse_u64("18446744073709551615\n").value(), UINT64_MAX);
  EXPECT_FALSE(parse_u64("").has_value());
  EXPECT_FALSE(parse_u64("-1").has_value());
  EXPECT_FALSE(parse_u64("12abc").has_value());
  EXPECT_FALSE(parse_u64("18446744073709551616").has_value());
}

TEST(FileFormat, LimitMaxIsNoLimit) {
  EXPECT_EQ(parse_limit("max\n").value(), Limit{});
  EXPECT_EQ(parse_limit("33554432\n").value(), Limit{33554432});
  EXPECT_FALSE(parse_limit("maximum").has_value());
  EXPECT_EQ(format_limit(Limit{}), "max");
  EXPECT_EQ(format_limit(Limit{42}), "42");
}

TEST(FileFormat, FlatKeyed) {
  auto m = parse_flat_keyed("low 0\nhigh 3\nmax 7\n").value();
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(find_key(m, "high"), 3u);
  EXPECT_EQ(find_key(m, "absent"), std::nullopt);
  EXPECT_TRUE(parse_flat_keyed("").value().empty());
  EXPECT_TRUE(parse_flat_keyed("a 1").has_value());  // no trailing newline
  auto bad = parse_flat_keyed("a 1\nb x\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("key 'b'"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(parse_flat_keyed("lonely\n").has_value());
}

}  // namespace
}  // namespace berth::cgroups
