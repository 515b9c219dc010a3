#include "sandbox/idmap.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/fs.hpp"
#include "common/scope_guard.hpp"
#include "sandbox/rootfs.hpp"

namespace berth::sandbox {
namespace {

constexpr size_t kMaxLayers = 500;

std::string map_text(const std::vector<OciIdMapping>& maps) {
  std::string out;
  for (const auto& m : maps)
    out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
  return out;
}

Status write_map(pid_t pid, const char* file, const std::vector<OciIdMapping>& maps) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  BERTH_TRY_CTX(UniqueFd fd, fs::open_at(AT_FDCWD, path, O_WRONLY), "write " + std::string(file));
  std::string text = map_text(maps);
  // The kernel takes a map in one write() only.
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) return errno_error("write " + path + " \"" + text + "\"");
  return ok();
}

std::vector<std::string> split_lowerdirs(const std::string& lower) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= lower.size()) {
    size_t end = std::min(lower.find(':', start), lower.size());
    out.push_back(lower.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A private clone of `dir`'s mount, idmapped through `userns_fd`.
Result<UniqueFd> idmapped_layer(const std::string& dir, int userns_fd) {
  int fd = ::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return errno_error("clone the mount of layer " + dir + " (open_tree)");
  UniqueFd tree = UniqueFd::adopt(fd);
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
    int err = errno;
    if (err == EINVAL || err == EPERM || err == ENOSYS)
      return Error{Code::kFailedPrecondition, err,
                   "user_namespace: cannot idmap image layer " + dir + " (mount_setattr MOUNT_ATTR_IDMAP: " +
                       std::strerror(err) +
                       "): its file system or this kernel has no idmapped mounts (Linux 5.12+; ext4, xfs, btrfs; "
                       "tmpfs from 6.3); berth does not copy or chown layers instead: run the task without "
                       "user_namespace or keep berth's state dir on such a file system"};
    return errno_error(err, "idmap image layer " + dir);
  }
  return tree;
}

struct Layers {
  std::vector<std::string> dirs;  // the spec's lowerdirs, top first
  std::vector<UniqueFd> idmapped;  // a detached idmapped clone of each
};

Result<Layers> idmapped_layers(const OciSpec& spec, int userns_fd) {
  Layers l;
  l.dirs = split_lowerdirs(spec.annotations.at("berth.overlay.lowerdir"));
  if (l.dirs.size() > kMaxLayers)
    return make_error(Code::kInvalidArgument, "user_namespace: at most " + std::to_string(kMaxLayers) + " layers");
  for (const auto& dir : l.dirs) {
    BERTH_TRY(UniqueFd fd, idmapped_layer(dir, userns_fd));
    l.idmapped.push_back(std::move(fd));
  }
  return l;
}

// Linux >= 6.15 builds the overlay from detached layers, one "lowerdir+" each (6.7), with no
// mount namespace to make and tear down. An empty fd when this kernel refuses that form: the
// caller takes the portable way, which reports any real error.
UniqueFd overlay_from_detached_layers(const OciSpec& spec, const Layers& l) {
  int fs_fd = ::fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs_fd < 0) return UniqueFd();
  UniqueFd fsfd = UniqueFd::adopt(fs_fd);
  auto set = [&](const char* key, const std::string& value) {
    return ::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0;
  };
  for (const auto& fd : l.idmapped)
    if (!set("lowerdir+", "/proc/self/fd/" + std::to_string(fd.get()))) return UniqueFd();
  if (!set("upperdir", spec.annotations.at("berth.overlay.upperdir")) ||
      !set("workdir", spec.annotations.at("berth.overlay.workdir")) ||
      ::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return UniqueFd();
  int m = ::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, 0);
  return m < 0 ? UniqueFd() : UniqueFd::adopt(m);
}

// The portable way, inside a private mount namespace (overlayfs before Linux 6.15 takes only
// layers attached in the mounter's namespace): the layers attached under a tmpfs on
// `scratch_path`, the overlay mounted beside them with relative lowerdirs (a page of options
// holds hundreds), and a detached clone of it returned.
Result<UniqueFd> overlay_in_private_namespace(const OciSpec& spec, const Layers& l, const std::string& scratch_path) {
  if (::mount("berth-idmap", scratch_path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700,size=64k") != 0)
    return errno_error("mount the scratch tmpfs for idmapped layers on " + scratch_path);
  BERTH_TRY(UniqueFd scratch, fs::open_dir(scratch_path));
  std::string lowerdir;
  for (size_t i = 0; i < l.idmapped.size(); ++i) {
    std::string name = std::to_string(i);
    if (::mkdirat(scratch.get(), name.c_str(), 0700) != 0) return errno_error("mkdir scratch " + name);
    if (::move_mount(l.idmapped[i].get(), "", scratch.get(), name.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      return errno_error("attach idmapped layer " + l.dirs[i]);
    lowerdir += (lowerdir.empty() ? "" : ":") + name;
  }
  if (::mkdirat(scratch.get(), "root", 0700) != 0) return errno_error("mkdir scratch root");
  // Relative lowerdirs resolve from the working directory: the scratch tmpfs.
  if (::fchdir(scratch.get()) != 0) return errno_error("chdir to the scratch tmpfs");
  std::string options = "lowerdir=" + lowerdir + ",upperdir=" + spec.annotations.at("berth.overlay.upperdir") +
                        ",workdir=" + spec.annotations.at("berth.overlay.workdir");
  if (::mount("overlay", "root", "overlay", 0, options.c_str()) != 0) {
    int err = errno;
    return Error{Code::kFailedPrecondition, err,
                 "user_namespace: overlayfs refused idmapped layers (" + std::string(std::strerror(err)) +
                     "); it takes them from Linux 5.19"};
  }
  int m = ::open_tree(AT_FDCWD, "root", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (m < 0) return errno_error("detach the idmapped overlay (open_tree)");
  return UniqueFd::adopt(m);
}

}  // namespace

std::optional<uint32_t> host_id(const std::vector<OciIdMapping>& maps, uint32_t id) {
  for (const auto& m : maps)
    if (id >= m.container_id && uint64_t{id} < uint64_t{m.container_id} + m.size) return m.host_id + (id - m.container_id);
  return std::nullopt;
}

Status write_id_maps(pid_t pid, const OciSpec& spec) {
  BERTH_CHECK(write_map(pid, "uid_map", spec.uid_mappings));
  return write_map(pid, "gid_map", spec.gid_mappings);
}

Result<UniqueFd> user_namespace_with_maps(const OciSpec& spec) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("pipe for the idmap helper");
  UniqueFd hold_r = UniqueFd::adopt(p[0]);
  UniqueFd hold_w = UniqueFd::adopt(p[1]);
  struct clone_args args {};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof(args)));
  if (pid < 0) return errno_error("clone3 the idmap helper into a new user namespace");
  if (pid == 0) {
    // Waits, without allocating, until the parent closes its end.
    ::close(p[1]);
    char c;
    while (::read(p[0], &c, 1) < 0 && errno == EINTR) {}
    ::_exit(0);
  }
  hold_r.reset();
  ScopeGuard reap([&] {
    hold_w.reset();
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
  });
  BERTH_CHECK_CTX(write_id_maps(pid, spec), "idmap helper");
  return fs::open_at(AT_FDCWD, "/proc/" + std::to_string(pid) + "/ns/user", O_RDONLY);
}

Result<UniqueFd> build_idmapped_root(const OciSpec& spec, int userns_fd, bool detached_layers) {
  BERTH_TRY(std::string options, overlay_options(spec));
  if (options.empty())
    return make_error(Code::kInvalidArgument, "user_namespace: the task has no overlay root to idmap");
  BERTH_TRY(Layers layers, idmapped_layers(spec, userns_fd));
  if (detached_layers) {
    if (UniqueFd root = overlay_from_detached_layers(spec, layers)) return root;
  }
  BERTH_TRY_CTX(UniqueFd own_ns, fs::open_at(AT_FDCWD, "/proc/self/ns/mnt", O_RDONLY), "idmapped root");
  BERTH_TRY_CTX(UniqueFd cwd, fs::open_at(AT_FDCWD, ".", O_PATH | O_DIRECTORY), "idmapped root");
  if (::unshare(CLONE_NEWNS) != 0) return errno_error("idmapped root: private mount namespace");
  Result<UniqueFd> root = make_error(Code::kInternal, "idmapped root: not built");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) root = errno_error("idmapped root: make / rprivate");
  else root = overlay_in_private_namespace(spec, layers, spec.root_path);
  // The scratch namespace (its tmpfs, the attached layers) goes with its last reference: the
  // detached overlay holds private clones of its layers. Staying in it would leave the shim
  // in the wrong place.
  if (::setns(own_ns.get(), CLONE_NEWNS) != 0) return errno_error("idmapped root: return to the shim's mount namespace");
  if (::fchdir(cwd.get()) != 0) return errno_error("idmapped root: chdir back");
  return root;
}

}  // namespace berth::sandbox
