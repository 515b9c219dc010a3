// User-namespace support of the launcher: the id maps of a task's new user namespace, and its
// root file system built from image layers that are shared between tasks without a copy or a
// chown (idmapped mounts, Linux 5.12; overlayfs over idmapped layers, Linux 5.19).
//
// How the root is built (build_idmapped_root, in the shim, as real root, before clone):
//   1. a helper process in a throw-away user namespace with the task's maps gives the idmap
//      (any user namespace with the same maps does; the task's own does not exist yet);
//   2. each lower layer is cloned (open_tree) and idmapped (mount_setattr MOUNT_ATTR_IDMAP);
//      the overlay over them is created detached: from the detached layers directly where the
//      kernel takes them (Linux 6.15, "lowerdir+"), else in a private mount namespace of the
//      shim, the layers attached under a scratch tmpfs, the overlay mounted beside them with
//      relative lowerdirs and a detached clone of it kept (open_tree);
//   3. the shim is back in its own mount namespace; the task inherits the overlay's fd and
//      moves it onto its root (move_mount) inside its new user and mount namespaces.
// The overlay is mounted by real root (so its trusted.overlay.* markers and copy-up work as
// without a user namespace), while the task sees a layer file owned by host uid 0 as its own
// root's, and what it writes lands in the upper dir under its host range.
// Where the kernel or the layers' file system cannot idmap, the launch fails with an error
// that says so: berth never falls back to copying or chowning layers.
//
// Threading: call from the single-threaded shim (it changes the caller's mount namespace
// and working directory for the duration of the call).
#pragma once

#include <sys/types.h>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// Writes the spec's uidMappings then gidMappings to /proc/<pid>/uid_map and gid_map (setgroups
// stays "allow": the writer is real root, as for runc/crun).
Status write_id_maps(pid_t pid, const OciSpec& spec);

// An fd of a user namespace with the spec's maps (from a helper process that is gone on return).
Result<UniqueFd> user_namespace_with_maps(const OciSpec& spec);

// The task's overlay (berth.overlay.* annotations) with each lower layer idmapped through
// `userns_fd`, as a detached mount fd (O_CLOEXEC). kFailedPrecondition when the kernel or a
// layer's file system cannot do it. `detached_layers` false skips the Linux 6.15 way (tests
// of the portable one on a newer kernel).
Result<UniqueFd> build_idmapped_root(const OciSpec& spec, int userns_fd, bool detached_layers = true);

// The host id that `id` inside maps to, or nullopt when unmapped.
std::optional<uint32_t> host_id(const std::vector<OciIdMapping>& maps, uint32_t id);

}  // namespace berth::sandbox
