// User namespaces on the VM's Debian kernel, where every writable directory (and so the
// test's root file system) is tmpfs, and on an ext4 loop device there. tmpfs has idmapped mounts only from Linux 6.3: on an
// older kernel (Debian 12's 6.1) a task with a user namespace is refused with an error that
// says why and nothing is copied; on a newer one it runs as root of its own range.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

bool kernel_at_least(int major, int minor) {
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

TEST(UserNamespaceVm, ATaskOnTmpfsLayersRunsMappedOrIsRefusedClearly) {
  BusyboxRootfs rootfs;
  struct statfs sf {};
  ASSERT_EQ(::statfs(rootfs.path().c_str(), &sf), 0);
  if (static_cast<unsigned long>(sf.f_type) != static_cast<unsigned long>(TMPFS_MAGIC))
    GTEST_SKIP() << rootfs.path() << " is not on tmpfs (run through tests/vm/run.sh, where it is)";
  Agent agent(R"("userns": {"default": true, "pool": "3000000000-3000065535"})");
  auto st = agent.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto r = agent.launch(spec(rootfs.path(), {"sh", "-c", "id -u; cat /proc/self/uid_map"}));
  if (kernel_at_least(6, 3)) {
    ASSERT_EQ(r.status, 201) << r.body;
    std::string id = parse(r.body)["id"].GetString();
    agent.wait(id);
    std::istringstream out(agent.logs(id));
    std::string uid, inside, base, size;
    out >> uid >> inside >> base >> size;
    EXPECT_EQ(uid + " " + inside + " " + base + " " + size, "0 0 3000000000 65536");
  } else {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("cannot idmap image layer"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("tmpfs from 6.3"), std::string::npos) << r.body;
    std::printf("refused as expected on this kernel: %s\n", r.body.c_str());
  }
}

// The same task with its layers on ext4 (a loop device in the VM): idmapped layers under
// overlayfs work there on every kernel berth supports (Linux >= 5.19); the task's root is
// its range's first id and a layer file keeps its owner on disk.
class Ext4Layers : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("berth-userns-ext4");
    std::string img = dir_ + "/fs.img", mnt = dir_ + "/mnt";
    std::string setup = "set -e; modprobe loop; modprobe ext4; truncate -s 64M " + img + "; mkfs.ext4 -q " + img +
                        "; mkdir -p " + mnt + "; mount -o loop " + img + " " + mnt;
    if (std::system(("sh -c '" + setup + "' >/dev/null 2>&1").c_str()) != 0)
      GTEST_SKIP() << "no loop device with ext4 here (modprobe loop/ext4, mkfs.ext4): " << setup;
    mounted_ = mnt;
  }
  void TearDown() override {
    if (!mounted_.empty()) (void)std::system(("umount -d " + mounted_).c_str());
    (void)std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_, mounted_;
};

TEST_F(Ext4Layers, ATaskRunsAsRootOfItsRangeOverIdmappedLayers) {
  BusyboxRootfs rootfs;
  std::string layer = mounted_ + "/layer";
  ASSERT_EQ(std::system(("cp -a " + rootfs.path() + " " + layer).c_str()), 0);
  Agent agent(R"("userns": {"default": true, "pool": "3000000000-3000065535"})");
  auto st = agent.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto r = agent.launch(spec(layer, {"sh", "-c", "id -u; stat -c %u /bin/busybox; cat /proc/self/uid_map; touch /new"}));
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = parse(r.body)["id"].GetString();
  auto exit = agent.wait(id);
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent.logs(id, "?stream=stderr");
  std::istringstream out(agent.logs(id));
  std::string uid, owner, inside, base, size;
  out >> uid >> owner >> inside >> base >> size;
  EXPECT_EQ(uid + " " + owner + " " + inside + " " + base + " " + size, "0 0 0 3000000000 65536");
  struct stat host {};
  ASSERT_EQ(::stat((layer + "/bin/busybox").c_str(), &host), 0);
  EXPECT_EQ(host.st_uid, 0u) << "the layer file was chowned";
  ASSERT_EQ(::stat((agent.state_dir() + "/sandboxes/" + id + "/overlay/upper/new").c_str(), &host), 0);
  EXPECT_EQ(host.st_uid, 3000000000u);
}

}  // namespace
}  // namespace berth::testing
