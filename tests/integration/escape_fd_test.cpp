// CVE-2024-21626 class: no host fd survives into the task. runc leaked a directory fd of the
// host's /sys/fs/cgroup into the container's setup, so "cwd": "/proc/self/fd/7" left the task
// with a working directory on the host, from which ../../.. reaches the host's root. Here the
// working directory and argv[0] go through /proc/self/fd/N for every N the shim could hold;
// the task tries to read a marker file on the host through ../ from there, and lists its fds.
// Whatever berth does (refuse the launch, or start the task confined), the marker's text must
// never appear and the task must hold no fd beyond its stdio.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

constexpr int kMaxFd = 40;  // well above what the shim holds while it launches (about 12)

class EscapeFd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    marker_dir_ = make_temp_dir("berth-escape-fd");
    std::ofstream(marker_dir_ + "/marker") << kSecret;
  }
  void TearDown() override {
    ::unlink((marker_dir_ + "/marker").c_str());
    ::rmdir(marker_dir_.c_str());
  }
  // Output of a task (stdout + stderr) or the launch's error; "" when the launch was refused.
  std::string output_of(const std::string& spec_json) {
    auto r = agent_.launch(spec_json);
    if (r.status != 201) return "launch refused: " + r.body;
    auto doc = parse(r.body);
    std::string id = doc["id"].GetString();
    agent_.wait(id);
    return agent_.logs(id) + agent_.logs(id, "?stream=stderr");
  }
  static constexpr const char* kSecret = "host-secret-4f1d";
  Agent agent_;
  BusyboxRootfs rootfs_;
  std::string marker_dir_;
};

// cat ../../../(many)/<marker path on the host> from the working directory: inside the
// rootfs the ../ stop at its root and the path does not exist there.
std::string climb_to(const std::string& host_path) {
  std::string up;
  for (int i = 0; i < 40; ++i) up += "../";
  return "cat " + up + host_path.substr(1) + " 2>&1; ls /proc/self/fd; echo done";
}

TEST_F(EscapeFd, WorkingDirThroughEveryProcSelfFdReachesNothingOfTheHost) {
  std::string cmd = climb_to(marker_dir_ + "/marker");
  for (int n = 0; n <= kMaxFd; ++n) {
    std::string out = output_of(spec(rootfs_.path(), {"sh", "-c", cmd},
                                     "\"working_dir\": \"/proc/self/fd/" + std::to_string(n) + "\""));
    EXPECT_EQ(out.find(kSecret), std::string::npos) << "cwd /proc/self/fd/" << n << " reached the host: " << out;
  }
}

TEST_F(EscapeFd, ArgvThroughEveryProcSelfFdReachesNothingOfTheHost) {
  for (int n = 3; n <= kMaxFd; ++n) {
    std::string fd = "/proc/self/fd/" + std::to_string(n);
    // argv[0] a host fd: an executable of the host would run (here: would print its usage).
    std::string out = output_of(spec(rootfs_.path(), {fd, "-c", climb_to(marker_dir_ + "/marker")}));
    EXPECT_EQ(out.find(kSecret), std::string::npos) << "argv[0] " << fd << " reached the host: " << out;
  }
}

// The task starts with its stdio and nothing else.
TEST_F(EscapeFd, TaskHoldsOnlyItsStdio) {
  std::string out = output_of(spec(rootfs_.path(), {"ls", "/proc/self/fd"}));
  // ls itself opens one fd for the directory it lists (3).
  EXPECT_EQ(out, "0\n1\n2\n3\n") << out;
}

}  // namespace
}  // namespace berth::testing
