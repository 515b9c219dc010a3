// What the shim gives every task, through the real berthd: it outlives signals meant to stop
// a daemon, so the exit is still recorded, and the task's /proc hides the host's kernel state and
// cannot reconfigure the host. (These were only printed, never asserted, by the retired
// tests/sandbox/shim_smoke.sh.)
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

class Shim : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

// A terminal closing, a stray `kill`, a log reader gone: none may cost the task its record.
TEST_F(Shim, SurvivesTermHupIntAndPipeAndStillRecordsTheExit) {
  std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c",
      "echo ready; while [ ! -e /mnt/sandbox/go ]; do sleep 0.05; done; echo still here; exit 5"}));
  ASSERT_TRUE(poll_until([&] { return agent_.logs(id).find("ready") != std::string::npos; },
                         std::chrono::seconds(10))) << "the task never started";
  auto shims = children_of(agent_.pid());
  ASSERT_EQ(shims.size(), 1u) << "berthd should have one shim";
  pid_t shim = shims[0];
  for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGPIPE}) ASSERT_EQ(::kill(shim, sig), 0) << sig;
  auto c = agent_.get(id);
  ASSERT_TRUE(fs::write_file_atomic(std::string(c["sandbox"].GetString()) + "/work/go", "").has_value());
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  EXPECT_EQ(exit["exit_code"].GetInt(), 5);
  EXPECT_EQ(agent_.logs(id), "ready\nstill here\n");
}

TEST_F(Shim, ProcHidesHostKernelStateAndProcSysIsReadOnly) {
  // /proc/sys/kernel/hostname is per UTS namespace: were /proc/sys writable, this would only
  // rename the task's own namespace.
  std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c",
      "echo timer_list=$(wc -c < /proc/timer_list) keys=$(wc -c < /proc/keys); "
      "echo x > /proc/sys/kernel/hostname && echo wrote-proc-sys; "
      "echo done"}));
  auto exit = agent_.wait(id);
  EXPECT_STREQ(exit["reason"].GetString(), "exited");
  std::string err = agent_.logs(id, "?stream=stderr");
  EXPECT_EQ(agent_.logs(id), "timer_list=0 keys=0\ndone\n") << err;
  EXPECT_NE(err.find("Read-only file system"), std::string::npos) << err;
}

}  // namespace
}  // namespace berth::testing
