// berthd dies (kill -9) or stops while tasks run; the tasks carry on and a new berthd picks
// them up: state, logs, kill, wait, real exit codes, and `lost` for a task whose shim died.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

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

  // The task's output has `text` (polled; fails the test when it never comes).
  void expect_logs_reach(const std::string& id, const std::string& text) {
    for (int i = 0; i < 250 && agent_.logs(id).find(text) == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_NE(agent_.logs(id).find(text), std::string::npos) << "the task never wrote '" << text << "'";
  }
  pid_t shim_pid(const std::string& id) {
    auto cp = parse(fs::read_file(agent_.run_dir() + "/containers/" + id + "/state.json").value_or("{}"));
    return cp.HasMember("shim_pid") ? cp["shim_pid"].GetInt() : -1;
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(Restart, RunningTasksSurviveAKill9AndStayManageable) {
  std::string id = run({"sh", "-c", "echo before; trap 'echo bye; exit 4' TERM; while :; do sleep 0.1; done"});
  expect_logs_reach(id, "before");
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
  // The task ends only when told, and it is told only once berthd is down.
  std::string id = run({"sh", "-c", "while [ ! -e /mnt/sandbox/go ]; do sleep 0.05; done; echo done; exit 5"});
  long shim = ::syscall(SYS_pidfd_open, shim_pid(id), 0);
  ASSERT_GE(shim, 0) << "the task's shim runs";
  agent_.kill9();
  ASSERT_TRUE(fs::write_file_atomic(agent_.state_dir() + "/sandboxes/" + id + "/work/go", "").has_value());
  // The shim exits once it has recorded the task's exit.
  struct pollfd p {static_cast<int>(shim), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 20000), 1) << "the task did not end while berthd was down";
  ::close(static_cast<int>(shim));
  reap_children();
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  EXPECT_EQ(exit["exit_code"].GetInt(), 5);
  EXPECT_EQ(agent_.logs(id), "done\n");
  // Its cgroup goes once the exit is settled: removed by berthd's worker after the wait's
  // answer (asserting at once failed under load, 1 run in many).
  EXPECT_TRUE(poll_until([&] { return agent_.leftover_task_cgroups().empty(); }, std::chrono::seconds(10)))
      << agent_.leftover_task_cgroups().size() << " task cgroups left";  // in every hierarchy
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
  for (int i = 0; i < 250 && process_alive(task_a); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(process_alive(task_a));

  // Shim dies while berthd is down.
  long shim_fd = ::syscall(SYS_pidfd_open, shim_b, 0);
  ASSERT_GE(shim_fd, 0);
  agent_.kill9();
  ::kill(shim_b, SIGKILL);
  struct pollfd p {static_cast<int>(shim_fd), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the shim did not die";
  ::close(static_cast<int>(shim_fd));
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
  // An orphan in every hierarchy (a v1 one too, on hosts that have them).
  for (const auto& root : agent_.cgroup_roots())
    ASSERT_TRUE(fs::mkdir_p(root + "/containers/feedfacefeedface").has_value());
  ASSERT_TRUE(fs::mkdir_p(agent_.state_dir() + "/load-Ab12Cd/blobs").has_value());  // an interrupted load
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_FALSE(fs::exists(agent_.state_dir() + "/sandboxes/deadbeefdeadbeef"));
  EXPECT_FALSE(fs::exists(agent_.run_dir() + "/containers/0000111122223333"));
  EXPECT_TRUE(agent_.leftover_task_cgroups().empty());
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

// A kill's grace period runs on across a restart (M2: the deadline was only in memory, so the
// task that ignores TERM ran forever once berthd restarted).
TEST_F(Restart, AKillGraceDeadlineSurvivesARestart) {
  std::string id = run({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"});
  expect_logs_reach(id, "ready");
  auto start = std::chrono::steady_clock::now();
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "TERM", "grace_period_s": 5})");
  ASSERT_EQ(k.status, 202) << k.body;
  agent_.stop();
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_STREQ(get(id)["state"].GetString(), "running");
  auto w = agent_.request("GET", "/v1/containers/" + id + "/wait?timeout_s=30");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(w.status, 200) << "the task outlived its grace period: " << w.body;
  auto exit = parse(w.body);
  EXPECT_STREQ(exit["reason"].GetString(), "killed");
  EXPECT_STREQ(exit["signal"].GetString(), "SIGKILL");
  EXPECT_GE(took, std::chrono::milliseconds(4900));
  EXPECT_LT(took, std::chrono::seconds(12));
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(Restart, StoppingWithClientsWaitingIsPromptAndTheyGetAnAnswer) {
  std::string id = run({"sleep", "30"});
  // A raw connection, so the test knows berthd has read the whole request before it stops.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", agent_.socket().c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string request = "GET /v1/containers/" + id + "/wait HTTP/1.1\r\nHost: berth\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  int unread = -1;
  for (int i = 0; i < 250 && (::ioctl(fd, SIOCOUTQ, &unread) != 0 || unread > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(unread, 0) << "berthd never read the wait request";
  auto start = std::chrono::steady_clock::now();
  agent_.stop();
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The task still runs: no termination record to give. The wait route answers 503 "berthd is
  // stopping", but today's server closes connections in MHD_stop_daemon before that reply is
  // sent, so the client sees its connection end without one (the server's part of issue 7).
  // Either way the waiter is released and never told the task ended.
  EXPECT_TRUE(reply.empty() || (reply.rfind("HTTP/1.1 503", 0) == 0 &&
                                reply.find("berthd is stopping") != std::string::npos))
      << reply;
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_STREQ(get(id)["state"].GetString(), "running");
}

}  // namespace
}  // namespace berth::testing
