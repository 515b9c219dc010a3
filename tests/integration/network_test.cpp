// Network modes through the real berthd, which runs inside a network namespace the test
// creates (never the machine's own): "none" has loopback only, "host" shares berthd's
// namespace, the node's default mode comes from the config, and bad input is a 400 that
// starts nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <sstream>

#include "tests/integration/harness.hpp"
#include "tests/integration/netns.hpp"

namespace berth::testing {
namespace {

class Network : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    // A link only this namespace has: a task sharing it sees it, a task in its own does not.
    // (a veth pair: this kernel may lack the dummy module)
    ASSERT_EQ(ns_.sh("ip link add berth-probe0 type veth peer name berth-probe1"), 0);
  }

  void start(const std::string& extra_config = "") {
    agent_ = std::make_unique<Agent>(extra_config);
    agent_->start_in_netns(ns_.path());
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // The interfaces a task with `network` (a spec fragment, or "") sees in /proc/net/dev.
  std::set<std::string> interfaces_seen(const std::string& network) {
    std::string id = agent_->run(spec(rootfs_.path(), {"cat", "/proc/net/dev"}, network));
    auto exit = agent_->wait(id);
    EXPECT_EQ(exit["exit_code"].GetInt(), 0);
    std::set<std::string> names;
    std::istringstream in(agent_->logs(id));
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;  // the two header lines
      std::string name = line.substr(0, colon);
      name.erase(0, name.find_first_not_of(' '));
      names.insert(name);
    }
    return names;
  }

  TestNetns ns_;  // outlives the agent: berthd stops before its namespace goes
  BusyboxRootfs rootfs_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(Network, NoneHasOnlyLoopbackAndIsTheDefault) {
  start();
  EXPECT_EQ(interfaces_seen(R"("network": {"mode": "none"})"), std::set<std::string>{"lo"});
  EXPECT_EQ(interfaces_seen(""), std::set<std::string>{"lo"});
}

TEST_F(Network, NoneHasAWorkingLoopback) {
  start();
  std::string id = agent_->run(spec(rootfs_.path(), {"sh", "-c", "ip addr show lo | grep -q 'inet 127.0.0.1' && "
                                                                    "ip link show lo | grep -q UP && echo lo-up"}));
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id), "lo-up\n");
}

TEST_F(Network, HostSharesTheNamespaceBerthdRunsIn) {
  start();
  auto seen = interfaces_seen(R"("network": {"mode": "host"})");
  EXPECT_TRUE(seen.count("berth-probe0")) << "the task in host mode does not see the namespace's dummy link";
  EXPECT_TRUE(seen.count("lo"));
}

TEST_F(Network, HostIsTheDefaultWhenTheConfigSaysSo) {
  start(R"("network": {"default_mode": "host"})");
  EXPECT_TRUE(interfaces_seen("").count("berth-probe0"));
  EXPECT_EQ(interfaces_seen(R"("network": {"mode": "none"})"), std::set<std::string>{"lo"});
}

TEST_F(Network, BadNetworkInputIsA400NamingItAndStartsNothing) {
  start();
  const std::string links_before = ns_.links();
  struct Case {
    const char* network;
    const char* names;
  };
  for (const Case& c : {Case{R"("network": {"mode": "bridgee"})", "/network/mode"},
                        Case{R"("network": {"mode": "none", "ports": [{"container_port": 80}]})", "/network/ports"},
                        Case{R"("network": {"mode": "host"}, "security": {"sysctls": {"net.ipv4.ip_forward": "1"}})",
                             "net.ipv4.ip_forward"}}) {
    auto r = agent_->launch(spec(rootfs_.path(), {"true"}, c.network));
    EXPECT_EQ(r.status, 400) << c.network << ": " << r.body;
    EXPECT_NE(r.body.find(c.names), std::string::npos) << r.body;
  }
  auto list = parse(agent_->request("GET", "/v1/containers?all=1").body);
  EXPECT_EQ(list["containers"].Size(), 0u);
  EXPECT_EQ(ns_.links(), links_before);
}

}  // namespace
}  // namespace berth::testing
