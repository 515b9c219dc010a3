// Short names for unpacked layers, so an overlay mount of many layers fits mount(2)'s one page
// of options (the scheme of Docker's overlay2 `l/` directory):
//
//   <store>/l/<id>                 symlink → ../layers/<diff_id hex>/fs
//   <store>/layers/<hex>/link      the layer's <id> (16 chars of [a-z2-7], random)
//
// A task's lowerdir is then "<id>:<id>:…" relative to <store>/l: 17 bytes per layer, so 128
// layers take about 2 KiB where absolute layer paths took over 10 KiB (mount fails with E2BIG
// or EINVAL beyond ~40 of them).
//
// Invariants: a committed layer always has a link file and its symlink. The symlink is made
// before the layer's commit rename and removed before its GC rename, so a crash leaves at most
// a dangling symlink (or, for layers committed before links existed, a layer without one);
// repair_layer_links(), run when the store opens, removes the first and makes the second.
// Threading: the functions are safe to call concurrently for different layers.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::fetcher {

inline constexpr const char* kLayerLinkDir = "l";

// Makes a new <id> symlink to layers/<hex>/fs and writes `layer_dir_rel`/link (the layer's
// directory, relative to the store root, not yet renamed into place). Returns the id.
Result<std::string> make_layer_link(int store_fd, const std::string& hex, const std::string& layer_dir_rel);
// The id of a committed layer (from layers/<hex>/link).
Result<std::string> layer_link_id(int store_fd, const std::string& hex);
// Removes the symlink of a committed layer (missing: ok).
void remove_layer_link(int store_fd, const std::string& hex);
void remove_link_id(int store_fd, const std::string& id);
// At open: drops dangling symlinks, links every layer that has none.
Status repair_layer_links(int store_fd);

}  // namespace berth::fetcher
