// Devices (issue 9): a task may open only the standard nodes. It creates a node for a disk of
// the host with mknod (it may: mknod is allowed, as in Docker) and reads it: refused with
// EPERM by the device controller (the eBPF program on the task's cgroup). security.devices
// allowing that block device, or privileged, lets the same read through; the program stays in
// force across a berthd restart.
// The disk is the one under / where this test (root on the host) can open it; where something
// outside berth forbids even that (a sandboxed build machine), the first loop device the host
// can open, so a refusal is berth's and not the host's.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <utility>
#include <vector>

#include "common/unique_fd.hpp"

#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

class Devices : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    ASSERT_TRUE(pick_disk()) << "no block device the host itself can open (not the disk under /, not /dev/loop0..7)";
    RecordProperty("disk", disk_);
    auto started = agent_.start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
  }
  bool pick_disk() {
    struct stat st {};
    std::vector<std::pair<std::string, dev_t>> candidates;
    if (::stat("/", &st) == 0 && major(st.st_dev) != 0) candidates.push_back({"the disk under /", st.st_dev});
    for (int n = 0; n < 8; ++n) {
      std::string loop = "/dev/loop" + std::to_string(n);
      if (::stat(loop.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) candidates.push_back({loop, st.st_rdev});
    }
    for (const auto& [name, dev] : candidates) {
      std::string node = make_temp_dir("berth-devices") + "/disk";
      bool opened = ::mknod(node.c_str(), S_IFBLK | 0600, dev) == 0 && UniqueFd::adopt(::open(node.c_str(), O_RDONLY | O_CLOEXEC));
      ::unlink(node.c_str());
      ::rmdir(node.substr(0, node.rfind('/')).c_str());
      if (!opened) continue;
      disk_ = name;
      major_ = major(dev);
      minor_ = minor(dev);
      return true;
    }
    return false;
  }
  // mknod the disk, then read its first sector; prints the byte count or the error.
  std::string read_disk_cmd(const std::string& before = "") const {
    return before + "mknod /tmp/disk b " + std::to_string(major_) + " " + std::to_string(minor_) +
           " && head -c 512 /tmp/disk > /dev/null && echo OPENED";
  }
  std::string disk_rule(const std::string& access) const {
    return "{\"type\": \"b\", \"major\": " + std::to_string(major_) + ", \"minor\": " + std::to_string(minor_) +
           ", \"access\": \"" + access + "\"}";
  }
  std::string output_of(const std::string& id) {
    agent_.wait(id);
    return agent_.logs(id) + agent_.logs(id, "?stream=stderr");
  }
  std::string disk_;
  unsigned major_ = 0, minor_ = 0;
  Agent agent_;
  BusyboxRootfs rootfs_;
};

TEST_F(Devices, ANodeForTheHostDiskCannotBeRead) {
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", read_disk_cmd()})));
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
  EXPECT_EQ(out.find("OPENED"), std::string::npos) << "the task read the host's disk: " << out;
}

TEST_F(Devices, TheStandardNodesWork) {
  std::string cmd =
      "head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c; "
      "echo x > /dev/null && echo null-ok; echo x > /dev/full || echo full-refused; "
      "head -c 4 /dev/full | wc -c; mknod /tmp/null c 1 3 && echo y > /tmp/null && echo mknod-null-ok";
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", cmd})));
  EXPECT_EQ(out.find("Operation not permitted"), std::string::npos) << out;
  for (const char* want : {"null-ok", "mknod-null-ok", "No space left on device"})
    EXPECT_NE(out.find(want), std::string::npos) << want << " in:\n" << out;
}

TEST_F(Devices, SecurityDevicesAllowsTheDisk) {
  std::string extra = "\"security\": {\"devices\": [" + disk_rule("r") + "]}";
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", read_disk_cmd()}, extra)));
  EXPECT_NE(out.find("OPENED"), std::string::npos) << out;
}

// A rule with a path: berth makes the node in the task's /dev (no mknod by the task).
TEST_F(Devices, ADeviceWithAPathIsCreatedInTheTaskDevAndOpens) {
  std::string rule = disk_rule("r");
  rule.insert(1, "\"path\": \"/dev/berth-disk\", ");
  std::string cmd = "ls -l /dev/berth-disk && head -c 512 /dev/berth-disk > /dev/null && echo OPENED";
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", cmd}, "\"security\": {\"devices\": [" + rule + "]}")));
  EXPECT_NE(out.find("OPENED"), std::string::npos) << out;
  EXPECT_NE(out.find(std::to_string(major_) + ",") , std::string::npos) << "ls -l shows the major: " << out;
}

TEST_F(Devices, ReadAccessOnlyDoesNotAllowWriting) {
  std::string extra = "\"security\": {\"devices\": [" + disk_rule("r") + "]}";
  std::string cmd = "mknod /tmp/disk b " + std::to_string(major_) + " " + std::to_string(minor_) +
                    " && (sh -c 'exec 3<>/tmp/disk' && echo opened-rw || echo refused-rw)";
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", cmd}, extra)));
  EXPECT_NE(out.find("refused-rw"), std::string::npos) << out;
}

TEST_F(Devices, PrivilegedAllowsEveryDevice) {
  std::string out = output_of(agent_.run(spec(rootfs_.path(), {"sh", "-c", read_disk_cmd()}, "\"security\": {\"privileged\": true}")));
  EXPECT_NE(out.find("OPENED"), std::string::npos) << out;
}

TEST_F(Devices, ABadDeviceRuleIsA400) {
  auto r = agent_.launch(spec(rootfs_.path(), {"true"}, "\"security\": {\"devices\": [{\"type\": \"b\", \"access\": \"rx\"}]}"));
  EXPECT_EQ(r.status, 400) << r.body;
}

// The program belongs to the cgroup, not to berthd: a task that reads after berthd was killed
// and restarted is still refused.
TEST_F(Devices, TheRulesHoldAcrossABerthdRestart) {
  std::string wait_go = "while [ ! -e /mnt/sandbox/go ]; do sleep 0.05; done; ";
  std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c", read_disk_cmd(wait_go)}));
  agent_.kill9();
  auto started = agent_.start();
  ASSERT_TRUE(started.has_value()) << started.error().message;
  std::ofstream(agent_.state_dir() + "/sandboxes/" + id + "/work/go") << "go";
  std::string out = output_of(id);
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
  EXPECT_EQ(out.find("OPENED"), std::string::npos) << "the task read the host's disk after the restart: " << out;
}

}  // namespace
}  // namespace berth::testing
