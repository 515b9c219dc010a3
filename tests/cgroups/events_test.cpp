#include "cgroups/events.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

bool readable(int fd, int timeout_ms = 0) {
  struct pollfd p {fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

void seed(const testing::FakeTree& t, bool with_controllers) {
  t.put("cgroup.events", "populated 1\nfrozen 0\n");
  if (with_controllers) {
    t.put("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    t.put("pids.events", "max 0\n");
  }
}

TEST(EventWatcher, ReportsWhichCgroupAndFileChanged) {
  testing::FakeTree a, b;
  seed(a, true);
  seed(b, false);
  auto w = EventWatcher::create().value();
  auto files_a = w.watch("task-a", a.cgroup()).value();
  auto files_b = w.watch("task-b", b.cgroup()).value();
  EXPECT_EQ(files_a.size(), 3u);
  ASSERT_EQ(files_b.size(), 1u);  // no memory/pids controller there
  EXPECT_EQ(files_b[0], EventFile::kCgroupEvents);
  EXPECT_FALSE(readable(w.fd()));
  EXPECT_TRUE(w.read_changes().value().empty());

  a.put("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  b.put("cgroup.events", "populated 0\nfrozen 0\n");
  ASSERT_TRUE(readable(w.fd(), 1000));
  auto changes = w.read_changes().value();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], (Change{"task-a", EventFile::kMemoryEvents, false}));
  EXPECT_EQ(changes[1], (Change{"task-b", EventFile::kCgroupEvents, false}));
  EXPECT_FALSE(readable(w.fd()));
}

TEST(EventWatcher, CoalescesRepeatedChanges) {
  testing::FakeTree a;
  seed(a, true);
  auto w = EventWatcher::create().value();
  ASSERT_TRUE(w.watch("a", a.cgroup()).has_value());
  for (int i = 0; i < 5; ++i) a.put("pids.events", "max " + std::to_string(i) + "\n");
  auto changes = w.read_changes().value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].file, EventFile::kPidsEvents);
}

TEST(EventWatcher, UnwatchAndDuplicateKeys) {
  testing::FakeTree a;
  seed(a, true);
  auto w = EventWatcher::create().value();
  ASSERT_TRUE(w.watch("a", a.cgroup()).has_value());
  EXPECT_EQ(w.watch("a", a.cgroup()).error().code, Code::kAlreadyExists);
  // The same cgroup under a second key: both keys hear about it.
  ASSERT_TRUE(w.watch("a2", a.cgroup()).has_value());
  a.put("cgroup.events", "populated 0\nfrozen 0\n");
  EXPECT_EQ(w.read_changes().value().size(), 2u);
  w.unwatch("a");
  w.unwatch("never-watched");
  EXPECT_FALSE(w.watching("a"));
  a.put("cgroup.events", "populated 1\nfrozen 0\n");
  auto changes = w.read_changes().value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, "a2");
  w.unwatch("a2");
  a.put("cgroup.events", "populated 0\nfrozen 0\n");
  EXPECT_TRUE(w.read_changes().value().empty());
}

TEST(EventWatcher, RemovedCgroupIsReportedAndForgotten) {
  testing::FakeTree a;
  seed(a, false);
  auto w = EventWatcher::create().value();
  {
    Cgroup cg = a.cgroup();
    ASSERT_TRUE(w.watch("a", cg).has_value());
  }
  a.remove("cgroup.events");
  ASSERT_TRUE(readable(w.fd(), 1000));
  auto changes = w.read_changes().value();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], (Change{"a", EventFile::kCgroupEvents, true}));
  EXPECT_FALSE(w.watching("a"));
  EXPECT_TRUE(w.read_changes().value().empty());
}

TEST(EventWatcher, CgroupWithoutCgroupEventsIsAnError) {
  testing::FakeTree a;
  auto w = EventWatcher::create().value();
  auto r = w.watch("a", a.cgroup());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("cgroup.events"), std::string::npos);
  EXPECT_FALSE(w.watching("a"));
}

}  // namespace
}  // namespace berth::cgroups
