#include <gtest/gtest.h>
#include <stdlib.h>

#include "cgroups/cgroup.hpp"
#include "common/fs.hpp"

namespace berth::cgroups {
namespace {

constexpr const char* kHybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr const char* kUnified =
    "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

TEST(Cgroup2Mount, FoundOnHybridAndUnifiedHosts) {
  EXPECT_EQ(find_cgroup2_mount(kHybrid).value(), "/sys/fs/cgroup/unified");
  EXPECT_EQ(find_cgroup2_mount(kUnified).value(), "/sys/fs/cgroup");
}

TEST(Cgroup2Mount, MissingIsAClearError) {
  auto r = find_cgroup2_mount("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("no cgroup2"), std::string::npos);
}

TEST(Cgroup2Mount, SkipsBindsOfSubtrees) {
  std::string text = "50 1 0:38 /some/sub /mnt/x rw - cgroup2 cgroup2 rw\n" + std::string(kUnified);
  EXPECT_EQ(find_cgroup2_mount(text).value(), "/sys/fs/cgroup");
}

TEST(Cgroup2Mount, UnescapesOctalEscapesInTheMountPoint) {
  // The kernel writes a space in a path as \040 (and tab \011, backslash \134).
  std::string text = "25 1 0:22 / /run/my\\040cgroups\\134x rw shared:4 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(find_cgroup2_mount(text).value(), "/run/my cgroups\\x");
}

TEST(OwnCgroup, ParsesTheUnifiedLine) {
  EXPECT_EQ(parse_own_cgroup("4:memory:/x\n0::/system.slice/berthd.service\n").value(),
            "/system.slice/berthd.service");
  EXPECT_FALSE(parse_own_cgroup("4:memory:/x\n").has_value());
}

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.controllers", "cpu memory pids\n").has_value());
    ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.subtree_control", "").has_value());
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }
  std::string dir_;
};

TEST_F(FakeTree, ReadsControllersAndEvents) {
  auto cg = Cgroup::open(dir_);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->controllers().value(), (std::set<std::string>{"cpu", "memory", "pids"}));
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.events", "populated 1\nfrozen 0\n").has_value());
  EXPECT_TRUE(cg->populated().value());
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.events", "populated 0\nfrozen 0\n").has_value());
  EXPECT_FALSE(cg->populated().value());
  EXPECT_TRUE(cg->wait_empty(std::chrono::milliseconds(10)).has_value());
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.procs", "12\n34\n").has_value());
  EXPECT_EQ(cg->procs().value(), (std::vector<pid_t>{12, 34}));
}

TEST_F(FakeTree, WritesSubtreeControlAndMakesChildren) {
  auto cg = Cgroup::open(dir_);
  ASSERT_TRUE(cg.has_value());
  ASSERT_TRUE(cg->enable_controllers({"cpu", "memory"}).has_value());
  EXPECT_EQ(fs::read_file(dir_ + "/cgroup.subtree_control").value(), "+cpu +memory");
  auto child = cg->create_child("containers");
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->path(), dir_ + "/containers");
  EXPECT_TRUE(cg->create_child("containers").has_value());  // exists: fine
  EXPECT_EQ(cg->children(), std::vector<std::string>{"containers"});
  EXPECT_FALSE(cg->create_child("../escape").has_value());
  EXPECT_FALSE(cg->child("..").has_value());
}

TEST_F(FakeTree, WaitEmptyTimesOut) {
  auto cg = Cgroup::open(dir_);
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/cgroup.events", "populated 1\n").has_value());
  auto r = cg->wait_empty(std::chrono::milliseconds(50));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
}

}  // namespace
}  // namespace berth::cgroups
