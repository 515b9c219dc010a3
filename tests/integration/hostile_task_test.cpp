// A task is hostile: what it leaves in its sandbox must never take berthd down. Here a task
// leaves a directory chain 26,000 levels deep in /mnt/sandbox (made with renames, so every
// path the task uses stays short) and exits: berthd settles the exit (measuring disk usage),
// answers, removes the sandbox on rm without waiting for it (agent/trash.hpp), and comes back
// up promptly over such a sandbox after a kill -9.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

// Builds the chain with renames of 2,000-level pieces: 13 rounds, about 26,000 levels.
constexpr const char* kDeepChain =
    "cd /mnt/sandbox && p=d && i=1 && while [ $i -lt 2000 ]; do p=$p/d; i=$((i+1)); done && "
    "mkdir c && n=0 && while [ $n -lt 13 ]; do mkdir -p x/$p && mv c x/$p/c && mv x c || exit 1; n=$((n+1)); done && "
    "echo built";
constexpr int kMinDepth = 25'000;
// An answer this late means berthd walked a task's tree before answering.
constexpr auto kPrompt = std::chrono::seconds(3);

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

  std::string trash_dir() { return agent_.state_dir() + "/trash"; }
  // Starts berthd: it must answer GET /v1/info promptly however deep the trees it has to
  // remove (agent/trash.hpp removes them in the background).
  void start_and_expect_prompt_answer() {
    auto began = std::chrono::steady_clock::now();
    auto st = agent_.start();  // polls GET /v1/info
    auto took = std::chrono::steady_clock::now() - began;
    ASSERT_TRUE(st.has_value()) << st.error().message;
    RecordProperty("start_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    EXPECT_LT(took, kPrompt) << "berthd took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms to answer GET /v1/info";
  }
  // The background removal finishes: the trash ends up empty, berthd alive meanwhile.
  void expect_trash_emptied() {
    bool empty = poll_until([&] { return !process_alive(agent_.pid()) || entries(trash_dir()).empty(); },
                            std::chrono::minutes(5), std::chrono::milliseconds(100));
    EXPECT_TRUE(process_alive(agent_.pid())) << "berthd died:\n" << agent_.log_text();
    EXPECT_TRUE(empty) << "still in the trash after 5 minutes: " << entries(trash_dir()).size() << " entries";
  }
  // rm of an exited task with a deep sandbox: answered promptly, the sandbox gone at once,
  // its removal finished in the background, and berthd still answers.
  void remove_and_expect_gone(const std::string& id) {
    EXPECT_STREQ(agent_.get(id)["state"].GetString(), "exited");
    auto began = std::chrono::steady_clock::now();
    auto rm = agent_.request("DELETE", "/v1/containers/" + id);
    auto took = std::chrono::steady_clock::now() - began;
    EXPECT_EQ(rm.status, 204) << rm.body;
    RecordProperty("rm_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    EXPECT_LT(took, kPrompt) << "rm took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms";
    EXPECT_FALSE(fs::exists(sandbox_of(id)));
    expect_answering();
    expect_trash_emptied();
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

TEST_F(HostileTask, StartupRemovesADeepSandboxNoRecordOwnsWithoutWaitingForIt) {
  // What a kill -9 in the middle of rm leaves: the record gone, the deep sandbox still there.
  std::string id = leave_deep_chain();
  agent_.kill9();
  std::string orphan = agent_.state_dir() + "/sandboxes/deadbeefdeadbeef";
  ASSERT_EQ(::rename(sandbox_of(id).c_str(), orphan.c_str()), 0);
  start_and_expect_prompt_answer();
  EXPECT_FALSE(fs::exists(orphan));
  expect_answering();
  expect_trash_emptied();
}

TEST_F(HostileTask, StartupResumesEmptyingTheTrash) {
  // What a kill -9 during a background removal leaves: a deep tree in the trash.
  std::string id = leave_deep_chain();
  agent_.kill9();
  ASSERT_TRUE(fs::mkdir_p(trash_dir(), 0700).has_value());
  ASSERT_EQ(::rename(sandbox_of(id).c_str(), (trash_dir() + "/" + id + "-0").c_str()), 0);
  start_and_expect_prompt_answer();
  expect_trash_emptied();
  // The record whose sandbox already went is still removed cleanly.
  auto rm = agent_.request("DELETE", "/v1/containers/" + id);
  EXPECT_EQ(rm.status, 204) << rm.body;
  expect_answering();
}

}  // namespace
}  // namespace berth::testing
