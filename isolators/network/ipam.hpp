// Ipam: berth's address allocator for one IPv4 subnet (the bridge network's, issue 10 (b)).
// Invariants:
//  - the network address, the gateway (network + 1, the bridge's own) and the broadcast
//    address are never handed out;
//  - an address is held by exactly one owner (a task id): each allocation is a file
//    <dir>/<a.b.c.d> holding the owner, created with O_EXCL, so an address is never handed
//    out twice, even across a berthd restart (open() reads the directory back);
//  - release(owner) removes every address of that owner; retain_only(owners) removes the
//    allocations of everyone else (startup reconciliation after a crash);
//  - a full subnet is kFailedPrecondition naming the subnet, and allocates nothing.
// The subnet is at most a /16 (65534 hosts) and at least a /30, so every scan of it and of
// the directory is bounded.
// Threading: not thread-safe; its owner (the network isolator) calls it under the Registry's
// lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::isolators {

struct Ipv4Subnet {
  uint32_t network = 0;  // host byte order
  int prefix = 24;
  uint32_t size() const { return prefix == 0 ? 0 : (1u << (32 - prefix)); }
  uint32_t gateway() const { return network + 1; }
  bool contains(uint32_t a) const { return (a - network) < size(); }
  std::string text() const;  // "10.88.0.0/16"
};

// "10.88.0.0/16": a network address (host bits zero) and a prefix of 16..30; kInvalidArgument
// naming `field` otherwise.
Result<Ipv4Subnet> parse_subnet(std::string_view text, std::string_view field);
Result<uint32_t> parse_ipv4(std::string_view text);
std::string ipv4_text(uint32_t a);

class Ipam {
 public:
  // Opens (creating) the allocation directory and reads its allocations back; files that are
  // not an address of `subnet` (a changed config) are dropped.
  static Result<Ipam> open(const std::string& dir, Ipv4Subnet subnet);

  // A free address for `owner`.
  Result<uint32_t> allocate(const std::string& owner);
  // Every address of `owner` (none: ok).
  Status release(const std::string& owner);
  // Releases every allocation whose owner is not in `owners`.
  Status retain_only(const std::set<std::string>& owners);
  const std::map<uint32_t, std::string>& allocations() const { return by_address_; }
  const Ipv4Subnet& subnet() const { return subnet_; }

 private:
  Ipam(UniqueFd dir, Ipv4Subnet subnet) : dir_(std::move(dir)), subnet_(subnet) {}
  Status remove(uint32_t address);
  // Removes every allocation whose owner `keep` says no to; the first failure, after trying all.
  template <typename Keep>
  Status retain_only_if(const Keep& keep) {
    std::vector<uint32_t> drop;
    for (const auto& [address, owner] : by_address_)
      if (!keep(owner)) drop.push_back(address);
    Status first = ok();
    for (uint32_t a : drop) {
      auto st = remove(a);
      if (!st && first) first = std::move(st);
    }
    return first;
  }

  UniqueFd dir_;
  Ipv4Subnet subnet_;
  std::map<uint32_t, std::string> by_address_;
  uint32_t next_ = 0;  // offset in the subnet where the next search starts (round robin)
};

}  // namespace berth::isolators
