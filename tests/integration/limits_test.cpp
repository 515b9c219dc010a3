// Limits on this host through the real berthd. Where no hierarchy offers a controller, a
// limit needing it is refused with the controller named; the limits berth enforces itself
// (disk_mb, max_runtime_s) work anywhere, and stats show what the kernel does count.
// Enforcement of the controller limits is tests/integration/limits_enforced_test.cpp (cgroup
// v1 on hybrid hosts, v2 in the VM).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "cgroups/hierarchies.hpp"
#include "common/json.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

class Limits : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    auto info = parse(agent_.request("GET", "/v1/info").body);
    for (const auto& c : info["cgroup"]["controllers"].GetArray()) controllers_.insert(c.GetString());
  }
  std::string run(const std::vector<std::string>& command, const std::string& extra) {
    return agent_.run(spec(rootfs_.path(), command, extra));
  }
  bool no_task_cgroups() {
    return poll_until([&] { return agent_.leftover_task_cgroups().empty(); }, std::chrono::seconds(5));
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
  std::set<std::string> controllers_;
};

// A host on which no hierarchy serves pids: berthd started in a mount namespace of its own
// where the v1 pids hierarchy is covered by an empty tmpfs (nothing changes on the machine).
TEST(LimitsWithoutAController, ALimitNeedingItIsRefusedNamingIt) {
  auto found = cgroups::discover_hierarchies();
  ASSERT_TRUE(found.has_value()) << found.error().message;
  std::string pids_mount;
  for (const auto& h : found->v1)
    if (h.controllers.count("pids")) pids_mount = h.mount;
  if (pids_mount.empty()) GTEST_SKIP() << "pids is not a v1 hierarchy here: nothing berthd could be started without";
  BusyboxRootfs rootfs;
  Agent agent;
  agent.start_hiding_mount(pids_mount);
  auto st = agent.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto info = parse(agent.request("GET", "/v1/info").body);
  for (const auto& c : info["cgroup"]["controllers"].GetArray()) EXPECT_STRNE(c.GetString(), "pids");

  auto r = agent.launch(spec(rootfs.path(), {"true"}, R"("resources": {"pids": 10})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("'pids' controller"), std::string::npos) << r.body;
  EXPECT_EQ(parse(agent.request("GET", "/v1/containers").body)["containers"].Size(), 0u);

  // The same for a live update of a running task; the limits that are served still work.
  std::string id = agent.run(spec(rootfs.path(), {"sleep", "30"}, R"("resources": {"memory_mb": 64})"));
  r = agent.request("POST", "/v1/containers/" + id + "/update", R"({"pids": 5})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("'pids' controller"), std::string::npos) << r.body;
  EXPECT_EQ(agent.request("DELETE", "/v1/containers/" + id + "?force=1").status, 204);
  EXPECT_TRUE(poll_until([&] { return agent.leftover_task_cgroups().empty(); }, std::chrono::seconds(5)));
}

TEST_F(Limits, WritingPastDiskMbEndsWithDiskLimit) {
  std::string id = run({"sh", "-c", "dd if=/dev/zero of=/mnt/sandbox/big bs=1M count=40 2>/dev/null; sleep 60"},
                       R"("resources": {"disk_mb": 16})");
  auto t = agent_.wait(id);
  EXPECT_STREQ(t["reason"].GetString(), "disk_limit") << json::to_string(t);
  EXPECT_STREQ(t["signal"].GetString(), "SIGKILL");
  EXPECT_GT(t["usage"]["disk"]["used_bytes"].GetUint64(), 16u << 20);
  EXPECT_EQ(t["limits"]["disk_mb"].GetUint64(), 16u);
  EXPECT_TRUE(no_task_cgroups());
}

TEST_F(Limits, WritingToTheRootfsCountsToo) {
  std::string id = run({"sh", "-c", "dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null; sleep 60"},
                       R"("resources": {"disk_mb": 16})");
  auto t = agent_.wait(id);
  EXPECT_STREQ(t["reason"].GetString(), "disk_limit") << json::to_string(t);
}

TEST_F(Limits, MaxRuntimeSurvivesABerthdRestart) {
  std::string id = run({"sleep", "120"}, R"("max_runtime_s": 4)");
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  agent_.stop();  // the task runs on without berthd
  ASSERT_TRUE(agent_.start().has_value());
  auto t = agent_.wait(id);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_STREQ(t["reason"].GetString(), "max_runtime") << json::to_string(t);
  EXPECT_GE(took, 3.5);
  EXPECT_LT(took, 8.0);
  // The record, with its limits, survives another restart.
  agent_.stop();
  ASSERT_TRUE(agent_.start().has_value());
  auto c = agent_.get(id);
  EXPECT_STREQ(c["exit"]["reason"].GetString(), "max_runtime");
  EXPECT_EQ(c["exit"]["limits"]["max_runtime_s"].GetUint64(), 4u);
  EXPECT_TRUE(no_task_cgroups());
}

TEST_F(Limits, StatsShowWhatThisHostCounts) {
  std::string id = run({"sh", "-c", "echo x > /mnt/sandbox/f; sleep 60"}, R"("resources": {"disk_mb": 64}, "max_runtime_s": 600)");
  // The disk isolator measures in the background; wait for the measurement that sees the file.
  cli::HttpResponse r;
  rapidjson::Document s;
  bool counted = poll_until([&] {
    r = agent_.request("GET", "/v1/containers/" + id + "/stats");
    if (r.status != 200) return true;
    s = parse(r.body);
    const auto& used = s["usage"]["disk"]["used_bytes"];
    return used.IsUint64() && used.GetUint64() > 0;
  }, std::chrono::seconds(10));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(counted) << "disk used_bytes still not above 0 after 10 s: " << r.body;
  EXPECT_TRUE(s["usage"]["cpu"]["usage_usec"].IsUint64()) << r.body;  // cgroup core counts it
  EXPECT_EQ(s["usage"]["disk"]["limit_bytes"].GetUint64(), 64u << 20);
  EXPECT_EQ(s["usage"]["runtime"]["limit_s"].GetUint64(), 600u);
  if (!controllers_.count("memory")) {
    EXPECT_TRUE(s["usage"]["memory"]["limit_bytes"].IsNull());
  }
  auto all = parse(agent_.request("GET", "/v1/stats").body);
  ASSERT_EQ(all["containers"].Size(), 1u);
  auto info = parse(agent_.request("GET", "/v1/info").body);
  EXPECT_EQ(info["allocated"]["disk_mb"].GetUint64(), 64u);
  EXPECT_EQ(info["allocated"]["tasks"].GetUint64(), 1u);
  EXPECT_GE(info["isolators"].Size(), 5u);
  // The CLI's table names the task.
  std::string cmd = "BERTH_SOCKET=" + agent_.socket() + " " + bin_dir() + "/berth stats --no-stream 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find(id.substr(0, 12)), std::string::npos) << out;
  EXPECT_NE(out.find("64.0MiB"), std::string::npos) << out;
  // After the end, stats are the termination record's.
  agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  auto t = agent_.wait(id);
  EXPECT_STREQ(t["reason"].GetString(), "killed");
  auto after = parse(agent_.request("GET", "/v1/containers/" + id + "/stats").body);
  EXPECT_STREQ(after["state"].GetString(), "exited");
  EXPECT_TRUE(after["usage"]["cpu"]["usage_usec"].IsUint64());
}

}  // namespace
}  // namespace berth::testing
