// NetworkPorts: a task's dynamic ports (issue 10, "ports"): host ports from the PortAllocator
// and, for bridge tasks, the DNAT to the task in berth's nft table (NftTable).
// Invariants:
//  - publish(id) is all or nothing: when it fails no reservation of `id` is left and the table
//    is what it was;
//  - the table is always nat_ruleset(records): a task's mappings are added or removed as map
//    elements when the table is there (any failure falls back to a whole rewrite), and it is
//    rewritten whole at recover() from the reservations on disk, so a restart (or a crash
//    between a reservation and the table) ends with the table matching the reservations;
//  - host-mode tasks (address 0) hold ports but add no rule.
// Threading: not thread-safe; the network isolator calls it under the Registry's lock.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/network/network_spec.hpp"
#include "isolators/network/nft_table.hpp"
#include "isolators/network/port_allocator.hpp"

namespace berth::isolators {

class NetworkPorts {
 public:
  explicit NetworkPorts(NetworkConfig config) : config_(std::move(config)) {}

  // Reserves `ports` for `id` (address 0: host mode) and maps them; returns them with their
  // host ports.
  Result<std::vector<PortSpec>> publish(const std::string& id, const std::vector<PortSpec>& ports, uint32_t address);
  // Releases every port of `id` and removes its rules (none: ok).
  Status unpublish(const std::string& id);
  // Keeps the reservations of `keep`, drops every other one, and rebuilds the table.
  // `bridged`: whether any bridge task exists (the masquerade rule is there only then).
  Status recover(const std::set<std::string>& keep, bool bridged);
  // The masquerade rule follows whether bridge tasks exist; rewrites the table on a change.
  Status set_bridged(bool bridged);
  std::vector<PortSpec> ports_of(const std::string& id) const;

 private:
  Result<PortAllocator*> allocator();
  std::vector<NatMapping> mappings(const std::string& owner) const;  // "" = everyone's
  Status sync();
  Status change(bool add, const std::vector<NatMapping>& changed);
  Status allow_localnet();

  NetworkConfig config_;
  std::optional<PortAllocator> ports_;
  NftTable nft_;
  enum class Table { kUnknown, kAbsent, kPresent };  // as last written
  Table table_ = Table::kUnknown;
  bool bridged_ = false;
  bool localnet_ = false;
};

// PORT0, PORT1, ... and PORT_<NAME> (upper-case, '-' as '_'): the host port of each mapping.
std::map<std::string, std::string> port_env(const std::vector<PortSpec>& ports);

}  // namespace berth::isolators
