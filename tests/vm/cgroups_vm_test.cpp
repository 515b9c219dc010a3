// The cgroups library against a real cgroup v2 kernel: run inside the VM of tests/vm/run.sh
// (which mounts cgroup2 with every controller enabled at the root). Each test makes its own
// child cgroup, puts a forked process in it that breaches one limit, and checks what the
// library reports: the kill, the counters, the watcher's notification.
// Outside such a kernel (no memory/pids/cpu controller) the tests skip and say why.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "cgroups/cpu.hpp"
#include "cgroups/events.hpp"
#include "cgroups/memory.hpp"
#include "cgroups/pids.hpp"
#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"

namespace berth::cgroups {
namespace {

using namespace std::chrono_literals;

class RealCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mount = find_cgroup2_mount();
    if (!mount) GTEST_SKIP() << "no cgroup2 mounted: " << mount.error().message;
    auto root = Cgroup::open(*mount);
    ASSERT_TRUE(root.has_value()) << root.error().message;
    auto enabled = root->read("cgroup.subtree_control");
    ASSERT_TRUE(enabled.has_value());
    for (const char* c : {"cpu", "memory", "pids"}) {
      if (enabled->find(c) == std::string::npos)
        GTEST_SKIP() << "controller '" << c << "' is not enabled under " << *mount
                     << " (run through tests/vm/run.sh)";
    }
    root_.emplace(std::move(root).value());
    name_ = std::string("berth-vm-test-") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)root_->remove_child(name_, 5s);
    auto cg = root_->create_child(name_);
    ASSERT_TRUE(cg.has_value()) << cg.error().message;
    cg_.emplace(std::move(cg).value());
  }
  void TearDown() override {
    if (root_) {
      cg_.reset();
      auto r = root_->remove_child(name_, 5s);
      EXPECT_TRUE(r.has_value()) << r.error().message;
    }
  }

  // Forks a child that joins the test cgroup and runs `body`; returns its wait status.
  template <typename F>
  int run_in_cgroup(F body) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (!cg_->add_proc(::getpid())) _exit(120);
      _exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  }

  std::optional<Cgroup> root_;
  std::optional<Cgroup> cg_;
  std::string name_;
};

std::vector<Change> wait_changes(EventWatcher& w, std::chrono::milliseconds timeout) {
  std::vector<Change> all;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {w.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      auto c = w.read_changes();
      if (!c) break;
      all.insert(all.end(), c->begin(), c->end());
    } else if (!all.empty()) {
      break;  // quiet for 100 ms after something arrived
    }
  }
  return all;
}

bool populated_now(const Cgroup& cg) { return cg.populated().value_or(true); }

bool has_change(const std::vector<Change>& cs, const std::string& key, EventFile f,
                bool removed = false) {
  for (const auto& c : cs)
    if (c.key == key && c.file == f && c.removed == removed) return true;
  return false;
}

TEST_F(RealCgroup, MemoryMaxOomKillsAndTheWatcherSaysSo) {
  ASSERT_TRUE(memory::set_max(*cg_, 32u << 20).has_value());
  ASSERT_TRUE(memory::set_swap_max(*cg_, 0).has_value());
  ASSERT_TRUE(memory::set_oom_group(*cg_, true).has_value());
  EXPECT_EQ(memory::max(*cg_).value(), Limit{32u << 20});
  EXPECT_TRUE(memory::oom_group(*cg_).value());

  auto watcher = EventWatcher::create().value();
  auto files = watcher.watch("hog", *cg_).value();
  EXPECT_EQ(files.size(), 3u);

  int status = run_in_cgroup([] {
    const size_t size = 100u << 20;
    // volatile: the compiler may not drop an allocation nobody reads.
    volatile char* p = static_cast<volatile char*>(std::malloc(size));
    if (!p) return 2;
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;  // touch every page: anonymous memory
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "hog survived, status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  auto ev = memory::events(*cg_).value();
  EXPECT_GE(ev.oom_kill, 1u);
  EXPECT_GE(ev.oom_group_kill, 1u);  // oom.group=1 on a 6.1 kernel
  EXPECT_GE(ev.max, 1u);
  auto peak = memory::peak(*cg_).value();
  EXPECT_LE(peak, 32u << 20);
  EXPECT_GT(peak, 16u << 20);

  auto changes = wait_changes(watcher, 2s);
  EXPECT_TRUE(has_change(changes, "hog", EventFile::kMemoryEvents));
  EXPECT_TRUE(has_change(changes, "hog", EventFile::kCgroupEvents));  // populated 1 -> 0

  auto s = snapshot(*TaskCgroups::open(cg_->path()).value()).value();
  ASSERT_TRUE(s.memory_events && s.memory_peak && s.memory_max && s.memory_pressure);
  EXPECT_EQ(s.memory_events->oom_kill, ev.oom_kill);
  EXPECT_TRUE(s.memory_pressure->full.has_value());
  std::printf("memory.events: max=%llu oom=%llu oom_kill=%llu oom_group_kill=%llu peak=%llu "
              "memory.pressure some total=%llu us\n",
              (unsigned long long)ev.max, (unsigned long long)ev.oom,
              (unsigned long long)ev.oom_kill, (unsigned long long)ev.oom_group_kill,
              (unsigned long long)peak, (unsigned long long)s.memory_pressure->some.total_usec);
}

TEST_F(RealCgroup, PidsMaxRefusesForks) {
  ASSERT_TRUE(pids::set_max(*cg_, 4).has_value());
  auto watcher = EventWatcher::create().value();
  ASSERT_TRUE(watcher.watch("forker", *cg_).has_value());

  int status = run_in_cgroup([] {
    int refused = 0;
    std::vector<pid_t> kids;
    for (int i = 0; i < 10; ++i) {
      pid_t k = ::fork();
      if (k == 0) {
        ::pause();
        _exit(0);
      }
      if (k < 0) ++refused; else kids.push_back(k);
    }
    for (pid_t k : kids) ::kill(k, SIGKILL);
    for (pid_t k : kids) ::waitpid(k, nullptr, 0);
    return refused > 0 ? 0 : 3;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "no fork was refused";
  EXPECT_GE(pids::events(*cg_).value().max, 1u);
  EXPECT_EQ(pids::current(*cg_).value(), 0u);
  EXPECT_TRUE(has_change(wait_changes(watcher, 2s), "forker", EventFile::kPidsEvents));
}

TEST_F(RealCgroup, CpuMaxThrottles) {
  ASSERT_TRUE(cpu::set_cpus(*cg_, 0.1).has_value());
  EXPECT_EQ(cpu::max(*cg_).value(), (cpu::Max{10000, 100000}));
  EXPECT_EQ(cpu::weight(*cg_).value(), 10u);

  auto start = std::chrono::steady_clock::now();
  int status = run_in_cgroup([start] {
    while (std::chrono::steady_clock::now() - start < 1500ms) {
    }
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status));
  auto st = cpu::stat(*cg_).value();
  ASSERT_TRUE(st.nr_throttled.has_value() && st.throttled_usec.has_value());
  EXPECT_GT(*st.nr_throttled, 0u);
  EXPECT_GT(*st.throttled_usec, 0u);
  // 10% of one CPU over ~1.5 s, with slack for the period in flight and TCG's coarse clock.
  EXPECT_LT(st.usage_usec, 600000u);
  std::printf("cpu.stat: usage_usec=%llu nr_periods=%llu nr_throttled=%llu throttled_usec=%llu\n",
              (unsigned long long)st.usage_usec, (unsigned long long)st.nr_periods.value_or(0),
              (unsigned long long)*st.nr_throttled, (unsigned long long)*st.throttled_usec);
  auto psi = pressure::read(*cg_, pressure::Resource::kCpu).value();
  EXPECT_GT(psi.some.total_usec, 0u);  // throttled time counts as cpu pressure
}

TEST_F(RealCgroup, WatcherFollowsPopulatedAcrossManyCgroups) {
  // Three cgroups in one watcher; only the one whose process exits reports cgroup.events.
  auto watcher = EventWatcher::create().value();
  std::vector<std::string> names = {name_ + "-a", name_ + "-b"};
  ASSERT_TRUE(watcher.watch("main", *cg_).has_value());
  for (const auto& n : names) {
    auto c = root_->create_child(n);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    ASSERT_TRUE(watcher.watch(n, *c).has_value());
  }
  int status = run_in_cgroup([] { return 0; });
  ASSERT_TRUE(WIFEXITED(status));
  auto changes = wait_changes(watcher, 2s);
  EXPECT_TRUE(has_change(changes, "main", EventFile::kCgroupEvents));
  for (const auto& c : changes) EXPECT_EQ(c.key, "main");
  EXPECT_FALSE(populated_now(*cg_));
  for (const auto& n : names) {
    watcher.unwatch(n);
    ASSERT_TRUE(root_->remove_child(n, 5s).has_value());
  }
  watcher.unwatch("main");
  EXPECT_TRUE(watcher.read_changes().value().empty());
}

}  // namespace
}  // namespace berth::cgroups
