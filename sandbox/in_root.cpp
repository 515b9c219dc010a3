#include "sandbox/in_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace berth::sandbox {

Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, NodeKind kind) {
  constexpr fs::ResolveOptions kInRoot{fs::Confine::kInRoot, false};
  auto parts = fs::split_path(path);
  if (kind == NodeKind::kDirectory || parts.empty()) {
    auto dir = fs::mkdir_p_beneath(rootfd, path, 0755, kInRoot);
    if (!dir) return std::move(dir).error().wrap("mount point " + path);
    if (kind == NodeKind::kFile) return errno_error(EISDIR, "mount point " + path);
    return dir;
  }
  std::string name = parts.back();
  parts.pop_back();
  auto parent = fs::mkdir_p_beneath(rootfd, fs::join_path(parts, parts.size()), 0755, kInRoot);
  if (!parent) return std::move(parent).error().wrap("mount point " + path);
  if (name != "..") {
    // `parent` was resolved inside the root, so creating one plain name beneath it stays there.
    // O_EXCL does not follow a symlink in the last component; a dangling symlink makes it fail
    // with EEXIST and the lookup below resolves it in the root.
    int fd = ::openat(parent->get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return errno_error("create mount point " + path);
    if (fd >= 0) ::close(fd);
  }
  auto file = open_in_root(rootfd, path, O_PATH);
  // Still missing after creating it: the name is a symlink whose target is not there.
  // Creating that target would be guessing; say what is wrong instead.
  if (!file && file.error().sys_errno == ENOENT)
    return make_error(Code::kInvalidArgument,
                      "mount point " + path + " is a symlink to a path missing in the root filesystem");
  if (!file) return std::move(file).error().wrap("mount point " + path);
  struct stat st {};
  if (::fstat(file->get(), &st) != 0) return errno_error("stat " + path);
  if (S_ISDIR(st.st_mode)) return errno_error(EISDIR, "mount point " + path);
  return file;
}

Result<std::string> read_in_root(int rootfd, const std::string& path, size_t max_bytes) {
  BERTH_TRY(UniqueFd fd, open_in_root(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + path);
  if (!S_ISREG(st.st_mode)) return make_error(Code::kInvalidArgument, path + " is not a regular file");
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) return make_error(Code::kInvalidArgument, path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

}  // namespace berth::sandbox
