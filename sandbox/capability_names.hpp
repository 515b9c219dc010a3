// The kernel's capabilities by name, as the OCI spec writes them ("CAP_NET_ADMIN") and as
// berth's API accepts them ("NET_ADMIN", any case). A set is a 64-bit mask, bit n =
// capability n, as capset(2) and /proc/<pid>/status show it. Constant tables; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::sandbox {

using CapabilitySet = uint64_t;

// The highest capability berth knows (CAP_CHECKPOINT_RESTORE, Linux 5.9).
inline constexpr int kLastCapability = 40;
inline constexpr CapabilitySet kAllCapabilities = (CapabilitySet{1} << (kLastCapability + 1)) - 1;

// "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" -> 12; unknown -> nullopt.
std::optional<int> capability_number(std::string_view name);
// 12 -> "NET_ADMIN" (without "CAP_").
std::string capability_name(int number);

}  // namespace berth::sandbox
