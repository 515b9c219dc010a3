// The disk isolator against trees a task controls: its walks are iterative and budgeted, run
// in its worker (tick and usage never walk), and a walk stopped by its budget is reported,
// naming the budget.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "cgroups/task_cgroups.hpp"
#include "isolators/disk/disk_isolator.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.cgroups = cgroups::TaskCgroups::open(cg_.path()).value();
    spec_.sandbox_dir = sandbox_.path();
    ASSERT_TRUE(fs::mkdir_p(sandbox_.path() + "/work").has_value());
  }
  void make_files(int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(fs::write_file_atomic(sandbox_.path() + "/work/f" + std::to_string(i), "x", 0644,
                                        fs::Durability::kVolatile));
  }
  // Ticks until a limitation comes (at most 5 s).
  std::vector<ContainerLimitation> tick_until_found(DiskIsolator& disk) {
    std::vector<ContainerLimitation> found;
    for (int i = 0; i < 500 && found.empty(); ++i) {
      found = disk.tick(now_ns());
      if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return found;
  }

  cgroups::testing::FakeTree cg_;
  cgroups::testing::FakeTree sandbox_;
  ContainerSpec spec_;
};

TEST_F(DiskTest, AWalkStoppedByItsEntryBudgetIsReportedNamingTheBudget) {
  make_files(300);
  fs::WalkBudget budget;
  budget.max_entries = 100;
  DiskIsolator disk(0, budget);
  spec_.resources.disk_mb = 1000;
  ASSERT_TRUE(disk.prepare("t1", spec_).has_value());
  ASSERT_TRUE(disk.isolate("t1", 1, now_ns()).has_value());
  auto found = tick_until_found(disk);
  ASSERT_EQ(found.size(), 1u) << "no report within 5 s";
  EXPECT_EQ(found[0].limitation.reason, "disk_unmeasured");
  EXPECT_FALSE(found[0].limitation.fatal);
  EXPECT_NE(found[0].limitation.message.find("budget of 100 entries"), std::string::npos) << found[0].limitation.message;
  EXPECT_TRUE(disk.tick(now_ns()).empty());  // once
}

TEST_F(DiskTest, DiskUsageSaysWhichBudgetStoppedIt) {
  make_files(300);
  fs::WalkBudget budget;
  budget.max_entries = 50;
  auto u = disk_usage(sandbox_.path() + "/work", budget);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->stop, fs::WalkStop::kEntryBudget);
  EXPECT_EQ(u->stop_reason, "stopped at the budget of 50 entries");
  EXPECT_EQ(u->entries, 50u);
  budget = fs::WalkBudget{};
  budget.max_ms = -1;  // already over at the first check
  u = disk_usage(sandbox_.path() + "/work", budget);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->stop, fs::WalkStop::kTimeBudget);
  EXPECT_EQ(u->stop_reason, "stopped at the time budget of -1 ms");
}

TEST_F(DiskTest, UsageNeverWalksAndReturnsTheWorkersLastMeasurement) {
  ASSERT_TRUE(fs::write_file_atomic(sandbox_.path() + "/work/big", std::string(2 << 20, 'x')).has_value());
  DiskIsolator disk(3'600'000'000'000);  // periodic walks far apart: only asked-for ones happen
  ASSERT_TRUE(disk.prepare("t1", spec_).has_value());
  auto first = disk.usage("t1");
  ASSERT_TRUE(first.has_value());
  std::optional<uint64_t> used;
  for (int i = 0; i < 500 && !used; ++i) {
    used = disk.usage("t1")->disk_used_bytes;
    if (!used) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(used.has_value()) << "the worker measured nothing within 5 s";
  EXPECT_GE(*used, 2u << 20);
}

TEST_F(DiskTest, ADeepChainIsMeasuredWithoutRecursion) {
  UniqueFd cur = UniqueFd::adopt(::open((sandbox_.path() + "/work").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < 30'000; ++i) {
    ASSERT_EQ(::mkdirat(cur.get(), "d", 0755), 0);
    cur = UniqueFd::adopt(::openat(cur.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(cur.valid());
  }
  auto u = disk_usage(sandbox_.path() + "/work");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(u->stop, fs::WalkStop::kComplete);
  EXPECT_EQ(u->entries, 30'001u);
  EXPECT_GE(u->bytes, 30'000u * 4096);
}

TEST_F(DiskTest, CleanupOfATaskBeingWalkedDoesNotWait) {
  make_files(2000);
  DiskIsolator disk(0);
  spec_.resources.disk_mb = 1000;
  ASSERT_TRUE(disk.prepare("t1", spec_).has_value());
  ASSERT_TRUE(disk.isolate("t1", 1, now_ns()).has_value());
  ASSERT_TRUE(disk.cleanup("t1").has_value());
  EXPECT_FALSE(disk.usage("t1").has_value());
  EXPECT_TRUE(disk.tick(now_ns()).empty());
}

}  // namespace
}  // namespace berth::isolators
