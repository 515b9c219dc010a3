#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

std::string_view network_mode_name(NetworkMode m) {
  switch (m) {
    case NetworkMode::kNone: return "none";
    case NetworkMode::kHost: return "host";
    case NetworkMode::kBridge: return "bridge";
    case NetworkMode::kCni: return "cni";
  }
  return "none";
}

Result<NetworkMode> parse_network_mode(std::string_view text, std::string_view field) {
  for (NetworkMode m : {NetworkMode::kNone, NetworkMode::kHost, NetworkMode::kBridge, NetworkMode::kCni})
    if (text == network_mode_name(m)) return m;
  return make_error(Code::kInvalidArgument, "field '" + std::string(field) + "': unknown network mode '" +
                                                std::string(text) + "'; use \"none\", \"host\", \"bridge\" or \"cni\"");
}

}  // namespace berth::isolators
