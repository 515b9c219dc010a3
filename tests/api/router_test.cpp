#include "agent/api/router.hpp"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

TEST(PercentDecode, DecodesEscapesAndPlusOnlyInQueries) {
  EXPECT_EQ(percent_decode("a%20b+c", false), "a b+c");
  EXPECT_EQ(percent_decode("a%20b+c", true), "a b c");
  EXPECT_EQ(percent_decode("100%", true), "100%");
  EXPECT_EQ(percent_decode("%zz%4", true), "%zz%4");
  EXPECT_EQ(percent_decode("%2f%2F", false), "//");
}

TEST(SplitPath, DecodesEachSegmentAfterSplitting) {
  EXPECT_EQ(split_path("/v1/images/a%2Fb"), (std::vector<std::string>{"v1", "images", "a/b"}));
  EXPECT_EQ(split_path("//v1//info/"), (std::vector<std::string>{"v1", "info"}));
  EXPECT_TRUE(split_path("/").empty());
}

TEST(Router, MatchesParamsMethodsAndPrefersLiterals) {
  Router r;
  size_t get = r.add("GET", "/v1/containers/{id}");
  size_t del = r.add("DELETE", "/v1/containers/{id}");
  size_t logs = r.add("GET", "/v1/containers/{id}/logs");
  size_t rmi = r.add("DELETE", "/v1/images/{ref}");
  size_t prune = r.add("POST", "/v1/images/prune");

  auto o = r.match("GET", split_path("/v1/containers/web-1"));
  ASSERT_TRUE(o.match);
  EXPECT_EQ(o.match->route, get);
  EXPECT_EQ(o.match->params.at("id"), "web-1");

  o = r.match("DELETE", split_path("/v1/containers/web-1"));
  ASSERT_TRUE(o.match);
  EXPECT_EQ(o.match->route, del);

  o = r.match("GET", split_path("/v1/containers/x/logs"));
  ASSERT_TRUE(o.match);
  EXPECT_EQ(o.match->route, logs);

  o = r.match("POST", split_path("/v1/containers/x"));
  EXPECT_FALSE(o.match);
  EXPECT_EQ(o.allowed, (std::vector<std::string>{"GET", "DELETE"}));

  o = r.match("GET", split_path("/v1/nothing"));
  EXPECT_FALSE(o.match);
  EXPECT_TRUE(o.allowed.empty());

  o = r.match("POST", split_path("/v1/images/prune"));
  ASSERT_TRUE(o.match);
  EXPECT_EQ(o.match->route, prune);
  o = r.match("DELETE", split_path("/v1/images/prune"));
  ASSERT_TRUE(o.match);
  EXPECT_EQ(o.match->route, rmi);
  EXPECT_EQ(o.match->params.at("ref"), "prune");
}

}  // namespace
}  // namespace berth::api
