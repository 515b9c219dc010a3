#include "isolators/network/traffic_control.hpp"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/gen_stats.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/unique_fd.hpp"
#include "isolators/network/netlink.hpp"

namespace berth::isolators::tc {
namespace {

constexpr uint64_t kBytesPerMbit = 1000 * 1000 / 8;
constexpr uint64_t kMinBurst = 16 * 1024;     // above any MTU, so a full frame always fits
constexpr uint64_t kMaxBytes = 1ull << 30;    // caps burst and queue at the top rates
constexpr uint64_t kBurstPerSecond = 100;     // the bucket holds 10 ms at the rate
constexpr uint64_t kQueuePerSecond = 20;      // and 50 ms may wait behind it

nlmsghdr* start(void* buf, uint16_t type, uint16_t flags) {
  std::memset(buf, 0, kMessageSize);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  return nlh;
}

tcmsg* root_of(nlmsghdr* nlh, int ifindex) {
  auto* t = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  t->tcm_parent = TC_H_ROOT;
  t->tcm_handle = 0;  // the kernel picks one; the root is found by its parent
  return t;
}

int take_counters(const nlmsghdr* nlh, void* data) {
  if (auto c = far_end_counters(nlh)) *static_cast<std::optional<NetworkCounters>*>(data) = *c;
  return MNL_CB_OK;
}

const char* direction_name(Direction d) { return d == Direction::kIngress ? "ingress" : "egress"; }

// The link a direction is shaped on and a netlink socket in its namespace.
struct ShapedLink {
  netlink::Netlink nl;
  int index;
};

Result<ShapedLink> shaped_link(const std::string& host_veth, const std::string& netns_path, Direction d) {
  if (d == Direction::kIngress) {
    BERTH_TRY(auto nl, netlink::Netlink::open());
    BERTH_TRY(auto index, nl.link_index(host_veth));
    if (!index) return make_error(Code::kInternal, "veth " + host_veth + " is gone");
    return ShapedLink{std::move(nl), *index};
  }
  int raw = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return errno_error("open " + netns_path);
  UniqueFd ns = UniqueFd::adopt(raw);
  BERTH_TRY(auto nl, netlink::Netlink::open_in(ns.get()));
  BERTH_TRY(auto index, nl.link_index("eth0"));
  if (!index) return make_error(Code::kInternal, "the task's namespace has no eth0");
  return ShapedLink{std::move(nl), *index};
}

}  // namespace

TbfParams tbf_params(uint32_t mbit) {
  TbfParams p;
  p.rate_bytes = uint64_t{mbit} * kBytesPerMbit;
  uint64_t burst = std::clamp(p.rate_bytes / kBurstPerSecond, kMinBurst, kMaxBytes);
  uint64_t queue = std::min(p.rate_bytes / kQueuePerSecond, kMaxBytes);
  p.burst_bytes = static_cast<uint32_t>(burst);
  p.limit_bytes = static_cast<uint32_t>(burst + queue);
  return p;
}

nlmsghdr* build_set_tbf(void* buf, int ifindex, const TbfParams& p) {
  nlmsghdr* nlh = start(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
  root_of(nlh, ifindex);
  mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
  nlattr* options = mnl_attr_nest_start(nlh, TCA_OPTIONS);
  tc_tbf_qopt q{};
  // Link-layer aware (no rate table needed): the kernel computes each packet's time itself.
  q.rate.linklayer = TC_LINKLAYER_ETHERNET;
  q.rate.rate = static_cast<uint32_t>(std::min<uint64_t>(p.rate_bytes, UINT32_MAX));
  q.limit = p.limit_bytes;
  mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
  // Rates of 4 GB/s and more do not fit the 32-bit field.
  if (p.rate_bytes >= UINT32_MAX) mnl_attr_put_u64(nlh, TCA_TBF_RATE64, p.rate_bytes);
  // The bucket in bytes, so the kernel needs no clock ticks (TCA_TBF_PARMS.buffer) from us.
  mnl_attr_put_u32(nlh, TCA_TBF_BURST, p.burst_bytes);
  mnl_attr_nest_end(nlh, options);
  return nlh;
}

nlmsghdr* build_delete_root(void* buf, int ifindex) {
  nlmsghdr* nlh = start(buf, RTM_DELQDISC, 0);
  root_of(nlh, ifindex);
  return nlh;
}

nlmsghdr* build_get_link(void* buf, const std::string& name) {
  nlmsghdr* nlh = start(buf, RTM_GETLINK, 0);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  return nlh;
}

std::optional<NetworkCounters> far_end_counters(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  std::optional<rtnl_link_stats64> stats;
  auto take = [](const nlattr* attr, void* out) -> int {
    if (mnl_attr_get_type(attr) == IFLA_STATS64 && mnl_attr_get_payload_len(attr) >= sizeof(rtnl_link_stats64)) {
      rtnl_link_stats64 s;
      std::memcpy(&s, mnl_attr_get_payload(attr), sizeof(s));  // attributes are 4-aligned only
      *static_cast<std::optional<rtnl_link_stats64>*>(out) = s;
    }
    return MNL_CB_OK;
  };
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), take, &stats) < 0 || !stats) return std::nullopt;
  // What the near end received, the far end sent.
  NetworkCounters c;
  c.rx_bytes = stats->tx_bytes;
  c.rx_packets = stats->tx_packets;
  c.rx_dropped = stats->tx_dropped;
  c.tx_bytes = stats->rx_bytes;
  c.tx_packets = stats->rx_packets;
  c.tx_dropped = stats->rx_dropped;
  return c;
}

nlmsghdr* build_get_root(void* buf, int ifindex) {
  nlmsghdr* nlh = start(buf, RTM_GETQDISC, NLM_F_ECHO);
  root_of(nlh, ifindex);
  return nlh;
}

std::optional<uint64_t> tbf_drops(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWQDISC) return std::nullopt;
  struct Found {
    bool tbf = false;
    std::optional<uint64_t> drops;
  } found;
  auto top = [](const nlattr* attr, void* data) -> int {
    auto* f = static_cast<Found*>(data);
    if (mnl_attr_get_type(attr) == TCA_KIND) f->tbf = std::strcmp(mnl_attr_get_str(attr), "tbf") == 0;
    if (mnl_attr_get_type(attr) != TCA_STATS2) return MNL_CB_OK;
    auto queue = [](const nlattr* a, void* data) -> int {
      if (mnl_attr_get_type(a) == TCA_STATS_QUEUE && mnl_attr_get_payload_len(a) >= sizeof(gnet_stats_queue)) {
        gnet_stats_queue q;
        std::memcpy(&q, mnl_attr_get_payload(a), sizeof(q));
        static_cast<Found*>(data)->drops = q.drops;
      }
      return MNL_CB_OK;
    };
    return mnl_attr_parse_nested(attr, queue, data);
  };
  if (mnl_attr_parse(nlh, sizeof(tcmsg), top, &found) < 0 || !found.tbf) return std::nullopt;
  return found.drops;
}

Status set_rate(const std::string& host_veth, const std::string& netns_path, Direction direction,
                std::optional<uint32_t> mbit) {
  const std::string what = std::string(direction_name(direction)) + " shaping";
  BERTH_TRY_CTX(ShapedLink link, shaped_link(host_veth, netns_path, direction), what);
  alignas(nlmsghdr) char buf[kMessageSize];
  if (mbit) return link.nl.send(build_set_tbf(buf, link.index, tbf_params(*mbit)), "set " + what);
  auto st = link.nl.send(build_delete_root(buf, link.index), "remove " + what);
  // No root qdisc of ours there (ENOENT), or only the default one (EINVAL from the kernel).
  if (!st && (st.error().sys_errno == ENOENT || st.error().sys_errno == EINVAL)) return ok();
  return st;
}

Status shape(const std::string& host_veth, const std::string& netns_path, const NetworkBandwidth& bw) {
  if (bw.ingress_mbit) BERTH_CHECK(set_rate(host_veth, netns_path, Direction::kIngress, bw.ingress_mbit));
  if (bw.egress_mbit) BERTH_CHECK(set_rate(host_veth, netns_path, Direction::kEgress, bw.egress_mbit));
  return ok();
}

Result<NetworkCounters> counters(const std::string& host_veth) {
  BERTH_TRY(auto nl, netlink::Netlink::open());
  alignas(nlmsghdr) char buf[kMessageSize];
  std::optional<NetworkCounters> got;
  BERTH_CHECK(nl.query(build_get_link(buf, host_veth), take_counters, &got, "read the counters of " + host_veth));
  if (!got) return make_error(Code::kInternal, "netlink: link " + host_veth + " reported no IFLA_STATS64");
  return *got;
}

Result<uint64_t> shaper_drops(const std::string& host_veth, const std::string& netns_path, Direction direction) {
  const std::string what = std::string("read the ") + direction_name(direction) + " shaper's drops";
  BERTH_TRY_CTX(ShapedLink link, shaped_link(host_veth, netns_path, direction), what);
  alignas(nlmsghdr) char buf[kMessageSize];
  std::optional<uint64_t> drops;
  auto take = [](const nlmsghdr* nlh, void* data) -> int {
    if (auto d = tbf_drops(nlh)) *static_cast<std::optional<uint64_t>*>(data) = d;
    return MNL_CB_OK;
  };
  BERTH_CHECK(link.nl.query(build_get_root(buf, link.index), take, &drops, what));
  return drops.value_or(0);
}

}  // namespace berth::isolators::tc
