#include "sandbox/rootfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.hpp"
#include "sandbox/in_root.hpp"
#include "sandbox/mount_options.hpp"

namespace berth::sandbox {
namespace {

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// mount(2) with a message naming what and where in the task's terms.
Status do_mount(const char* source, const std::string& target, const char* type, unsigned long flags,
                const char* data, const std::string& what) {
  if (::mount(source, target.c_str(), type, flags, data) != 0) return errno_error("mount " + what);
  return ok();
}

Status make_mounts_private() {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return errno_error("make / rprivate");
  return ok();
}

Status mount_overlay(const OciSpec& spec) {
  BERTH_TRY(OverlayMount m, overlay_mount(spec));
  if (m.options.empty()) return ok();
  if (m.base.empty())
    return do_mount("overlay", spec.root_path, "overlay", 0, m.options.c_str(), "overlay on " + spec.root_path);
  // The kernel resolves relative lowerdirs from the working directory: mount from `base`.
  BERTH_TRY_CTX(UniqueFd back, fs::open_at(AT_FDCWD, ".", O_PATH | O_DIRECTORY), "overlay: working directory");
  BERTH_TRY_CTX(UniqueFd base, fs::open_at(AT_FDCWD, m.base, O_PATH | O_DIRECTORY), "overlay: layer directory");
  if (::fchdir(base.get()) != 0) return errno_error("overlay: chdir " + m.base);
  Status st = do_mount("overlay", spec.root_path, "overlay", 0, m.options.c_str(), "overlay on " + spec.root_path);
  if (::fchdir(back.get()) != 0 && st) return errno_error("overlay: chdir back");
  return st;
}

// pivot_root needs the new root to be a mount point; a bind of the directory onto itself is
// one (harmless when the overlay already made it one).
Status bind_root_to_itself(const OciSpec& spec) {
  return do_mount(spec.root_path.c_str(), spec.root_path, nullptr, MS_BIND | MS_REC, nullptr,
                  "bind of the root " + spec.root_path);
}

// The detached root goes onto its mount point; its own fd then names the new mount's root.
Result<UniqueFd> attach_prepared_root(const OciSpec& spec, const PreparedRoot& p) {
  if (::move_mount(p.mount_fd, "", p.mount_point_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return errno_error("attach the prepared root on " + spec.root_path);
  return fs::open_at(p.mount_fd, ".", O_RDONLY | O_DIRECTORY);
}

Status mount_proc(int root) {
  BERTH_TRY_CTX(UniqueFd at, ensure_in_root(root, "proc", NodeKind::kDirectory), "mount proc");
  return do_mount("proc", fd_path(at.get()), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "proc on /proc");
}

// Read-only unless the spec says otherwise (a privileged task).
Status mount_sys(int root, const OciSpec& spec) {
  BERTH_TRY_CTX(UniqueFd at, ensure_in_root(root, "sys", NodeKind::kDirectory), "mount sysfs");
  std::string target = fd_path(at.get());
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec.sys_readonly ? MS_RDONLY : 0);
  if (::mount("sysfs", target.c_str(), "sysfs", flags, nullptr) == 0) return ok();
  // sysfs may be refused in a new network namespace (it shows that namespace's devices);
  // a read-only view of the host's is the usual fallback.
  return bind_host_sys_readonly(root);
}

struct DeviceNode {
  const char* name;
  unsigned major, minor;
};
constexpr DeviceNode kDevices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

Status make_device(int root, int dev, const DeviceNode& d) {
  std::string where = std::string("/dev/") + d.name;
  if (::mknodat(dev, d.name, S_IFCHR | 0666, makedev(d.major, d.minor)) == 0) {
    if (::fchmodat(dev, d.name, 0666, 0) != 0) return errno_error("chmod " + where);  // umask
    return ok();
  }
  if (errno != EPERM) return errno_error("mknod " + where);
  // No CAP_MKNOD (e.g. under a restricted parent): bind the host's node instead.
  BERTH_TRY(UniqueFd at, ensure_in_root(root, where, NodeKind::kFile));
  return do_mount(where.c_str(), fd_path(at.get()), nullptr, MS_BIND, nullptr, where);
}

// A node the spec asks for (linux.devices), beneath the fresh /dev: created relative to fds,
// never by a path the image could redirect.
Status make_spec_device(int root, int dev, const OciDevice& d) {
  auto parts = fs::split_path(d.path.substr(std::string_view("/dev/").size()));
  if (parts.empty() || std::find(parts.begin(), parts.end(), "..") != parts.end())
    return make_error(Code::kInvalidArgument, "device " + d.path + ": not a path under /dev/");
  std::string name = parts.back();
  parts.pop_back();
  BERTH_TRY_CTX(UniqueFd parent, fs::mkdir_p_beneath(dev, fs::join_path(parts, parts.size()), 0755, {fs::Confine::kBeneath, true}),
                "device " + d.path);
  mode_t kind = d.type == 'b' ? S_IFBLK : S_IFCHR;
  auto rdev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
  if (::mknodat(parent.get(), name.c_str(), kind | d.file_mode, rdev) == 0) {
    if (::fchmodat(parent.get(), name.c_str(), d.file_mode, 0) != 0) return errno_error("chmod " + d.path);  // umask
    return ok();
  }
  if (errno != EPERM) return errno_error("mknod " + d.path);
  BERTH_TRY(UniqueFd at, ensure_in_root(root, d.path, NodeKind::kFile));
  return do_mount(d.path.c_str(), fd_path(at.get()), nullptr, MS_BIND, nullptr, d.path);
}

Status mount_dev(int root, const OciSpec& spec) {
  BERTH_TRY_CTX(UniqueFd at, ensure_in_root(root, "dev", NodeKind::kDirectory), "mount /dev");
  BERTH_CHECK(do_mount("tmpfs", fd_path(at.get()), "tmpfs", MS_NOSUID | MS_STRICTATIME,
                       "mode=755,size=65536k", "tmpfs on /dev"));
  BERTH_TRY_CTX(UniqueFd dev, open_in_root(root, "dev", O_RDONLY | O_DIRECTORY), "mount /dev");
  for (const auto& d : kDevices) BERTH_CHECK(make_device(root, dev.get(), d));

  struct SubMount { const char* name; const char* type; unsigned long flags; const char* data; };
  static constexpr SubMount kSubMounts[] = {
      {"pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
      {"shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"},
      {"mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
  };
  for (const auto& m : kSubMounts) {
    std::string where = std::string("/dev/") + m.name;
    if (::mkdirat(dev.get(), m.name, 0755) != 0) return errno_error("mkdir " + where);
    BERTH_TRY(UniqueFd sub, open_in_root(root, where, O_PATH | O_DIRECTORY));
    BERTH_CHECK(do_mount(m.type, fd_path(sub.get()), m.type, m.flags, m.data, std::string(m.type) + " on " + where));
  }

  struct Link { const char* name; const char* target; };
  static constexpr Link kLinks[] = {
      {"ptmx", "pts/ptmx"},           {"fd", "/proc/self/fd"},          {"stdin", "/proc/self/fd/0"},
      {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
  };
  for (const auto& l : kLinks)
    if (::symlinkat(l.target, dev.get(), l.name) != 0) return errno_error(std::string("symlink /dev/") + l.name);
  for (const auto& d : spec.devices) BERTH_CHECK(make_spec_device(root, dev.get(), d));
  return ok();
}

Status mount_one(int root, const OciMount& m) {
  MountOptions o = parse_mount_options(m.type, m.options);
  std::string what = (m.source.empty() ? m.type : m.source) + " on " + m.destination;
  NodeKind kind = NodeKind::kDirectory;
  if (o.bind) {
    struct stat st {};
    if (::stat(m.source.c_str(), &st) != 0) return errno_error("mount " + what + ": source " + m.source);
    if (!S_ISDIR(st.st_mode)) kind = NodeKind::kFile;
  }
  BERTH_TRY_CTX(UniqueFd at, ensure_in_root(root, m.destination, kind), "mount " + what);
  std::string target = fd_path(at.get());
  const char* data = o.data.empty() ? nullptr : o.data.c_str();
  if (o.bind) {
    BERTH_CHECK(do_mount(m.source.c_str(), target, nullptr, MS_BIND | (o.recursive ? MS_REC : 0), nullptr, what));
  } else {
    const char* source = m.source.empty() ? m.type.c_str() : m.source.c_str();
    BERTH_CHECK(do_mount(source, target, m.type.c_str(), o.flags, data, what));
  }
  // The fd still names the directory under the new mount; reopen to reach the mount itself.
  if ((o.bind && o.flags != 0) || o.propagation != 0) {
    BERTH_TRY_CTX(UniqueFd top, open_in_root(root, m.destination, O_PATH), "mount " + what);
    std::string top_path = fd_path(top.get());
    // A bind mount takes its per-mount flags (ro, nosuid, ...) only from a remount.
    if (o.bind && o.flags != 0)
      BERTH_CHECK(do_mount(nullptr, top_path, nullptr, MS_BIND | MS_REMOUNT | o.flags, nullptr, what + " (options)"));
    if (o.propagation != 0)
      BERTH_CHECK(do_mount(nullptr, top_path, nullptr, o.propagation, nullptr, what + " (propagation)"));
  }
  return ok();
}

Status mount_spec_mounts(int root, const OciSpec& spec) {
  for (const auto& m : spec.mounts) BERTH_CHECK(mount_one(root, m));
  return ok();
}

// A path the image does not have needs no masking.
Result<UniqueFd> open_existing(int root, const std::string& path) {
  auto fd = open_in_root(root, path, O_PATH | O_NOFOLLOW);
  if (!fd && fd.error().sys_errno == ENOENT) return UniqueFd();
  return fd;
}

Status mask_paths(int root, const OciSpec& spec) {
  for (const auto& p : spec.masked_paths) {
    BERTH_TRY_CTX(UniqueFd at, open_existing(root, p), "mask " + p);
    if (!at) continue;
    struct stat st {};
    if (::fstat(at.get(), &st) != 0) return errno_error("mask " + p);
    if (S_ISDIR(st.st_mode))
      BERTH_CHECK(do_mount("tmpfs", fd_path(at.get()), "tmpfs", MS_RDONLY, "size=0", "mask over " + p));
    else
      BERTH_CHECK(do_mount("/dev/null", fd_path(at.get()), nullptr, MS_BIND, nullptr, "mask over " + p));
  }
  return ok();
}

Status make_paths_readonly(int root, const OciSpec& spec) {
  for (const auto& p : spec.readonly_paths) {
    BERTH_TRY_CTX(UniqueFd at, open_existing(root, p), "read-only " + p);
    if (!at) continue;
    BERTH_CHECK(do_mount(fd_path(at.get()).c_str(), fd_path(at.get()), nullptr, MS_BIND | MS_REC, nullptr, "read-only " + p));
    BERTH_TRY_CTX(UniqueFd top, open_in_root(root, p, O_PATH | O_NOFOLLOW), "read-only " + p);
    BERTH_CHECK(do_mount(nullptr, fd_path(top.get()), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         nullptr, "read-only " + p));
  }
  return ok();
}

// pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching it leaves
// only the new root, with no directory needed for the old one.
Status pivot_into_root(int root) {
  if (::fchdir(root) != 0) return errno_error("chdir to the root");
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno_error("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) return errno_error("detach the old root");
  if (::chdir("/") != 0) return errno_error("chdir /");
  return ok();
}

Status remount_root_readonly(const OciSpec& spec) {
  if (!spec.root_readonly) return ok();
  return do_mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr, "/ read-only");
}

}  // namespace

Status bind_host_sys_readonly(int root) {
  BERTH_TRY_CTX(UniqueFd at, ensure_in_root(root, "sys", NodeKind::kDirectory), "bind /sys");
  BERTH_CHECK(do_mount("/sys", fd_path(at.get()), nullptr, MS_BIND | MS_REC, nullptr, "/sys on /sys"));
  BERTH_TRY_CTX(UniqueFd top, open_in_root(root, "sys", O_PATH | O_DIRECTORY), "bind /sys");
  // Every mount of the copy, not only its top (a remount would leave /sys/fs/cgroup and the
  // other submounts writable): mount_setattr with AT_RECURSIVE, Linux 5.12.
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  if (::syscall(SYS_mount_setattr, top.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0)
    return errno_error("make the bind of /sys read-only throughout (mount_setattr)");
  return ok();
}

Result<std::string> overlay_options(const OciSpec& spec) {
  const char* keys[] = {"lowerdir", "upperdir", "workdir"};
  std::string options;
  int present = 0;
  for (const char* k : keys) {
    auto it = spec.annotations.find(std::string("berth.overlay.") + k);
    if (it == spec.annotations.end()) continue;
    ++present;
    const std::string& v = it->second;
    // ',' separates options and the kernel has no escape for it; ':' separates lower layers.
    if (v.empty() || v.find(',') != std::string::npos || (std::string(k) != "lowerdir" && v.find(':') != std::string::npos))
      return make_error(Code::kInvalidArgument, std::string("annotation berth.overlay.") + k + ": unusable path \"" + v + "\"");
    if (!options.empty()) options += ',';
    options += std::string(k) + "=" + v;
  }
  if (present != 0 && present != 3)
    return make_error(Code::kInvalidArgument, "annotations berth.overlay.lowerdir, upperdir and workdir go together");
  return options;
}

Result<OverlayMount> overlay_mount(const OciSpec& spec) {
  BERTH_TRY(std::string options, overlay_options(spec));
  OverlayMount m{"", options};
  if (options.empty()) return m;
  const std::string& lower = spec.annotations.at("berth.overlay.lowerdir");
  std::string base, names;
  for (size_t start = 0; start <= lower.size();) {
    size_t end = std::min(lower.find(':', start), lower.size());
    std::string dir = lower.substr(start, end - start);
    size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == dir.size()) return m;
    std::string parent = dir.substr(0, slash);
    if (!base.empty() && parent != base) return m;  // not all in one directory: absolute paths
    base = parent;
    names += (names.empty() ? "" : ":") + dir.substr(slash + 1);
    start = end + 1;
  }
  m.base = base;
  m.options = "lowerdir=" + names + options.substr(std::string_view("lowerdir=").size() + lower.size());
  return m;
}

Status prepare_root(const OciSpec& spec, const PreparedRoot& prepared) {
  BERTH_CHECK(make_mounts_private());
  UniqueFd root;
  if (prepared.mount_fd >= 0) {
    BERTH_TRY(root, attach_prepared_root(spec, prepared));
  } else {
    BERTH_CHECK(mount_overlay(spec));
    BERTH_CHECK(bind_root_to_itself(spec));
    BERTH_TRY_CTX(root, fs::open_dir(spec.root_path), "root");
  }
  BERTH_CHECK(mount_proc(root.get()));
  BERTH_CHECK(mount_sys(root.get(), spec));
  BERTH_CHECK(mount_dev(root.get(), spec));
  BERTH_CHECK(mount_spec_mounts(root.get(), spec));
  BERTH_CHECK(mask_paths(root.get(), spec));
  BERTH_CHECK(make_paths_readonly(root.get(), spec));
  BERTH_CHECK(pivot_into_root(root.get()));
  BERTH_CHECK(remount_root_readonly(spec));
  return ok();
}

}  // namespace berth::sandbox
