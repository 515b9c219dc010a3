// berthd dies (kill -9) or stops while tasks run; the tasks carry on and a new berthd picks
// them up: state, logs, kill, wait, real exit codes, and `lost` for a task whose shim died.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

class Restart : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string run(const std::vector<std::string>& command) {
    return agent_.run(spec(rootfs_.path(), command));
  }
  rapidjson::Document get(const std::string& id) { return agent_.get(id); }
  void restart_after_kill9() {
    agent_.kill9();
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(Restart, RunningTasksSurviveAKill9AndStayManageable) {
  std::string id = run({"sh", "-c", "echo before; trap 'echo bye; exit 4' TERM; while :; do sleep 0.1; done"});
  for (int i = 0; i < 100 && agent_.logs(id).find("before") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pid_t task_pid = get(id)["pid"].GetInt();
  restart_after_kill9();

  auto c = get(id);
  EXPECT_STREQ(c["state"].GetString(), "running");
  EXPECT_EQ(c["pid"].GetInt(), task_pid);
  EXPECT_TRUE(process_alive(task_pid));
  EXPECT_EQ(agent_.logs(id), "before\n");
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "TERM"})");
  EXPECT_EQ(k.status, 202) << k.body;
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "killed");
  EXPECT_EQ(exit["exit_code"].GetInt(), 4);
  EXPECT_EQ(agent_.logs(id), "before\nbye\n");
}

TEST_F(Restart, ATaskThatExitedWhileBerthdWasDownReportsItsRealExitCode) {
  std::string id = run({"sh", "-c", "sleep 0.5; echo done; exit 5"});
  agent_.kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  EXPECT_EQ(exit["exit_code"].GetInt(), 5);
  EXPECT_EQ(agent_.logs(id), "done\n");
  // Its cgroup is gone now that the exit is settled.
  EXPECT_FALSE(fs::exists(agent_.cgroup_root() + "/containers/" + id));
}

TEST_F(Restart, AGracefulStopLeavesTasksRunning) {
  std::string id = run({"sleep", "30"});
  pid_t task_pid = get(id)["pid"].GetInt();
  agent_.stop();
  EXPECT_TRUE(process_alive(task_pid));
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_STREQ(get(id)["state"].GetString(), "running");
}

TEST_F(Restart, ATaskWhoseShimDiedIsLostWithAReason) {
  std::string alive_then_lost = run({"sleep", "30"});
  std::string lost_while_down = run({"sleep", "30"});
  std::string shim1 = fs::read_file(agent_.run_dir() + "/containers/" + alive_then_lost + "/state.json").value_or("");
  auto cp1 = parse(shim1);
  auto cp2 = parse(fs::read_file(agent_.run_dir() + "/containers/" + lost_while_down + "/state.json").value_or(""));
  pid_t shim_a = cp1["shim_pid"].GetInt();
  pid_t shim_b = cp2["shim_pid"].GetInt();
  pid_t task_a = cp1["pid"].GetInt();

  // Shim dies while berthd runs.
  ::kill(shim_a, SIGKILL);
  auto exit = agent_.wait(alive_then_lost);
  EXPECT_STREQ(exit["reason"].GetString(), "lost");
  EXPECT_NE(std::string(exit["message"].GetString()).find("shim"), std::string::npos);
  // The orphaned task does not linger.
  for (int i = 0; i < 100 && process_alive(task_a); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(process_alive(task_a));

  // Shim dies while berthd is down.
  agent_.kill9();
  ::kill(shim_b, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  reap_children();
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto c = get(lost_while_down);
  EXPECT_STREQ(c["state"].GetString(), "exited");
  EXPECT_STREQ(c["exit"]["reason"].GetString(), "lost");
}

TEST_F(Restart, StartupRemovesWhatNoRecordOwns) {
  agent_.stop();
  ASSERT_TRUE(fs::mkdir_p(agent_.state_dir() + "/sandboxes/deadbeefdeadbeef/work").has_value());
  ASSERT_TRUE(fs::mkdir_p(agent_.run_dir() + "/containers/0000111122223333").has_value());
  ASSERT_TRUE(fs::mkdir_p(agent_.cgroup_root() + "/containers/feedfacefeedface").has_value());
  ASSERT_TRUE(fs::mkdir_p(agent_.state_dir() + "/load-Ab12Cd/blobs").has_value());  // an interrupted load
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_FALSE(fs::exists(agent_.state_dir() + "/sandboxes/deadbeefdeadbeef"));
  EXPECT_FALSE(fs::exists(agent_.run_dir() + "/containers/0000111122223333"));
  EXPECT_FALSE(fs::exists(agent_.cgroup_root() + "/containers/feedfacefeedface"));
  EXPECT_FALSE(fs::exists(agent_.state_dir() + "/load-Ab12Cd"));
  EXPECT_NE(agent_.log_text().find("startup removed what no record owns"), std::string::npos);
}

TEST_F(Restart, ASecondBerthdOnTheSameDirsRefusesToStart) {
  std::string config = agent_.root() + "/agent.json";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open("/dev/null", O_WRONLY);
    ::dup2(fd, 2);
    ::execl((bin_dir() + "/berthd").c_str(), "berthd", "--config", config.c_str(), (char*)nullptr);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_EQ(agent_.request("GET", "/v1/info").status, 200);  // the first one is unharmed
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(Restart, StoppingWithClientsWaitingIsPromptAndTheyGetAnAnswer) {
  std::string id = run({"sleep", "30"});
  long status = -1;
  std::thread waiter([&] { status = agent_.request("GET", "/v1/containers/" + id + "/wait").status; });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  agent_.stop();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(status, 200);  // the task still runs: no termination record to give
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_STREQ(get(id)["state"].GetString(), "running");
}

}  // namespace
}  // namespace berth::testing
