// A task is hostile: what it leaves in its sandbox must never take berthd down. Here a task
// leaves a directory chain 26,000 levels deep in /mnt/sandbox (made with renames, so every
// path the task uses stays short) and exits: berthd settles the exit (measuring disk usage),
// answers, removes the sandbox on rm, and comes back up over such a sandbox after a kill -9.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

// Builds the chain with renames of 2,000-level pieces: 13 rounds, about 26,000 levels.
constexpr const char* kDeepChain =
    "cd /mnt/sandbox && p=d && i=1 && while [ $i -lt 2000 ]; do p=$p/d; i=$((i+1)); done && "
    "mkdir c && n=0 && while [ $n -lt 13 ]; do mkdir -p x/$p && mv c x/$p/c && mv x c || exit 1; n=$((n+1)); done && "
    "echo built";
constexpr int kMinDepth = 25'000;

// Levels of directories below `dir` (following the first subdirectory at each level).
int depth_below(const std::string& dir) {
  UniqueFd cur = UniqueFd::adopt(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int depth = 0;
  while (cur) {
    auto names = entries("/proc/self/fd/" + std::to_string(cur.get()));
    if (names.empty()) break;
    UniqueFd next = UniqueFd::adopt(::openat(cur.get(), names.front().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) break;
    cur = std::move(next);
    ++depth;
  }
  return depth;
}

class HostileTask : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string sandbox_of(const std::string& id) { return agent_.state_dir() + "/sandboxes/" + id; }
  // berthd is alive and answers the API.
  void expect_answering() {
    EXPECT_TRUE(process_alive(agent_.pid())) << "berthd died:\n" << agent_.log_text();
    EXPECT_EQ(agent_.request("GET", "/v1/containers").status, 200);
  }
  // Runs the chain builder to its exit; returns its id.
  std::string leave_deep_chain() {
    std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c", kDeepChain}));
    auto exit = agent_.wait(id);
    EXPECT_STREQ(exit["reason"].GetString(), "exited");
    EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent_.logs(id);
    EXPECT_GE(depth_below(sandbox_of(id) + "/work"), kMinDepth);
    return id;
  }

  // Starts berthd and waits until it answers. Startup removes a leftover sandbox before it
  // serves the API (agent/recovery.cpp), which for a deep tree on a loaded machine can take
  // longer than the harness's 5 s: then poll, asserting berthd stays alive meanwhile.
  void start_and_wait_until_answering() {
    auto st = agent_.start();
    if (st) return;
    ASSERT_NE(st.error().message.find("did not answer"), std::string::npos) << st.error().message;
    bool answered = false;
    for (int i = 0; i < 3000 && !answered; ++i) {
      ASSERT_TRUE(process_alive(agent_.pid())) << "berthd died at startup:\n" << agent_.log_text();
      answered = agent_.request("GET", "/v1/containers").status == 200;
      if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(answered) << "berthd did not answer within 5 minutes";
  }
  // rm of an exited task with a deep sandbox: removed, and berthd still answers.
  void remove_and_expect_gone(const std::string& id) {
    EXPECT_STREQ(agent_.get(id)["state"].GetString(), "exited");
    auto rm = agent_.request("DELETE", "/v1/containers/" + id);
    EXPECT_EQ(rm.status, 204) << rm.body;
    expect_answering();
    EXPECT_FALSE(fs::exists(sandbox_of(id)));
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(HostileTask, ADeepChainInTheSandboxDoesNotKillBerthdAtExitOrRm) {
  std::string id = leave_deep_chain();
  expect_answering();
  remove_and_expect_gone(id);
}

TEST_F(HostileTask, BerthdRestartedOverADeepSandboxComesUpAndRemovesIt) {
  std::string id = leave_deep_chain();
  agent_.kill9();
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  expect_answering();
  remove_and_expect_gone(id);
}

TEST_F(HostileTask, StartupRemovesADeepSandboxNoRecordOwns) {
  // What a kill -9 in the middle of rm leaves: the record gone, the deep sandbox still there.
  std::string id = leave_deep_chain();
  agent_.kill9();
  std::string orphan = agent_.state_dir() + "/sandboxes/deadbeefdeadbeef";
  ASSERT_EQ(::rename(sandbox_of(id).c_str(), orphan.c_str()), 0);
  start_and_wait_until_answering();
  expect_answering();
  EXPECT_FALSE(fs::exists(orphan));
}

}  // namespace
}  // namespace berth::testing
