// NetworkSpec: which network a task gets (the launch spec's "network" object) and the node's
// network configuration (agent.json's "network"). Modes (issue 10):
//  - none: a network namespace of its own with loopback only (the default);
//  - host: the network namespace berthd runs in (the machine's, or a test's netns berthd was
//    started in), shared: no namespace is created, the task inherits the shim's, which is
//    berthd's;
//  - bridge: a namespace of its own, prepared by berthd before the task exists, with a veth
//    into the node's bridge (created on demand), an address from berth's IPAM and a default
//    route through the bridge (isolators/network/bridge_network.hpp).
//  - cni: a namespace of its own, prepared by the operator's CNI plugins (the conflist named by
//    "name" in the node's CNI config dir) before the task exists (isolators/network/cni_network.hpp).
// Dynamic ports ("ports": host ports from the node's range, DNAT'd to bridge tasks, reserved
// for host and cni tasks) are isolators/network/network_ports.hpp.
// Plain value types; no threading concerns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "isolators/network/ipam.hpp"

namespace berth::isolators {

enum class NetworkMode { kNone, kHost, kBridge, kCni };

// "none", "host", "bridge", "cni".
std::string_view network_mode_name(NetworkMode m);
// kInvalidArgument naming `field` and the modes there are.
Result<NetworkMode> parse_network_mode(std::string_view text, std::string_view field);

// --- dynamic ports (issue 10, "ports") ---
// One entry of "network": {"ports": [...]}: a container port published on a host port.
// host_port 0 = any free port from the node's range (network.ports.range); the allocator
// fills it in, so after launch host_port is always the one in use. protocol: "tcp" or "udp".
// name: unique within the task; the parser names unnamed ports "port0", "port1", ... by index.
struct PortSpec {
  std::string name;
  uint16_t container_port = 0;
  uint16_t host_port = 0;
  std::string protocol = "tcp";
};
// The node's host ports for mappings (agent.json "network": {"ports": {"range": "a-b"}}).
struct PortRange {
  uint16_t first = 20000;
  uint16_t last = 32767;
  uint32_t size() const { return uint32_t(last) - first + 1; }
  bool contains(uint32_t p) const { return p >= first && p <= last; }
  std::string text() const { return std::to_string(first) + "-" + std::to_string(last); }
};
// What a task's network became at prepare (the network isolator's answer, kept in the task's
// record): its mode, its bridge address (0: none) and its ports with the host ports in use.
struct TaskNetwork {
  NetworkMode mode = NetworkMode::kNone;
  uint32_t address = 0;
  std::vector<PortSpec> ports;
  std::string host_ip = "0.0.0.0";  // the node address the ports are published on (config)
  // cni mode: the network's name and the plugins' result (cni_result_json's form, a JSON
  // object); empty otherwise.
  std::string cni_name{};  // brace-initialized: aggregate inits that stop before it stay warning-free
  std::string cni_result{};
};
// --- end dynamic ports ---

struct NetworkSpec {
  std::optional<NetworkMode> mode;  // unset: the node's default_mode
  std::vector<PortSpec> ports;      // dynamic ports (bridge: DNAT'd; host: reserved only)
  std::string name;                 // cni: the CNI network (its conflist's "name")
};

// The node's bridge network ("network": {"bridge": {...}} in agent.json).
struct BridgeConfig {
  std::string name = "berth0";
  Ipv4Subnet subnet{0x0a580000u, 16};  // 10.88.0.0/16; the bridge holds .1
  uint32_t mtu = 1500;
  // Name servers for the tasks' /etc/resolv.conf; empty: the host's, minus loopback ones
  // (a task cannot reach the host's 127.0.0.53).
  std::vector<std::string> dns;
  // Outbound masquerade (SNAT to the node's address) for the subnet's traffic leaving it
  // ("network": {"bridge": {"masquerade": true}}); nft table "ip berth".
  bool masquerade = true;
};

struct NetworkConfig {
  NetworkMode default_mode = NetworkMode::kNone;  // none or host (bridge is asked for by name)
  BridgeConfig bridge;
  std::string ipam_dir;   // "" = bridge mode unavailable; the agent sets <state_dir>/network/ipam
  std::string netns_dir;  // the agent sets <run_dir>/netns
  // --- cni mode (issue 10, "cni") ---
  std::string cni_config_dir = "/etc/berth/cni";             // *.conflist, found by "name"
  std::vector<std::string> cni_plugin_dirs{"/usr/lib/cni"};  // CNI_PATH
  uint32_t cni_timeout_ms = 10000;                           // per plugin call
  std::string cni_state_dir;  // "" = cni mode unavailable; the agent sets <state_dir>/network/cni
  std::string cni_netns_dir;  // the agent sets <run_dir>/netns-cni
  // --- end cni mode ---
  // --- dynamic ports ---
  PortRange port_range;
  std::string ports_dir;  // "" = no ports on this node; the agent sets <state_dir>/network/ports
  std::string host_ip = "0.0.0.0";  // shown in endpoints ("network": {"ports": {"host_ip"}})
  // --- end dynamic ports ---
};

}  // namespace berth::isolators
