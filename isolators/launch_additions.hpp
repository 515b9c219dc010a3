// Merging the LaunchAdditions of the isolator table, in table order, into one.
// Rules (a conflict is kInvalidArgument naming both isolators, so the operator knows which
// two disagree; nothing is merged silently):
//  - env keys, mount destinations, device node paths, namespace types, rlimit types, sysctl names: at most one
//    isolator may set each (also within one isolator: the second wins nothing);
//  - a seccomp program, the capability sets, user namespace id mappings, network_status: at most
//    one isolator each;
//  - masked and read-only paths: the union, in order, each once;
//  - no_new_privileges, readonly_rootfs, writable_sys: on if any isolator asks;
//  - device rules and hooks: appended in table order.
// Plain value code; no threading concerns.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "isolators/isolator.hpp"

namespace berth::isolators {

class AdditionsMerger {
 public:
  // Adds `from`, contributed by isolator `who`.
  Status add(std::string_view who, const LaunchAdditions& from);
  const LaunchAdditions& merged() const { return merged_; }
  LaunchAdditions take() { return std::move(merged_); }
  // The isolator that asked for device rules first (empty when none did).
  const std::string& devices_from() const { return devices_from_; }

 private:
  Status claim(const std::string& kind, const std::string& key, std::string_view who);
  LaunchAdditions merged_;
  std::map<std::string, std::string> owners_;  // "<kind> <key>" -> isolator
  std::string devices_from_;
};

}  // namespace berth::isolators
