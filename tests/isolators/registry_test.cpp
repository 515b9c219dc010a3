// The Registry's merge of what isolators add to a launch, and its all-or-nothing update
// (defect 12): a refused or failing update leaves every cgroup file as it was.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "isolators/memory/memory_isolator.hpp"
#include "isolators/pids/pids_isolator.hpp"
#include "isolators/registry.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

using cgroups::testing::FakeTree;

// An isolator that adds what it is given and can refuse or fail updates.
class Adder : public Isolator {
 public:
  Adder(std::string name, LaunchAdditions add) : name_(std::move(name)), add_(std::move(add)) {}
  std::string_view name() const override { return name_; }
  Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) override {
    prepared_ = true;
    return add_;
  }
  Status check_update(const ContainerId&, const Resources&) override {
    if (refuse_) return make_error(Code::kInvalidArgument, "refused by " + name_);
    return ok();
  }
  Result<Undo> update(const ContainerId&, const Resources&) override {
    if (fail_) return make_error(Code::kInternal, "write failed in " + name_);
    return no_undo();
  }
  Result<Usage> usage(const ContainerId&) override { return Usage{}; }
  Status cleanup(const ContainerId&) override {
    cleaned_ = true;
    return ok();
  }
  bool refuse_ = false, fail_ = false, prepared_ = false, cleaned_ = false;

 private:
  std::string name_;
  LaunchAdditions add_;
};

Result<LaunchAdditions> prepare_with(std::vector<LaunchAdditions> adds, std::vector<Adder*>* out = nullptr,
                                     const ContainerSpec& spec = {}) {
  std::vector<std::unique_ptr<Isolator>> table;
  char n = 'a';
  for (auto& a : adds) {
    auto iso = std::make_unique<Adder>(std::string(1, n++), std::move(a));
    if (out) out->push_back(iso.get());
    table.push_back(std::move(iso));
  }
  static std::vector<std::unique_ptr<Registry>> keep;  // the isolators outlive the call
  keep.push_back(Registry::create(std::move(table)).value());
  return keep.back()->prepare("t1", spec);
}

TEST(Merge, TakesEveryKindInIsolatorOrder) {
  LaunchAdditions a, b;
  a.namespaces = {{"mount", ""}, {"pid", ""}};
  a.mounts.push_back({"/mnt/sandbox", "bind", "/s/work", {"rbind"}});
  a.masked_paths = {"/proc/kcore", "/proc/keys"};
  a.env["A"] = "1";
  b.namespaces = {{"network", "/run/netns/t1"}};
  b.mounts.push_back({"/etc/resolv.conf", "bind", "/s/resolv.conf", {"bind", "ro"}});
  b.masked_paths = {"/proc/keys", "/sys/firmware"};
  b.env["PORT0"] = "31000";
  b.rlimits.push_back({"RLIMIT_CORE", 0, 0});
  b.sysctls["net.ipv4.ping_group_range"] = "0 0";
  b.seccomp_bpf = std::vector<uint8_t>(8, 1);
  b.no_new_privileges = true;
  b.hooks.push_back({"/bin/true", {}, {}, 1});
  auto m = prepare_with({a, b});
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->namespaces.size(), 3u);
  EXPECT_EQ(m->namespaces[2], (sandbox::OciNamespace{"network", "/run/netns/t1"}));
  ASSERT_EQ(m->mounts.size(), 2u);
  EXPECT_EQ(m->mounts[0].destination, "/mnt/sandbox");
  EXPECT_EQ(m->mounts[1].destination, "/etc/resolv.conf");
  EXPECT_EQ(m->masked_paths, (std::vector<std::string>{"/proc/kcore", "/proc/keys", "/sys/firmware"}));
  EXPECT_EQ(m->env, (std::map<std::string, std::string>{{"A", "1"}, {"PORT0", "31000"}}));
  EXPECT_EQ(m->rlimits.size(), 1u);
  EXPECT_EQ(m->sysctls.size(), 1u);
  EXPECT_EQ(m->seccomp_bpf.size(), 8u);
  EXPECT_TRUE(m->no_new_privileges);
  EXPECT_EQ(m->hooks.size(), 1u);
}

TEST(Merge, TheSameKeyFromTwoIsolatorsIsAnErrorNamingBothAndUndoesThePrepare) {
  struct Case {
    std::function<void(LaunchAdditions&)> set;
    const char* names;
  };
  for (const Case& c : {Case{[](LaunchAdditions& x) { x.env["PORT0"] = "1"; }, "env 'PORT0'"},
                        Case{[](LaunchAdditions& x) { x.mounts.push_back({"/data", "bind", "/d", {"bind"}}); }, "mount at '/data'"},
                        Case{[](LaunchAdditions& x) { x.namespaces.push_back({"network", ""}); }, "namespace 'network'"},
                        Case{[](LaunchAdditions& x) { x.rlimits.push_back({"RLIMIT_NOFILE", 1, 1}); }, "rlimit 'RLIMIT_NOFILE'"},
                        Case{[](LaunchAdditions& x) { x.sysctls["net.core.somaxconn"] = "1"; }, "sysctl 'net.core.somaxconn'"},
                        Case{[](LaunchAdditions& x) { x.seccomp_bpf = std::vector<uint8_t>(8, 0); }, "seccomp 'program'"}}) {
    LaunchAdditions a, b;
    c.set(a);
    c.set(b);
    std::vector<Adder*> isos;
    auto m = prepare_with({LaunchAdditions{}, a, b}, &isos);
    ASSERT_FALSE(m.has_value()) << c.names;
    EXPECT_EQ(m.error().code, Code::kInvalidArgument);
    EXPECT_NE(m.error().message.find(std::string(c.names) + " is set by both isolator b and isolator c"), std::string::npos)
        << m.error().message;
    for (Adder* i : isos) EXPECT_TRUE(i->cleaned_) << "every prepared isolator is cleaned up";
  }
}

TEST(Merge, DeviceRulesWithoutACgroupAreRefusedNotIgnored) {
  LaunchAdditions dev;
  dev.devices.push_back(DeviceRule{true, 'c', 1, 3, "rwm"});
  std::vector<Adder*> isos;
  auto m = prepare_with({LaunchAdditions{}, dev}, &isos);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, Code::kFailedPrecondition);
  EXPECT_NE(m.error().message.find("isolator b asks for device rules"), std::string::npos) << m.error().message;
  EXPECT_TRUE(isos[0]->cleaned_ && isos[1]->cleaned_);
}

// The rules of every isolator, in table order, confine the task's cgroup before prepare
// returns (here a v1 devices directory: deny all, then one write per rule).
TEST(Merge, DeviceRulesOfEveryIsolatorReachTheTaskCgroup) {
  FakeTree cg;
  cg.put("cgroup.events", "populated 0\n");
  cg.put("devices.allow", "");
  cg.put("devices.deny", "");
  ContainerSpec spec;
  spec.cgroups = cgroups::TaskCgroups::open(cg.path()).value();
  LaunchAdditions a, b;
  a.devices.push_back(DeviceRule{true, 'c', 1, 3, "rwm"});
  b.devices.push_back(DeviceRule{true, 'b', 8, -1, "r"});
  auto m = prepare_with({a, b}, nullptr, spec);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->devices.size(), 2u);
  EXPECT_EQ(cg.get("devices.deny"), "a");
  EXPECT_EQ(cg.get("devices.allow"), "b 8:* r");  // the last rule written
}

TEST(Merge, AnUnusableDeviceRuleIsRefusedWithWhatToChange) {
  FakeTree cg;
  cg.put("devices.allow", "");
  cg.put("devices.deny", "");
  ContainerSpec spec;
  spec.cgroups = cgroups::TaskCgroups::open(cg.path()).value();
  LaunchAdditions a;
  a.devices.push_back(DeviceRule{true, 'x', 1, 3, "rwq"});
  auto m = prepare_with({a}, nullptr, spec);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, Code::kInvalidArgument);
  EXPECT_NE(m.error().message.find("type must be"), std::string::npos) << m.error().message;
  EXPECT_EQ(cg.get("devices.deny"), "") << "nothing written";
}

class Update : public ::testing::Test {
 protected:
  void SetUp() override {
    cg_.put("cgroup.events", "populated 1\nfrozen 0\n");
    for (const char* f : {"memory.max", "memory.high", "memory.swap.max", "pids.max"}) cg_.put(f, "max\n");
    cg_.put("memory.oom.group", "0\n");
    spec_.cgroups = cgroups::TaskCgroups::open(cg_.path()).value();
    spec_.resources.memory_mb = 64;
    spec_.resources.pids = 100;
  }
  // memory, pids, then an Adder that can refuse or fail.
  std::unique_ptr<Registry> registry(bool pids_controller, Adder** last) {
    std::vector<std::unique_ptr<Isolator>> table;
    table.push_back(std::make_unique<MemoryIsolator>(true));
    table.push_back(std::make_unique<PidsIsolator>(pids_controller));
    auto tail = std::make_unique<Adder>("tail", LaunchAdditions{});
    *last = tail.get();
    table.push_back(std::move(tail));
    return Registry::create(std::move(table)).value();
  }
  static Resources smaller() {
    Resources u;
    u.memory_mb = 16;
    u.pids = 10;
    return u;
  }
  FakeTree cg_;
  ContainerSpec spec_;
};

TEST_F(Update, RefusedByALaterIsolatorChangesNothing) {
  Adder* tail = nullptr;
  auto reg = registry(true, &tail);
  ASSERT_TRUE(reg->prepare("t1", spec_).has_value());
  tail->refuse_ = true;
  auto r = reg->update("t1", smaller());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("refused by tail"), std::string::npos) << r.error().message;
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(64 << 20));
  EXPECT_EQ(cg_.get("pids.max"), "100");
}

TEST_F(Update, AMissingControllerOfALaterIsolatorChangesNothing) {
  Adder* tail = nullptr;
  auto reg = registry(false, &tail);  // pids limits cannot be enforced
  spec_.resources.pids.reset();
  ASSERT_TRUE(reg->prepare("t1", spec_).has_value());
  auto r = reg->update("t1", smaller());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(64 << 20));  // memory comes first, yet is untouched
}

TEST_F(Update, AFailingApplyRollsBackTheEarlierIsolators) {
  Adder* tail = nullptr;
  auto reg = registry(true, &tail);
  ASSERT_TRUE(reg->prepare("t1", spec_).has_value());
  tail->fail_ = true;
  Resources u = smaller();
  u.memory_high_mb = 8;
  auto r = reg->update("t1", u);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("write failed in tail"), std::string::npos) << r.error().message;
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(64 << 20));
  EXPECT_EQ(cg_.get("memory.high"), "max");  // never set before: back to "max", not left at 8 MiB
  EXPECT_EQ(cg_.get("pids.max"), "100");
  tail->fail_ = false;
  ASSERT_TRUE(reg->update("t1", u).has_value());
  EXPECT_EQ(cg_.get("memory.max"), std::to_string(16 << 20));
  EXPECT_EQ(cg_.get("pids.max"), "10");
}

}  // namespace
}  // namespace berth::isolators
