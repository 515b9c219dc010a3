#include "agent/translate.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace berth::agent {
namespace {

TaskPaths paths() {
  return TaskPaths{"/run/b/c/id/rootfs", "/srv/rootfs", "/var/s/id/overlay/upper", "/var/s/id/overlay/work",
                   "/var/s/id/work"};
}

bool has_env(const sandbox::OciSpec& s, const std::string& kv) {
  return std::find(s.env.begin(), s.env.end(), kv) != s.env.end();
}

TEST(Translate, MapsTheTaskSpec) {
  auto spec = parse_task_spec(R"({"name": "web-1", "rootfs": "/srv/rootfs", "command": ["/bin/web", "-v"],
    "env": {"MODE": "prod", "PATH": "/opt/bin"}, "working_dir": "/app",
    "rlimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": {"soft": 5, "hard": 6}},
    "volumes": [{"host_path": "/srv/data", "container_path": "/data", "read_only": true}]})").value();
  sandbox::OciUser user{1000, 1000, {10}};
  auto oci = translate(spec, "0123456789abcdef", paths(), user);
  EXPECT_EQ(oci.args, spec.command);
  EXPECT_EQ(oci.hostname, "web-1");
  EXPECT_TRUE(has_env(oci, "MODE=prod"));
  EXPECT_TRUE(has_env(oci, "PATH=/opt/bin"));  // the task's PATH wins
  EXPECT_TRUE(has_env(oci, "HOSTNAME=web-1"));
  EXPECT_EQ(oci.cwd, "/app");
  EXPECT_EQ(oci.user.uid, 1000u);
  EXPECT_EQ(oci.user.additional_gids, std::vector<gid_t>{10});
  EXPECT_EQ(oci.root_path, "/run/b/c/id/rootfs");
  EXPECT_EQ(oci.annotations.at("berth.overlay.lowerdir"), "/srv/rootfs");
  EXPECT_EQ(oci.annotations.at("berth.overlay.upperdir"), "/var/s/id/overlay/upper");
  EXPECT_EQ(oci.annotations.at("berth.overlay.workdir"), "/var/s/id/overlay/work");
  for (const char* ns : {"pid", "mount", "uts", "ipc", "network", "cgroup"})
    EXPECT_NE(std::find(oci.namespaces.begin(), oci.namespaces.end(), ns), oci.namespaces.end()) << ns;
  auto nofile = std::find_if(oci.rlimits.begin(), oci.rlimits.end(), [](auto& r) { return r.type == "RLIMIT_NOFILE"; });
  ASSERT_NE(nofile, oci.rlimits.end());
  EXPECT_EQ(nofile->soft, 10u);
  EXPECT_EQ(oci.rlimits.size(), 2u);
  EXPECT_NE(std::find_if(oci.rlimits.begin(), oci.rlimits.end(), [](auto& r) { return r.type == "RLIMIT_NPROC"; }),
            oci.rlimits.end());
  // The sandbox dir and the volume are bind mounts; the volume read-only.
  ASSERT_EQ(oci.mounts.size(), 2u);
  EXPECT_EQ(oci.mounts[0].destination, "/mnt/sandbox");
  EXPECT_EQ(oci.mounts[0].source, "/var/s/id/work");
  EXPECT_EQ(oci.mounts[1].destination, "/data");
  EXPECT_NE(std::find(oci.mounts[1].options.begin(), oci.mounts[1].options.end(), "ro"), oci.mounts[1].options.end());
}

TEST(Translate, DefaultsForAMinimalSpec) {
  auto spec = parse_task_spec(R"({"rootfs": "/srv/rootfs", "command": ["true"]})").value();
  auto oci = translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{});
  EXPECT_EQ(oci.hostname, "0123456789ab");
  EXPECT_EQ(oci.cwd, "/");
  EXPECT_TRUE(has_env(oci, std::string("PATH=") + kDefaultPath));
  EXPECT_TRUE(has_env(oci, "HOME=/root"));
  EXPECT_EQ(oci.oom_score_adj, 0);
  EXPECT_TRUE(oci.rlimits.empty());  // the launcher's own default applies
}

}  // namespace
}  // namespace berth::agent
