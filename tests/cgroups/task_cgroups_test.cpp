// TaskCgroups against the machine's real cgroup2 (root only; the tests run as root here),
// under a per-test root in berth's own subtree: create before the task, join, freeze, kill
// at once, remove with nested groups, and what happens with ids that do not exist.
#include "cgroups/task_cgroups.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/fs.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

using std::chrono::seconds;

class TaskCgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root to create cgroups (the test machines run tests as root)";
    auto mount = find_cgroup2_mount();
    ASSERT_TRUE(mount.has_value()) << mount.error().message;
    parent_ = *mount + "/berth/unit-task-" + std::to_string(::getpid());
    auto root = TaskCgroupRoot::open_or_create(parent_);
    ASSERT_TRUE(root.has_value()) << root.error().message;
    root_.emplace(std::move(root).value());
  }
  void TearDown() override {
    if (root_) {
      for (const auto& id : root_->ids()) (void)root_->remove(id, seconds(5));
    }
    ::rmdir(parent_.c_str());
  }
  // A process that, once released, forks a second one; both sleep. Returns the first's pid.
  pid_t start_family() {
    int go[2];
    if (::pipe(go) != 0) std::abort();
    pid_t p = ::fork();
    if (p == 0) {
      char c;
      ::close(go[1]);
      if (::read(go[0], &c, 1) != 1) ::_exit(126);
      if (::fork() == 0) ::execl("/bin/sleep", "sleep", "60", nullptr);
      ::execl("/bin/sleep", "sleep", "60", nullptr);
      ::_exit(127);
    }
    ::close(go[0]);
    release_fd_ = go[1];
    return p;
  }
  // Lets the family fork, after the test put it in its cgroup.
  void release() {
    char c = 1;
    ASSERT_EQ(::write(release_fd_, &c, 1), 1);
    ::close(release_fd_);
  }
  int release_fd_ = -1;
  std::string parent_;
  std::optional<TaskCgroupRoot> root_;
};

TEST_F(TaskCgroupsTest, KillEndsEveryProcessAtOnceAndRemoveLeavesNothing) {
  auto task = root_->create("t1");
  ASSERT_TRUE(task.has_value()) << task.error().message;
  EXPECT_EQ((*task)->path(), parent_ + "/t1");
  pid_t p = start_family();
  ASSERT_TRUE((*task)->join_all(p).has_value());
  release();  // the second process is forked after the join, so it starts inside
  for (int i = 0; i < 500; ++i) {
    auto procs = (*task)->unified().procs();
    if (procs && procs->size() >= 2) break;
    ::usleep(2000);
  }
  ASSERT_GE((*task)->unified().procs()->size(), 2u);
  ASSERT_TRUE((*task)->kill().has_value());
  int status = 0;
  ASSERT_EQ(::waitpid(p, &status, 0), p);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE((*task)->wait_empty(seconds(5)).has_value());
  ASSERT_TRUE(fs::mkdir_p(parent_ + "/t1/nested/deeper").has_value());
  ASSERT_TRUE(root_->remove("t1", seconds(5)).has_value());
  EXPECT_FALSE(fs::exists(parent_ + "/t1"));
  EXPECT_TRUE(root_->ids().empty());
}

TEST_F(TaskCgroupsTest, RemoveKillsWhatStillRuns) {
  auto task = root_->create("t2");
  ASSERT_TRUE(task.has_value());
  pid_t p = start_family();
  ASSERT_TRUE((*task)->join_all(p).has_value());
  release();
  ASSERT_TRUE(root_->remove("t2", seconds(5)).has_value());
  int status = 0;
  ASSERT_EQ(::waitpid(p, &status, 0), p);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(fs::exists(parent_ + "/t2"));
}

TEST_F(TaskCgroupsTest, FreezeStopsTheTaskAndThawResumesIt) {
  auto task = root_->create("t3");
  ASSERT_TRUE(task.has_value());
  pid_t p = start_family();
  ASSERT_TRUE((*task)->join_all(p).has_value());
  release();
  ASSERT_TRUE((*task)->freeze(seconds(5)).has_value());
  EXPECT_NE((*task)->unified().read("cgroup.events")->find("frozen 1"), std::string::npos);
  ASSERT_TRUE((*task)->thaw().has_value());
  EXPECT_NE((*task)->unified().read("cgroup.events")->find("frozen 0"), std::string::npos);
  ASSERT_TRUE(root_->remove("t3", seconds(5)).has_value());
  ::waitpid(p, nullptr, 0);
}

TEST_F(TaskCgroupsTest, UnknownIdsAndBadNames) {
  EXPECT_TRUE(root_->remove("never-created", seconds(1)).has_value());
  auto missing = root_->open("never-created");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  auto bad = root_->create("../escape");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(parent_ + "/../escape"));
  auto reopened = TaskCgroups::open(parent_ + "/nope");
  EXPECT_EQ(reopened.error().code, Code::kNotFound);
}

// A kernel without cgroup.kill (before 5.14, and v1 hierarchies): freeze, SIGKILL every pid
// listed, thaw, until empty. The fake tree plays the kernel: the pid leaves cgroup.procs
// and the group turns unpopulated once the process is dead.
TEST(TaskCgroupsFallback, WithoutCgroupKillFreezesKillsEveryPidAndThaws) {
  testing::FakeTree t;
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  t.put("cgroup.procs", std::to_string(child) + "\n");
  t.put("cgroup.freeze", "0\n");
  t.put("cgroup.events", "populated 1\nfrozen 1\n");
  int status = 0;
  std::thread kernel([&] {
    ::waitpid(child, &status, 0);
    t.put("cgroup.procs", "");
    t.put("cgroup.events", "populated 0\nfrozen 0\n");
  });
  auto task = TaskCgroups::open(t.path());
  ASSERT_TRUE(task.has_value());
  auto killed = (*task)->kill();
  kernel.join();
  ASSERT_TRUE(killed.has_value()) << killed.error().message;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(t.get("cgroup.freeze"), "0");  // thawed again, so the kills take effect on v1
}

}  // namespace
}  // namespace berth::cgroups
