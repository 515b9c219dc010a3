#include "sandbox/in_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace berth::sandbox {

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string p = path.empty() ? "." : path;
  for (;;) {
    long fd = ::syscall(SYS_openat2, rootfd, p.c_str(), &how, sizeof(how));
    if (fd >= 0) return UniqueFd::adopt(static_cast<int>(fd));
    // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
    if (errno != EAGAIN && errno != EINTR) return errno_error("open " + path);
  }
}

static std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, NodeKind kind) {
  auto parts = split_path(path);
  BERTH_TRY(UniqueFd cur, open_in_root(rootfd, ".", O_PATH | O_DIRECTORY));
  std::string prefix;
  for (size_t i = 0; i < parts.size(); ++i) {
    prefix += "/" + parts[i];
    bool last = i + 1 == parts.size();
    int flags = O_PATH | ((last && kind == NodeKind::kFile) ? 0 : O_DIRECTORY);
    auto next = open_in_root(rootfd, prefix, flags);
    if (!next && next.error().sys_errno == ENOENT) {
      // `cur` was resolved inside the root, so creating one plain name beneath it stays there.
      // mkdirat/openat with O_EXCL do not follow a symlink in the last component; a dangling
      // symlink makes them fail with EEXIST and the re-open below resolves it in the root.
      if (last && kind == NodeKind::kFile) {
        int fd = ::openat(cur.get(), parts[i].c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) return errno_error("create " + prefix);
        if (fd >= 0) ::close(fd);
      } else if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        return errno_error("mkdir " + prefix);
      }
      next = open_in_root(rootfd, prefix, flags);
      // Still missing after creating it: the name is a symlink whose target is not there.
      // Creating that target would be guessing; say what is wrong instead.
      if (!next && next.error().sys_errno == ENOENT)
        return make_error(Code::kInvalidArgument, "mount point " + prefix +
                                                      " is a symlink to a path missing in the root filesystem");
    }
    if (!next) return std::move(next).error();
    cur = std::move(*next);
  }
  if (kind == NodeKind::kFile) {
    struct stat st {};
    if (::fstat(cur.get(), &st) != 0) return errno_error("stat " + path);
    if (S_ISDIR(st.st_mode)) return errno_error(EISDIR, "mount point " + path);
  }
  return cur;
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
