#include "agent/task_spec.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TEST(TaskSpec, ParsesAFullSpec) {
  auto s = parse_task_spec(R"({"name": "web-1", "rootfs": "/srv/rootfs", "command": ["/bin/sh", "-c", "echo hi"],
    "env": {"MODE": "prod"}, "user": "1000:1000", "working_dir": "/app", "hostname": "h1",
    "rlimits": {"nofile": {"soft": 100, "hard": 200}},
    "volumes": [{"host_path": "/srv/data", "container_path": "/data", "read_only": true}],
    "logging": {"max_size_mb": 2, "max_files": 4}, "labels": {"team": "web"}})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->name, "web-1");
  EXPECT_EQ(s->command.size(), 3u);
  EXPECT_EQ(s->env.at("MODE"), "prod");
  EXPECT_EQ(s->user, "1000:1000");
  ASSERT_EQ(s->rlimits.size(), 1u);
  EXPECT_EQ(s->rlimits[0].name, "nofile");
  EXPECT_EQ(s->rlimits[0].hard, 200u);
  ASSERT_EQ(s->volumes.size(), 1u);
  EXPECT_TRUE(s->volumes[0].read_only);
  EXPECT_EQ(*s->log_max_size_mb, 2u);
  EXPECT_EQ(*s->log_max_files, 4u);
  EXPECT_EQ(s->labels.at("team"), "web");
  EXPECT_FALSE(s->resources.any());
}

struct BadSpec {
  const char* json;
  const char* expect;  // a piece of the error message
};

class TaskSpecRejects : public ::testing::TestWithParam<BadSpec> {};

TEST_P(TaskSpecRejects, WithAMessageNamingTheField) {
  auto s = parse_task_spec(GetParam().json);
  ASSERT_FALSE(s.has_value()) << GetParam().json;
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  EXPECT_NE(s.error().message.find(GetParam().expect), std::string::npos)
      << "message: " << s.error().message << "\nexpected to contain: " << GetParam().expect;
}

// 300 KB of '[' crashed the recursive parser.
const std::string kDeepJson(300 * 1024, '[');

INSTANTIATE_TEST_SUITE_P(
    Cases, TaskSpecRejects,
    ::testing::Values(
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "bogus": 1})", "unknown field '/bogus'"},
        BadSpec{R"({"rootfs": "/r"})", "'/command'"},
        BadSpec{R"({"rootfs": "/r", "command": []})", "'/command' must have at least 1"},
        BadSpec{R"({"rootfs": "/r", "command": [1]})", "'/command/0' must be a string"},
        BadSpec{R"({"rootfs": "r", "command": ["x"]})", "'/rootfs'"},
        BadSpec{R"({"command": ["x"]})", "exactly one of 'rootfs' and 'image'"},
        BadSpec{R"({"rootfs": "/r", "image": "a/b", "command": ["x"]})", "exactly one of"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "name": "bad name"})", "'/name'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "env": {"A": 1}})", "'/env/A' must be a string"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "user": "a:b:c"})", "'/user'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "rlimits": {"nofile": {"soft": 10, "hard": 5}}})",
                "soft limit above hard limit"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "rlimits": {"files": {"soft": 1, "hard": 1}}})",
                "unknown field '/rlimits/files'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a"}]})",
                "missing required field '/volumes/0/container_path'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "resources": {"cpus": -1}})", "'/resources/cpus' must be at least"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "resources": {"memory_mb": 1}})", "'/resources/memory_mb'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "logging": {"max_files": 0}})", "'/logging/max_files'"},
        BadSpec{R"([1, 2])", "must be an object"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"],)", "malformed JSON"},
        // NUL would cut a C string short: refused wherever it is, keys included.
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "name": "a\u0000b"})", "field '/name' contains a NUL"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "hostname": "h\u0000"})", "field '/hostname' contains a NUL"},
        BadSpec{R"({"rootfs": "/r", "command": ["/bin/sh", "-c\u0000x"]})", "field '/command/1' contains a NUL"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "env": {"A\u0000x": "1"}})",
                "field '/env/A\\u0000x' contains a NUL"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "env": {"A": "1\u0000"}})", "field '/env/A' contains a NUL"},
        BadSpec{R"({"image": "a/b", "entrypoint": ["x\u0000"]})", "field '/entrypoint/0' contains a NUL"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "env": {"A=B": "1"}})", "'A=B' is not a valid variable name"},
        // Spec paths.
        BadSpec{R"({"rootfs": "/", "command": ["x"]})", "'/' is the host's own root file system"},
        BadSpec{R"({"rootfs": "//", "command": ["x"]})", "the host's own root"},
        BadSpec{R"({"rootfs": "/srv/..", "command": ["x"]})", "'.' or '..' component"},
        BadSpec{R"({"rootfs": "/srv/a:/srv/b", "command": ["x"]})", "contains ':', ','"},
        BadSpec{R"({"rootfs": "/srv/a,upperdir=/x", "command": ["x"]})", "contains ':', ','"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a", "container_path": "/.."}]})",
                "field '/volumes/0/container_path': '/..' is not a normalised absolute path"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a", "container_path": "/d"},
                   {"host_path": "/a", "container_path": "/data/../etc"}]})", "'/volumes/1/container_path'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a", "container_path": "/data/"}]})",
                "not a normalised"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a", "container_path": "//data"}]})",
                "not a normalised"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "/a", "container_path": "/./d"}]})",
                "not a normalised"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "volumes": [{"host_path": "a", "container_path": "/d"}]})",
                "'/volumes/0/host_path'"},
        BadSpec{kDeepJson.c_str(), "nested deeper than 64 levels"},
        // Networks.
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "bridgee"}})", "'/network/mode'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "host", "bogus": 1}})",
                "unknown field '/network/bogus'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": "host"})", "'/network'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "cni"}})",
                "network mode \"cni\" needs the CNI network's name"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "bridge", "name": "n"}})",
                "field '/network/name' names a CNI network"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "cni", "name": "../x"}})", "'/network/name'"},
        // Dynamic ports.
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 0}]}})",
                "'/network/ports/0/container_port'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80, "host_port": 65536}]}})",
                "'/network/ports/0/host_port'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80, "protocol": "sctp"}]}})",
                "'/network/ports/0/protocol'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"host_port": 80}]}})", "container_port"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80, "name": "a b"}]}})",
                "'/network/ports/0/name'"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80, "name": "web-a"},
                   {"container_port": 81, "name": "WEB_A"}]}})",
                "field '/network/ports/1/name': port name 'WEB_A' is used twice (names are compared as PORT_WEB_A)"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80},
                   {"container_port": 80}]}})", "field '/network/ports/1/container_port': 80/tcp is mapped twice"},
        BadSpec{R"({"rootfs": "/r", "command": ["x"], "network": {"ports": [{"container_port": 80, "host_port": 21000},
                   {"container_port": 81, "host_port": 21000}]}})",
                "field '/network/ports/1/host_port': 21000/tcp is asked for twice"}));

TEST(TaskSpec, ACniNetworkIsNamed) {
  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "cni", "name": "calico-1"}})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->network.mode, isolators::NetworkMode::kCni);
  EXPECT_EQ(s->network.name, "calico-1");
}

TEST(TaskSpec, PortsAreParsedNamedByIndexAndTcpByDefault) {
  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "bridge", "ports": [
      {"name": "http", "container_port": 8080, "host_port": 21000},
      {"container_port": 53, "protocol": "udp"}, {"container_port": 53}]}})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  ASSERT_EQ(s->network.ports.size(), 3u);
  EXPECT_EQ(s->network.ports[0].name, "http");
  EXPECT_EQ(s->network.ports[0].container_port, 8080);
  EXPECT_EQ(s->network.ports[0].host_port, 21000);
  EXPECT_EQ(s->network.ports[0].protocol, "tcp");
  EXPECT_EQ(s->network.ports[1].name, "port1");
  EXPECT_EQ(s->network.ports[1].host_port, 0);
  EXPECT_EQ(s->network.ports[1].protocol, "udp");
  EXPECT_EQ(s->network.ports[2].protocol, "tcp");  // 53/tcp and 53/udp are two ports
}

TEST(TaskSpec, NetworkModeIsParsedAndUnsetWithoutOne) {
  auto host = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "host"}})");
  ASSERT_TRUE(host.has_value()) << host.error().message;
  EXPECT_EQ(host->network.mode, isolators::NetworkMode::kHost);
  auto none = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "network": {"mode": "none"}})");
  EXPECT_EQ(none->network.mode, isolators::NetworkMode::kNone);
  EXPECT_FALSE(parse_task_spec(R"({"rootfs": "/r", "command": ["x"]})")->network.mode.has_value());
}

TEST(TaskSpec, AcceptsNormalisedVolumePathsAndRootfs) {
  auto s = parse_task_spec(R"({"rootfs": "/srv/root.fs-1/", "command": ["x"],
    "volumes": [{"host_path": "/srv/a", "container_path": "/data/x.y"}]})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->volumes[0].container_path, "/data/x.y");
}

TEST(TaskSpec, KeepsTheRequestForInspect) {
  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["true"], "labels": {"a": "b"}})");
  ASSERT_TRUE(s.has_value());
  EXPECT_NE(s->json.find("\"labels\":{\"a\":\"b\"}"), std::string::npos) << s->json;
}

}  // namespace
}  // namespace berth::agent
