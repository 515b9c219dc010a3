// TaskCgroups across every hierarchy of this host (root only): on a hybrid host a task gets
// one directory per v1 hierarchy beside its unified one, joins them all, is killed at once in
// all of them and leaves nothing in any of them; a new v1 cpuset group is usable at once.
// Against the real kernel because these are the kernel's rules (cpuset's empty cpus, EBUSY),
// which a fake tree cannot show.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "cgroups/hierarchies.hpp"
#include "cgroups/task_cgroups.hpp"
#include "common/fs.hpp"

namespace berth::cgroups {
namespace {

using std::chrono::seconds;

class TaskCgroupsV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root to create cgroups";
    auto found = discover_hierarchies();
    ASSERT_TRUE(found.has_value()) << found.error().message;
    hier_ = *found;
    if (hier_.v1.empty()) GTEST_SKIP() << "this host mounts no cgroup v1 hierarchy (pure cgroup v2)";
    ASSERT_TRUE(hier_.unified.has_value());
    rel_ = "/berth/unit-v1-" + std::to_string(::getpid());
    auto unified = Cgroup::open_or_create(hier_.unified->mount + rel_);
    ASSERT_TRUE(unified.has_value()) << unified.error().message;
    std::vector<V1Dir> v1;
    for (const auto& h : hier_.v1) {
      auto top = Cgroup::open(h.mount, Kind::kV1);
      ASSERT_TRUE(top.has_value()) << top.error().message;
      auto dir = top->create_descendant(rel_);
      ASSERT_TRUE(dir.has_value()) << dir.error().message;
      v1.push_back(V1Dir{h.controllers, std::move(dir).value()});
    }
    root_.emplace(TaskCgroupRoot::adopt(std::move(unified).value(), std::move(v1)));
  }
  void TearDown() override {
    if (!root_) return;
    for (const auto& id : root_->ids()) (void)root_->remove(id, seconds(5));
    for (const auto& h : hier_.v1) {
      ::rmdir((h.mount + rel_).c_str());
      ::rmdir((h.mount + "/berth").c_str());
    }
    ::rmdir((hier_.unified->mount + rel_).c_str());
    ::rmdir((hier_.unified->mount + "/berth").c_str());
  }
  Hierarchies hier_;
  std::string rel_;
  std::optional<TaskCgroupRoot> root_;
};

pid_t start_sleeper() {
  pid_t p = ::fork();
  if (p == 0) {
    ::execl("/bin/sleep", "sleep", "60", nullptr);
    ::_exit(127);
  }
  return p;
}

TEST_F(TaskCgroupsV1Test, ATaskHasADirectoryInEveryHierarchyAndLeavesNone) {
  auto task = root_->create("t1");
  ASSERT_TRUE(task.has_value()) << task.error().message;
  ASSERT_EQ((*task)->v1().size(), hier_.v1.size());
  for (const auto& h : hier_.v1) {
    EXPECT_TRUE(fs::exists(h.mount + rel_ + "/t1")) << h.mount;
    EXPECT_EQ((*task)->for_controller(*h.controllers.begin()).path(), h.mount + rel_ + "/t1");
    EXPECT_EQ((*task)->for_controller(*h.controllers.begin()).kind(), Kind::kV1);
  }
  EXPECT_EQ((*task)->for_controller("io").path(), (*task)->path());  // not v1 here: unified

  pid_t p = start_sleeper();
  ASSERT_TRUE((*task)->join_all(p).has_value());
  for (const auto& d : (*task)->v1()) {
    auto procs = d.cg.procs();
    ASSERT_TRUE(procs.has_value());
    EXPECT_NE(std::find(procs->begin(), procs->end(), p), procs->end()) << d.cg.path();
  }
  EXPECT_EQ(root_->ids(), std::vector<std::string>{"t1"});
  ASSERT_TRUE(root_->remove("t1", seconds(5)).has_value());
  int status = 0;
  ASSERT_EQ(::waitpid(p, &status, 0), p);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (const auto& h : hier_.v1) EXPECT_FALSE(fs::exists(h.mount + rel_ + "/t1")) << h.mount;
  EXPECT_FALSE(fs::exists(hier_.unified->mount + rel_ + "/t1"));
  EXPECT_TRUE(root_->ids().empty());
}

TEST_F(TaskCgroupsV1Test, ReopenedFromItsSpecsFindsEveryDirectory) {
  auto task = root_->create("t2");
  ASSERT_TRUE(task.has_value()) << task.error().message;
  auto specs = root_->v1_specs_of("t2");
  EXPECT_EQ(specs, (*task)->v1_specs());
  auto again = TaskCgroups::open(root_->path_of("t2"), specs);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  for (const auto& h : hier_.v1)
    EXPECT_EQ((*again)->for_controller(*h.controllers.begin()).path(), h.mount + rel_ + "/t2");
  EXPECT_FALSE(TaskCgroups::open(root_->path_of("t2"), {"memory"}).has_value());
}

TEST_F(TaskCgroupsV1Test, AV1DirectoryLeftWithoutItsUnifiedOneIsStillRemoved) {
  ASSERT_TRUE(root_->create("t3").has_value());
  ASSERT_EQ(::rmdir((hier_.unified->mount + rel_ + "/t3").c_str()), 0);
  EXPECT_EQ(root_->ids(), std::vector<std::string>{"t3"});
  ASSERT_TRUE(root_->remove("t3", seconds(5)).has_value());
  EXPECT_TRUE(root_->ids().empty());
}

TEST_F(TaskCgroupsV1Test, ANewCpusetGroupCanBeJoined) {
  if (!hier_.v1_for("cpuset")) GTEST_SKIP() << "no v1 cpuset hierarchy on this host";
  auto task = root_->create("t4");
  ASSERT_TRUE(task.has_value()) << task.error().message;
  auto cpus = (*task)->for_controller("cpuset").read("cpuset.cpus");
  ASSERT_TRUE(cpus.has_value());
  EXPECT_NE(cpus->find_first_not_of("\n"), std::string::npos) << "empty cpuset.cpus";
  pid_t p = start_sleeper();
  auto joined = (*task)->join_all(p);
  EXPECT_TRUE(joined.has_value()) << joined.error().message;
  ::kill(p, SIGKILL);
  ::waitpid(p, nullptr, 0);
}

TEST_F(TaskCgroupsV1Test, FreezeUsesTheUnifiedFreezerWhereTheHostHasItAndKillReachesEveryHierarchy) {
  if (!hier_.v1_for("freezer")) GTEST_SKIP() << "no v1 freezer hierarchy on this host";
  auto task = root_->create("t5");
  ASSERT_TRUE(task.has_value()) << task.error().message;
  pid_t p = start_sleeper();
  ASSERT_TRUE((*task)->join_all(p).has_value());
  ASSERT_TRUE((*task)->freeze(seconds(2)).has_value());
  auto state = (*task)->for_controller("freezer").read("freezer.state");
  ASSERT_TRUE(state.has_value());
  // The unified cgroup.freeze serves here; the v1 freezer stays thawed.
  EXPECT_EQ(*state, "THAWED\n");
  ASSERT_TRUE((*task)->thaw().has_value());
  ASSERT_TRUE((*task)->kill().has_value());
  int status = 0;
  ASSERT_EQ(::waitpid(p, &status, 0), p);
  EXPECT_TRUE(WIFSIGNALED(status));
}

}  // namespace
}  // namespace berth::cgroups
