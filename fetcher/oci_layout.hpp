// Loading images without a registry: an OCI image layout directory (oci-layout, index.json,
// blobs/sha256/…) as written by skopeo/umoci/buildkit. Every blob is verified against its
// digest while it is read, layers also against the config's diff_ids, and commits follow the
// content store's rules, so a corrupt layout leaves nothing visible (like a failed pull); what
// a failed load committed is collected by the store, never deleted by the load itself.
// Thread-safe in the way ContentStore is; the layout directory is only read.
#pragma once

#include <string>

#include "common/result.hpp"
#include "fetcher/content_store.hpp"
#include "fetcher/manifest.hpp"
#include "fetcher/pull.hpp"
#include "fetcher/unpacker.hpp"

namespace berth::fetcher {

struct LoadOptions {
  // Which image of the layout: the index entry whose org.opencontainers.image.ref.name
  // annotation equals this; empty means "the only entry".
  std::string ref_name;
  // The reference to record the image under (e.g. "registry.internal/web:1.4").
  std::string record_as;
  Platform platform = host_platform();
  UnpackLimits limits;
  // Per layer: kPresent (already in the store), or kFetching when its load starts, then kDone
  // or kFailed. Called on the loading thread.
  PullProgressFn progress;
};

// Only regular files are read from the layout and only directories walked (a FIFO or a device
// anywhere in it is refused with kInvalidArgument, never opened for reading); nothing outside
// the layout directory is followed.
Result<ImageRecord> load_oci_layout(Store& store, const std::string& layout_dir, const LoadOptions& options);
// The same for a layout directory already open (`display` names it in errors).
Result<ImageRecord> load_oci_layout(Store& store, int layout_dir_fd, const std::string& display,
                                    const LoadOptions& options);

}  // namespace berth::fetcher
