// Bridge networks through the real berthd, which runs inside a network namespace the test
// creates (the bridge, veths and routes live there, never in the machine's own): tasks get
// an address, a route and resolv.conf/hosts; two tasks talk; the test namespace reaches a
// task; the gateway's MAC stays put; a full subnet is refused by name; every exit path (task exit, launch failure, a
// kill -9 of berthd and restart) leaves nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/netns.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

constexpr const char* kBridge = R"("network": {"mode": "bridge"})";

class Bridge : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "integration tests need root"; }

  void start(const std::string& subnet = "10.77.0.0/24") {
    agent_ = std::make_unique<Agent>(R"("network": {"bridge": {"name": "bbr0", "subnet": ")" + subnet +
                                     R"(", "dns": ["10.77.0.53"]}})");
    agent_->start_in_netns(ns_.path());
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // A bridge task that prints its address and serves "hello-<word>" over HTTP on :8080.
  std::string serve(const std::string& word) {
    return agent_->run(spec(rootfs_.path(),
                            {"sh", "-c",
                             "mkdir -p /tmp/www && echo hello-" + word +
                                 " > /tmp/www/index.html && ip -4 -o addr show eth0 && exec httpd -f -p 8080 -h /tmp/www"},
                            kBridge));
  }

  // The address a task printed ("inet 10.77.0.2/24"); polled, fails the test if never.
  std::string address_of(const std::string& id) {
    for (int i = 0; i < 250; ++i) {
      std::string logs = agent_->logs(id);
      size_t at = logs.find("inet ");
      size_t slash = at == std::string::npos ? at : logs.find('/', at);
      if (slash != std::string::npos) return logs.substr(at + 5, slash - at - 5);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "task " << id << " never printed its address: " << agent_->logs(id);
    return "";
  }

  // GET http://<address>:8080/ from the test namespace; polled until the server answers.
  std::string fetch_from_namespace(const std::string& address) {
    std::string got;
    for (int i = 0; i < 100 && got.empty(); ++i) {
      got = ns_.output("timeout 5 busybox wget -q -O - http://" + address + ":8080/index.html 2>/dev/null");
      if (got.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return got;
  }

  std::string ipam_dir() const { return agent_->state_dir() + "/network/ipam"; }
  std::string netns_dir() const { return agent_->run_dir() + "/netns"; }
  // The task veths (bth*) in the test namespace.
  std::vector<std::string> veths() const {
    std::vector<std::string> out;
    std::istringstream in(ns_.links());
    for (std::string l; std::getline(in, l);)
      if (l.rfind("bth", 0) == 0) out.push_back(l);
    return out;
  }
  // The kernel removes a task's veth pair with its namespace, in its own worker: poll.
  void expect_veths(size_t n) {
    poll_until([&] { return veths().size() == n; }, std::chrono::seconds(10));
    EXPECT_EQ(veths().size(), n) << ns_.links();
  }
  void expect_nothing_left() {
    expect_veths(0);
    EXPECT_TRUE(entries(ipam_dir()).empty());
    EXPECT_TRUE(entries(netns_dir()).empty());
    // Addresses: lo's and the bridge's only.
    EXPECT_EQ(ns_.output("ip -4 -o addr show | awk '{print $2, $4}'"), "lo 127.0.0.1/8\nbbr0 10.77.0.1/24\n");
  }

  TestNetns ns_;  // outlives the agent
  BusyboxRootfs rootfs_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(Bridge, ATaskGetsAnAddressARouteAndItsNameFiles) {
  start();
  std::string id = agent_->run(spec(rootfs_.path(),
                                    {"sh", "-c", "ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf /etc/hosts"},
                                    std::string(kBridge) + R"(, "hostname": "web-1")"));
  agent_->wait(id);
  std::string out = agent_->logs(id);
  EXPECT_NE(out.find("inet 10.77.0.2/24"), std::string::npos) << out;
  EXPECT_NE(out.find("default via 10.77.0.1 dev eth0"), std::string::npos) << out;
  EXPECT_NE(out.find("nameserver 10.77.0.53"), std::string::npos) << out;
  EXPECT_NE(out.find("10.77.0.2\tweb-1"), std::string::npos) << out;
}

TEST_F(Bridge, TwoTasksTalkAndTheNamespaceReachesThem) {
  start();
  std::string a = serve("a");
  std::string addr_a = address_of(a);
  EXPECT_EQ(fetch_from_namespace(addr_a), "hello-a\n");
  std::string b = agent_->run(spec(rootfs_.path(),
                                   {"sh", "-c", "for i in $(seq 50); do wget -q -O - http://" + addr_a +
                                                    ":8080/index.html && exit 0; sleep 0.1; done; exit 1"},
                                   kBridge));
  auto exit = agent_->wait(b);
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent_->logs(b);
  EXPECT_EQ(agent_->logs(b), "hello-a\n");
}

// A bridge takes the lowest MAC of its ports unless it has one of its own: then a task's veth
// coming or going changed the gateway's MAC under every other task, whose cached neighbour
// entry went stale and whose TCP streams stalled for seconds (seen in the Bandwidth tests).
TEST_F(Bridge, TheGatewayKeepsItsMacWhileOtherTasksComeAndGo) {
  start();
  auto bridge_mac = [&] {
    std::string link = ns_.output("ip -o link show bbr0");
    size_t at = link.find("link/ether ");
    return at == std::string::npos ? link : link.substr(at + 11, 17);
  };
  std::string a = serve("a");
  address_of(a);
  std::string with_a = bridge_mac();
  std::string b = serve("b");
  std::string addr_b = address_of(b);
  std::string with_both = bridge_mac();
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + a + "?force=1").status, 204);
  expect_veths(1);
  EXPECT_EQ(with_a, "02:62:0a:4d:00:01");  // 02:62, then the gateway 10.77.0.1
  EXPECT_EQ(with_both, with_a);
  EXPECT_EQ(bridge_mac(), with_a);
  EXPECT_EQ(fetch_from_namespace(addr_b), "hello-b\n");
}

TEST_F(Bridge, ThirtyTasksComeAndGoAndLeaveNothing) {
  start();
  for (int i = 0; i < 30; ++i) {
    std::string id = agent_->run(spec(rootfs_.path(), {"true"}, kBridge));
    agent_->wait(id);
    ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  }
  expect_nothing_left();
}

TEST_F(Bridge, ALaunchFailureLeavesNothing) {
  start();
  auto r = agent_->launch(spec(rootfs_.path(), {"/bin/nope"}, kBridge));
  EXPECT_NE(r.status, 201) << r.body;
  expect_nothing_left();
}

// The veth is made while the shim starts (Registry::ready), the task held until then: when that
// fails the launch fails with the kernel's word, the task never ran, and nothing is left.
TEST_F(Bridge, AVethThatCannotBeMadeFailsTheLaunchBeforeTheTaskRunsAndLeavesNothing) {
  // A link that is not a bridge under the bridge's name: nothing can be enslaved to it.
  ns_.output("ip link add bbr0 type veth peer name bbr0x");
  start();
  char marks[] = "/tmp/berth-bridge-marks-XXXXXX";
  ASSERT_NE(::mkdtemp(marks), nullptr);
  struct RemoveAfter {
    std::string dir;
    ~RemoveAfter() { (void)fs::remove_tree(dir); }
  } remove_marks{marks};
  auto r = agent_->launch(spec(rootfs_.path(), {"touch", "/marks/ran"},
                               std::string(kBridge) + R"(, "volumes": [{"host_path": ")" + marks +
                                   R"(", "container_path": "/marks"}])"));
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("veth for 10.77.0.2"), std::string::npos) << r.body;
  EXPECT_FALSE(fs::exists(std::string(marks) + "/ran"));
  expect_nothing_left();
}

TEST_F(Bridge, AFullSubnetIsRefusedByNameAndHalfConfiguresNothing) {
  start("10.77.0.0/30");  // one address for tasks
  std::string a = serve("a");
  address_of(a);
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, kBridge));
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("10.77.0.0/30 is exhausted"), std::string::npos) << r.body;
  EXPECT_EQ(veths().size(), 1u) << ns_.links();
  EXPECT_EQ(entries(ipam_dir()).size(), 1u);
  EXPECT_EQ(entries(netns_dir()).size(), 1u);
}

TEST_F(Bridge, AfterKill9AndRestartMappingsHoldTrafficFlowsAndTheDeadAreCleared) {
  start();
  std::string a = serve("a");
  std::string addr_a = address_of(a);
  std::string gone = agent_->run(spec(rootfs_.path(), {"sleep", "1000"}, kBridge));  // ends below
  ASSERT_EQ(veths().size(), 2u);
  agent_->kill9();
  // While berthd is down, one task ends (killed by its pid): its network must not outlive
  // the restart.
  auto state = parse(fs::read_file(agent_->run_dir() + "/containers/" + gone + "/state.json").value());
  ASSERT_GT(state["pid"].GetInt(), 1);
  ASSERT_EQ(::kill(state["pid"].GetInt(), SIGKILL), 0);
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  agent_->wait(gone);
  EXPECT_EQ(fetch_from_namespace(addr_a), "hello-a\n");
  EXPECT_EQ(entries(ipam_dir()), std::vector<std::string>{addr_a});
  expect_veths(1);
  EXPECT_EQ(veths(), std::vector<std::string>{"bth" + a.substr(0, 12)});
  // The address stays A's: the next task gets another.
  std::string c = serve("c");
  EXPECT_NE(address_of(c), addr_a);
}

}  // namespace
}  // namespace berth::testing
