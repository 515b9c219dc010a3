// User namespaces on the VM's Debian kernel, where every writable directory (and so the
// test's root file system) is tmpfs. tmpfs has idmapped mounts only from Linux 6.3: on an
// older kernel (Debian 12's 6.1) a task with a user namespace is refused with an error that
// says why and nothing is copied; on a newer one it runs as root of its own range.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
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

}  // namespace
}  // namespace berth::testing
