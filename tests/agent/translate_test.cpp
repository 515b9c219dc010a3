#include "agent/translate.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "isolators/filesystem/sandbox_isolator.hpp"
#include "isolators/namespaces/namespaces_isolator.hpp"
#include "isolators/network/network_isolator.hpp"
#include "isolators/registry.hpp"
#include "isolators/security/capabilities.hpp"
#include "isolators/security/security_isolator.hpp"

namespace berth::agent {
namespace {

TaskPaths paths() {
  return TaskPaths{"/run/b/c/id/rootfs", "/srv/rootfs", "/var/s/id/overlay/upper", "/var/s/id/overlay/work"};
}

// What the standard namespaces, network (mode none), filesystem and security isolators add for `spec` (sandbox /var/s/id).
isolators::LaunchAdditions additions(const TaskSpec& spec) {
  std::vector<std::unique_ptr<isolators::Isolator>> table;
  table.push_back(std::make_unique<isolators::NamespacesIsolator>());
  table.push_back(std::make_unique<isolators::NetworkIsolator>());
  table.push_back(std::make_unique<isolators::SandboxIsolator>());
  table.push_back(isolators::SecurityIsolator::create().value());
  auto reg = isolators::Registry::create(std::move(table)).value();
  isolators::ContainerSpec cs;
  cs.security = spec.security;
  cs.sandbox_dir = "/var/s/id";
  for (const auto& v : spec.volumes) cs.volumes.push_back({v.host_path, v.container_path, v.read_only});
  return reg->prepare("id", cs).value();
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
  auto translated = translate(spec, "0123456789abcdef", paths(), user, additions(spec));
  ASSERT_TRUE(translated.has_value()) << translated.error().message;
  const sandbox::OciSpec& oci = *translated;
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
    EXPECT_TRUE(sandbox::has_namespace(oci, ns)) << ns;
  EXPECT_NE(std::find(oci.masked_paths.begin(), oci.masked_paths.end(), "/proc/kcore"), oci.masked_paths.end());
  EXPECT_NE(std::find(oci.readonly_paths.begin(), oci.readonly_paths.end(), "/proc/sys"), oci.readonly_paths.end());
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
  auto translated = translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{}, isolators::LaunchAdditions{});
  ASSERT_TRUE(translated.has_value());
  const sandbox::OciSpec& oci = *translated;
  EXPECT_EQ(oci.hostname, "0123456789ab");
  EXPECT_EQ(oci.cwd, "/");
  EXPECT_TRUE(has_env(oci, std::string("PATH=") + kDefaultPath));
  EXPECT_TRUE(has_env(oci, "HOME=/root"));
  EXPECT_EQ(oci.oom_score_adj, 0);
  EXPECT_TRUE(oci.rlimits.empty());  // the launcher's own default applies
}

// translate only merges: every kind of addition reaches the OCI spec as the isolators gave it.
TEST(Translate, CarriesEveryAdditionIntoTheSpec) {
  auto spec = parse_task_spec(R"({"rootfs": "/srv/rootfs", "command": ["true"], "env": {"MODE": "x"}})").value();
  isolators::LaunchAdditions add;
  add.namespaces = {{"mount", ""}, {"network", "/run/netns/t1"}};
  add.env["PORT0"] = "31000";
  add.rlimits.push_back({"RLIMIT_CORE", 0, 0});
  add.sysctls["net.ipv4.ip_unprivileged_port_start"] = "0";
  add.seccomp_bpf = std::vector<uint8_t>(8, 0);
  add.no_new_privileges = true;
  add.hooks.push_back({"/usr/lib/berth/hook", {"hook", "up"}, {}, 5});
  auto oci = translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{}, add);
  ASSERT_TRUE(oci.has_value()) << oci.error().message;
  EXPECT_EQ(oci->namespaces, add.namespaces);
  EXPECT_TRUE(has_env(*oci, "PORT0=31000"));
  EXPECT_TRUE(has_env(*oci, "MODE=x"));
  ASSERT_EQ(oci->rlimits.size(), 1u);
  EXPECT_EQ(oci->rlimits[0].type, "RLIMIT_CORE");
  EXPECT_EQ(oci->sysctls, add.sysctls);
  EXPECT_EQ(oci->seccomp_bpf, add.seccomp_bpf);
  EXPECT_TRUE(oci->no_new_privileges);
  EXPECT_EQ(oci->create_runtime_hooks, add.hooks);
}

TEST(Translate, ASpecMayNotOverrideWhatAnIsolatorSets) {
  auto spec = parse_task_spec(R"({"rootfs": "/srv/rootfs", "command": ["true"], "env": {"PORT0": "80"},
    "rlimits": {"core": {"soft": 1, "hard": 1}}})").value();
  isolators::LaunchAdditions env;
  env.env["PORT0"] = "31000";
  auto r = translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{}, env);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("'/env/PORT0'"), std::string::npos) << r.error().message;
  isolators::LaunchAdditions rl;
  rl.rlimits.push_back({"RLIMIT_CORE", 0, 0});
  r = translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{}, rl);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("RLIMIT_CORE"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace berth::agent

namespace berth::agent {
namespace {

sandbox::OciSpec translate_with_security(const std::string& security, uid_t uid) {
  auto spec = parse_task_spec(R"({"rootfs": "/srv/rootfs", "command": ["/bin/x"], "security": )" + security + "}").value();
  return translate(spec, "0123456789abcdef", paths(), sandbox::OciUser{uid, uid, {}}, additions(spec)).value();
}

TEST(Translate, ConfinesByDefault) {
  sandbox::OciSpec root = translate_with_security("{}", 0);
  sandbox::CapabilitySet defaults = isolators::default_capabilities();
  ASSERT_TRUE(root.capabilities.has_value());
  EXPECT_EQ(*root.capabilities, (sandbox::OciCapabilities{defaults, defaults, defaults, 0, 0}));
  EXPECT_TRUE(root.no_new_privileges);
  EXPECT_FALSE(root.seccomp_bpf.empty());
  EXPECT_TRUE(root.sys_readonly);
  EXPECT_FALSE(root.root_readonly);
  EXPECT_NE(std::find(root.masked_paths.begin(), root.masked_paths.end(), "/proc/keys"), root.masked_paths.end());
  sandbox::OciSpec user = translate_with_security("{}", 1000);
  EXPECT_EQ(*user.capabilities, (sandbox::OciCapabilities{defaults, 0, 0, 0, 0}));
}

TEST(Translate, PrivilegedLiftsEveryConfinement) {
  sandbox::OciSpec p = translate_with_security(R"({"privileged": true, "read_only_rootfs": true})", 0);
  ASSERT_TRUE(p.capabilities.has_value());
  EXPECT_EQ(p.capabilities->bounding, sandbox::kAllCapabilities);
  EXPECT_EQ(p.capabilities->effective, sandbox::kAllCapabilities);
  EXPECT_FALSE(p.no_new_privileges);
  EXPECT_TRUE(p.seccomp_bpf.empty());
  EXPECT_FALSE(p.sys_readonly);
  EXPECT_TRUE(p.masked_paths.empty());
  EXPECT_TRUE(p.readonly_paths.empty());
  EXPECT_TRUE(p.root_readonly);
}

TEST(Translate, CapabilitiesAddDropAndUnconfinedSeccomp) {
  sandbox::OciSpec t = translate_with_security(
      R"({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "cap_chown"]}, "seccomp": "unconfined",
          "no_new_privileges": false, "sysctls": {"net.ipv4.ping_group_range": "0 0"}})", 0);
  sandbox::CapabilitySet want = (1ULL << 12) | (1ULL << 0);
  EXPECT_EQ(t.capabilities->bounding, want);
  EXPECT_EQ(t.capabilities->effective, want);
  EXPECT_TRUE(t.seccomp_bpf.empty());
  EXPECT_FALSE(t.no_new_privileges);
  EXPECT_EQ(t.sysctls.at("net.ipv4.ping_group_range"), "0 0");
}

}  // namespace
}  // namespace berth::agent
