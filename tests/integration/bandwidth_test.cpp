// Bandwidth limits and traffic counters of bridge tasks through the real berthd, which runs
// inside a network namespace the test creates (traffic only between the tasks and that
// namespace): a sender held to 10 Mbit/s measures 10 ±20 % and an unlimited one far more; a
// receiver held to 10 Mbit/s likewise; a live update changes the rate; the task cannot lift
// its own limit; the counters in stats and the termination record match the bytes sent; host
// and none modes refuse a limit by name and create nothing.
// Rates are measured by the test's end of the TCP stream (bytes read, or bytes the task has
// acknowledged), over a window that starts after the first burst.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "common/unique_fd.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/netns.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kGateway = "10.77.0.1";  // the bridge's address, in the test namespace
constexpr milliseconds kWarmup{500};
constexpr milliseconds kWindow{2000};

std::string bridge_with(const std::string& network_resources) {
  std::string s = R"("network": {"mode": "bridge"})";
  if (!network_resources.empty()) s += R"(, "resources": {"network": )" + network_resources + "}";
  return s;
}

// A TCP socket of the test namespace: made by a thread that joins it and ends, so the test's
// own threads never change namespace.
UniqueFd tcp_socket_in(const std::string& netns_path) {
  int made = -1;
  std::thread([&] {
    int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns >= 0 && ::setns(ns, CLONE_NEWNET) == 0) made = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ns >= 0) ::close(ns);
  }).join();
  return UniqueFd::adopt(made);
}

sockaddr_in address(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

void set_timeout(int fd, int option, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

// Bytes the kernel has received on `fd` (TCP_INFO): counts arrival, not when the test got to
// read them, so a test thread held off the CPU does not skew a window.
uint64_t bytes_received(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_bytes_received;
}

double mbit_per_s(uint64_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) * 8 / std::chrono::duration<double>(d).count() / 1e6;
}

class Bandwidth : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    agent_ = std::make_unique<Agent>(R"("network": {"bridge": {"name": "bbr0", "subnet": "10.77.0.0/24"}})");
    agent_->start_in_netns(ns_.path());
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // A listener on port `port` of every address of the test namespace (the bridge, and its
  // address, come with the first bridge task).
  UniqueFd listen_on(uint16_t port) {
    UniqueFd fd = tcp_socket_in(ns_.path());
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = address("0.0.0.0", port);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd.get(), 4), 0);
    set_timeout(fd.get(), SO_RCVTIMEO, 20);  // accept() waits at most this long
    return fd;
  }

  // A bridge task that streams zeros to the listener on `port` until the test hangs up.
  std::string stream_to_namespace(uint16_t port, const std::string& limits) {
    return agent_->run(spec(rootfs_.path(),
                            {"sh", "-c", "cat /dev/zero | nc " + std::string(kGateway) + " " + std::to_string(port)},
                            bridge_with(limits)));
  }

  // Mbit/s read from an accepted stream over kWindow, after kWarmup.
  static double receive_rate(int listener) {
    UniqueFd conn = UniqueFd::adopt(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(conn) << "no connection came: " << std::strerror(errno);
    if (!conn) return 0;
    // The first bytes may take a while on a loaded machine; the rate is counted from them, so
    // waiting longer skews nothing. Once the stream flows, 5 s of silence is a failure (it is how
    // a stall of another task's stream showed while the kernel tore down a finished task's veth
    // pair; bridge_network.cpp deletes it itself since).
    set_timeout(conn.get(), SO_RCVTIMEO, 20);
    std::vector<char> buf(1 << 16);
    uint64_t total = 0, at_start = 0;
    Clock::time_point first{}, start{};
    for (;;) {
      ssize_t n = ::read(conn.get(), buf.data(), buf.size());
      if (n <= 0) {
        ADD_FAILURE() << "the stream ended early: " << (n < 0 ? std::strerror(errno) : "EOF");
        return 0;
      }
      auto now = Clock::now();
      if (total == 0) first = now, set_timeout(conn.get(), SO_RCVTIMEO, 5);
      total += static_cast<uint64_t>(n);
      if (start == Clock::time_point{} && now - first >= kWarmup) start = now, at_start = bytes_received(conn.get());
      if (start != Clock::time_point{} && now - start >= kWindow)
        return mbit_per_s(bytes_received(conn.get()) - at_start, now - start);
    }
  }

  // Mbit/s the task at `ip`:5000 acknowledged over kWindow, after kWarmup (bytes written
  // minus those still unacknowledged in the send queue).
  double send_rate(const std::string& ip) {
    UniqueFd fd;
    sockaddr_in a = address(ip, 5000);
    bool connected = poll_until(
        [&] {
          fd = tcp_socket_in(ns_.path());
          return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        },
        milliseconds(10000));
    EXPECT_TRUE(connected) << "the task never listened on " << ip << ":5000";
    if (!connected) return 0;
    int sndbuf = 64 * 1024;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    set_timeout(fd.get(), SO_SNDTIMEO, 5);
    std::vector<char> zeros(16 * 1024, 0);
    uint64_t written = 0, acked_at_start = 0;
    auto acked = [&] {
      int queued = 0;
      ::ioctl(fd.get(), SIOCOUTQ, &queued);
      return written - static_cast<uint64_t>(queued);
    };
    auto first = Clock::now();
    Clock::time_point start{};
    for (;;) {
      ssize_t n = ::write(fd.get(), zeros.data(), zeros.size());
      if (n <= 0) {
        ADD_FAILURE() << "sending to the task failed: " << std::strerror(errno);
        return 0;
      }
      written += static_cast<uint64_t>(n);
      auto now = Clock::now();
      if (start == Clock::time_point{} && now - first >= kWarmup) start = now, acked_at_start = acked();
      if (start != Clock::time_point{} && now - start >= kWindow) return mbit_per_s(acked() - acked_at_start, now - start);
    }
  }

  // The address a task printed ("inet 10.77.0.2/24"); polled.
  std::string address_of(const std::string& id) {
    std::string found;
    poll_until(
        [&] {
          std::string logs = agent_->logs(id);
          size_t at = logs.find("inet ");
          size_t slash = at == std::string::npos ? at : logs.find('/', at);
          if (slash != std::string::npos) found = logs.substr(at + 5, slash - at - 5);
          return !found.empty();
        },
        milliseconds(5000), milliseconds(20));
    EXPECT_FALSE(found.empty()) << "task " << id << " never printed its address: " << agent_->logs(id);
    return found;
  }

  rapidjson::Document stats(const std::string& id) {
    auto r = agent_->request("GET", "/v1/containers/" + id + "/stats");
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r.body);
  }

  std::string host_veth(const std::string& id) { return "bth" + id.substr(0, 12); }

  TestNetns ns_;  // outlives the agent
  BusyboxRootfs rootfs_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(Bandwidth, ASenderHeldToTenMbitMeasuresTenAndAnUnlimitedOneFarMore) {
  UniqueFd limited_listener = listen_on(5001), free_listener = listen_on(5002);
  std::string limited = stream_to_namespace(5001, R"({"egress_mbit": 10})");
  // The limit is a qdisc on eth0 in the task's namespace, none on the node's side of the veth.
  std::string node_side = ns_.output("tc qdisc show dev " + host_veth(limited));
  EXPECT_NE(node_side, "");
  EXPECT_EQ(node_side.find("tbf"), std::string::npos) << node_side;
  double rate = receive_rate(limited_listener.get());
  EXPECT_GE(rate, 8.0);
  EXPECT_LE(rate, 12.0);
  std::string unlimited = stream_to_namespace(5002, "");
  double free_rate = receive_rate(free_listener.get());
  EXPECT_GT(free_rate, 5 * rate) << "limited " << rate << " Mbit/s";
  std::printf("egress 10 Mbit/s: %.2f Mbit/s measured; unlimited: %.1f Mbit/s\n", rate, free_rate);
}

TEST_F(Bandwidth, AReceiverHeldToTenMbitMeasuresTen) {
  std::string id = agent_->run(spec(rootfs_.path(), {"sh", "-c", "ip -4 -o addr show eth0; nc -l -p 5000 > /dev/null"},
                                    bridge_with(R"({"ingress_mbit": 10})")));
  std::string ip = address_of(id);
  // Shaped on the node's side of the veth: a tbf at 10Mbit there.
  std::string node_side = ns_.output("tc qdisc show dev " + host_veth(id));
  EXPECT_NE(node_side.find("tbf"), std::string::npos) << node_side;
  EXPECT_NE(node_side.find("rate 10Mbit"), std::string::npos) << node_side;
  double rate = send_rate(ip);
  EXPECT_GE(rate, 8.0);
  EXPECT_LE(rate, 12.0);
  std::printf("ingress 10 Mbit/s: %.2f Mbit/s measured\n", rate);
}

TEST_F(Bandwidth, WhatTheShaperDropsCountsAsTheTasksDrops) {
  // At 1 Mbit/s the queue (22 KB) is far smaller than what the sender keeps in flight.
  std::string id = agent_->run(spec(rootfs_.path(),
                                    {"sh", "-c", "ip -4 -o addr show eth0; nc -l -p 5000 > /dev/null; sleep 1000"},
                                    bridge_with(R"({"ingress_mbit": 1})")));
  double rate = send_rate(address_of(id));
  EXPECT_GE(rate, 0.8);
  EXPECT_LE(rate, 1.2);
  auto tc_dropped = [&] {
    std::string out = ns_.output("tc -s qdisc show dev " + host_veth(id));
    size_t at = out.find("dropped ");
    return at == std::string::npos ? -1L : std::stol(out.substr(at + 8));
  };
  rapidjson::Document s;
  long kernel = -1;
  // Retransmissions may still be arriving: poll until the two readings agree.
  bool agree = poll_until(
      [&] {
        s = stats(id);
        kernel = tc_dropped();
        return s["usage"]["network"].IsObject() &&
               static_cast<long>(s["usage"]["network"]["rx_dropped"].GetUint64()) == kernel;
      },
      milliseconds(5000));
  EXPECT_TRUE(agree) << "tc says " << kernel << " dropped; stats: " << json::to_string(s);
  EXPECT_GT(kernel, 0);
  std::printf("ingress 1 Mbit/s: %.2f Mbit/s measured, %ld packets dropped by the shaper\n", rate, kernel);
  agent_->request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  agent_->wait(id);
}

TEST_F(Bandwidth, ALiveUpdateChangesTheRateAndTheLimitsShown) {
  UniqueFd listener = listen_on(5001);
  // Up from 5 to 20 Mbit/s: both well below what an unshaped busybox nc manages on a loaded
  // machine (80 Mbit/s and more), so the shaper, not the CPU, sets both rates. (Down works
  // too, but the smaller queue drops what the sender had in flight, and TCP's retransmission
  // timeouts can then stall the stream for seconds: no clean window to measure.)
  std::string id = stream_to_namespace(5001, R"({"egress_mbit": 5})");
  UniqueFd conn = UniqueFd::adopt(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  // One stream: measured, updated, measured again (the listener hands over the same stream).
  auto measure = [&](milliseconds warmup) {
    // The first bytes may take a while on a loaded machine; the rate is counted from them, so
    // waiting longer skews nothing. Once the stream flows, 5 s of silence is a failure (it is how
    // a stall of another task's stream showed while the kernel tore down a finished task's veth
    // pair; bridge_network.cpp deletes it itself since).
    set_timeout(conn.get(), SO_RCVTIMEO, 20);
    std::vector<char> buf(1 << 16);
    auto skip_until = Clock::now() + warmup;
    while (Clock::now() < skip_until) EXPECT_GT(::read(conn.get(), buf.data(), buf.size()), 0);
    auto start = Clock::now();
    uint64_t at_start = bytes_received(conn.get());
    for (;;) {
      if (::read(conn.get(), buf.data(), buf.size()) <= 0) return 0.0;
      if (Clock::now() - start >= kWindow) return mbit_per_s(bytes_received(conn.get()) - at_start, Clock::now() - start);
    }
  };
  double before = measure(kWarmup);
  auto r = agent_->request("POST", "/v1/containers/" + id + "/update", R"({"network": {"egress_mbit": 20}})");
  ASSERT_EQ(r.status, 200) << r.body;
  // TCP grows into the new rate: give it a second before the window.
  double after = measure(milliseconds(1000));
  std::printf("egress 5 -> 20 Mbit/s live: %.2f -> %.2f Mbit/s\n", before, after);
  EXPECT_GE(before, 4.0);
  EXPECT_LE(before, 6.0);
  EXPECT_GE(after, 16.0);
  EXPECT_LE(after, 24.0);
  auto s = stats(id);
  ASSERT_TRUE(s["limits"].HasMember("network") && s["usage"]["network"].IsObject()) << json::to_string(s);
  EXPECT_EQ(s["limits"]["network"]["egress_mbit"].GetUint(), 20u);
  EXPECT_EQ(s["usage"]["network"]["egress_limit_mbit"].GetUint(), 20u);
  EXPECT_TRUE(s["usage"]["network"]["ingress_limit_mbit"].IsNull());
}

TEST_F(Bandwidth, TheTaskCannotLiftItsOwnLimit) {
  std::string id = agent_->run(spec(rootfs_.path(), {"sh", "-c", "tc qdisc del dev eth0 root; echo rc=$?; tc qdisc show dev eth0"},
                                    bridge_with(R"({"egress_mbit": 10})")));
  auto exit = agent_->wait(id);
  std::string out = agent_->logs(id);
  EXPECT_EQ(out.find("rc=0"), std::string::npos) << out;
  EXPECT_NE(out.find("qdisc tbf"), std::string::npos) << out;
}

TEST_F(Bandwidth, CountersInStatsAndTheTerminationRecordMatchTheBytesSent) {
  constexpr uint64_t kBytes = 3000000;
  UniqueFd listener = listen_on(5001);
  std::string id = agent_->run(spec(rootfs_.path(),
                                    {"sh", "-c", "dd if=/dev/zero bs=1000 count=3000 2>/dev/null | nc " +
                                                     std::string(kGateway) + " 5001"},
                                    bridge_with(R"({"egress_mbit": 100, "ingress_mbit": 50})")));
  {
    UniqueFd conn = UniqueFd::adopt(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(conn);
    set_timeout(conn.get(), SO_RCVTIMEO, 10);
    std::vector<char> buf(1 << 16);
    uint64_t got = 0;
    for (ssize_t n; got < kBytes && (n = ::read(conn.get(), buf.data(), buf.size())) > 0;) got += static_cast<uint64_t>(n);
    ASSERT_EQ(got, kBytes);
    // While it runs: the stats count what it sent (payload plus TCP/IP/Ethernet headers).
    rapidjson::Document s;
    EXPECT_TRUE(poll_until(
        [&] {
          s = stats(id);
          return s["state"] == "running" && s["usage"]["network"].IsObject() &&
                 s["usage"]["network"]["tx_bytes"].GetUint64() >= kBytes;
        },
        milliseconds(5000)))
        << "stats never counted " << kBytes << " bytes sent: " << json::to_string(s);
    ASSERT_TRUE(s["usage"]["network"].IsObject());
    const auto& n = s["usage"]["network"];
    EXPECT_LE(n["tx_bytes"].GetUint64(), kBytes * 106 / 100);
    EXPECT_GT(n["tx_packets"].GetUint64(), 0u);
    EXPECT_GT(n["rx_bytes"].GetUint64(), 0u);  // the acknowledgements
    EXPECT_LT(n["rx_bytes"].GetUint64(), kBytes / 10);
    EXPECT_EQ(n["egress_limit_mbit"].GetUint(), 100u);
    EXPECT_EQ(n["ingress_limit_mbit"].GetUint(), 50u);
  }  // hanging up ends nc, and so the task
  auto exit = agent_->wait(id);
  ASSERT_TRUE(exit["usage"].IsObject());
  const auto& n = exit["usage"]["network"];
  ASSERT_TRUE(n.IsObject());
  EXPECT_GE(n["tx_bytes"].GetUint64(), kBytes);
  EXPECT_LE(n["tx_bytes"].GetUint64(), kBytes * 106 / 100);
  EXPECT_EQ(n["egress_limit_mbit"].GetUint(), 100u);
  ASSERT_TRUE(exit["limits"].HasMember("network")) << json::to_string(exit);
  EXPECT_EQ(exit["limits"]["network"]["ingress_mbit"].GetUint(), 50u);
}

TEST_F(Bandwidth, AfterKill9AndRestartLimitsAndCountersAreStillServedAndUpdatable) {
  std::string id = agent_->run(spec(rootfs_.path(), {"sleep", "1000"}, bridge_with(R"({"egress_mbit": 10})")));
  std::string task_ns = agent_->run_dir() + "/netns/" + id;
  auto task_qdisc = [&] { return ns_.output("nsenter --net=" + task_ns + " tc qdisc show dev eth0"); };
  EXPECT_NE(task_qdisc().find("rate 10Mbit"), std::string::npos) << task_qdisc();
  agent_->kill9();
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  auto s = stats(id);
  ASSERT_TRUE(s["usage"]["network"].IsObject()) << json::to_string(s);
  EXPECT_EQ(s["usage"]["network"]["egress_limit_mbit"].GetUint(), 10u);
  auto u = agent_->request("POST", "/v1/containers/" + id + "/update", R"({"network": {"egress_mbit": 25}})");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_NE(task_qdisc().find("rate 25Mbit"), std::string::npos) << task_qdisc();
  s = stats(id);
  ASSERT_TRUE(s["usage"]["network"].IsObject()) << json::to_string(s);
  EXPECT_EQ(s["usage"]["network"]["egress_limit_mbit"].GetUint(), 25u);
  agent_->request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  agent_->wait(id);
}

TEST_F(Bandwidth, AnUpdateThatFailsHalfWayPutsBackWhatItChanged) {
  std::string id = agent_->run(spec(rootfs_.path(), {"sleep", "1000"}, bridge_with(R"({"ingress_mbit": 10})")));
  std::string task_ns = agent_->run_dir() + "/netns/" + id;
  // Egress is shaped on eth0: renamed, it cannot be, after ingress (the node's side) already was.
  ASSERT_EQ(ns_.sh("nsenter --net=" + task_ns + " ip link set eth0 down && nsenter --net=" + task_ns +
                   " ip link set eth0 name eth9"),
            0);
  auto u = agent_->request("POST", "/v1/containers/" + id + "/update",
                           R"({"network": {"ingress_mbit": 30, "egress_mbit": 30}})");
  EXPECT_EQ(u.status, 500) << u.body;
  EXPECT_NE(u.body.find("no eth0"), std::string::npos) << u.body;
  std::string node_side = ns_.output("tc qdisc show dev " + host_veth(id));
  EXPECT_NE(node_side.find("rate 10Mbit"), std::string::npos) << node_side;
  auto s = stats(id);
  ASSERT_TRUE(s["usage"]["network"].IsObject()) << json::to_string(s);
  EXPECT_EQ(s["usage"]["network"]["ingress_limit_mbit"].GetUint(), 10u);
  EXPECT_EQ(s["limits"]["network"]["ingress_mbit"].GetUint(), 10u);
  agent_->request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  agent_->wait(id);
}

TEST_F(Bandwidth, HostAndNoneModesRefuseALimitByNameAndCreateNothing) {
  std::string links_before = ns_.links();
  for (const char* mode : {"host", "none"}) {
    std::string extra = std::string(R"("network": {"mode": ")") + mode + R"("}, "resources": {"network": {"egress_mbit": 10}})";
    auto r = agent_->launch(spec(rootfs_.path(), {"true"}, extra));
    EXPECT_EQ(r.status, 400) << mode << ": " << r.body;
    EXPECT_NE(r.body.find("network mode \\\"" + std::string(mode) + "\\\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("egress_mbit"), std::string::npos) << r.body;
  }
  auto list = parse(agent_->request("GET", "/v1/containers?all=1").body);
  EXPECT_EQ(list["containers"].Size(), 0u);
  EXPECT_EQ(ns_.links(), links_before);
  EXPECT_EQ(ns_.output("tc qdisc show | grep -c tbf"), "0\n");

  // A running host task cannot be given one by update either, and keeps running unchanged.
  std::string id = agent_->run(spec(rootfs_.path(), {"sleep", "1000"}, R"("network": {"mode": "host"})"));
  auto u = agent_->request("POST", "/v1/containers/" + id + "/update", R"({"network": {"ingress_mbit": 5}})");
  EXPECT_EQ(u.status, 400) << u.body;
  EXPECT_NE(u.body.find("not in network mode \\\"bridge\\\""), std::string::npos) << u.body;
  EXPECT_FALSE(stats(id)["limits"].HasMember("network"));
  EXPECT_EQ(ns_.output("tc qdisc show | grep -c tbf"), "0\n");
  agent_->request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  agent_->wait(id);
}

}  // namespace
}  // namespace berth::testing
