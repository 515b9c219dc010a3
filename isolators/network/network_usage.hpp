// NetworkUsage: a task's traffic as the task sees it (rx = what it received, tx = what it
// sent), read from the host side of its veth (whose rx is the task's tx), next to the
// bandwidth limits shaped on that veth pair. Counters are the kernel's link counters: they
// include link-layer headers and count a GSO/GRO super-packet once; drops are the veth's (a
// full or down peer) plus what the tc shaper of that direction dropped (its queue was full).
// Plain values; no threading concerns.
#pragma once

#include <cstdint>

#include "isolators/resources.hpp"

namespace berth::isolators {

struct NetworkCounters {
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_dropped = 0;
  bool operator==(const NetworkCounters&) const = default;
};

struct NetworkUsage {
  NetworkCounters counters;
  NetworkBandwidth limits;  // what is shaped now; unset: that direction is unlimited
};

}  // namespace berth::isolators
