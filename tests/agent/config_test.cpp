#include "agent/config.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TEST(Config, EmptyObjectMeansDefaults) {
  auto c = parse_config("{}");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->socket, "/run/berth/berth.sock");
  EXPECT_EQ(c->run_dir, "/run/berth");
  EXPECT_EQ(c->state_dir, "/var/lib/berth");
  EXPECT_EQ(c->log_max_size_mb, 10u);
  EXPECT_EQ(c->log_max_files, 3u);
  EXPECT_EQ(c->containers_run_dir(), "/run/berth/containers");
  EXPECT_EQ(c->sandboxes_dir(), "/var/lib/berth/sandboxes");
}

TEST(Config, OverridesEveryPath) {
  auto c = parse_config(R"({"socket": "/tmp/a/s.sock", "run_dir": "/tmp/a/run/", "state_dir": "/tmp/a/state",
                            "cgroup_root": "/sys/fs/cgroup/unified/berth/t1", "log": {"max_size_mb": 2, "max_files": 5},
                            "launch_timeout_s": 5, "debug": true})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->socket, "/tmp/a/s.sock");
  EXPECT_EQ(c->run_dir, "/tmp/a/run");  // trailing slash dropped
  EXPECT_EQ(c->cgroup_root, "/sys/fs/cgroup/unified/berth/t1");
  EXPECT_EQ(c->log_max_size_mb, 2u);
  EXPECT_EQ(c->log_max_files, 5u);
  EXPECT_EQ(c->launch_timeout_s, 5u);
  EXPECT_TRUE(c->debug);
}

TEST(Config, UserNamespacePoolAndDefault) {
  auto d = parse_config("{}");
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->userns.default_on);
  EXPECT_EQ(d->userns.range_size, 65536u);
  auto c = parse_config(R"({"userns": {"default": true, "pool": "200000-331071", "range_size": 65536}})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_TRUE(c->userns.default_on);
  EXPECT_EQ(c->userns.pool_start, 200000u);
  EXPECT_EQ(c->userns.pool_count, 131072u);
  for (const char* bad : {R"({"userns": {"pool": "0-70000"}})", R"({"userns": {"pool": "5-4"}})",
                          R"({"userns": {"pool": "1-4294967295"}})", R"({"userns": {"pool": "100-200"}})",
                          R"({"userns": {"pool": "100"}})"}) {
    auto r = parse_config(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find("userns"), std::string::npos) << r.error().message;
  }
}

TEST(Config, UnknownKeyIsNamed) {
  auto c = parse_config(R"({"sockett": "/x"})");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Code::kInvalidArgument);
  EXPECT_NE(c.error().message.find("unknown field '/sockett'"), std::string::npos) << c.error().message;
}

TEST(Config, UnknownNestedKeyIsNamed) {
  auto c = parse_config(R"({"log": {"max_size": 3}})");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("'/log/max_size'"), std::string::npos) << c.error().message;
}

TEST(Config, BadValuesAreNamed) {
  auto rel = parse_config(R"({"run_dir": "relative/dir"})");
  ASSERT_FALSE(rel.has_value());
  EXPECT_NE(rel.error().message.find("'/run_dir'"), std::string::npos) << rel.error().message;
  auto type = parse_config(R"({"log": {"max_files": "three"}})");
  ASSERT_FALSE(type.has_value());
  EXPECT_NE(type.error().message.find("'/log/max_files' must be an integer"), std::string::npos)
      << type.error().message;
  auto range = parse_config(R"({"log": {"max_files": 0}})");
  ASSERT_FALSE(range.has_value());
  EXPECT_NE(range.error().message.find("at least 1"), std::string::npos) << range.error().message;
}

TEST(Config, NetworkDefaultMode) {
  EXPECT_EQ(parse_config("{}")->network.default_mode, isolators::NetworkMode::kNone);
  EXPECT_EQ(parse_config(R"({"network": {"default_mode": "host"}})")->network.default_mode,
            isolators::NetworkMode::kHost);
  auto bad = parse_config(R"({"network": {"default_mode": "bridgee"}})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("'/network/default_mode'"), std::string::npos) << bad.error().message;
}

TEST(Config, CniDirsAndTimeout) {
  auto d = parse_config("{}");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->network.cni_config_dir, "/etc/berth/cni");
  EXPECT_EQ(d->network.cni_plugin_dirs, std::vector<std::string>{"/usr/lib/cni"});
  EXPECT_EQ(d->network.cni_state_dir, d->state_dir + "/network/cni");
  auto c = parse_config(R"({"network": {"cni": {"config_dir": "/etc/cni/net.d", "plugin_dirs": ["/opt/cni/bin", "/usr/lib/cni"],
                                                 "timeout_ms": 2500}}})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->network.cni_config_dir, "/etc/cni/net.d");
  EXPECT_EQ(c->network.cni_plugin_dirs, (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(c->network.cni_timeout_ms, 2500u);
  auto bad = parse_config(R"({"network": {"cni": {"plugin_dirs": ["/a:/b"]}}})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("plugin_dirs"), std::string::npos) << bad.error().message;
}

TEST(Config, PortRangeHostIpAndMasquerade) {
  auto d = parse_config(R"({"state_dir": "/var/lib/b"})");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->network.port_range.text(), "20000-32767");
  EXPECT_EQ(d->network.ports_dir, "/var/lib/b/network/ports");
  EXPECT_EQ(d->network.host_ip, "0.0.0.0");
  EXPECT_TRUE(d->network.bridge.masquerade);
  auto c = parse_config(R"({"network": {"ports": {"range": "40000-40010", "host_ip": "192.0.2.1"},
                                        "bridge": {"masquerade": false}}})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->network.port_range.first, 40000);
  EXPECT_EQ(c->network.port_range.last, 40010);
  EXPECT_EQ(c->network.host_ip, "192.0.2.1");
  EXPECT_FALSE(c->network.bridge.masquerade);
  for (auto [text, want] : {std::pair{R"({"network": {"ports": {"range": "9-3"}}})", "'/network/ports/range'"},
                            std::pair{R"({"network": {"ports": {"host_ip": "node"}}})", "'/network/ports/host_ip'"},
                            std::pair{R"({"network": {"ports": {"bogus": 1}}})", "/network/ports/bogus"}}) {
    auto bad = parse_config(text);
    ASSERT_FALSE(bad.has_value()) << text;
    EXPECT_NE(bad.error().message.find(want), std::string::npos) << bad.error().message;
  }
}

TEST(Config, FetchAndUnpackBudgets) {
  auto d = parse_config("{}");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_TRUE(d->fetch_file_roots.empty()) << "file:// is off by default";
  EXPECT_EQ(d->fetch_artifact_max_mb, 1024u);
  EXPECT_EQ(d->fetch_task_max_mb, 4096u);
  EXPECT_EQ(d->unpack_max_mb, 65536u);
  EXPECT_EQ(d->unpack_max_entries, 2000000u);
  EXPECT_EQ(d->unpack_max_ratio, 100u);
  EXPECT_EQ(d->unpack_ratio_after_mb, 64u);
  EXPECT_EQ(d->unpack_min_free_mb, 512u);
  auto c = parse_config(R"({"fetch": {"file_roots": ["/srv/art/", "/opt/tools"], "artifact_max_mb": 5, "task_max_mb": 9},
                            "unpack": {"max_mb": 7, "max_entries": 8, "max_ratio": 0, "ratio_after_mb": 1, "min_free_mb": 2}})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->fetch_file_roots, (std::vector<std::string>{"/srv/art", "/opt/tools"}));
  EXPECT_EQ(c->fetch_artifact_max_mb, 5u);
  EXPECT_EQ(c->fetch_task_max_mb, 9u);
  EXPECT_EQ(c->unpack_max_mb, 7u);
  EXPECT_EQ(c->unpack_max_entries, 8u);
  EXPECT_EQ(c->unpack_max_ratio, 0u);
  EXPECT_EQ(c->unpack_ratio_after_mb, 1u);
  EXPECT_EQ(c->unpack_min_free_mb, 2u);
  for (const char* bad : {R"({"fetch": {"file_roots": ["relative"]}})", R"({"fetch": {"file_roots": ["/srv/../etc"]}})",
                          R"({"fetch": {"artifact_max_mb": 0}})", R"({"unpack": {"max_mb": 2000000}})",
                          R"({"unpack": {"max_ratio": -1}})", R"({"fetch": {"roots": []}})"}) {
    SCOPED_TRACE(bad);
    auto r = parse_config(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().message.find("fetch") != std::string::npos ||
                r.error().message.find("unpack") != std::string::npos) << r.error().message;
  }
}

TEST(Config, MalformedJson) {
  auto c = parse_config(R"({"socket": )");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("malformed JSON"), std::string::npos);
}

TEST(Config, MissingDefaultFileMeansDefaults) {
  auto c = load_config("/nonexistent/berth/agent.json", false);
  ASSERT_TRUE(c.has_value());
  auto must = load_config("/nonexistent/berth/agent.json", true);
  ASSERT_FALSE(must.has_value());
  EXPECT_NE(must.error().message.find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace berth::agent
