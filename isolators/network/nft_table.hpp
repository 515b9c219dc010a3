// NftTable: berth's NAT in nftables, through libnftables, in one table berth owns
// ("table ip berth"); no other table is ever read, written or flushed.
// The table is always written whole from the records (nat_ruleset): one transaction deletes
// the old table and adds the new one, so the kernel never holds a half-written table and a
// restart rebuilds it from the port reservations alone. With nothing to hold (no mapping, no
// masquerade) the table is removed.
// Between rewrites a mapping is added or removed alone, as an element of a map
// (nat_elements_command), so a launch costs the same however many mappings there are.
// The ruleset:
//  - maps tcp_dnat and udp_dnat: host port -> task address . container port, one element per
//    mapping of a bridge task;
//  - prerouting and output (nat, dstnat): `fib daddr type local dnat ip to <proto> dport map
//    @<proto>_dnat`: traffic to any of the node's own addresses on a mapped host port, from
//    outside or from the node itself (127.0.0.1 included), reaches the task;
//  - postrouting (nat, srcnat): `ip saddr 127.0.0.0/8 oifname <bridge> masquerade` so a
//    connection the node makes to 127.0.0.1:<host> leaves with the bridge's address (the
//    bridge also needs route_localnet=1, which the network isolator sets), and, with
//    masquerade on, `ip saddr <subnet> ip daddr != <subnet> masquerade` for the tasks'
//    outbound traffic.
// Threading: not thread-safe; the network isolator calls it under the Registry's lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/network/ipam.hpp"

struct nft_ctx;

namespace berth::isolators {

struct NatMapping {
  std::string protocol;  // tcp | udp
  uint16_t host_port = 0;
  uint32_t address = 0;
  uint16_t container_port = 0;
};

struct NatConfig {
  std::string bridge;
  Ipv4Subnet subnet;
  bool masquerade = false;
};

inline constexpr const char* kNftTable = "ip berth";

// The table's text; "" when there is nothing to hold.
std::string nat_ruleset(const NatConfig& config, const std::vector<NatMapping>& mappings);
// "add element ..." (add) or "delete element ..." for `mappings` in a table nat_ruleset wrote.
std::string nat_elements_command(bool add, const std::vector<NatMapping>& mappings);

class NftTable {
 public:
  NftTable() = default;
  ~NftTable();
  NftTable(const NftTable&) = delete;
  NftTable& operator=(const NftTable&) = delete;

  // Replaces berth's table with `ruleset` ("" removes it), atomically.
  Status replace(const std::string& ruleset);
  // Runs nat_elements_command's text (one transaction; "" does nothing).
  Status change(const std::string& commands);
  // The table as the kernel lists it ("" when there is none).
  Result<std::string> list();

 private:
  Result<std::string> run(const std::string& commands);
  nft_ctx* ctx_ = nullptr;
};

}  // namespace berth::isolators
