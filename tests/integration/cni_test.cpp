// CNI networks through the real berthd, which runs inside a network namespace the test
// creates (the plugins run there too, so the bridge, veths and IPAM live there, never in the
// machine's own). The conflist is Debian's bridge + host-local + portmap + bandwidth from a
// temp config dir, host-local's dataDir a temp dir; a "probe" plugin (a shell script in a
// temp plugin dir) records each call and fails or hangs on ADD when told to.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/netns.hpp"

namespace berth::testing {
namespace {

constexpr const char* kCni = R"("network": {"mode": "cni", "name": "testnet"})";

constexpr const char* kProbe = R"(#!/bin/sh
cat > /dev/null
echo "$CNI_COMMAND" >> DIR/calls
if [ "$CNI_COMMAND" = ADD ]; then
  if [ -e DIR/fail ]; then
    echo '{"cniVersion":"1.0.0","code":11,"msg":"no luck","details":"by design"}'
    exit 1
  fi
  if [ -e DIR/hang ]; then echo $$ > DIR/hanging; exec sleep 60; fi
  echo '{"cniVersion":"1.0.0"}'
fi
exit 0
)";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

class Cni : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    char tmpl[] = "/tmp/berth-cni-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* sub : {"/conf", "/plugins", "/ipam"}) ASSERT_TRUE(fs::mkdir_p(dir_ + sub, 0755).has_value());
    ASSERT_TRUE(fs::write_file_atomic(dir_ + "/plugins/probe", replace_all(kProbe, "DIR", dir_), 0755).has_value());
  }
  void TearDown() override {
    agent_.reset();
    (void)fs::remove_tree(dir_);
  }

  // probe: where the probe plugin sits in the chain ("first", "last" or "" for none).
  void start(const std::string& probe = "", uint32_t timeout_ms = 10000) {
    std::string probe_plugin = R"({"type": "probe"})";
    std::string plugins = R"({"type": "bridge", "bridge": "cnibr0", "isGateway": true, "ipMasq": false,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
                  "dataDir": ")" + dir_ + R"(/ipam"},
         "dns": {"nameservers": ["10.99.0.53"], "search": ["cni.test"]}},
        {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
        {"type": "bandwidth", "capabilities": {"bandwidth": true}})";
    if (probe == "first") plugins = probe_plugin + ", " + plugins;
    if (probe == "last") plugins += ", " + probe_plugin;
    ASSERT_TRUE(fs::write_file_atomic(dir_ + "/conf/10-test.conflist",
                                      R"({"cniVersion": "1.0.0", "name": "testnet", "plugins": [)" + plugins + "]}", 0644)
                    .has_value());
    agent_ = std::make_unique<Agent>(R"("network": {"cni": {"config_dir": ")" + dir_ + R"(/conf", "plugin_dirs": [")" +
                                     dir_ + R"(/plugins", "/usr/lib/cni"], "timeout_ms": )" +
                                     std::to_string(timeout_ms) + "}}");
    agent_->start_in_netns(ns_.path());
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // A cni task that prints its address and serves "hello-<word>" over HTTP on :8080.
  std::string serve(const std::string& word) {
    return agent_->run(spec(rootfs_.path(),
                            {"sh", "-c",
                             "mkdir -p /tmp/www && echo hello-" + word +
                                 " > /tmp/www/index.html && ip -4 -o addr show eth0 && exec httpd -f -p 8080 -h /tmp/www"},
                            kCni));
  }

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

  std::string fetch_from_namespace(const std::string& address) {
    std::string got;
    for (int i = 0; i < 100 && got.empty(); ++i) {
      got = ns_.output("timeout 5 busybox wget -q -O - http://" + address + ":8080/index.html 2>/dev/null");
      if (got.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return got;
  }

  std::string calls() const { return fs::read_file(dir_ + "/calls").value_or(""); }
  // host-local's leases (files named by address) of the test network.
  std::vector<std::string> leases() const {
    std::vector<std::string> out;
    for (const auto& e : entries(dir_ + "/ipam/testnet"))
      if (e.rfind("10.99.", 0) == 0) out.push_back(e);
    return out;
  }
  std::vector<std::string> veths() const {
    std::vector<std::string> out;
    std::istringstream in(ns_.links());
    for (std::string l; std::getline(in, l);)
      if (l.rfind("veth", 0) == 0) out.push_back(l);
    return out;
  }
  void expect_nothing_left() {
    EXPECT_TRUE(veths().empty()) << ns_.links();
    EXPECT_TRUE(leases().empty()) << leases().front();
    EXPECT_TRUE(entries(agent_->state_dir() + "/network/cni").empty());
    EXPECT_TRUE(entries(agent_->run_dir() + "/netns-cni").empty());
  }

  std::string dir_;
  TestNetns ns_;  // outlives the agent
  BusyboxRootfs rootfs_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(Cni, ATaskGetsAnAddressTheNamespaceReachesItAndInspectShowsTheResult) {
  start();
  std::string id = serve("a");
  std::string addr = address_of(id);
  EXPECT_EQ(addr.rfind("10.99.0.", 0), 0u) << addr;
  EXPECT_EQ(fetch_from_namespace(addr), "hello-a\n");
  auto c = agent_->get(id);
  ASSERT_TRUE(c.HasMember("network")) << json::to_string(c);
  EXPECT_EQ(std::string(c["network"]["name"].GetString()), "testnet");
  EXPECT_EQ(std::string(c["network"]["cni"]["ips"][0]["address"].GetString()), addr + "/24");
  EXPECT_EQ(std::string(c["network"]["cni"]["dns"]["nameservers"][0].GetString()), "10.99.0.53");
  EXPECT_EQ(leases(), std::vector<std::string>{addr});
  ASSERT_EQ(agent_->request("POST", "/v1/containers/" + id + "/kill").status / 100, 2);
  agent_->wait(id);
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  expect_nothing_left();
}

TEST_F(Cni, AMappedPortReachesTheTaskThroughPortmap) {
  start();
  std::string id = agent_->run(spec(rootfs_.path(),
                                    {"sh", "-c",
                                     "mkdir -p /tmp/www && echo hello-p > /tmp/www/index.html && echo port=$PORT0 && "
                                     "exec httpd -f -p 8080 -h /tmp/www"},
                                    R"("network": {"mode": "cni", "name": "testnet", "ports": [{"container_port": 8080}]})"));
  auto c = agent_->get(id);
  ASSERT_TRUE(c["network"]["ports"].IsArray() && c["network"]["ports"].Size() == 1) << json::to_string(c);
  std::string port = std::to_string(c["network"]["ports"][0]["host_port"].GetUint());
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    got = ns_.output("timeout 5 busybox wget -q -O - http://10.99.0.1:" + port + "/index.html 2>/dev/null");
    if (got.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(got, "hello-p\n") << ns_.output("iptables-save -t nat");
  EXPECT_NE(agent_->logs(id).find("port=" + port), std::string::npos) << agent_->logs(id);
  ASSERT_EQ(agent_->request("POST", "/v1/containers/" + id + "/kill").status / 100, 2);
  agent_->wait(id);
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  EXPECT_EQ(ns_.output("iptables-save -t nat | grep -c 'dport " + port + "'"), "0\n");
  expect_nothing_left();
}

TEST_F(Cni, BandwidthLimitsReachTheBandwidthPlugin) {
  start();
  std::string id = agent_->run(spec(rootfs_.path(), {"sleep", "1000"},
                                    std::string(kCni) + R"(, "resources": {"network": {"egress_mbit": 10, "ingress_mbit": 20}})"));
  // The plugin shapes what reaches the task on the host end of its veth, and what it sends on
  // an ifb device it mirrors the veth's ingress to.
  std::string qdiscs = ns_.output("tc qdisc show");
  EXPECT_NE(qdiscs.find("rate 20Mbit"), std::string::npos) << qdiscs;
  EXPECT_NE(qdiscs.find("rate 10Mbit"), std::string::npos) << qdiscs;
  ASSERT_EQ(agent_->request("POST", "/v1/containers/" + id + "/kill").status / 100, 2);
  agent_->wait(id);
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  EXPECT_EQ(ns_.output("tc qdisc show | grep -c tbf || true"), "0\n") << ns_.output("tc qdisc show");
  expect_nothing_left();
}

TEST_F(Cni, TheTaskSeesTheResultsRouteAndDns) {
  start();
  std::string id = agent_->run(spec(rootfs_.path(), {"sh", "-c", "ip route; cat /etc/resolv.conf /etc/hosts"},
                                    std::string(kCni) + R"(, "hostname": "web-1")"));
  agent_->wait(id);
  std::string out = agent_->logs(id);
  EXPECT_NE(out.find("default via 10.99.0.1 dev eth0"), std::string::npos) << out;
  EXPECT_NE(out.find("nameserver 10.99.0.53"), std::string::npos) << out;
  EXPECT_NE(out.find("search cni.test"), std::string::npos) << out;
  EXPECT_NE(out.find("\tweb-1"), std::string::npos) << out;
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  expect_nothing_left();
}

TEST_F(Cni, AnUnknownNetworkIsRefusedByName) {
  start();
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, R"("network": {"mode": "cni", "name": "nosuchnet"})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("unknown CNI network 'nosuchnet'"), std::string::npos) << r.body;
  expect_nothing_left();
}

TEST_F(Cni, AFailingPluginIsNamedWithItsMessageAndLeavesNothing) {
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/fail", "", 0644).has_value());
  start("last");
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, kCni));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("CNI plugin 'probe' of network 'testnet' (ADD): no luck: by design (code 11)"),
            std::string::npos) << r.body;
  EXPECT_EQ(calls(), "ADD\nDEL\n");  // and DEL of every plugin, the probe included
  expect_nothing_left();
}

TEST_F(Cni, AHangingPluginIsKilledAtTheTimeoutAndLeavesNothing) {
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/hang", "", 0644).has_value());
  start("last", 1000);
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, kCni));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("CNI plugin 'probe' of network 'testnet' (ADD): did not finish within 1000 ms and was killed"),
            std::string::npos) << r.body;
  auto pid = fs::read_file(dir_ + "/hanging");
  ASSERT_TRUE(pid.has_value());
  // SIGKILL went to the plugin's whole group before the reply; its end is asynchronous.
  bool alive = true;
  for (int i = 0; i < 100 && alive; ++i) {
    alive = process_alive(std::stoi(*pid));
    if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(alive) << "the hanging plugin's sleep survived the timeout";
  expect_nothing_left();
}

TEST_F(Cni, AfterKill9AndRestartCheckRunsAndTrafficFlows) {
  start("first");
  std::string id = serve("a");
  std::string addr = address_of(id);
  agent_->kill9();
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(calls(), "ADD\nCHECK\n");
  EXPECT_EQ(fetch_from_namespace(addr), "hello-a\n");
  EXPECT_EQ(std::string(agent_->get(id)["network"]["cni"]["ips"][0]["address"].GetString()), addr + "/24");
  ASSERT_EQ(agent_->request("POST", "/v1/containers/" + id + "/kill").status / 100, 2);
  agent_->wait(id);
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  EXPECT_EQ(calls(), "ADD\nCHECK\nDEL\n");
  expect_nothing_left();
}

TEST_F(Cni, AKill9DuringAddIsUndoneAtStartup) {
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/hang", "", 0644).has_value());
  start("last");
  std::thread launcher([&] { (void)agent_->launch(spec(rootfs_.path(), {"true"}, kCni)); });
  std::string pid;
  for (int i = 0; i < 500 && pid.empty(); ++i) {
    pid = fs::read_file(dir_ + "/hanging").value_or("");
    if (pid.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(pid.empty()) << "the probe never ran ADD";
  EXPECT_EQ(leases().size(), 1u);  // bridge and host-local did their part
  agent_->kill9();
  launcher.join();
  ::kill(std::stoi(pid), SIGKILL);
  ::unlink((dir_ + "/hang").c_str());
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(calls(), "ADD\nDEL\n");
  expect_nothing_left();
}

}  // namespace
}  // namespace berth::testing
