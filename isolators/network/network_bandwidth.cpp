// NetworkIsolator's bandwidth limits and counters (resources.network): shaped on a bridge
// task's veth pair by isolators/network/traffic_control.hpp; refused where berth has no veth.
#include "isolators/network/network_isolator.hpp"
#include "isolators/network/traffic_control.hpp"

namespace berth::isolators {
namespace {

Error no_veth(std::string_view mode) {
  return make_error(Code::kInvalidArgument,
                    "resources.network (egress_mbit/ingress_mbit) shapes a task's own veth, and a task in network "
                    "mode \"" + std::string(mode) + "\" has none (" +
                        (mode == "host" ? "it shares the node's interfaces" : "it has loopback only") +
                        "); use mode \"bridge\" or drop the limit");
}

}  // namespace

Status NetworkIsolator::check_bandwidth_mode(NetworkMode mode, const NetworkBandwidth& bw) {
  if (!bw.any() || mode == NetworkMode::kBridge) return ok();
  if (mode == NetworkMode::kHost || mode == NetworkMode::kNone) return no_veth(network_mode_name(mode));
  return ok();  // another mode shapes in its own way (cni: the bandwidth capability)
}

Status NetworkIsolator::shape_bridge(const ContainerId& id, const NetworkBandwidth& bw) {
  BERTH_CHECK_CTX(tc::shape(BridgeNetwork::host_veth_name(id), bridge_.netns_path(id), bw), "bandwidth of '" + id + "'");
  bandwidth_[id] = bw;
  return ok();
}

Status NetworkIsolator::check_update(const ContainerId& id, const Resources& r) {
  if (!r.network.any() || bridged_.count(id)) return ok();
  if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  return make_error(Code::kInvalidArgument,
                    "resources.network (egress_mbit/ingress_mbit) shapes a task's own veth, and task '" + id +
                        "' is not in network mode \"bridge\", so it has none; drop the limit from the update");
}

Result<Undo> NetworkIsolator::update(const ContainerId& id, const Resources& r) {
  if (!r.network.any() || !bridged_.count(id)) return no_undo();
  NetworkBandwidth before = bandwidth_[id];
  NetworkBandwidth after = before;
  after.apply(r.network);
  // Puts back each direction the update named: its old rate, or no limit.
  Undo undo = [this, id, before, asked = r.network]() -> Status {
    const std::string veth = BridgeNetwork::host_veth_name(id), ns = bridge_.netns_path(id);
    if (asked.ingress_mbit) BERTH_CHECK(tc::set_rate(veth, ns, tc::Direction::kIngress, before.ingress_mbit));
    if (asked.egress_mbit) BERTH_CHECK(tc::set_rate(veth, ns, tc::Direction::kEgress, before.egress_mbit));
    bandwidth_[id] = before;
    return ok();
  };
  if (auto shaped = shape_bridge(id, after); !shaped) {
    // Ingress may have changed before egress failed: the Registry undoes only the isolators
    // before this one, so this one puts its own half back.
    (void)undo();  // the first error is the one to report
    return std::move(shaped).error();
  }
  return undo;
}

Result<std::optional<NetworkUsage>> NetworkIsolator::network_usage(const ContainerId& id) {
  if (!bridged_.count(id)) return std::optional<NetworkUsage>();
  NetworkUsage u;
  BERTH_TRY_CTX(u.counters, tc::counters(BridgeNetwork::host_veth_name(id)), "network counters of '" + id + "'");
  if (auto b = bandwidth_.find(id); b != bandwidth_.end()) u.limits = b->second;
  // What a shaper dropped was lost on the task's way too.
  const std::string veth = BridgeNetwork::host_veth_name(id), ns = bridge_.netns_path(id);
  if (u.limits.ingress_mbit) {
    BERTH_TRY_CTX(uint64_t d, tc::shaper_drops(veth, ns, tc::Direction::kIngress), "network counters of '" + id + "'");
    u.counters.rx_dropped += d;
  }
  if (u.limits.egress_mbit) {
    BERTH_TRY_CTX(uint64_t d, tc::shaper_drops(veth, ns, tc::Direction::kEgress), "network counters of '" + id + "'");
    u.counters.tx_dropped += d;
  }
  return std::optional<NetworkUsage>(u);
}

}  // namespace berth::isolators
