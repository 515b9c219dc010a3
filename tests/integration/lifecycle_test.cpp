// A task's life through the real berthd: run, output, exit codes, signals, isolation, kill
// with a grace period, bad specs, launch errors, events.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // Launches and returns the id; fails the test on an error.
  std::string run(const std::vector<std::string>& command, const std::string& extra = "") {
    return agent_.run(spec(rootfs_.path(), command, extra));
  }

  // The task's output has `text` (polled; fails the test when it never comes).
  void expect_logs_reach(const std::string& id, const std::string& text) {
    for (int i = 0; i < 250 && agent_.logs(id).find(text) == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_NE(agent_.logs(id).find(text), std::string::npos) << "the task never wrote '" << text << "'";
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(Lifecycle, EchoesALineAndExitsZero) {
  std::string id = run({"/bin/echo", "hello from berth"});
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  EXPECT_EQ(exit["exit_code"].GetInt(), 0);
  EXPECT_TRUE(exit["signal"].IsNull());
  EXPECT_EQ(agent_.logs(id), "hello from berth\n");
  auto c = agent_.get(id);
  EXPECT_STREQ(c["state"].GetString(), "exited");
  EXPECT_FALSE(c["finished_at"].IsNull());
}

TEST_F(Lifecycle, ExitCodesAndStderrPropagate) {
  std::string id = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  EXPECT_EQ(exit["exit_code"].GetInt(), 3);
  EXPECT_EQ(agent_.logs(id), "out\n");
  EXPECT_EQ(agent_.logs(id, "?stream=stderr"), "err\n");
}

TEST_F(Lifecycle, SignalDeathIsReportedAsSignal) {
  std::string id = run({"sleep", "1000"});
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "SIGKILL"})");
  EXPECT_EQ(k.status, 202) << k.body;
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "killed");
  EXPECT_TRUE(exit["exit_code"].IsNull());
  EXPECT_STREQ(exit["signal"].GetString(), "SIGKILL");
}

TEST_F(Lifecycle, TermHandledByTheTaskGivesItsExitCode) {
  std::string id = run({"sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"});
  expect_logs_reach(id, "ready");
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "TERM", "grace_period_s": 30})");
  EXPECT_EQ(k.status, 202) << k.body;
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "killed");
  EXPECT_EQ(exit["exit_code"].GetInt(), 7);
  EXPECT_NE(agent_.logs(id).find("got TERM"), std::string::npos);
}

TEST_F(Lifecycle, IgnoredTermIsFollowedBySigkillAfterTheGracePeriod) {
  std::string id = run({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"});
  expect_logs_reach(id, "ready");
  auto start = std::chrono::steady_clock::now();
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "SIGTERM", "grace_period_s": 1})");
  EXPECT_EQ(k.status, 202) << k.body;
  auto exit = agent_.wait(id);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_STREQ(exit["signal"].GetString(), "SIGKILL");
  EXPECT_STREQ(exit["reason"].GetString(), "killed");
  EXPECT_GE(took, std::chrono::milliseconds(950));
  EXPECT_LT(took, std::chrono::seconds(10));
}

// Task data is closed to other host users (it was 0711/0755), and the task's own user still
// writes its /mnt/sandbox.
TEST_F(Lifecycle, SandboxIsClosedToOtherHostUsersAndOpenToTheTaskUser) {
  std::string id = run({"sh", "-c", "echo hi > /mnt/sandbox/note && cat /mnt/sandbox/note && id -u"}, R"("user": "app")");
  auto exit = agent_.wait(id);
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent_.logs(id, "?stream=stderr");
  EXPECT_EQ(agent_.logs(id), "hi\n1000\n");
  std::string sandbox = agent_.state_dir() + "/sandboxes/" + id;
  for (const std::string& dir : {agent_.state_dir() + "/sandboxes", sandbox, sandbox + "/work", sandbox + "/overlay"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 077, 0u) << dir << " is open to other users: mode " << std::oct << (st.st_mode & 07777);
  }
}

TEST_F(Lifecycle, TaskIsPidOneAndSeesNoHostProcess) {
  std::string id = run({"sh", "-c", "echo pid=$$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done"});
  agent_.wait(id);
  std::istringstream out(agent_.logs(id));
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "pid=1");
  std::set<long> pids;
  while (std::getline(out, line)) pids.insert(std::stol(line));
  EXPECT_TRUE(pids.count(1));
  EXPECT_LE(pids.size(), 3u) << "the task sees more than its own processes";
  EXPECT_FALSE(pids.count(agent_.pid()) && agent_.pid() > 5);
}

TEST_F(Lifecycle, HostnameAndMountsArePrivate) {
  char host_name[256] = {};
  ::gethostname(host_name, sizeof(host_name));
  std::string id = run({"sh", "-c", "hostname; mount -t tmpfs none /mnt && touch /mnt/inside && echo mounted; "
                                    "cat /proc/self/mountinfo"},
                       // Mounting needs SYS_ADMIN, which a confined task lacks (issue 9).
                       R"("hostname": "it-host", "security": {"capabilities": {"add": ["SYS_ADMIN"]}})");
  agent_.wait(id);
  std::string out = agent_.logs(id);
  EXPECT_EQ(out.substr(0, out.find('\n')), "it-host");
  EXPECT_NE(out.find("mounted"), std::string::npos);
  // The host keeps its own name and sees none of the task's mounts; the task sees none of ours.
  char after[256] = {};
  ::gethostname(after, sizeof(after));
  EXPECT_STREQ(host_name, after);
  EXPECT_EQ(out.find(" /work"), std::string::npos) << out;
  std::string host_mounts = fs::read_file("/proc/self/mountinfo").value_or("");
  EXPECT_EQ(host_mounts.find(agent_.root()), std::string::npos) << "a task mount leaked to the host";
}

TEST_F(Lifecycle, OnlyStdioFdsAreOpen) {
  std::string id = run({"sleep", "30"});
  auto c = agent_.get(id);
  pid_t pid = c["pid"].GetInt();
  auto fds = entries("/proc/" + std::to_string(pid) + "/fd");
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
  // And stdin is /dev/null, not something of berthd's.
  char target[256] = {};
  ::readlink(("/proc/" + std::to_string(pid) + "/fd/0").c_str(), target, sizeof(target) - 1);
  EXPECT_STREQ(target, "/dev/null");
  agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  agent_.wait(id);
}

TEST_F(Lifecycle, UserEnvAndWorkingDirApply) {
  std::string id = run({"sh", "-c", "id -u; id -g; pwd; echo $MODE; touch /mnt/sandbox/made-by-task && echo wrote"},
                       R"("user": "app", "env": {"MODE": "prod"}, "working_dir": "/home/app")");
  auto exit = agent_.wait(id);
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent_.logs(id, "?stream=stderr");
  EXPECT_EQ(agent_.logs(id), "1000\n1000\n/home/app\nprod\nwrote\n");
  auto c = agent_.get(id);
  EXPECT_TRUE(fs::exists(std::string(c["sandbox"].GetString()) + "/work/made-by-task"));
}

TEST_F(Lifecycle, WritesGoToTheSandboxNotTheRootfs) {
  std::string id = run({"sh", "-c", "echo data > /etc/written && cat /etc/written"});
  agent_.wait(id);
  EXPECT_EQ(agent_.logs(id), "data\n");
  EXPECT_FALSE(fs::exists(rootfs_.path() + "/etc/written"));
}

TEST_F(Lifecycle, LaunchErrorComesBackAsAMessage) {
  auto r = agent_.launch(spec(rootfs_.path(), {"/bin/nope"}));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("exec \\\"/bin/nope\\\": No such file or directory"), std::string::npos) << r.body;
  auto list = parse(agent_.request("GET", "/v1/containers").body);
  ASSERT_EQ(list["containers"].Size(), 1u);
  const auto& c = list["containers"][0];
  EXPECT_STREQ(c["state"].GetString(), "failed");
  EXPECT_STREQ(c["exit"]["reason"].GetString(), "launch_failed");
}

TEST_F(Lifecycle, UnknownUserIsRefusedBeforeAnythingRuns) {
  auto r = agent_.launch(spec(rootfs_.path(), {"true"}, R"("user": "nobody-here")"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nobody-here"), std::string::npos) << r.body;
  EXPECT_TRUE(entries(agent_.state_dir() + "/sandboxes").empty());
}

struct BadRequest {
  std::string body;
  std::string expect;
};

TEST_F(Lifecycle, BadSpecsGet400AndCreateNothing) {
  std::vector<BadRequest> cases = {
      {"{not json", "malformed JSON"},
      {spec(rootfs_.path(), {"true"}, R"("colour": "blue")"), "unknown field '/colour'"},
      {R"({"rootfs": "/nonexistent/rootfs", "command": ["true"]})", "is not a directory"},
      {spec(rootfs_.path(), {}), "'/command'"},
      {spec(rootfs_.path(), {"true"}, R"("resources": {"memory_mb": 64})"), "memory"},
      {spec(rootfs_.path(), {"true"}, R"("volumes": [{"host_path": "/nonexistent/x", "container_path": "/x"}])"),
       "does not exist"},
      {R"({"image": "127.0.0.1:5000/UPPER::1"})", "field '/image'"},
      {spec(rootfs_.path(), {"true"}, R"("fetch": [{"uri": "ftp://x/y"}])"), "'/fetch/0/uri'"},
      {spec(rootfs_.path(), {"true"}, R"("fetch": [{"uri": "file:///x", "output": "../escape"}])"), "plain file name"},
  };
  for (const auto& c : cases) {
    auto r = agent_.launch(c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find(c.expect), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos);
  }
  auto list = parse(agent_.request("GET", "/v1/containers").body);
  EXPECT_EQ(list["containers"].Size(), 0u);
  EXPECT_TRUE(entries(agent_.state_dir() + "/sandboxes").empty());
  EXPECT_TRUE(entries(agent_.run_dir() + "/containers").empty());
  EXPECT_TRUE(agent_.leftover_task_cgroups().empty());
}

TEST_F(Lifecycle, DuplicateNamesAreRefused) {
  std::string id = run({"sleep", "30"}, R"("name": "web-1")");
  auto again = agent_.launch(spec(rootfs_.path(), {"true"}, R"("name": "web-1")"));
  EXPECT_EQ(again.status, 409) << again.body;
  // The name works as an id.
  auto byname = parse(agent_.request("GET", "/v1/containers/web-1").body);
  EXPECT_EQ(std::string(byname["id"].GetString()), id);
}

TEST_F(Lifecycle, KillAndRemoveRules) {
  std::string id = run({"sleep", "30"});
  EXPECT_EQ(agent_.request("DELETE", "/v1/containers/" + id).status, 409);
  EXPECT_EQ(agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "SIGNOPE"})").status, 400);
  EXPECT_EQ(agent_.request("POST", "/v1/containers/nope/kill", "{}").status, 404);
  auto waited = agent_.request("GET", "/v1/containers/" + id + "/wait?timeout_s=0");
  EXPECT_EQ(waited.status, 408) << waited.body;
  EXPECT_EQ(agent_.request("DELETE", "/v1/containers/" + id + "?force=1").status, 204);
  auto gone = agent_.request("GET", "/v1/containers/" + id);
  EXPECT_EQ(gone.status, 404) << gone.body;
  std::string done = run({"true"});
  agent_.wait(done);
  EXPECT_EQ(agent_.request("POST", "/v1/containers/" + done + "/kill", "{}").status, 409);
  auto removed = agent_.request("DELETE", "/v1/containers/" + done);
  EXPECT_EQ(removed.status, 204) << removed.body;
}

TEST_F(Lifecycle, LogsTailAndFollow) {
  std::string id = run({"sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done"});
  std::string followed;
  auto st = agent_.client().stream("GET", "/v1/containers/" + id + "/logs?follow=1", "", [&](std::string_view d) {
    followed.append(d);
    return true;
  });
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(followed, "line1\nline2\nline3\nline4\nline5\n");
  EXPECT_EQ(agent_.logs(id, "?tail=2"), "line4\nline5\n");
  EXPECT_EQ(agent_.request("GET", "/v1/containers/" + id + "/logs?stream=both").status, 400);
}

TEST_F(Lifecycle, LogsRotateBySize) {
  std::string id = run({"sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789; i=$((i+1)); done; echo last"},
                       R"("logging": {"max_size_mb": 1, "max_files": 2})");
  agent_.wait(id);
  auto c = agent_.get(id);
  std::string sandbox = c["sandbox"].GetString();
  EXPECT_TRUE(fs::exists(sandbox + "/stdout.1"));
  EXPECT_FALSE(fs::exists(sandbox + "/stdout.2"));
  std::string all = agent_.logs(id);
  EXPECT_LE(all.size(), 2u * 1024 * 1024);
  EXPECT_EQ(agent_.logs(id, "?tail=1"), "last\n");
}

TEST_F(Lifecycle, EventsArriveInOrder) {
  std::vector<std::string> types;
  std::string id;
  std::thread reader([&] {
    (void)agent_.stream_lines("GET", "/v1/events?since=0", "", [&](const std::string& line) {
      auto ev = parse(line);
      if (!ev.HasMember("type")) return true;
      types.push_back(ev["type"].GetString());
      return types.back() != "container.exited";
    });
  });
  id = run({"true"});
  agent_.wait(id);
  reader.join();
  auto pos = [&](const std::string& t) { return std::find(types.begin(), types.end(), t) - types.begin(); };
  ASSERT_LT(pos("container.exited"), static_cast<long>(types.size()));
  EXPECT_LT(pos("agent.started"), pos("container.created"));
  EXPECT_LT(pos("container.created"), pos("container.started"));
  EXPECT_LT(pos("container.started"), pos("container.exited"));
}

TEST_F(Lifecycle, InfoNamesTheCgroupSetup) {
  auto info = parse(agent_.request("GET", "/v1/info").body);
  EXPECT_STREQ(info["cgroup"]["root"].GetString(), agent_.cgroup_root().c_str());
  EXPECT_TRUE(info["cgroup"]["controllers"].IsArray());
  EXPECT_GT(info["capacity"]["cpus"].GetInt(), 0);
}

}  // namespace
}  // namespace berth::testing
