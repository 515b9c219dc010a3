// PortAllocator: host ports handed out once (per protocol), kept across a restart, released,
// reconciled; a taken or out-of-range port refused and nothing left reserved; range parsing;
// the env a task sees; the nft ruleset berth writes and the netlink batch of a task's elements.
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

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
  NatConfig c{"berth0", parse_subnet("10.88.0.0/16", "s").value(), true, true};
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
  // The bridge's table outlives its last mapping (a launch then only adds its elements) ...
  std::string idle = nat_ruleset(c, {});
  EXPECT_NE(idle.find("ip saddr 127.0.0.0/8 oifname \"berth0\" masquerade"), std::string::npos) << idle;
  EXPECT_EQ(idle.find("elements"), std::string::npos) << idle;
  // ... and without a bridge there is nothing to hold: no table at all.
  c.bridge_up = false;
  EXPECT_EQ(nat_ruleset(c, {}), "");
  EXPECT_EQ(nat_ruleset(c, m).find("ip daddr !="), std::string::npos);
  EXPECT_EQ(nat_ruleset(c, {{"tcp", 20000, 0x0a580002, 8080}}).find("elements = { 20000 : 10.88.0.2 . 8080 }\n  }\n  map udp"),
            nat_ruleset(c, {{"tcp", 20000, 0x0a580002, 8080}}).find("elements"));  // udp's map stays empty
}

// One element of a parsed NEWSETELEM/DELSETELEM: its key and data bytes (NFTA_DATA_VALUE).
struct Element {
  std::string key, data;
};
struct ElementMessage {
  uint16_t type = 0, flags = 0;
  uint32_t seq = 0;
  std::string table, set;
  std::vector<Element> elements;
};

template <class F>
void for_each_attr(const void* data, size_t len, F f) {
  const char* end = static_cast<const char*>(data) + len;
  for (auto* a = static_cast<const nlattr*>(data);
       mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    f(a);
}
template <class F>
void for_each_nested(const nlattr* nest, F f) {
  for_each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), f);
}

std::string value_of(const nlattr* nest) {
  std::string out;
  for_each_nested(nest, [&](const nlattr* a) {
    if (mnl_attr_get_type(a) == NFTA_DATA_VALUE)
      out.assign(static_cast<const char*>(mnl_attr_get_payload(a)), mnl_attr_get_payload_len(a));
  });
  return out;
}

// The batch as the kernel's nfnetlink reads it: every message, its header and attributes.
std::vector<ElementMessage> parse_batch(const std::vector<char>& batch) {
  std::vector<ElementMessage> out;
  int len = static_cast<int>(batch.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data()); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len)) {
    ElementMessage m{nlh->nlmsg_type, nlh->nlmsg_flags, nlh->nlmsg_seq, {}, {}, {}};
    for_each_attr(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)), nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(nfgenmsg)),
                  [&](const nlattr* a) {
      switch (mnl_attr_get_type(a)) {
        case NFTA_SET_ELEM_LIST_TABLE: m.table = mnl_attr_get_str(a); break;
        case NFTA_SET_ELEM_LIST_SET: m.set = mnl_attr_get_str(a); break;
        case NFTA_SET_ELEM_LIST_ELEMENTS:
          for_each_nested(a, [&](const nlattr* e) {
            Element el;
            for_each_nested(e, [&](const nlattr* f) {
              if (mnl_attr_get_type(f) == NFTA_SET_ELEM_KEY) el.key = value_of(f);
              if (mnl_attr_get_type(f) == NFTA_SET_ELEM_DATA) el.data = value_of(f);
            });
            m.elements.push_back(el);
          });
          break;
      }
    });
    out.push_back(m);
  }
  EXPECT_EQ(len, 0) << "trailing bytes in the batch";
  return out;
}

TEST(NatRuleset, OneTasksMappingsAreAddedAndDeletedAsElementsInOneBatch) {
  std::vector<NatMapping> m{{"tcp", 20000, 0x0a580002, 8080}, {"udp", 20001, 0x0a580002, 53},
                            {"tcp", 20002, 0x0a580002, 443}};
  size_t acks = 0;
  auto add = parse_batch(nat_elements_batch(true, m, 7, &acks));
  EXPECT_EQ(acks, 2u);  // one message per protocol
  ASSERT_EQ(add.size(), 4u);
  EXPECT_EQ(add[0].type, NFNL_MSG_BATCH_BEGIN);
  EXPECT_EQ(add[3].type, NFNL_MSG_BATCH_END);
  for (size_t i = 0; i < add.size(); ++i) EXPECT_EQ(add[i].seq, 7 + i);
  const uint16_t newelem = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
  for (size_t i : {1, 2}) {
    EXPECT_EQ(add[i].type, newelem);
    EXPECT_EQ(add[i].flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
    EXPECT_EQ(add[i].table, "berth");
  }
  EXPECT_EQ(add[1].set, "tcp_dnat");
  EXPECT_EQ(add[2].set, "udp_dnat");
  // Key: the host port; data: ipv4_addr . inet_service, network order, each padded to 4 bytes.
  ASSERT_EQ(add[1].elements.size(), 2u);
  EXPECT_EQ(add[1].elements[0].key, std::string("\x4e\x20", 2));
  EXPECT_EQ(add[1].elements[0].data, std::string("\x0a\x58\x00\x02\x1f\x90\x00\x00", 8));
  EXPECT_EQ(add[1].elements[1].key, std::string("\x4e\x22", 2));
  EXPECT_EQ(add[1].elements[1].data, std::string("\x0a\x58\x00\x02\x01\xbb\x00\x00", 8));
  ASSERT_EQ(add[2].elements.size(), 1u);
  EXPECT_EQ(add[2].elements[0].key, std::string("\x4e\x21", 2));
  EXPECT_EQ(add[2].elements[0].data, std::string("\x0a\x58\x00\x02\x00\x35\x00\x00", 8));

  auto del = parse_batch(nat_elements_batch(false, {m[1]}, 1, &acks));
  EXPECT_EQ(acks, 1u);
  ASSERT_EQ(del.size(), 3u);
  EXPECT_EQ(del[1].type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM);
  EXPECT_EQ(del[1].flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(del[1].set, "udp_dnat");
  ASSERT_EQ(del[1].elements.size(), 1u);
  EXPECT_EQ(del[1].elements[0].key, std::string("\x4e\x21", 2));
  EXPECT_EQ(del[1].elements[0].data, "");  // a delete names the key only

  EXPECT_TRUE(nat_elements_batch(true, {}, 1, &acks).empty());
  EXPECT_EQ(acks, 0u);
}

}  // namespace
}  // namespace berth::isolators
