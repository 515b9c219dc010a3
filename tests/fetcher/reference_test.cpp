#include "fetcher/reference.hpp"

#include <gtest/gtest.h>

namespace berth::fetcher {
namespace {

TEST(Reference, FullGrammar) {
  auto r = parse_reference("registry.internal:5000/team/web:1.4@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->registry, "registry.internal:5000");
  EXPECT_EQ(r->repository, "team/web");
  EXPECT_EQ(r->tag, "1.4");
  EXPECT_EQ(r->digest, "sha256:" + std::string(64, 'a'));
  EXPECT_EQ(r->manifest_ref(), r->digest);
  EXPECT_EQ(r->key(), "registry.internal:5000/team/web@" + r->digest);
}

TEST(Reference, DefaultsAndForms) {
  auto r = parse_reference("127.0.0.1:5000/busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->manifest_ref(), "latest");
  EXPECT_EQ(r->str(), "127.0.0.1:5000/busybox:latest");
  EXPECT_EQ(r->key(), "127.0.0.1:5000/busybox:latest");
  r = parse_reference("localhost/a/b/c:v1.0-rc_1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repository, "a/b/c");
  EXPECT_EQ(r->tag, "v1.0-rc_1");
  r = parse_reference("reg.example.com/my_app__x.y-z:Tag");
  ASSERT_TRUE(r) << r.error().message;
  r = parse_reference("[::1]:5000/img:t");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->registry, "[::1]:5000");
  r = parse_reference("reg.io/img@sha256:" + std::string(64, '0'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tag, "latest");
  // Round trip.
  auto again = parse_reference(r->str());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->str(), r->str());
}

TEST(Reference, ClearErrors) {
  struct Case {
    std::string text, needle;
  };
  for (const auto& c : std::vector<Case>{
           {"", "empty"},
           {"busybox", "no registry host"},
           {"library/busybox:1", "not a registry host"},
           {"reg.io/", "no repository path"},
           {"reg.io/UPPER", "lowercase"},
           {"reg.io/a//b", "path component ''"},
           {"reg.io/a-/b", "path component 'a-'"},
           {"reg.io/img:", "tag ''"},
           {"reg.io/img:-bad", "tag '-bad'"},
           {"reg.io/img:" + std::string(129, 'x'), "1-128"},
           {"reg.io/img@sha256:abc", "64 lowercase hex"},
           {"reg.io/img@md5:" + std::string(32, 'a'), "not supported"},
           {"reg.io:99999/img", "not a valid host"},
           {"reg..io/img", "not a valid host"},
           {"reg.io/im g", "whitespace"},
           {"reg.io/" + std::string(300, 'a'), "longer than 255"},
       }) {
    auto r = parse_reference(c.text);
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << c.text << " → " << r.error().message;
  }
}

}  // namespace
}  // namespace berth::fetcher
