// PortAllocator: host ports handed out once (per protocol), kept across a restart, released,
// reconciled; a taken or out-of-range port refused and nothing left reserved; range parsing;
// the env a task sees; the nft ruleset berth writes.
#include <gtest/gtest.h>

#include <set>

#include "common/fs.hpp"
#include "isolators/network/network_ports.hpp"
#include "isolators/network/nft_table.hpp"
#include "isolators/network/port_allocator.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

PortSpec port(const std::string& name, uint16_t container, uint16_t host = 0, const std::string& proto = "tcp") {
  return PortSpec{name, container, host, proto};
}

class PortAllocatorTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/ports"; }
  PortAllocator open(const char* range = "30000-30003") {
    auto a = PortAllocator::open(dir(), parse_port_range(range, "/network/ports/range").value());
    EXPECT_TRUE(a.has_value()) << a.error().message;
    return std::move(a).value();
  }
  cgroups::testing::FakeTree tmp_;
};

TEST_F(PortAllocatorTest, HandsOutEachPortOncePerProtocolAndFillsInTheHostPort) {
  auto a = open();
  auto got = a.reserve("t1", {port("http", 80), port("dns", 53, 0, "udp")}, 0x0a000002);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)[0].host_port, 30000);
  EXPECT_TRUE(a.range().contains((*got)[1].host_port));  // udp: its own ports
  std::set<uint16_t> tcp{(*got)[0].host_port};
  for (int i = 2; i < 5; ++i) {
    auto more = a.reserve("t" + std::to_string(i), {port("p", 80)}, 0);
    ASSERT_TRUE(more.has_value()) << more.error().message;
    tcp.insert((*more)[0].host_port);
  }
  EXPECT_EQ(tcp, (std::set<uint16_t>{30000, 30001, 30002, 30003}));
  auto full = a.reserve("t9", {port("p", 80)}, 0);
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().code, Code::kFailedPrecondition);
  EXPECT_NE(full.error().message.find("every tcp port of this node's range 30000-30003 is taken"), std::string::npos)
      << full.error().message;
  EXPECT_EQ(fs::list_dir(dir())->size(), 5u);
}

TEST_F(PortAllocatorTest, ATakenPortIsConflictAndTheWholeReservationIsUndone) {
  auto a = open();
  ASSERT_TRUE(a.reserve("t1", {port("web", 80, 30002)}, 0).has_value());
  auto taken = a.reserve("t2", {port("a", 81), port("web", 80, 30002)}, 0);
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code, Code::kAlreadyExists);
  EXPECT_NE(taken.error().message.find("host port 30002/tcp is taken by task t1"), std::string::npos)
      << taken.error().message;
  EXPECT_TRUE(a.ports_of("t2").empty());
  EXPECT_EQ(fs::list_dir(dir())->size(), 1u);
  auto outside = a.reserve("t2", {port("web", 80, 80)}, 0);
  ASSERT_FALSE(outside.has_value());
  EXPECT_EQ(outside.error().code, Code::kInvalidArgument);
  EXPECT_NE(outside.error().message.find("outside this node's port range 30000-30003"), std::string::npos);
}

TEST_F(PortAllocatorTest, ReservationsSurviveARestartAndAreNeverHandedOutTwice) {
  {
    auto a = open();
    ASSERT_TRUE(a.reserve("t1", {port("http", 8080, 30001)}, 0x0a580002).has_value());
  }
  ASSERT_TRUE(fs::write_file_atomic(dir() + "/tcp-30003", "half", 0600).has_value());  // a torn record
  auto b = open();
  ASSERT_EQ(b.records().size(), 1u);
  const PortRecord& r = b.records().begin()->second;
  EXPECT_EQ(r.owner, "t1");
  EXPECT_EQ(r.port.name, "http");
  EXPECT_EQ(r.port.container_port, 8080);
  EXPECT_EQ(r.address, 0x0a580002u);
  EXPECT_FALSE(fs::exists(dir() + "/tcp-30003"));
  for (int i = 0; i < 3; ++i) {
    auto got = b.reserve("n" + std::to_string(i), {port("p", 80)}, 0);
    ASSERT_TRUE(got.has_value());
    EXPECT_NE((*got)[0].host_port, 30001);
  }
}

TEST_F(PortAllocatorTest, ReleaseAndRetainOnlyRemoveRecordsAndFiles) {
  auto a = open();
  ASSERT_TRUE(a.reserve("t1", {port("a", 1), port("b", 2)}, 0).has_value());
  ASSERT_TRUE(a.reserve("t2", {port("a", 1)}, 0).has_value());
  ASSERT_TRUE(a.reserve("t3", {port("a", 1)}, 0).has_value());
  ASSERT_TRUE(a.release("t1").has_value());
  ASSERT_TRUE(a.release("never").has_value());
  EXPECT_EQ(fs::list_dir(dir())->size(), 2u);
  ASSERT_TRUE(a.retain_only({"t3"}).has_value());
  EXPECT_EQ(fs::list_dir(dir())->size(), 1u);
  EXPECT_EQ(a.ports_of("t3").size(), 1u);
}

TEST(PortRange, ParsesAndRefusesByName) {
  auto r = parse_port_range("20000-32767", "/network/ports/range");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 20000);
  EXPECT_EQ(r->size(), 12768u);
  for (const char* bad : {"0-10", "10-5", "1-65536", "abc", "100", "-5"}) {
    auto b = parse_port_range(bad, "/network/ports/range");
    ASSERT_FALSE(b.has_value()) << bad;
    EXPECT_NE(b.error().message.find("/network/ports/range"), std::string::npos);
  }
}

TEST(PortEnv, IndexAndUpperCaseNameGiveTheHostPort) {
  auto env = port_env({port("http", 8080, 21000), port("metrics-v2", 9100, 21001, "udp")});
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"PORT0", "21000"},
                                                      {"PORT1", "21001"},
                                                      {"PORT_HTTP", "21000"},
                                                      {"PORT_METRICS_V2", "21001"}}));
}

TEST(NatRuleset, MapsEveryMappingForPreroutingAndOutputAndMasqueradesAsConfigured) {
  NatConfig c{"berth0", parse_subnet("10.88.0.0/16", "s").value(), true};
  std::vector<NatMapping> m{{"tcp", 20000, 0x0a580002, 8080}, {"tcp", 20002, 0x0a580004, 80},
                            {"udp", 20001, 0x0a580003, 53}};
  EXPECT_EQ(nat_ruleset(c, m),
            "table ip berth {\n"
            "  map tcp_dnat {\n"
            "    type inet_service : ipv4_addr . inet_service\n"
            "    elements = { 20000 : 10.88.0.2 . 8080, 20002 : 10.88.0.4 . 80 }\n"
            "  }\n"
            "  map udp_dnat {\n"
            "    type inet_service : ipv4_addr . inet_service\n"
            "    elements = { 20001 : 10.88.0.3 . 53 }\n"
            "  }\n"
            "  chain prerouting {\n"
            "    type nat hook prerouting priority dstnat; policy accept;\n"
            "    fib daddr type local dnat ip to tcp dport map @tcp_dnat\n"
            "    fib daddr type local dnat ip to udp dport map @udp_dnat\n"
            "  }\n"
            "  chain output {\n"
            "    type nat hook output priority -100; policy accept;\n"
            "    fib daddr type local dnat ip to tcp dport map @tcp_dnat\n"
            "    fib daddr type local dnat ip to udp dport map @udp_dnat\n"
            "  }\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            "    ip saddr 127.0.0.0/8 oifname \"berth0\" masquerade\n"
            "    ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade\n"
            "  }\n"
            "}\n");
  c.masquerade = false;
  EXPECT_EQ(nat_ruleset(c, {}), "");  // nothing to hold: no table at all
  EXPECT_EQ(nat_ruleset(c, m).find("ip daddr !="), std::string::npos);
  EXPECT_EQ(nat_ruleset(c, {{"tcp", 20000, 0x0a580002, 8080}}).find("elements = { 20000 : 10.88.0.2 . 8080 }\n  }\n  map udp"),
            nat_ruleset(c, {{"tcp", 20000, 0x0a580002, 8080}}).find("elements"));  // udp's map stays empty
}

TEST(NatRuleset, OneTasksMappingsAreAddedAndDeletedAsElements) {
  std::vector<NatMapping> m{{"tcp", 20000, 0x0a580002, 8080}, {"udp", 20001, 0x0a580002, 53}};
  EXPECT_EQ(nat_elements_command(true, m),
            "add element ip berth tcp_dnat { 20000 : 10.88.0.2 . 8080 }\n"
            "add element ip berth udp_dnat { 20001 : 10.88.0.2 . 53 }\n");
  EXPECT_EQ(nat_elements_command(false, m),
            "delete element ip berth tcp_dnat { 20000 }\n"
            "delete element ip berth udp_dnat { 20001 }\n");
  EXPECT_EQ(nat_elements_command(true, {}), "");
}

}  // namespace
}  // namespace berth::isolators
