// The common/fs layer: confined opens, mkdir_p_beneath, the path splitter, atomic writes under
// concurrency, mountinfo unescaping.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "common/mountinfo.hpp"

namespace berth {
namespace {

class FsLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-fslayer-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(fs::mkdir_p(dir_ + "/root").has_value());
    ASSERT_TRUE(fs::mkdir_p(dir_ + "/outside").has_value());
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }
  bool is_dir(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  std::string dir_;
};

constexpr fs::ResolveOptions kBeneath{fs::Confine::kBeneath, false};
constexpr fs::ResolveOptions kInRoot{fs::Confine::kInRoot, false};

TEST_F(FsLayer, MkdirPBeneathCreatesEachLevelAndReturnsTheLast) {
  auto root = fs::RootedDir::open(dir_ + "/root");
  ASSERT_TRUE(root.has_value());
  auto d = root->mkdir_p("a/./b//c/", 0750);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_TRUE(is_dir(dir_ + "/root/a/b/c"));
  struct stat st {};
  ASSERT_EQ(::fstat(d->get(), &st), 0);
  struct stat want {};
  ASSERT_EQ(::stat((dir_ + "/root/a/b/c").c_str(), &want), 0);
  EXPECT_EQ(st.st_ino, want.st_ino);
  EXPECT_TRUE(root->mkdir_p("a/b/c").has_value());  // existing is fine
}

TEST_F(FsLayer, MkdirPBeneathRefusesEscapesAndCreatesNothingOutside) {
  ASSERT_EQ(::symlink((dir_ + "/outside").c_str(), (dir_ + "/root/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (dir_ + "/root/rel").c_str()), 0);
  auto root = fs::open_dir(dir_ + "/root");
  ASSERT_TRUE(root.has_value());
  for (const char* p : {"abs/x", "rel/x", "../outside/x", "a/../../outside/x"}) {
    auto r = fs::mkdir_p_beneath(root->get(), p, 0755, kBeneath);
    EXPECT_FALSE(r.has_value()) << p;
  }
  EXPECT_FALSE(is_dir(dir_ + "/outside/x"));
  // In the root, the same links resolve as after pivot_root: inside it.
  ASSERT_TRUE(fs::mkdir_p(dir_ + "/root/outside").has_value());
  auto in = fs::mkdir_p_beneath(root->get(), "rel/x", 0755, kInRoot);
  ASSERT_TRUE(in.has_value()) << in.error().message;
  EXPECT_TRUE(is_dir(dir_ + "/root/outside/x"));
  EXPECT_FALSE(is_dir(dir_ + "/outside/x"));
  auto up = fs::mkdir_p_beneath(root->get(), "../../../y", 0755, kInRoot);
  ASSERT_TRUE(up.has_value()) << up.error().message;
  EXPECT_TRUE(is_dir(dir_ + "/root/y"));
}

TEST_F(FsLayer, MkdirPBeneathThroughADanglingSymlinkSaysWhatIsMissing) {
  ASSERT_EQ(::symlink("/nowhere", (dir_ + "/root/dangling").c_str()), 0);
  auto root = fs::open_dir(dir_ + "/root");
  auto r = fs::mkdir_p_beneath(root->get(), "dangling/x", 0755, kInRoot);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("/dangling is a symlink to a path missing"), std::string::npos) << r.error().message;
  EXPECT_FALSE(is_dir("/nowhere"));
}

TEST_F(FsLayer, ConfinedOpenRefusesMagicLinks) {
  auto proc = fs::open_dir("/proc/self");
  ASSERT_TRUE(proc.has_value());
  EXPECT_FALSE(fs::open_beneath(proc->get(), "root/etc/passwd", O_RDONLY).has_value());
}

TEST_F(FsLayer, OpenDirNofollowRefusesSymlinksAnywhere) {
  ASSERT_TRUE(fs::mkdir_p(dir_ + "/root/real/sub").has_value());
  ASSERT_EQ(::symlink("real", (dir_ + "/root/link").c_str()), 0);
  auto root = fs::open_dir(dir_ + "/root");
  EXPECT_TRUE(fs::open_dir_nofollow(root->get(), "real/sub").has_value());
  EXPECT_FALSE(fs::open_dir_nofollow(root->get(), "link/sub").has_value());
  EXPECT_FALSE(fs::open_dir_nofollow(root->get(), "link").has_value());
  EXPECT_FALSE(fs::open_dir_nofollow(root->get(), "../outside").has_value());
}

TEST(SplitPath, DropsEmptyAndDotKeepsDotDot) {
  EXPECT_EQ(fs::split_path("/a//b/./c/"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(fs::split_path("a/../b"), (std::vector<std::string>{"a", "..", "b"}));
  EXPECT_TRUE(fs::split_path("/").empty());
  EXPECT_TRUE(fs::split_path("").empty());
  EXPECT_TRUE(fs::has_dotdot(fs::split_path("x/..")));
  EXPECT_EQ(fs::join_path({"a", "b", "c"}, 2), "a/b");
  EXPECT_EQ(fs::join_path({}, 0), ".");
}

TEST_F(FsLayer, ConcurrentAtomicWritesEachSucceedAndOneWinsWhole) {
  auto dfd = fs::open_dir(dir_);
  ASSERT_TRUE(dfd.has_value());
  constexpr int kThreads = 8;
  constexpr int kWrites = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string content(4096 + t, static_cast<char>('a' + t));
      for (int i = 0; i < kWrites; ++i)
        if (!fs::write_file_atomic(dfd->get(), "state.json", content, 0644, fs::Durability::kVolatile)) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto text = fs::read_file(dir_ + "/state.json");
  ASSERT_TRUE(text.has_value());
  ASSERT_GE(text->size(), 4096u);
  int t = text->front() - 'a';
  EXPECT_EQ(*text, std::string(4096 + t, static_cast<char>('a' + t)));  // one writer's, whole
  auto names = fs::list_dir(dir_);
  ASSERT_TRUE(names.has_value());
  for (const auto& n : *names) EXPECT_FALSE(n.ends_with(".tmp")) << n;  // no temp left behind
}

TEST(Mountinfo, UnescapesOctalAndKeepsTheFields) {
  std::string text =
      "36 35 98:0 /my\\040root /mnt/with\\040space\\011tab rw,noatime master:1 - ext3 /dev/my\\134disk rw,errors=continue\n"
      "garbage line\n"
      "40 1 0:33 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
      "41 1 0:34 / /mnt/odd\\ rw - tmpfs tmpfs rw\n";
  auto mounts = fs::parse_mountinfo(text);
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].id, 36u);
  EXPECT_EQ(mounts[0].parent_id, 35u);
  EXPECT_EQ(mounts[0].root, "/my root");
  EXPECT_EQ(mounts[0].mount_point, "/mnt/with space\ttab");
  EXPECT_EQ(mounts[0].fstype, "ext3");
  EXPECT_EQ(mounts[0].source, "/dev/my\\disk");
  EXPECT_EQ(mounts[0].super_options, "rw,errors=continue");
  EXPECT_EQ(mounts[1].fstype, "cgroup2");
  EXPECT_EQ(mounts[1].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(mounts[2].mount_point, "/mnt/odd\\");  // a lone backslash stays
  EXPECT_EQ(fs::unescape_mount_field("a\\040b\\0"), "a b\\0");
}

TEST(Mountinfo, ReadsThisProcessMounts) {
  auto mounts = fs::read_mountinfo();
  ASSERT_TRUE(mounts.has_value()) << mounts.error().message;
  bool root = false;
  for (const auto& m : *mounts) root = root || m.mount_point == "/";
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace berth
