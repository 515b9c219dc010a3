// PortAllocator: berth's host ports for dynamic port mappings (issue 10, "ports"), one range
// of the node (network.ports.range, default 20000-32767) per protocol.
// Invariants:
//  - a (protocol, host port) is held by at most one owner (a task id): each reservation is a
//    file <dir>/<protocol>-<port> created with O_EXCL, so a port is never handed out twice,
//    even across a berthd restart (open() reads the directory back);
//  - a file holds what rebuilding the NAT table needs without the task: owner, port name,
//    container port and the task's bridge address (0 in host mode), one per line;
//  - reserve(owner, ports) is all or nothing: a requested port that is taken is kAlreadyExists
//    naming the port and its owner, a port outside the range kInvalidArgument naming the range,
//    a full range kFailedPrecondition; in each case nothing stays reserved;
//  - release(owner) removes every reservation of that owner; retain_only(owners) removes
//    everyone else's (startup reconciliation after a crash).
// The range holds at most 65535 ports per protocol, so every scan is bounded.
// Threading: not thread-safe; the network isolator calls it under the Registry's lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

// "20000-32767": 1 <= first <= last <= 65535; kInvalidArgument naming `field` otherwise.
Result<PortRange> parse_port_range(std::string_view text, std::string_view field);

// One reservation: whose, which mapping, to where.
struct PortRecord {
  std::string owner;
  PortSpec port;         // host_port is the reserved one
  uint32_t address = 0;  // the task's bridge address; 0: host mode (no DNAT)
};

class PortAllocator {
 public:
  static Result<PortAllocator> open(const std::string& dir, PortRange range);

  // Reserves a host port for each of `ports` (host_port 0: any free one of the range) for
  // `owner` at `address`; returns them with host_port filled in.
  Result<std::vector<PortSpec>> reserve(const std::string& owner, std::vector<PortSpec> ports, uint32_t address);
  Status release(const std::string& owner);
  Status retain_only(const std::set<std::string>& owners);
  // Every reservation, by (protocol, host port).
  const std::map<std::pair<std::string, uint16_t>, PortRecord>& records() const { return records_; }
  std::vector<PortSpec> ports_of(const std::string& owner) const;
  const PortRange& range() const { return range_; }

 private:
  PortAllocator(UniqueFd dir, PortRange range) : dir_(std::move(dir)), range_(range) {}
  Result<uint16_t> take(const PortRecord& r);
  Result<bool> create(const PortRecord& r);  // false: the file exists (someone else's)
  Status remove(const std::pair<std::string, uint16_t>& key);
  // Removes every reservation whose owner `drop` says yes to; the first failure, after trying all.
  template <typename Drop>
  Status drop_if(const Drop& drop) {
    std::vector<std::pair<std::string, uint16_t>> keys;
    for (const auto& [key, r] : records_)
      if (drop(r.owner)) keys.push_back(key);
    Status first = ok();
    for (const auto& key : keys) {
      auto st = remove(key);
      if (!st && first) first = std::move(st);
    }
    return first;
  }

  UniqueFd dir_;
  PortRange range_;
  std::map<std::pair<std::string, uint16_t>, PortRecord> records_;
  uint32_t next_ = 0;  // offset in the range where the next search starts (round robin)
};

}  // namespace berth::isolators
