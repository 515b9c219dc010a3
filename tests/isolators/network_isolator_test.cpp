// The network isolator's launch additions per mode (the integration tests check what a task
// then sees), and the mode names the spec and the config accept.
#include <gtest/gtest.h>

#include <algorithm>

#include "isolators/namespaces/namespaces_isolator.hpp"
#include "isolators/network/network_isolator.hpp"
#include "isolators/registry.hpp"

namespace berth::isolators {
namespace {

NetworkConfig with_default(NetworkMode mode) {
  NetworkConfig c;
  c.default_mode = mode;
  return c;
}

bool adds_netns(const LaunchAdditions& a) {
  return std::any_of(a.namespaces.begin(), a.namespaces.end(),
                     [](const sandbox::OciNamespace& n) { return n.type == "network" && n.path.empty(); });
}

TEST(NetworkIsolator, NoneGetsANewNamespaceHostNone) {
  NetworkIsolator iso;
  ContainerSpec spec;
  spec.network.mode = NetworkMode::kNone;
  auto none = iso.prepare("t1", spec);
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(adds_netns(*none));
  spec.network.mode = NetworkMode::kHost;
  auto host = iso.prepare("t2", spec);
  ASSERT_TRUE(host.has_value()) << host.error().message;
  EXPECT_TRUE(host->namespaces.empty());
}

TEST(NetworkIsolator, AnUnsetModeTakesTheNodesDefault) {
  ContainerSpec spec;
  EXPECT_TRUE(adds_netns(NetworkIsolator().prepare("t1", spec).value()));
  EXPECT_TRUE(NetworkIsolator(with_default(NetworkMode::kHost)).prepare("t1", spec)->namespaces.empty());
}

TEST(NetworkIsolator, HostModeRefusesNetSysctlsNamingThem) {
  NetworkIsolator iso;
  ContainerSpec spec;
  spec.network.mode = NetworkMode::kHost;
  spec.security.sysctls = {{"net.ipv4.ip_forward", "1"}};
  auto r = iso.prepare("t1", spec);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("net.ipv4.ip_forward"), std::string::npos) << r.error().message;
  EXPECT_EQ(iso.usage("t1").error().code, Code::kNotFound);  // nothing half-prepared
}

// The namespaces isolator no longer adds one: with both in a table the task has exactly one
// network namespace (none) or none at all (host), and the merge finds no conflict.
TEST(NetworkIsolator, TakesTheNetworkNamespaceOverFromTheNamespacesIsolator) {
  for (NetworkMode mode : {NetworkMode::kNone, NetworkMode::kHost}) {
    std::vector<std::unique_ptr<Isolator>> table;
    table.push_back(std::make_unique<NamespacesIsolator>());
    table.push_back(std::make_unique<NetworkIsolator>(with_default(mode)));
    auto reg = Registry::create(std::move(table));
    ASSERT_TRUE(reg.has_value());
    auto a = (*reg)->prepare("t1", ContainerSpec{});
    ASSERT_TRUE(a.has_value()) << a.error().message;
    auto netns = std::count_if(a->namespaces.begin(), a->namespaces.end(),
                               [](const sandbox::OciNamespace& n) { return n.type == "network"; });
    EXPECT_EQ(netns, mode == NetworkMode::kNone ? 1 : 0);
    EXPECT_EQ(a->namespaces.size(), mode == NetworkMode::kNone ? 6u : 5u);
    ASSERT_TRUE((*reg)->cleanup("t1").has_value());
  }
}

TEST(NetworkIsolator, BridgeWithoutABridgeConfigIsRefusedAndLeavesNothing) {
  NetworkIsolator iso;  // no ipam_dir/netns_dir: no bridge network on this node
  ContainerSpec spec;
  spec.network.mode = NetworkMode::kBridge;
  auto r = iso.prepare("t1", spec);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(iso.usage("t1").error().code, Code::kNotFound);
}

TEST(NetworkMode, NamesRoundTripAndAnUnknownOneIsNamed) {
  EXPECT_EQ(parse_network_mode("host", "/network/mode").value(), NetworkMode::kHost);
  EXPECT_EQ(parse_network_mode("none", "/network/mode").value(), NetworkMode::kNone);
  EXPECT_EQ(parse_network_mode("bridge", "/network/mode").value(), NetworkMode::kBridge);
  auto bad = parse_network_mode("bridgee", "/network/mode");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("/network/mode"), std::string::npos);
  EXPECT_NE(bad.error().message.find("bridgee"), std::string::npos);
}

}  // namespace
}  // namespace berth::isolators
