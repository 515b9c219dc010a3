// The shared conformance suite every isolator passes (prepare/cleanup pairing, cleanup of
// unknown ids, recover after a restart), against a fake cgroup tree in a temp dir; then what
// each isolator writes and reports, and the Registry's order and breach delivery.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "isolators/cpu/cpu_isolator.hpp"
#include "isolators/devices/devices_isolator.hpp"
#include "isolators/disk/disk_isolator.hpp"
#include "isolators/filesystem/sandbox_isolator.hpp"
#include "isolators/max_runtime/max_runtime_isolator.hpp"
#include "isolators/memory/memory_isolator.hpp"
#include "isolators/namespaces/namespaces_isolator.hpp"
#include "isolators/network/network_isolator.hpp"
#include "isolators/pids/pids_isolator.hpp"
#include "isolators/security/security_isolator.hpp"
#include "isolators/registry.hpp"
#include "isolators/userns/userns_isolator.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

using cgroups::testing::FakeTree;

std::shared_ptr<const cgroups::TaskCgroups> task_cgroups(const FakeTree& t) {
  return cgroups::TaskCgroups::open(t.path()).value();
}

// A task cgroup as a v2 kernel with every controller shows it.
void seed(const FakeTree& t) {
  t.put("cgroup.events", "populated 1\nfrozen 0\n");
  t.put("cpu.max", "max 100000\n");
  t.put("cpu.weight", "100\n");
  t.put("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
  t.put("cpuset.cpus", "\n");
  t.put("memory.max", "max\n");
  t.put("memory.high", "max\n");
  t.put("memory.swap.max", "max\n");
  t.put("memory.oom.group", "0\n");
  t.put("memory.current", "4096\n");
  t.put("memory.peak", "8192\n");
  t.put("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
  t.put("pids.max", "max\n");
  t.put("pids.current", "1\n");
  t.put("pids.events", "max 0\n");
  t.put("devices.allow", "");  // the v1 devices controller's files (cgroups/devices.hpp)
  t.put("devices.deny", "");
  for (const char* p : {"cpu.pressure", "memory.pressure", "io.pressure"})
    t.put(p, "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
}

struct Factory {
  const char* name;
  std::function<std::unique_ptr<Isolator>()> make;
};

class Conformance : public ::testing::TestWithParam<Factory> {
 protected:
  void SetUp() override {
    seed(cg_);
    spec_.cgroups = task_cgroups(cg_);
    spec_.sandbox_dir = sandbox_.path();
    spec_.resources.cpus = 0.5;
    spec_.resources.memory_mb = 64;
    spec_.resources.pids = 100;
    spec_.resources.disk_mb = 10;
    spec_.policy.max_runtime_s = 60;
  }
  FakeTree cg_;
  FakeTree sandbox_;
  ContainerSpec spec_;
};

TEST_P(Conformance, CleanupOfAnUnknownIdIsOk) {
  auto iso = GetParam().make();
  EXPECT_TRUE(iso->cleanup("never-prepared").has_value());
}

TEST_P(Conformance, PrepareThenCleanupLeavesNothing) {
  auto iso = GetParam().make();
  ASSERT_TRUE(iso->prepare("t1", spec_).has_value());
  ASSERT_TRUE(iso->isolate("t1", 42, now_ns()).has_value());
  EXPECT_TRUE(iso->usage("t1").has_value());
  ASSERT_TRUE(iso->cleanup("t1").has_value());
  auto after = iso->usage("t1");
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code, Code::kNotFound);
  EXPECT_TRUE(iso->cleanup("t1").has_value());  // twice is fine
  EXPECT_TRUE(iso->tick(now_ns()).empty());
}

// After a restart the new isolator acts on the task as the old one did: an update reaches the
// kernel's files (or the isolator's own limit), and the limits it reports are the task's.
TEST_P(Conformance, RecoverAfterRestartAdoptsRunningTasks) {
  {
    auto before = GetParam().make();
    ASSERT_TRUE(before->prepare("t1", spec_).has_value());
  }
  auto iso = GetParam().make();  // a new berthd
  ContainerState known{"t1", spec_, now_ns()};
  ASSERT_TRUE(iso->recover(std::span<const ContainerState>(&known, 1)).has_value());
  auto u = iso->usage("t1");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  std::string name = GetParam().name;
  if (name == "max_runtime") { EXPECT_EQ(u->max_runtime_s, 60u); }
  if (name == "disk") { EXPECT_EQ(u->disk_limit_bytes, 10u << 20); }
  Resources more;
  more.cpus = 1.0;
  more.memory_mb = 128;
  more.pids = 50;
  more.disk_mb = 20;
  ASSERT_TRUE(iso->check_update("t1", more).has_value());
  auto updated = iso->update("t1", more);
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  if (name == "memory") { EXPECT_EQ(cg_.get("memory.max"), std::to_string(128 << 20)); }
  if (name == "cpu") { EXPECT_EQ(cg_.get("cpu.max"), "100000 100000"); }
  if (name == "pids") { EXPECT_EQ(cg_.get("pids.max"), "50"); }
  if (name == "disk") { EXPECT_EQ(iso->usage("t1")->disk_limit_bytes, 20u << 20); }
  // The undo puts back what the update changed.
  ASSERT_TRUE((*updated)().has_value());
  if (name == "memory") { EXPECT_EQ(cg_.get("memory.max"), std::to_string(64 << 20)); }
  if (name == "pids") { EXPECT_EQ(cg_.get("pids.max"), "100"); }
  if (name == "disk") { EXPECT_EQ(iso->usage("t1")->disk_limit_bytes, 10u << 20); }
  EXPECT_TRUE(iso->cleanup("t1").has_value());
  EXPECT_FALSE(iso->usage("t1").has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Isolators, Conformance,
    ::testing::Values(Factory{"namespaces", [] { return std::make_unique<NamespacesIsolator>(); }},
                      Factory{"network", [] { return std::make_unique<NetworkIsolator>(); }},
                      Factory{"filesystem_sandbox", [] { return std::make_unique<SandboxIsolator>(); }},
                      Factory{"cpu", [] { return std::make_unique<CpuIsolator>(true, true); }},
                      Factory{"memory", [] { return std::make_unique<MemoryIsolator>(true); }},
                      Factory{"pids", [] { return std::make_unique<PidsIsolator>(true); }},
                      Factory{"disk", [] { return std::make_unique<DiskIsolator>(0); }},
                      Factory{"max_runtime", [] { return std::make_unique<MaxRuntimeIsolator>(); }},
                      Factory{"security_userns", [] {
                                UserNamespaceConfig on;
                                on.default_on = true;
                                return std::unique_ptr<Isolator>(UserNamespaceIsolator::create(on).value());
                              }},
                      Factory{"security", []() -> std::unique_ptr<Isolator> { return SecurityIsolator::create().value(); }},
                      Factory{"devices", [] { return std::make_unique<DevicesIsolator>(); }}),
    [](const auto& info) { return std::string(info.param.name); });

class Limits : public Conformance {};

TEST_F(Limits, PrepareWritesWhatTheKernelEnforces) {
  spec_.resources.cpuset = "0-1";
  spec_.resources.memory_high_mb = 48;
  auto reg = Registry::create_default({"cpu", "cpuset", "memory", "pids"});
  ASSERT_TRUE(reg.has_value());
  ASSERT_TRUE((*reg)->prepare("t1", spec_).has_value());
  EXPECT_EQ(cg_.get("cpu.max"), "50000 100000");
  EXPECT_EQ(cg_.get("cpu.weight"), "50");
  EXPECT_EQ(cg_.get("cpuset.cpus"), "0-1");
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(64 << 20));
  EXPECT_EQ(cg_.get("memory.high"), std::to_string(48 << 20));
  EXPECT_EQ(cg_.get("memory.swap.max"), "0");
  EXPECT_EQ(cg_.get("memory.oom.group"), "1");
  EXPECT_EQ(cg_.get("pids.max"), "100");
  auto u = (*reg)->usage("t1");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(u->cgroup.memory_current, 4096u);
  EXPECT_EQ(u->cgroup.cpu_stat->usage_usec, 10u);
  EXPECT_EQ(u->disk_limit_bytes, 10u << 20);
  EXPECT_EQ(u->max_runtime_s, 60u);
  ASSERT_TRUE((*reg)->cleanup("t1").has_value());
}

TEST_F(Limits, UpdateChangesOnlyWhatItNames) {
  auto reg = Registry::create_default({"cpu", "memory", "pids"});
  ASSERT_TRUE((*reg)->prepare("t1", spec_).has_value());
  Resources u;
  u.memory_mb = 16;
  ASSERT_TRUE((*reg)->update("t1", u).has_value());
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(16 << 20));
  EXPECT_EQ(cg_.get("cpu.max"), "50000 100000");
  EXPECT_EQ(cg_.get("pids.max"), "100");
  EXPECT_EQ((*reg)->update("nope", u).error().code, Code::kNotFound);
}

TEST_F(Limits, AMissingControllerFailsThePrepareAndUndoesIt) {
  auto reg = Registry::create_default({"cpu"});  // no memory
  auto r = (*reg)->prepare("t1", spec_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("memory"), std::string::npos) << r.error().message;
  EXPECT_FALSE((*reg)->usage("t1").has_value());
  EXPECT_TRUE((*reg)->prepare("t1", spec_).has_value() == false);  // still refused, not "already prepared"
}

TEST_F(Limits, GroupOomKillIsAFatalMemoryLimit) {
  auto reg = Registry::create_default({"memory"});
  spec_.resources = Resources{};
  spec_.resources.memory_mb = 64;
  ASSERT_TRUE((*reg)->prepare("t1", spec_).has_value());
  cg_.put("memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 1\n");
  auto found = (*reg)->dispatch_events();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, "t1");
  EXPECT_EQ(found[0].limitation.reason, "memory_limit");
  EXPECT_TRUE(found[0].limitation.fatal);
  EXPECT_TRUE((*reg)->dispatch_events().empty());  // no news, no breach
}

TEST_F(Limits, OomOfOneProcessIsAnEventNotAKill) {
  auto reg = Registry::create_default({"memory"});
  spec_.resources = Resources{};
  spec_.resources.memory_mb = 64;
  spec_.policy.oom_group = false;
  ASSERT_TRUE((*reg)->prepare("t1", spec_).has_value());
  EXPECT_EQ(cg_.get("memory.oom.group"), "0");
  cg_.put("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
  auto found = (*reg)->dispatch_events();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].limitation.reason, "memory_oom");
  EXPECT_FALSE(found[0].limitation.fatal);
}

TEST_F(Limits, PidsHitsAreEventsAndFatalOnlyWithKillOn) {
  for (bool kill_on : {false, true}) {
    FakeTree cg;
    seed(cg);
    ContainerSpec s;
    s.cgroups = task_cgroups(cg);
    s.sandbox_dir = sandbox_.path();
    s.resources.pids = 10;
    s.policy.kill_on_pids = kill_on;
    auto reg = Registry::create_default({"pids"});
    ASSERT_TRUE((*reg)->prepare("t1", s).has_value());
    cg.put("pids.events", "max 5\n");
    auto found = (*reg)->dispatch_events();
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].limitation.reason, "pids_limit");
    EXPECT_EQ(found[0].limitation.fatal, kill_on);
    EXPECT_NE(found[0].limitation.message.find("5 fork(s) refused"), std::string::npos) << found[0].limitation.message;
  }
}

TEST_F(Limits, DiskOverTheLimitIsFatal) {
  DiskIsolator disk(0);
  spec_.resources.disk_mb = 1;
  ASSERT_TRUE(disk.prepare("t1", spec_).has_value());
  EXPECT_TRUE(disk.tick(now_ns()).empty());
  ASSERT_TRUE(fs::mkdir_p(sandbox_.path() + "/work").has_value());
  ASSERT_TRUE(fs::write_file_atomic(sandbox_.path() + "/work/big", std::string(2 << 20, 'x')).has_value());
  EXPECT_TRUE(disk.tick(now_ns()).empty());  // not running yet: nothing to kill, checked later
  ASSERT_TRUE(disk.isolate("t1", 1, now_ns()).has_value());
  // The worker measures in the background; tick reads its last measurement.
  std::vector<ContainerLimitation> found;
  for (int i = 0; i < 500 && found.empty(); ++i) {
    found = disk.tick(now_ns());
    if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(found.size(), 1u) << "no breach reported within 5 s";
  EXPECT_EQ(found[0].limitation.reason, "disk_limit");
  EXPECT_TRUE(found[0].limitation.fatal);
  EXPECT_GE(*disk.usage("t1")->disk_used_bytes, 2u << 20);
  EXPECT_TRUE(disk.tick(now_ns()).empty());  // reported once
}

TEST_F(Limits, MaxRuntimeCountsFromTheRecordedStart) {
  MaxRuntimeIsolator rt;
  spec_.policy.max_runtime_s = 5;
  ContainerState known{"t1", spec_, now_ns() - 10'000'000'000};  // started 10 s ago
  ASSERT_TRUE(rt.recover(std::span<const ContainerState>(&known, 1)).has_value());
  auto found = rt.tick(now_ns());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].limitation.reason, "max_runtime");
  ASSERT_TRUE(rt.prepare("t2", spec_).has_value());
  ASSERT_TRUE(rt.isolate("t2", 1, now_ns()).has_value());
  EXPECT_TRUE(rt.tick(now_ns()).empty());
}

// Records the order of calls across isolators.
class Recorder : public Isolator {
 public:
  Recorder(std::string name, std::vector<std::string>* log, bool fail = false)
      : name_(std::move(name)), log_(log), fail_(fail) {}
  std::string_view name() const override { return name_; }
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override {
    log_->push_back("prepare " + name_);
    if (fail_) return make_error(Code::kInternal, "boom");
    return LaunchAdditions{};
  }
  Result<Usage> usage(const ContainerId&) override { return Usage{}; }
  Status cleanup(const ContainerId&) override {
    log_->push_back("cleanup " + name_);
    return ok();
  }

 private:
  std::string name_;
  std::vector<std::string>* log_;
  bool fail_;
};

TEST(Registry, PreparesInOrderCleansUpInReverseAndUndoesAFailedPrepare) {
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Isolator>> table;
  table.push_back(std::make_unique<Recorder>("a", &log));
  table.push_back(std::make_unique<Recorder>("b", &log));
  auto reg = Registry::create(std::move(table));
  ASSERT_TRUE((*reg)->prepare("t1", ContainerSpec{}).has_value());
  ASSERT_TRUE((*reg)->cleanup("t1").has_value());
  EXPECT_EQ(log, (std::vector<std::string>{"prepare a", "prepare b", "cleanup b", "cleanup a"}));

  log.clear();
  std::vector<std::unique_ptr<Isolator>> failing;
  failing.push_back(std::make_unique<Recorder>("a", &log));
  failing.push_back(std::make_unique<Recorder>("b", &log, true));
  failing.push_back(std::make_unique<Recorder>("c", &log));
  auto reg2 = Registry::create(std::move(failing));
  auto r = (*reg2)->prepare("t1", ContainerSpec{});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("prepare b: boom"), std::string::npos) << r.error().message;
  EXPECT_EQ(log, (std::vector<std::string>{"prepare a", "prepare b", "cleanup b", "cleanup a"}));
}

}  // namespace
}  // namespace berth::isolators
