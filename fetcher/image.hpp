// What the agent needs from a pulled image to build a task's root filesystem: the overlay
// lowerdirs of its layers (top-most first, the order overlayfs wants; short links) and its runtime config
// (Entrypoint, Cmd, Env, WorkingDir, User), with the launch spec's overrides applied.
// Mounting is the sandbox's job; this only names the directories. Pure functions over a store.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "fetcher/content_store.hpp"
#include "fetcher/manifest.hpp"

namespace berth::fetcher {

// The layers' short links (<store>/l/<id>, see layer_links.hpp), top-most layer first: all in
// one directory, so the launcher can mount them by relative name from there, and 128 of them
// fit in one page of mount options. kFailedPrecondition if a layer is missing (the image must
// be pulled, and held by a lease, before its rootfs is built).
Result<std::vector<std::string>> lower_dirs(const LayerReader& store, const ImageRecord& image);

Result<ImageConfig> load_image_config(const BlobReader& store, const ImageRecord& image);

struct ProcessOverrides {
  std::optional<std::vector<std::string>> entrypoint, command;
  std::vector<std::string> env;  // "K=V", replacing same-named image variables
  std::optional<std::string> working_dir, user;
};

struct Process {
  std::vector<std::string> argv;  // entrypoint + cmd after overrides
  std::vector<std::string> env;
  std::string working_dir;        // "/" when neither image nor spec says
  std::string user;               // "" means root
};

// Docker semantics: a spec entrypoint replaces the image's and drops the image's Cmd; a spec
// command replaces the image's Cmd. An empty argv is kInvalidArgument (nothing to run).
Result<Process> resolve_process(const ImageConfig& image, const ProcessOverrides& spec);

}  // namespace berth::fetcher
