// Many tasks and many clients: nothing leaks (mounts, cgroups, processes, files) and
// concurrent API calls keep the table consistent.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>
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
    EXPECT_TRUE(agent_.leftover_task_cgroups().empty());
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

// Tasks that exit at once race their own launch: the exit must still be settled after the
// start (defect 17: some stayed `running` forever, `exited` streamed before `started`).
TEST_F(Scale, FiveHundredQuickTasksFromTwentyClientsAllEndExited) {
  constexpr int kClients = 20, kPerClient = 25;
  std::mutex mu;
  std::vector<std::string> ids, errors;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kPerClient; ++i) {
        auto r = agent_.launch(spec(rootfs_.path(), {"/bin/true"}));
        std::lock_guard lk(mu);
        if (r.status == 201) ids.push_back(parse(r.body)["id"].GetString());
        else errors.push_back("launch: " + std::to_string(r.status) + " " + r.body);
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_TRUE(errors.empty()) << errors.size() << " launches failed, first: " << errors.front();
  ASSERT_EQ(ids.size(), size_t{kClients * kPerClient});

  // wait answers for every one, with exit code 0.
  std::vector<std::thread> waiters;
  for (int c = 0; c < kClients; ++c) {
    waiters.emplace_back([&, c] {
      for (size_t i = c; i < ids.size(); i += kClients) {
        auto w = agent_.request("GET", "/v1/containers/" + ids[i] + "/wait?timeout_s=60");
        if (w.status != 200 || w.body.find("\"reason\":\"exited\"") == std::string::npos ||
            w.body.find("\"exit_code\":0") == std::string::npos) {
          std::lock_guard lk(mu);
          errors.push_back("wait " + ids[i] + ": " + std::to_string(w.status) + " " + w.body);
        }
      }
    });
  }
  for (auto& t : waiters) t.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " waits failed, first: " << errors.front();

  // ps agrees: every one exited, and its times are in order.
  auto list = parse(agent_.request("GET", "/v1/containers").body);
  ASSERT_EQ(list["containers"].Size(), ids.size());
  for (const auto& c : list["containers"].GetArray()) {
    EXPECT_STREQ(c["state"].GetString(), "exited") << c["id"].GetString();
    ASSERT_TRUE(c["started_at"].IsString() && c["finished_at"].IsString()) << c["id"].GetString();
    EXPECT_LE(std::string(c["started_at"].GetString()), std::string(c["finished_at"].GetString()))
        << c["id"].GetString();
  }

  // Each task's events: started before exited, exactly once each. A marker task launched
  // after every wait returned ends the replay: everything before it has been published.
  std::string marker = agent_.run(spec(rootfs_.path(), {"/bin/true"}));
  std::map<std::string, std::vector<std::string>> seen;
  auto streamed = agent_.stream_lines("GET", "/v1/events?since=0", "", [&](const std::string& line) {
    auto e = parse(line);
    if (!e.HasMember("id")) return true;
    std::string id = e["id"].GetString();
    if (id == marker) return false;
    seen[id].push_back(e["type"].GetString());
    return true;
  });
  ASSERT_TRUE(streamed.has_value()) << streamed.error().message;
  for (const auto& id : ids) {
    const auto& types = seen[id];
    std::vector<std::string> life;
    for (const auto& t : types)
      if (t == "container.started" || t == "container.exited") life.push_back(t);
    EXPECT_EQ(life, (std::vector<std::string>{"container.started", "container.exited"})) << id;
  }
}

}  // namespace
}  // namespace berth::testing
