#include "sandbox/user.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/sandbox/temp_dir.hpp"

namespace berth::sandbox {
namespace {

using berth::testing::TempDir;

class ResolveUser : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\n"
                "# a comment\n"
                "\n"
                "app:x:1000:1000:app:/home/app:/bin/sh\n"
                "nobody:x:65534:65534::/:/bin/false\n");
    root_.write("etc/group",
                "root:x:0:\n"
                "app:x:1000:\n"
                "staff:x:50:app,other\n"
                "audio:x:29:other\n"
                "video:x:44:other,app\n"
                "nogroup:x:65534:\n");
  }
  Result<OciUser> resolve(const std::string& spec) { return resolve_user(root_.fd(), spec); }
  TempDir root_;
};

TEST_F(ResolveUser, NameGetsIdsAndSupplementaryGroups) {
  auto u = resolve("app");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->additional_gids, (std::vector<gid_t>{50, 44}));
}

TEST_F(ResolveUser, NumericUidFindsItsEntry) {
  auto u = resolve("1000");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->additional_gids.size(), 2u);
}

TEST_F(ResolveUser, NumericUidWithoutEntryRunsWithGidZero) {
  auto u = resolve("4321");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->uid, 4321u);
  EXPECT_EQ(u->gid, 0u);
  EXPECT_TRUE(u->additional_gids.empty());
}

TEST_F(ResolveUser, ExplicitGroupByNumberOrName) {
  auto u = resolve("1000:1000");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->gid, 1000u);
  u = resolve("app:staff");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->gid, 50u);
  EXPECT_EQ(u->additional_gids, (std::vector<gid_t>{44}));  // staff is primary now
  u = resolve("4321:audio");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->uid, 4321u);
  EXPECT_EQ(u->gid, 29u);
}

TEST_F(ResolveUser, EmptyMeansRoot) {
  auto u = resolve("");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->uid, 0u);
  EXPECT_EQ(u->gid, 0u);
}

TEST_F(ResolveUser, UnknownNamesSayWhereTheyWereLookedFor) {
  auto u = resolve("bob");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, Code::kInvalidArgument);
  EXPECT_EQ(u.error().message, "user \"bob\" not found in /etc/passwd of the root filesystem");
  u = resolve("app:wheel");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().message, "group \"wheel\" not found in /etc/group of the root filesystem");
  EXPECT_FALSE(resolve("app:").has_value());
  EXPECT_FALSE(resolve(":50").has_value());
}

TEST_F(ResolveUser, IdsOutsideTheValidRangeAreRefused) {
  // (uid_t)-1 means "unchanged" to setresuid(): 4294967295 used to run the task as root.
  auto u = resolve("4294967295");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().code, Code::kInvalidArgument);
  EXPECT_EQ(u.error().message,
            "user \"4294967295\": user id 4294967295 is out of range; ids go from 0 to 4294967294");
  auto g = resolve("1000:4294967295");
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.error().message.find("group id 4294967295 is out of range"), std::string::npos) << g.error().message;
  EXPECT_FALSE(resolve("99999999999999999999").has_value());
  auto top = resolve("4294967294:4294967294");
  ASSERT_TRUE(top.has_value()) << top.error().message;
  EXPECT_EQ(top->uid, 4294967294u);
  EXPECT_EQ(top->gid, 4294967294u);
}

TEST(ResolveUserRange, PasswdEntriesWithAnOutOfRangeIdAreNotUsed) {
  TempDir root;
  root.write("etc/passwd", "evil:x:4294967295:0::/:/bin/sh\nworse:x:0:4294967295::/:/bin/sh\n");
  auto u = resolve_user(root.fd(), "evil");
  ASSERT_FALSE(u.has_value());
  EXPECT_NE(u.error().message.find("malformed entry"), std::string::npos) << u.error().message;
  EXPECT_FALSE(resolve_user(root.fd(), "worse").has_value());
}

TEST(ResolveUserNoDatabase, NumericIdsWorkNamesDoNot) {
  TempDir root;
  auto u = resolve_user(root.fd(), "1000:1000");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_FALSE(resolve_user(root.fd(), "app").has_value());
}

TEST(ResolveUserEscape, SymlinkedPasswdStaysInTheRoot) {
  // An image whose /etc/passwd points at an absolute path must read the image's file of that
  // name, never the host's.
  TempDir root;
  root.write("usr/lib/passwd", "imageuser:x:777:777::/:/bin/sh\n");
  ASSERT_EQ(::mkdir(root.file("etc").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/usr/lib/passwd", root.file("etc/passwd").c_str()), 0);
  auto u = resolve_user(root.fd(), "imageuser");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(u->uid, 777u);

  TempDir other;
  ASSERT_EQ(::mkdir(other.file("etc").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("../../../../../../../../etc/passwd", other.file("etc/passwd").c_str()), 0);
  // ".." stops at the root, so this names <root>/etc/passwd: itself, a symlink loop.
  auto r = resolve_user(other.fd(), "root");
  EXPECT_FALSE(r.has_value());
}

TEST(ResolveUserLimits, RefusesAHugeDatabase) {
  TempDir root;
  root.write("etc/passwd", std::string(5 * 1024 * 1024, '#'));
  EXPECT_FALSE(resolve_user(root.fd(), "root").has_value());
}

}  // namespace
}  // namespace berth::sandbox
