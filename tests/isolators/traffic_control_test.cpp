// The rtnetlink messages of traffic_control.hpp, parsed back as the kernel would read them:
// a root tbf at the asked rate (64-bit rate past 4 GB/s), a bucket that holds a full frame,
// a delete of the root, and link counters turned to the far end's point of view.
#include "isolators/network/traffic_control.hpp"

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/gen_stats.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <string>

namespace berth::isolators::tc {
namespace {

struct Tbf {
  std::string kind;
  std::optional<tc_tbf_qopt> parms;
  std::optional<uint64_t> rate64;
  std::optional<uint32_t> burst;
};

Tbf parse_tbf(const nlmsghdr* nlh) {
  Tbf t;
  auto top = [](const nlattr* a, void* data) -> int {
    auto* t = static_cast<Tbf*>(data);
    if (mnl_attr_get_type(a) == TCA_KIND) t->kind = mnl_attr_get_str(a);
    if (mnl_attr_get_type(a) != TCA_OPTIONS) return MNL_CB_OK;
    auto inner = [](const nlattr* o, void* data) -> int {
      auto* t = static_cast<Tbf*>(data);
      switch (mnl_attr_get_type(o)) {
        case TCA_TBF_PARMS: {
          tc_tbf_qopt q;
          EXPECT_EQ(mnl_attr_get_payload_len(o), sizeof(q));
          std::memcpy(&q, mnl_attr_get_payload(o), sizeof(q));
          t->parms = q;
          break;
        }
        case TCA_TBF_RATE64: t->rate64 = mnl_attr_get_u64(o); break;
        case TCA_TBF_BURST: t->burst = mnl_attr_get_u32(o); break;
      }
      return MNL_CB_OK;
    };
    return mnl_attr_parse_nested(a, inner, t);
  };
  EXPECT_GE(mnl_attr_parse(nlh, sizeof(tcmsg), top, &t), 0);
  return t;
}

const tcmsg& tc_of(const nlmsghdr* nlh) { return *static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh)); }

TEST(TrafficControl, TenMbitIsARootTbfCreatedOrChangedInPlace) {
  alignas(nlmsghdr) char buf[kMessageSize];
  nlmsghdr* nlh = build_set_tbf(buf, 7, tbf_params(10));
  EXPECT_EQ(nlh->nlmsg_type, RTM_NEWQDISC);
  // CREATE|REPLACE without EXCL: the kernel makes the tbf, or changes the one there.
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(tc_of(nlh).tcm_ifindex, 7);
  EXPECT_EQ(tc_of(nlh).tcm_parent, TC_H_ROOT);
  Tbf t = parse_tbf(nlh);
  EXPECT_EQ(t.kind, "tbf");
  ASSERT_TRUE(t.parms.has_value());
  EXPECT_EQ(t.parms->rate.rate, 1250000u);  // bytes per second
  EXPECT_EQ(t.parms->rate.linklayer, TC_LINKLAYER_ETHERNET);
  EXPECT_EQ(t.parms->peakrate.rate, 0u);
  EXPECT_FALSE(t.rate64.has_value());
  ASSERT_TRUE(t.burst.has_value());
  EXPECT_GE(*t.burst, 9000u + 14);             // a jumbo frame fits the bucket
  EXPECT_GT(t.parms->limit, *t.burst);        // and a queue waits behind it
  EXPECT_LE(t.parms->limit, 1250000u / 5);    // of well under a second
}

TEST(TrafficControl, RatesPastFourGigabytesASecondUseTheSixtyFourBitField) {
  alignas(nlmsghdr) char buf[kMessageSize];
  Tbf t = parse_tbf(build_set_tbf(buf, 3, tbf_params(100000)));  // 12.5 GB/s
  ASSERT_TRUE(t.parms.has_value());
  EXPECT_EQ(t.parms->rate.rate, UINT32_MAX);
  EXPECT_EQ(t.rate64, 12500000000u);
  Tbf low = parse_tbf(build_set_tbf(buf, 3, tbf_params(1)));
  EXPECT_EQ(low.parms->rate.rate, 125000u);
  EXPECT_GE(*low.burst, 1514u);
}

TEST(TrafficControl, RemovingALimitDeletesTheRootQdisc) {
  alignas(nlmsghdr) char buf[kMessageSize];
  nlmsghdr* nlh = build_delete_root(buf, 9);
  EXPECT_EQ(nlh->nlmsg_type, RTM_DELQDISC);
  EXPECT_EQ(tc_of(nlh).tcm_ifindex, 9);
  EXPECT_EQ(tc_of(nlh).tcm_parent, TC_H_ROOT);
}

TEST(TrafficControl, CountersAreTheFarEndsView) {
  alignas(nlmsghdr) char buf[kMessageSize];
  nlmsghdr* nlh = build_get_link(buf, "bth0123");
  EXPECT_EQ(nlh->nlmsg_type, RTM_GETLINK);
  nlh->nlmsg_type = RTM_NEWLINK;  // the answer has the same shape, with stats
  rtnl_link_stats64 s{};
  s.rx_bytes = 1000, s.rx_packets = 10, s.rx_dropped = 1;
  s.tx_bytes = 2000, s.tx_packets = 20, s.tx_dropped = 2;
  mnl_attr_put(nlh, IFLA_STATS64, sizeof(s), &s);
  auto c = far_end_counters(nlh);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->tx_bytes, 1000u);  // the host side received what the task sent
  EXPECT_EQ(c->tx_packets, 10u);
  EXPECT_EQ(c->tx_dropped, 1u);
  EXPECT_EQ(c->rx_bytes, 2000u);
  EXPECT_EQ(c->rx_packets, 20u);
  EXPECT_EQ(c->rx_dropped, 2u);

  nlmsghdr* bare = build_get_link(buf, "bth0123");
  bare->nlmsg_type = RTM_NEWLINK;
  EXPECT_FALSE(far_end_counters(bare).has_value());
}

TEST(TrafficControl, ShaperDropsAreReadFromTheRootTbfsQueueStats) {
  alignas(nlmsghdr) char buf[kMessageSize];
  nlmsghdr* nlh = build_get_root(buf, 5);
  EXPECT_EQ(nlh->nlmsg_type, RTM_GETQDISC);
  EXPECT_TRUE(nlh->nlmsg_flags & NLM_F_ECHO);  // the kernel answers a get only to an echo
  EXPECT_EQ(tc_of(nlh).tcm_parent, TC_H_ROOT);

  auto answer = [&](const char* kind, bool with_stats) {
    nlmsghdr* a = build_get_root(buf, 5);
    a->nlmsg_type = RTM_NEWQDISC;
    mnl_attr_put_strz(a, TCA_KIND, kind);
    if (with_stats) {
      nlattr* stats = mnl_attr_nest_start(a, TCA_STATS2);
      gnet_stats_queue q{};
      q.drops = 42;
      mnl_attr_put(a, TCA_STATS_QUEUE, sizeof(q), &q);
      mnl_attr_nest_end(a, stats);
    }
    return a;
  };
  EXPECT_EQ(tbf_drops(answer("tbf", true)), 42u);
  EXPECT_FALSE(tbf_drops(answer("noqueue", true)).has_value());  // not a shaper of ours
  EXPECT_FALSE(tbf_drops(answer("tbf", false)).has_value());
}

}  // namespace
}  // namespace berth::isolators::tc
