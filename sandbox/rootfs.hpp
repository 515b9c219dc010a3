// Builds the task's root file system inside its own (new, private) mount namespace and moves
// into it. Steps, in order, each a function:
//   make_mounts_private, mount_overlay (if the berth.overlay.* annotations are set),
//   bind_root_to_itself (or, for a root built before clone, attach_prepared_root instead), mount_proc, mount_sys, mount_dev, mount_spec_mounts,
//   mask_paths, make_paths_readonly, pivot_into_root, remount_root_readonly.
// Invariants: runs only in the task's child, after CLONE_NEWNS; "/" is made rprivate first,
// so no mount made here propagates to the host and all of them vanish with the namespace.
// Every mount point beneath the root is created and opened with RESOLVE_IN_ROOT and mounted
// onto through /proc/self/fd/N, so a symlink in the image cannot point a mount outside it.
#pragma once

#include "common/result.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// A root built before the task's namespaces existed (idmap.hpp): a detached mount and the
// directory it goes on, both fds. Replaces mount_overlay and bind_root_to_itself.
struct PreparedRoot {
  int mount_fd = -1;
  int mount_point_fd = -1;
};

// Runs every step above; on return the process's "/" is the task's root and cwd is "/".
Status prepare_root(const OciSpec& spec, const PreparedRoot& prepared = {});

// "lowerdir=...,upperdir=...,workdir=..." from the berth.overlay.* annotations; empty when
// none are set; an error when only some are, or a path would break the option syntax.
Result<std::string> overlay_options(const OciSpec& spec);

// How the overlay is mounted: when every lowerdir lives in one directory (an image's short
// layer links, fetcher/layer_links.hpp), `options` names them relative to `base` and the mount
// is made with `base` as the working directory, so 128 layers fit in mount(2)'s one page of
// options; otherwise `base` is empty and `options` is overlay_options().
struct OverlayMount {
  std::string base;
  std::string options;
};
Result<OverlayMount> overlay_mount(const OciSpec& spec);

// The fallback of mount_sys when sysfs cannot be mounted: the host's /sys bound at root/sys,
// read-only (and nosuid, nodev, noexec) in every one of its submounts. `root` is a dir fd.
Status bind_host_sys_readonly(int root);

}  // namespace berth::sandbox
