#include "isolators/network/network_isolator.hpp"

namespace berth::isolators {
namespace {

Status check_host_sysctls(const ContainerSpec& spec) {
  for (const auto& [key, value] : spec.security.sysctls) {
    (void)value;
    if (key.rfind("net.", 0) == 0)
      return make_error(Code::kInvalidArgument, "sysctl " + key +
                                                    " would change the node's network: a task in network mode "
                                                    "\"host\" shares it; drop the sysctl or use mode \"none\"");
  }
  return ok();
}

}  // namespace

Status NetworkIsolator::recover(std::span<const ContainerState> known) {
  std::set<std::string> attached;
  for (const auto& s : known) {
    ids_.insert(s.id);
    if (bridge_.attached(s.id)) {
      bridged_.insert(s.id);
      attached.insert(s.id);
      bandwidth_[s.id] = s.spec.resources.network;  // tc state lives in the kernel
    }
  }
  Status first = bridge_.reconcile(attached);
  auto ported = ports_.recover(ids_, !bridged_.empty() || bridge_.bridge_exists());
  auto cni = recover_cni(known);
  return !first ? first : !ported ? ported : cni;
}

// --- cni mode ---
Status NetworkIsolator::recover_cni(std::span<const ContainerState> known) {
  std::set<std::string> keep;
  for (const auto& s : known)
    if (cni_.attached(s.id)) keep.insert(s.id);
  Status first = cni_.reconcile(keep);
  for (const auto& id : keep) {
    cni_ids_.insert(id);
    auto checked = cni_.check(id);
    if (!checked && first) first = std::move(checked).error().wrap("CHECK the CNI network of '" + id + "'");
  }
  return first;
}

// The host ports are reserved by the PortAllocator (as for host mode: no nft rule) and handed
// to the plugins as "portMappings" (portmap does the DNAT).
Result<LaunchAdditions> NetworkIsolator::prepare_cni(const ContainerId& id, const ContainerSpec& spec) {
  std::vector<PortSpec> ports;
  if (!spec.network.ports.empty()) {
    BERTH_TRY(ports, ports_.publish(id, spec.network.ports, 0));
  }
  CniCapabilities caps{ports, spec.resources.network.ingress_mbit, spec.resources.network.egress_mbit};
  auto a = cni_.attach(id, spec.network.name, caps, spec.sandbox_dir, spec.hostname);
  if (!a) {
    (void)ports_.unpublish(id);
    return std::move(a).error();
  }
  cni_ids_.insert(id);
  LaunchAdditions add;
  add.namespaces.push_back({"network", a->netns_path});
  for (auto [dest, source] : {std::pair{"/etc/resolv.conf", a->resolv_conf}, std::pair{"/etc/hosts", a->hosts}})
    if (!source.empty()) add.mounts.push_back({dest, "bind", source, {"bind", "ro", "nosuid", "nodev", "noexec"}});
  uint32_t address = 0;
  if (!a->parsed.ips.empty()) {
    const std::string& cidr = a->parsed.ips[0].address;
    if (auto v4 = parse_ipv4(cidr.substr(0, cidr.find('/')))) address = *v4;
  }
  add.network = TaskNetwork{NetworkMode::kCni, address, ports, config_.host_ip};
  add.network->cni_name = spec.network.name;
  add.network->cni_result = cni_result_json(a->parsed);
  add.env = port_env(ports);
  return add;
}
// --- end cni mode ---

Result<LaunchAdditions> NetworkIsolator::prepare_bridge(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(BridgeAttachment a, bridge_.reserve(id, spec.sandbox_dir));
  bridged_.insert(id);
  unwired_[id] = Unwired{a.address, spec.sandbox_dir, spec.hostname, spec.resources.network};
  LaunchAdditions add;
  add.namespaces.push_back({"network", a.netns_path});
  for (auto [dest, source] : {std::pair{"/etc/resolv.conf", a.resolv_conf}, std::pair{"/etc/hosts", a.hosts}})
    add.mounts.push_back({dest, "bind", source, {"bind", "ro", "nosuid", "nodev", "noexec"}});
  return add;
}

// --- dynamic ports ---
Status NetworkIsolator::publish_ports(const ContainerId& id, const ContainerSpec& spec, NetworkMode mode,
                                      uint32_t address, LaunchAdditions& add) {
  add.network = TaskNetwork{mode, address, {}, config_.host_ip};
  if (mode == NetworkMode::kBridge) BERTH_CHECK(ports_.bridge_is_up());
  if (spec.network.ports.empty()) return ok();
  if (mode == NetworkMode::kNone)
    return make_error(Code::kInvalidArgument, "field '/network/ports': network mode \"none\" has no ports to "
                                              "publish; use mode \"bridge\" or \"host\", or drop the ports");
  BERTH_TRY(add.network->ports, ports_.publish(id, spec.network.ports, address));
  add.env = port_env(add.network->ports);
  return ok();
}
// --- end dynamic ports ---

Result<LaunchAdditions> NetworkIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  NetworkMode mode = spec.network.mode.value_or(config_.default_mode);
  BERTH_CHECK(check_bandwidth_mode(mode, spec.resources.network));
  LaunchAdditions a;
  switch (mode) {
    case NetworkMode::kNone:
      BERTH_CHECK(publish_ports(id, spec, mode, 0, a));
      a.namespaces.push_back({"network", ""});
      break;
    case NetworkMode::kHost:
      BERTH_CHECK(check_host_sysctls(spec));
      BERTH_CHECK(publish_ports(id, spec, mode, 0, a));
      break;
    case NetworkMode::kBridge: {
      BERTH_TRY(a, prepare_bridge(id, spec));
      if (auto st = publish_ports(id, spec, mode, unwired_.at(id).address, a); !st) {
        (void)cleanup(id);
        return std::move(st).error();
      }
      break;
    }
    case NetworkMode::kCni: {
      BERTH_TRY(a, prepare_cni(id, spec));
      break;
    }
  }
  ids_.insert(id);
  return a;
}

Status NetworkIsolator::ready(const ContainerId& id) {
  auto node = unwired_.extract(id);
  if (node.empty()) return ok();
  const Unwired& u = node.mapped();
  BERTH_CHECK_CTX(bridge_.wire(id, u.address, u.sandbox_dir, u.hostname), "bridge network of '" + id + "'");
  return shape_bridge(id, u.bandwidth);
}

Result<Usage> NetworkIsolator::usage(const ContainerId& id) {
  if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  Usage u;
  BERTH_TRY(u.network, network_usage(id));
  return u;
}

Status NetworkIsolator::cleanup(const ContainerId& id) {
  ids_.erase(id);
  bandwidth_.erase(id);
  unwired_.erase(id);
  if (cni_ids_.count(id)) {
    BERTH_CHECK_CTX(cni_.detach(id), "CNI network of '" + id + "'");
    cni_ids_.erase(id);
  }
  BERTH_CHECK_CTX(ports_.unpublish(id), "ports of '" + id + "'");
  if (!bridged_.count(id)) return ok();
  BERTH_CHECK_CTX(bridge_.detach(id, /*reap=*/true), "bridge network of '" + id + "'");
  bridged_.erase(id);
  return ok();
}

}  // namespace berth::isolators
