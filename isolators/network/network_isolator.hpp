// NetworkIsolator ("network"): owns the task's network namespace (the namespaces isolator
// leaves it out). The mode comes from the spec or, unset, from the node's default_mode:
//  - none: a new namespace (the launcher brings its loopback up);
//  - host: no namespace, so the task shares berthd's; a net.* sysctl is refused at prepare
//    (it would change the node), naming the sysctl;
//  - bridge: prepare reserves the address (BridgeNetwork::reserve);
//    ready makes the namespace with its veth, address and route and the name files in berthd
//    (BridgeNetwork::wire) while the shim starts, and the task, held until then, joins it;
//    /etc/resolv.conf and /etc/hosts are bind-mounted in read-only.
// Dynamic ports (NetworkPorts): host and bridge tasks get host ports from the node's range,
// PORT0... in their env; bridge tasks also get the DNAT; a port asked for in mode none is a
// 400. prepare() answers with a TaskNetwork (mode, address, ports) for the task's record.
// State that outlives berthd is in the kernel and on disk (netns bind mounts, veths, the
// Ipam's files), so recover() re-adopts the bridge tasks it is told about and removes every
// other attachment (BridgeNetwork::reconcile).
//  - cni: CniNetwork::attach runs the operator's CNI plugins (ADD) for a namespace made in
//    berthd, which the task joins by path; cleanup DELs; recover() runs CHECK for the tasks it
//    is told about and DELs every other attachment (CniNetwork::reconcile). The plugins' result
//    goes back to the agent in LaunchAdditions::network (cni_name, cni_result: inspect, checkpoint);
//    host ports are reserved like host mode's and passed to the plugins as "portMappings".
// Bandwidth (resources.network) is shaped with tc on a bridge task's veth pair at ready and
// changed live by update (isolators/network/traffic_control.hpp); usage() reports the veth's
// counters next to the limits. Other modes have no veth of berth's: a limit there is refused.
// Threading: under the Registry's lock.
#pragma once

#include <map>
#include <set>

#include "isolators/isolator.hpp"
#include "isolators/network/bridge_network.hpp"
#include "isolators/network/cni_network.hpp"
#include "isolators/network/network_ports.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

class NetworkIsolator : public Isolator {
 public:
  explicit NetworkIsolator(NetworkConfig config = {})
      : config_(config), bridge_(config), ports_(config), cni_(config) {}
  std::string_view name() const override { return "network"; }
  Status recover(std::span<const ContainerState> known) override;
  Result<LaunchAdditions> prepare(const ContainerId& id, const ContainerSpec& spec) override;
  Status ready(const ContainerId& id) override;
  Result<Usage> usage(const ContainerId& id) override;
  Status cleanup(const ContainerId& id) override;

  // Bandwidth limits and counters (network_bandwidth.cpp).
  Status check_update(const ContainerId& id, const Resources& r) override;
  Result<Undo> update(const ContainerId& id, const Resources& r) override;

 private:
  Result<LaunchAdditions> prepare_bridge(const ContainerId& id, const ContainerSpec& spec);

  // Bandwidth (network_bandwidth.cpp).
  static Status check_bandwidth_mode(NetworkMode mode, const NetworkBandwidth& bw);
  Status shape_bridge(const ContainerId& id, const NetworkBandwidth& bw);
  Result<std::optional<NetworkUsage>> network_usage(const ContainerId& id);
  std::map<ContainerId, NetworkBandwidth> bandwidth_;  // bridge tasks' current limits
  struct Unwired {  // a bridge task prepared (address reserved), not yet ready (wired)
    uint32_t address;
    std::string sandbox_dir, hostname;
    NetworkBandwidth bandwidth;
  };
  std::map<ContainerId, Unwired> unwired_;

  NetworkConfig config_;
  BridgeNetwork bridge_;
  std::set<ContainerId> ids_;
  std::set<ContainerId> bridged_;
  // --- dynamic ports (network_ports.hpp) ---
  Status publish_ports(const ContainerId& id, const ContainerSpec& spec, NetworkMode mode, uint32_t address,
                       LaunchAdditions& add);
  NetworkPorts ports_;
  // --- end dynamic ports ---
  // --- cni mode ---
  Result<LaunchAdditions> prepare_cni(const ContainerId& id, const ContainerSpec& spec);
  Status recover_cni(std::span<const ContainerState> known);
  CniNetwork cni_;
  std::set<ContainerId> cni_ids_;
  // --- end cni mode ---
};

}  // namespace berth::isolators
