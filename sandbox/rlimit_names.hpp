// Names of the process resource limits as the OCI spec spells them ("RLIMIT_NOFILE") and the
// resource numbers setrlimit takes. A fixed table; no state.
#pragma once

#include <string_view>

namespace berth::sandbox {

// The RLIMIT_* resource for an OCI name, or -1 if unknown.
int rlimit_resource(std::string_view name);

}  // namespace berth::sandbox
