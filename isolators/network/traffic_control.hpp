// TrafficControl: a bridge task's bandwidth (resources.network) as tc qdiscs on its veth pair,
// and its traffic counters, all over rtnetlink (libmnl, isolators/network/netlink.hpp).
//  - ingress (what the task receives) leaves the host through the host side of the veth: a
//    root tbf there, in berthd's namespace;
//  - egress (what the task sends) leaves through eth0 inside the task's namespace: a root tbf
//    there, set over a netlink socket opened in that namespace. The task cannot remove or
//    change it without CAP_NET_ADMIN over its namespace, which it lacks by default.
// Both are egress shaping (a queue the kernel drains at the rate), so TCP senders slow down
// instead of losing packets. Setting a rate replaces the tbf's parameters in place
// (RTM_NEWQDISC with NLM_F_CREATE|NLM_F_REPLACE: created the first time, changed after);
// "no limit" deletes it. Counters come from the host veth's IFLA_STATS64, swapped to the
// task's point of view (NetworkUsage), and the shapers' drops from their TCA_STATS_QUEUE.
// The message builders are pure (unit tested in tests/isolators/traffic_control_test.cpp);
// the rest is stateless. Threading: any thread; each call opens its own sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "isolators/network/network_usage.hpp"

struct nlmsghdr;

namespace berth::isolators::tc {

// A token bucket for `mbit` Mbit/s: its rate in bytes/s, the bucket (burst) and the queue
// behind it, both in bytes.
struct TbfParams {
  uint64_t rate_bytes = 0;
  uint32_t burst_bytes = 0;
  uint32_t limit_bytes = 0;
};
TbfParams tbf_params(uint32_t mbit);

// Request builders, writing into `buf` (at least kMessageSize bytes, aligned for nlmsghdr).
constexpr size_t kMessageSize = 1024;
// The root tbf of link `ifindex`: created, or its parameters changed when it is there.
nlmsghdr* build_set_tbf(void* buf, int ifindex, const TbfParams& p);
// Deletes the root qdisc of `ifindex` (the link falls back to its default).
nlmsghdr* build_delete_root(void* buf, int ifindex);
// Asks for link `name` (its RTM_NEWLINK answer carries IFLA_STATS64).
nlmsghdr* build_get_link(void* buf, const std::string& name);

// The link counters in an RTM_NEWLINK message from the far end's point of view (rx and tx
// swapped); nullopt when it carries no IFLA_STATS64.
std::optional<NetworkCounters> far_end_counters(const nlmsghdr* nlh);
// Asks for the root qdisc of `ifindex` (answered to us: NLM_F_ECHO).
nlmsghdr* build_get_root(void* buf, int ifindex);
// The packets a tbf in an RTM_NEWQDISC message dropped (its queue was full); nullopt for
// another kind of qdisc or a message without TCA_STATS2/TCA_STATS_QUEUE.
std::optional<uint64_t> tbf_drops(const nlmsghdr* nlh);

enum class Direction { kIngress, kEgress };

// Shapes `direction` of the task whose host veth is `host_veth` and whose namespace is bound
// at `netns_path` to `mbit`; nullopt removes that limit (ok when there was none).
Status set_rate(const std::string& host_veth, const std::string& netns_path, Direction direction,
                std::optional<uint32_t> mbit);
// Applies the directions `bw` sets, leaving the others as they are.
Status shape(const std::string& host_veth, const std::string& netns_path, const NetworkBandwidth& bw);
// The task's counters, read from its host veth.
Result<NetworkCounters> counters(const std::string& host_veth);
// What the shaper of `direction` dropped so far (0 when there is none).
Result<uint64_t> shaper_drops(const std::string& host_veth, const std::string& netns_path, Direction direction);

}  // namespace berth::isolators::tc
