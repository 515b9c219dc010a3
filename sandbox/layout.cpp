#include "sandbox/layout.hpp"

namespace berth::sandbox {

std::string SandboxLayout::log_name(std::string_view stream, unsigned generation) {
  std::string name(stream);
  if (generation > 0) name += "." + std::to_string(generation);
  return name;
}

}  // namespace berth::sandbox
