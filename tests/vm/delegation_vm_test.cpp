// berthd started inside the cgroup its subtree hangs under, on a cgroup v2 kernel (run inside
// tests/vm/run.sh): cgroup v2's no-internal-process rule is what this is about, so it is a
// v2-only test (v1 hierarchies have no such rule).
#include <gtest/gtest.h>
#include <unistd.h>

#include "cgroups/cgroup.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

// berthd started inside the cgroup its subtree hangs under (as under a systemd unit with
// cgroup_root "<own>/berth"): it must leave that cgroup for <root>/agent so the levels above
// the tasks can delegate controllers (cgroup v2's no-internal-process rule), and limits work.
TEST(DelegationVm, BerthdInItsOwnSubtreeMovesAsideAndDelegates) {
  const std::string hog = R"(BEGIN { s = "x"; while (1) s = s s })";
  BusyboxRootfs rootfs;
  auto mount = cgroups::find_cgroup2_mount();
  ASSERT_TRUE(mount.has_value());
  std::string svc = *mount + "/berth-svc-" + std::to_string(::getpid());
  ASSERT_TRUE(fs::mkdir_p(svc).has_value());
  {
    Agent own("", svc + "/berth");
    own.start_in_cgroup(svc);
    auto st = own.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    auto where = fs::read_file("/proc/" + std::to_string(own.pid()) + "/cgroup");
    ASSERT_TRUE(where.has_value());
    EXPECT_NE(where->find("/berth-svc-" + std::to_string(::getpid()) + "/berth/agent"), std::string::npos) << *where;
    auto delegated = fs::read_file(svc + "/cgroup.subtree_control");
    ASSERT_TRUE(delegated.has_value());
    EXPECT_NE(delegated->find("memory"), std::string::npos) << *delegated;
    auto info = parse(own.request("GET", "/v1/info").body);
    std::string controllers = json::to_string(info["cgroup"]["controllers"]);
    EXPECT_NE(controllers.find("\"memory\""), std::string::npos) << controllers;
    std::string id = own.run(spec(rootfs.path(), {"awk", hog}, R"("resources": {"memory_mb": 32})"));
    auto t = own.wait(id);
    EXPECT_STREQ(t["reason"].GetString(), "memory_limit") << json::to_string(t);
    own.request("DELETE", "/v1/containers/" + id);
  }
  ::rmdir(svc.c_str());
  EXPECT_FALSE(fs::exists(svc));
}

}  // namespace
}  // namespace berth::testing
