// Translates an OCI mount's option strings ("ro", "nosuid", "rbind", "mode=755") into the
// flags, propagation and data string that mount(2) takes. Options the kernel would read as
// file-system data ("size=64m") pass through; flags we do not know are passed through as data
// too, where the file system itself rejects what it does not understand.
// Pure function; no state.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::sandbox {

struct MountOptions {
  unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, ... (without MS_BIND / MS_REC)
  unsigned long propagation = 0;  // MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE (| MS_REC)
  bool bind = false;
  bool recursive = false;         // rbind
  std::string data;               // comma-joined file-system options
};

// `type` is the OCI mount type; "bind" implies a bind mount even without a bind option.
MountOptions parse_mount_options(const std::string& type, const std::vector<std::string>& options);

}  // namespace berth::sandbox
