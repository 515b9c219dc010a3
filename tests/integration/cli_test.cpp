// The berth CLI against a real berthd: what an operator types and sees.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

struct Output {
  int code = -1;
  std::string out;
};

Output berth(const std::string& socket, const std::string& args) {
  std::string cmd = "BERTH_SOCKET=" + socket + " " + bin_dir() + "/berth " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  Output o;
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  Output run(const std::string& args) { return berth(agent_.socket(), args); }
  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(Cli, RunAttachedStreamsOutputAndExitsWithTheTaskCode) {
  auto o = run("run --rootfs " + rootfs_.path() + " -- sh -c 'echo hello; exit 3'");
  EXPECT_EQ(o.code, 3) << o.out;
  EXPECT_NE(o.out.find("hello"), std::string::npos) << o.out;
}

TEST_F(Cli, ExecPrintsTheOutputAndExitsWithTheCommandsCode) {
  auto started = run("run -d --name box --rootfs " + rootfs_.path() + " -- sleep 60");
  ASSERT_EQ(started.code, 0) << started.out;
  auto o = run("exec box -- sh -c 'echo in-$(hostname); echo oops >&2; exit 5'");
  EXPECT_EQ(o.code, 5) << o.out;
  EXPECT_NE(o.out.find("in-"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("oops"), std::string::npos) << o.out;
  o = run("exec --timeout 1 box sleep 30");
  EXPECT_EQ(o.code, 137) << o.out;
  EXPECT_NE(o.out.find("timed out"), std::string::npos) << o.out;
  o = run("exec no-such-box -- true");
  EXPECT_EQ(o.code, 125) << o.out;
  EXPECT_NE(o.out.find("no-such-box"), std::string::npos) << o.out;
}

TEST_F(Cli, DetachedRunThenPsLogsKillWaitRm) {
  auto started = run("run -d --name svc --rootfs " + rootfs_.path() + " -- sh -c 'echo up; sleep 60'");
  ASSERT_EQ(started.code, 0) << started.out;
  auto ps = run("ps");
  EXPECT_NE(ps.out.find("svc"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("running"), std::string::npos) << ps.out;
  auto json = parse(run("--json ps").out);
  ASSERT_TRUE(json.HasMember("containers")) << "ps --json is not the API's JSON";
  for (int i = 0; i < 250 && run("logs svc").out.find("up") == std::string::npos; ++i) usleep(20000);
  ASSERT_EQ(run("logs svc").out, "up\n") << "the task's output never reached its log";
  EXPECT_EQ(run("kill -s KILL svc").code, 0);
  auto waited = run("wait svc");
  EXPECT_EQ(waited.code, 137) << waited.out;
  auto inspect = parse(run("inspect svc").out);
  ASSERT_TRUE(inspect.HasMember("exit")) << "inspect prints the container JSON";
  EXPECT_STREQ(inspect["exit"]["reason"].GetString(), "killed");
  EXPECT_EQ(run("rm svc").code, 0);
  EXPECT_NE(run("inspect svc").code, 0);
}

TEST_F(Cli, SecurityFlagsReachTheTaskAndPsShowsPrivileged) {
  auto capped = run("run --cap-drop ALL --cap-add NET_RAW --read-only --rootfs " + rootfs_.path() +
                    " -- sh -c 'grep CapEff /proc/self/status; touch /x || echo read-only'");
  EXPECT_EQ(capped.code, 0) << capped.out;
  EXPECT_NE(capped.out.find("CapEff:\t0000000000002000"), std::string::npos) << capped.out;
  EXPECT_NE(capped.out.find("read-only"), std::string::npos) << capped.out;
  auto unconfined = run("run --security-opt seccomp=unconfined --rootfs " + rootfs_.path() +
                        " -- grep Seccomp: /proc/self/status");
  EXPECT_NE(unconfined.out.find("Seccomp:\t0"), std::string::npos) << unconfined.out;
  ASSERT_EQ(run("run -d --privileged --name root-1 --rootfs " + rootfs_.path() + " -- sleep 60").code, 0);
  auto ps = run("ps");
  EXPECT_NE(ps.out.find(", privileged"), std::string::npos) << ps.out;
  auto inspect = parse(run("inspect root-1").out);
  ASSERT_TRUE(inspect.HasMember("privileged")) << "inspect shows whether a task is privileged";
  EXPECT_TRUE(inspect["privileged"].GetBool());
  auto bad = run("run --cap-add SYS_WIZARD --rootfs " + rootfs_.path() + " -- true");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("unknown capability 'SYS_WIZARD'"), std::string::npos) << bad.out;
  EXPECT_EQ(run("rm -f root-1").code, 0);
}

TEST_F(Cli, ErrorsAreClear) {
  auto launch = run("run --rootfs " + rootfs_.path() + " -- /bin/nope");
  EXPECT_EQ(launch.code, 125) << launch.out;
  EXPECT_NE(launch.out.find("exec \"/bin/nope\": No such file or directory"), std::string::npos) << launch.out;
  // --rm removes the record of a launch that failed, like that of a task that ran.
  auto removed = run("run --rm --rootfs " + rootfs_.path() + " -- /bin/nope");
  EXPECT_EQ(removed.code, 125) << removed.out;
  EXPECT_NE(removed.out.find("No such file or directory"), std::string::npos) << removed.out;
  auto left = parse(agent_.request("GET", "/v1/containers").body);
  ASSERT_TRUE(left.HasMember("containers"));
  EXPECT_EQ(left["containers"].Size(), 1u) << "only the launch without --rm keeps its record";
  auto nosock = berth(agent_.root() + "/missing.sock", "ps");
  EXPECT_NE(nosock.code, 0);
  EXPECT_NE(nosock.out.find("is berthd running?"), std::string::npos) << nosock.out;
  auto info = run("info");
  EXPECT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find(agent_.cgroup_root()), std::string::npos) << info.out;
}

}  // namespace
}  // namespace berth::testing
