// CNI network configuration and results, as the CNI spec (1.0.0, and 0.4.0) defines them:
//  - a conflist: {"cniVersion", "name", "plugins": [{"type", "capabilities"?, ...}, ...]},
//    found by its "name" among the *.conflist / *.json files of the node's CNI config dir;
//  - the runtime config berth offers (what containerd and Podman pass): "portMappings" from
//    the launch spec's network.ports and "bandwidth" from its limits; each plugin is given only
//    the keys its "capabilities" ask for;
//  - the per-plugin config written to a plugin's stdin: the plugin's object plus the list's
//    name and cniVersion, the previous result ("prevResult") and its runtimeConfig;
//  - a result: the interfaces, IPs, routes and DNS a plugin chain reports.
// Budgets: at most kMaxCniConfigFiles files scanned, each at most kMaxCniConfigBytes.
// Plain value code; no threading concerns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

inline constexpr size_t kMaxCniConfigFiles = 1024;
inline constexpr size_t kMaxCniConfigBytes = 1 << 20;

struct CniConflist {
  std::string name;
  std::string cni_version;
  std::string path;                // the file it came from ("" when parsed from text)
  std::string text;                // the list, verbatim
  std::vector<std::string> types;  // each plugin's "type", in order
  bool disable_check = false;
};

// Parses a conflist; kInvalidArgument naming `path` and what is wrong.
Result<CniConflist> parse_conflist(const std::string& text, const std::string& path);
// The conflist named `name` in `dir`; kInvalidArgument naming the network and the dir when
// no file there holds it (files that do not parse are passed over).
Result<CniConflist> find_conflist(const std::string& dir, const std::string& name);

// What berth offers plugins as capability arguments.
struct CniCapabilities {
  std::vector<PortSpec> ports;
  std::optional<uint64_t> ingress_mbit;
  std::optional<uint64_t> egress_mbit;
};
// The runtimeConfig object holding every capability berth has a value for.
std::string cni_runtime_config(const CniCapabilities& caps);

// The stdin of plugin `index` of `list`: its object, "name", "cniVersion", "prevResult" (when
// `prev_result` is not empty) and "runtimeConfig" (the keys of `runtime_config` that the
// plugin's "capabilities" ask for).
Result<std::string> cni_plugin_config(const CniConflist& list, size_t index, const std::string& prev_result,
                                      const std::string& runtime_config);

struct CniIp {
  std::string address;  // CIDR, e.g. "10.22.0.5/24"
  std::string gateway;
  std::optional<int> interface;
};
struct CniRoute {
  std::string dst;
  std::string gw;
};
struct CniResult {
  std::string cni_version;
  std::vector<std::string> interfaces;  // names
  std::vector<CniIp> ips;
  std::vector<CniRoute> routes;
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
  std::string domain;
};

// Parses a plugin's result; kInvalidArgument naming what is malformed.
Result<CniResult> parse_cni_result(const std::string& text);
// The API's view of a result: {"interfaces", "ips", "routes", "dns"}.
std::string cni_result_json(const CniResult& r);

}  // namespace berth::isolators
