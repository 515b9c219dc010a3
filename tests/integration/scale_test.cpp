// Many tasks and many clients: nothing leaks (mounts, cgroups, processes, files) and
// concurrent API calls keep the table consistent.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

class Scale : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  void expect_nothing_left() {
    EXPECT_TRUE(entries(agent_.state_dir() + "/sandboxes").empty());
    EXPECT_TRUE(entries(agent_.run_dir() + "/containers").empty());
    EXPECT_TRUE(subdirs(agent_.cgroup_root() + "/containers").empty());
    std::string mounts = fs::read_file("/proc/self/mountinfo").value_or("");
    EXPECT_EQ(mounts.find(agent_.root()), std::string::npos);
    // Shims are berthd's children; none may remain (zombies excluded: berthd reaps on SIGCHLD).
    for (int i = 0; i < 100 && !children_of(agent_.pid()).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(children_of(agent_.pid()).empty());
  }
  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(Scale, TwoHundredTasksLeaveNothingBehind) {
  for (int i = 0; i < 200; ++i) {
    std::string id = agent_.run(spec(rootfs_.path(), {"true"}));
    auto exit = agent_.wait(id);
    ASSERT_STREQ(exit["reason"].GetString(), "exited");
    auto removed = agent_.request("DELETE", "/v1/containers/" + id);
    ASSERT_EQ(removed.status, 204) << removed.body;
  }
  expect_nothing_left();
}

TEST_F(Scale, TwentyConcurrentClientsLaunchAndKill) {
  std::atomic<int> failures{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> clients;
  for (int c = 0; c < 20; ++c) {
    clients.emplace_back([&, c] {
      for (int round = 0; round < 3; ++round) {
        auto r = agent_.launch(spec(rootfs_.path(), {"sleep", "60"},
                                    "\"name\": \"c" + std::to_string(c) + "-" + std::to_string(round) + "\""));
        if (r.status != 201) {
          ++failures;
          std::lock_guard lk(mu);
          errors.push_back("launch: " + std::to_string(r.status) + " " + r.body);
          continue;
        }
        std::string id = parse(r.body)["id"].GetString();
        auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
        auto note = [&](const std::string& what) {
          ++failures;
          std::lock_guard lk(mu);
          errors.push_back(what);
        };
        if (k.status != 202) note("kill: " + k.body);
        auto w = agent_.request("GET", "/v1/containers/" + id + "/wait?timeout_s=60");
        if (w.status != 200 || w.body.find("\"reason\":\"killed\"") == std::string::npos) note("wait: " + w.body);
        auto d = agent_.request("DELETE", "/v1/containers/" + id);
        if (d.status != 204) note("delete: " + d.body);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0) << (errors.empty() ? "" : errors.front());
  EXPECT_EQ(parse(agent_.request("GET", "/v1/containers").body)["containers"].Size(), 0u);
  expect_nothing_left();
}

}  // namespace
}  // namespace berth::testing
