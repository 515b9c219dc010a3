// NftTable: berth's NAT in nftables, in one table berth owns ("table ip berth"); no other table
// is ever read, written or flushed. The table is written through libnftables; a launch's own map
// elements go to the kernel as one nf_tables netlink batch built here (nat_elements_batch) over
// libmnl: libnftables refetches its cache and allocates ~2.5 MiB of fresh memory per command,
// which cost 4 ms of page faults per launch and per exit on the benchmark host, against 0.1 ms
// for the batch.
// The table is always written whole from the records (nat_ruleset): one transaction deletes
// the old table and adds the new one, so the kernel never holds a half-written table and a
// restart rebuilds it from the port reservations alone. The table lives as long as the node's
// bridge (its postrouting rules are the bridge's, whether or not a task has ports), so a launch
// only adds or removes its own map elements; with no bridge and no mapping there is no table.
// Between rewrites a mapping is added or removed alone, as an element of a map, so a launch
// costs the same however many mappings there are.
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
struct mnl_socket;

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
  bool bridge_up = false;  // the bridge exists: the table is kept, with its postrouting rules
};

inline constexpr const char* kNftTable = "ip berth";

// The table's text; "" when there is nothing to hold (no bridge, no mapping).
std::string nat_ruleset(const NatConfig& config, const std::vector<NatMapping>& mappings);
// One nf_tables batch (NFNL_MSG_BATCH_BEGIN, a NEWSETELEM or DELSETELEM per protocol with
// mappings, each asking for an ack, NFNL_MSG_BATCH_END) that adds `mappings` to, or deletes
// them from, the maps nat_ruleset wrote. Sequence numbers count up from `seq`; *acks is the
// number of acks the kernel owes (0: nothing to send, the batch is empty).
std::vector<char> nat_elements_batch(bool add, const std::vector<NatMapping>& mappings, uint32_t seq, size_t* acks);

class NftTable {
 public:
  NftTable() = default;
  ~NftTable();
  NftTable(const NftTable&) = delete;
  NftTable& operator=(const NftTable&) = delete;

  // Replaces berth's table with `ruleset` ("" removes it), atomically.
  Status replace(const std::string& ruleset);
  // Adds (or deletes) `mappings` as map elements in one transaction: all or none.
  Status change_elements(bool add, const std::vector<NatMapping>& mappings);
  // The table as the kernel lists it ("" when there is none).
  Result<std::string> list();

 private:
  Result<std::string> run(const std::string& commands);
  nft_ctx* ctx_ = nullptr;
  mnl_socket* sock_ = nullptr;  // NETLINK_NETFILTER, opened on first use
  uint32_t seq_ = 1;
};

}  // namespace berth::isolators
