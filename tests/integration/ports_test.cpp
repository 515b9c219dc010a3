// Dynamic ports through the real berthd, which runs inside a network namespace the test
// creates (bridge, veths, berth's nft table all live there): a client in that namespace
// reaches a bridge task through its host port, via the namespace's own address and via
// 127.0.0.1; host tasks get distinct ports and PORT0; a taken port is refused and changes
// nothing; after kill -9 and restart the mappings hold; after many tasks nothing is left.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <memory>
#include <set>
#include <thread>

#include "common/fs.hpp"
#include "isolators/network/nft_table.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/netns.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

constexpr const char* kNodeAddress = "192.0.2.10";  // the test namespace's own (on its lo)

std::string bridge_ports(const std::string& ports) {
  return R"("network": {"mode": "bridge", "ports": )" + ports + "}";
}

class Ports : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    ASSERT_EQ(ns_.sh(std::string("ip addr add ") + kNodeAddress + "/32 dev lo"), 0);
  }

  void start() {
    agent_ = std::make_unique<Agent>(
        R"("network": {"bridge": {"name": "pbr0", "subnet": "10.78.0.0/24"}, "ports": {"range": "21000-21099"}})");
    agent_->start_in_netns(ns_.path());
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // A bridge task serving "hello-<word>" over HTTP on :8080, published on host port `host`
  // (0: any).
  std::string serve(const std::string& word, int host = 0) {
    return agent_->run(spec(rootfs_.path(),
                            {"sh", "-c",
                             "mkdir -p /tmp/www && echo hello-" + word +
                                 " > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"},
                            bridge_ports(R"([{"name": "http", "container_port": 8080, "host_port": )" +
                                         std::to_string(host) + "}]")));
  }

  // The task's one mapping as inspect shows it.
  int host_port_of(const std::string& id) {
    auto c = agent_->get(id);
    if (!c.HasMember("network") || !c["network"]["ports"].IsArray() || c["network"]["ports"].Empty()) {
      ADD_FAILURE() << "no ports in inspect of " << id;
      return 0;
    }
    return c["network"]["ports"][0]["host_port"].GetInt();
  }

  // GET http://<address>:<port>/ from the test namespace; polled (10 s at most) until the
  // server answers.
  std::string fetch(const std::string& address, int port) {
    std::string got;
    poll_until(
        [&] {
          got = ns_.output("timeout 2 busybox wget -q -O - http://" + address + ":" + std::to_string(port) +
                           "/index.html 2>/dev/null");
          return !got.empty();
        },
        std::chrono::seconds(10));
    return got;
  }

  // berth's nft table in the test namespace, as the kernel lists it ("" when there is none).
  std::string nft_table() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
    pid_t child = ::fork();
    if (child == 0) {
      int ns = ::open(ns_.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(2);
      isolators::NftTable t;
      auto text = t.list();
      std::string out = text ? *text : "error: " + text.error().message;
      (void)!::write(fds[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    return out;
  }

  std::string ports_dir() const { return agent_->state_dir() + "/network/ports"; }
  std::string ipam_dir() const { return agent_->state_dir() + "/network/ipam"; }

  void expect_nothing_left() {
    // A failed launch is cleaned up once its shim is gone, after the API answered: poll.
    poll_until([&] { return entries(ports_dir()).empty() && entries(ipam_dir()).empty(); }, std::chrono::seconds(5));
    EXPECT_EQ(nft_table(), "");
    EXPECT_TRUE(entries(ports_dir()).empty());
    EXPECT_TRUE(entries(ipam_dir()).empty());
    EXPECT_EQ(ns_.output("ip -o link show | grep -c ' bth' || true"), "0\n") << ns_.links();
  }

  TestNetns ns_;  // outlives the agent
  BusyboxRootfs rootfs_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(Ports, ABridgeTaskIsReachedThroughItsHostPortFromTheNodesAddressAndLoopback) {
  start();
  std::string id = serve("a");
  int port = host_port_of(id);
  EXPECT_GE(port, 21000);
  EXPECT_LE(port, 21099);
  EXPECT_EQ(fetch(kNodeAddress, port), "hello-a\n");
  EXPECT_EQ(fetch("127.0.0.1", port), "hello-a\n");
  // Endpoints list it; the task saw its port in the env.
  auto r = agent_->request("GET", "/v1/endpoints");
  ASSERT_EQ(r.status, 200) << r.body;
  auto e = parse(r.body);
  ASSERT_EQ(e["endpoints"].Size(), 1u) << r.body;
  EXPECT_EQ(std::string(e["endpoints"][0]["task_id"].GetString()), id);
  EXPECT_EQ(std::string(e["endpoints"][0]["port_name"].GetString()), "http");
  EXPECT_EQ(std::string(e["endpoints"][0]["protocol"].GetString()), "tcp");
  EXPECT_EQ(e["endpoints"][0]["host_port"].GetInt(), port);
  EXPECT_EQ(e["endpoints"][0]["container_port"].GetInt(), 8080);
  auto c = agent_->get(id);
  EXPECT_EQ(std::string(c["network"]["address"].GetString()), "10.78.0.2");
  // The launch event carries the mapping too.
  std::string started;
  auto st = agent_->stream_lines("GET", "/v1/events?since=0", "", [&](const std::string& line) {
    if (line.find("\"container.started\"") == std::string::npos) return true;
    started = line;
    return false;
  });
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_NE(started.find(R"("network":{"mode":"bridge","address":"10.78.0.2","ports":[{"name":"http","protocol":"tcp",)"
                         R"("container_port":8080,"host_ip":"0.0.0.0","host_port":)" + std::to_string(port) + "}]}"),
            std::string::npos)
      << started;
}

TEST_F(Ports, HostTasksGetDistinctPortsAndSeeThemInTheirEnv) {
  start();
  std::string host = R"("network": {"mode": "host", "ports": [{"name": "web", "container_port": 80}]})";
  std::string a = agent_->run(spec(rootfs_.path(), {"sh", "-c", "echo $PORT0 $PORT_WEB; sleep 1000"}, host));
  std::string b = agent_->run(spec(rootfs_.path(), {"sh", "-c", "echo $PORT0 $PORT_WEB; sleep 1000"}, host));
  int pa = host_port_of(a), pb = host_port_of(b);
  EXPECT_NE(pa, pb);
  for (auto [id, port] : {std::pair{a, pa}, std::pair{b, pb}}) {
    std::string want = std::to_string(port) + " " + std::to_string(port) + "\n";
    std::string got;
    poll_until([&] { return (got = agent_->logs(id)) == want; }, std::chrono::seconds(5));
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(entries(ports_dir()).size(), 2u);
  EXPECT_EQ(nft_table(), "");  // host mode: no DNAT, and no bridge task for a masquerade
}

TEST_F(Ports, ATakenPortIsRefusedAndChangesNothing) {
  start();
  std::string a = serve("a", 21005);
  EXPECT_EQ(host_port_of(a), 21005);
  std::string table = nft_table();
  auto files = entries(ports_dir());
  auto r = agent_->launch(spec(rootfs_.path(), {"true"},
                               bridge_ports(R"([{"container_port": 80, "host_port": 21005}])")));
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("host port 21005/tcp is taken by task " + a), std::string::npos) << r.body;
  EXPECT_EQ(nft_table(), table);
  EXPECT_EQ(entries(ports_dir()), files);
  EXPECT_EQ(entries(ipam_dir()).size(), 1u);
  auto out = agent_->launch(spec(rootfs_.path(), {"true"},
                                 bridge_ports(R"([{"container_port": 80, "host_port": 8080}])")));
  EXPECT_EQ(out.status, 400) << out.body;
  EXPECT_NE(out.body.find("outside this node's port range 21000-21099"), std::string::npos) << out.body;
  EXPECT_EQ(nft_table(), table);
  EXPECT_EQ(entries(ports_dir()), files);
  EXPECT_EQ(fetch("127.0.0.1", 21005), "hello-a\n");
}

TEST_F(Ports, AfterKill9AndRestartMappingsHoldAndTrafficFlows) {
  start();
  std::string a = serve("a");
  int port = host_port_of(a);
  EXPECT_EQ(fetch(kNodeAddress, port), "hello-a\n");
  std::string gone = serve("gone");
  host_port_of(gone);
  agent_->kill9();
  auto state = parse(fs::read_file(agent_->run_dir() + "/containers/" + gone + "/state.json").value());
  ASSERT_GT(state["pid"].GetInt(), 1);
  ASSERT_EQ(::kill(state["pid"].GetInt(), SIGKILL), 0);
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  agent_->wait(gone);
  EXPECT_EQ(fetch(kNodeAddress, port), "hello-a\n");
  EXPECT_EQ(fetch("127.0.0.1", port), "hello-a\n");
  EXPECT_EQ(entries(ports_dir()), std::vector<std::string>{"tcp-" + std::to_string(port)});
  EXPECT_EQ(host_port_of(a), port);
  std::string table = nft_table();
  EXPECT_NE(table.find(std::to_string(port) + " : 10.78.0.2 . 8080"), std::string::npos) << table;
  EXPECT_EQ(table.find("10.78.0.3"), std::string::npos) << table;  // the dead task's mapping is gone
}

TEST_F(Ports, ManyTasksWithPortsComeAndGoAndLeaveNothing) {
  start();
  std::set<int> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = agent_->run(spec(rootfs_.path(), {"true"},
                                      bridge_ports(R"([{"container_port": 80}, {"container_port": 53, "protocol": "udp"}])")));
    agent_->wait(id);
    seen.insert(host_port_of(id));
    ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + id).status, 204);
  }
  EXPECT_GT(seen.size(), 1u);  // round robin: a released port is not the next one handed out
  auto failed = agent_->launch(spec(rootfs_.path(), {"/bin/nope"}, bridge_ports(R"([{"container_port": 80}])")));
  EXPECT_NE(failed.status, 201) << failed.body;
  expect_nothing_left();
}

}  // namespace
}  // namespace berth::testing
