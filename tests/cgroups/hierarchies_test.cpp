// Discovery of which hierarchy serves each controller, from fake /proc/self/mountinfo and
// /proc/self/cgroup texts: this kind of hybrid host (cpu and cpuacct separate), the common
// co-mounted "cpu,cpuacct", a pure v2 host, and what is not a controller.
#include "cgroups/hierarchies.hpp"

#include <gtest/gtest.h>

namespace berth::cgroups {
namespace {

const char* kHybridMounts =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char* kHybridOwn =
    "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/8559\n2:cpuacct:/\n1:cpu:/\n0::/\n";

TEST(HierarchiesTest, HybridHostWithSeparateCpuAndCpuacct) {
  Hierarchies h = parse_hierarchies(kHybridMounts, kHybridOwn);
  ASSERT_TRUE(h.unified.has_value());
  EXPECT_EQ(h.unified->mount, "/sys/fs/cgroup/unified");
  EXPECT_EQ(h.unified->own, "");
  ASSERT_EQ(h.v1.size(), 4u);  // name=systemd is not a controller
  ASSERT_NE(h.v1_for("cpu"), nullptr);
  ASSERT_NE(h.v1_for("cpuacct"), nullptr);
  EXPECT_EQ(h.v1_for("cpu")->mount, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(h.v1_for("cpuacct")->mount, "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(h.v1_for("memory")->own, "/process_api/8559");
  EXPECT_EQ(h.v1_for("memory")->own_path(), "/sys/fs/cgroup/memory/process_api/8559");
  EXPECT_EQ(h.v1_for("memory")->kind, Kind::kV1);
  EXPECT_EQ(h.v1_for("freezer"), nullptr);
  EXPECT_EQ(h.v1_for("systemd"), nullptr);
}

TEST(HierarchiesTest, CoMountedCpuAndCpuacctAreOneHierarchy) {
  Hierarchies h = parse_hierarchies(
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "32 30 0:29 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
      "3:net_cls:/\n2:cpu,cpuacct:/system.slice/berthd.service\n0::/system.slice/berthd.service\n");
  ASSERT_EQ(h.v1.size(), 1u);  // net_cls is not one berth uses
  EXPECT_EQ(h.v1_for("cpu"), h.v1_for("cpuacct"));
  EXPECT_EQ(h.v1_for("cpu")->name(), "cpu,cpuacct");
  EXPECT_EQ(h.v1_for("cpu")->own, "/system.slice/berthd.service");
  EXPECT_EQ(h.unified->own, "/system.slice/berthd.service");
}

TEST(HierarchiesTest, PureV2HostHasNoV1Hierarchy) {
  Hierarchies h = parse_hierarchies("25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
                                    "0::/init.scope\n");
  ASSERT_TRUE(h.unified.has_value());
  EXPECT_EQ(h.unified->mount, "/sys/fs/cgroup");
  EXPECT_EQ(h.unified->own, "/init.scope");
  EXPECT_TRUE(h.v1.empty());
  EXPECT_EQ(h.v1_for("memory"), nullptr);
}

TEST(HierarchiesTest, MountOfASubCgroupCountsOnlyAroundBerthdsOwn) {
  // A container's view: the memory hierarchy mounted from /kubepods/x, berthd inside it.
  Hierarchies h = parse_hierarchies(
      "34 30 0:31 /kubepods/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
      "35 30 0:32 /other /sys/fs/cgroup/pids ro - cgroup cgroup rw,pids\n",
      "5:pids:/kubepods/x\n4:memory:/kubepods/x/berth\n");
  ASSERT_NE(h.v1_for("memory"), nullptr);
  EXPECT_EQ(h.v1_for("memory")->own, "/berth");
  EXPECT_EQ(h.v1_for("pids"), nullptr);  // berthd is not below that mount's root
  EXPECT_FALSE(h.unified.has_value());
}

TEST(HierarchiesTest, AHierarchyBerthdIsNotInIsSkipped) {
  Hierarchies h = parse_hierarchies(kHybridMounts, "0::/\n");
  EXPECT_TRUE(h.v1.empty());
}

}  // namespace
TEST(HierarchiesTest, AHierarchyCoveredByALaterMountServesNothing) {
  std::string mounts = std::string(kHybridMounts) +
                       "50 38 0:60 / /sys/fs/cgroup/pids rw,relatime - tmpfs cover rw,size=4k\n"
                       "51 34 0:61 / /sys/fs/cgroup/memory/process_api rw - tmpfs below rw\n";
  Hierarchies h = parse_hierarchies(mounts, kHybridOwn);
  EXPECT_EQ(h.v1_for("pids"), nullptr);       // a tmpfs sits on its mount point
  EXPECT_NE(h.v1_for("memory"), nullptr);     // a mount below it hides only that part
  EXPECT_NE(h.v1_for("cpu"), nullptr);
  Hierarchies all = parse_hierarchies(std::string(kHybridMounts) + "60 22 0:70 / /sys/fs rw - tmpfs t rw\n", kHybridOwn);
  EXPECT_TRUE(all.v1.empty());                // a mount above every hierarchy hides them all
  EXPECT_FALSE(all.unified.has_value());
}

}  // namespace berth::cgroups
