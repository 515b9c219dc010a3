#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace berth::fs {

Result<UniqueFd> open_dir(const std::string& path) {
  return open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
}

Result<UniqueFd> open_dir_at(int dirfd, const std::string& name) {
  return open_at(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("open " + path);
  return UniqueFd::adopt(fd);
}

Result<UniqueFd> open_beneath(int dirfd, const std::string& path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
  if (fd < 0) return errno_error("open " + path);
  return UniqueFd::adopt(static_cast<int>(fd));
}

Status mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return make_error(Code::kInvalidArgument, "mkdir: empty path");
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    if (!cur.empty() && ::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return errno_error("mkdir " + cur);
    pos = next + 1;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat " + path);
  if (!S_ISDIR(st.st_mode)) return errno_error(ENOTDIR, "mkdir " + path);
  return ok();
}

static Result<std::string> read_all(int fd, const std::string& what) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + what);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> read_file(const std::string& path) { return read_file_at(AT_FDCWD, path); }

Result<std::string> read_file_at(int dirfd, const std::string& name) {
  BERTH_TRY(UniqueFd fd, open_at(dirfd, name, O_RDONLY));
  return read_all(fd.get(), name);
}

Status write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return ok();
}

Status write_file_atomic(int dirfd, const std::string& name, const std::string& data, mode_t mode,
                         Durability durability) {
  bool sync = durability == Durability::kDurable;
  std::string tmp = name + ".tmp";
  BERTH_TRY(UniqueFd fd, open_at(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode));
  auto written = write_all(fd.get(), data.data(), data.size());
  if (!written) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return std::move(written).error().wrap("write " + tmp);
  }
  if (sync && ::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return errno_error(err, "fsync " + tmp);
  }
  fd.reset();
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return errno_error(err, "rename " + tmp);
  }
  if (sync && ::fsync(dirfd) != 0) return errno_error("fsync directory of " + name);
  return ok();
}

Status write_file_atomic(const std::string& path, const std::string& data, mode_t mode, Durability durability) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  BERTH_TRY(UniqueFd dfd, open_dir(dir));
  return write_file_atomic(dfd.get(), name, data, mode, durability);
}

static Status remove_children(int dfd, dev_t dev, const std::string& where) {
  int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errno_error("dup " + where);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return errno_error("opendir " + where);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& n : names) {
    struct stat st {};
    if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return errno_error("stat " + where + "/" + n);
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev) return errno_error(EBUSY, "remove " + where + "/" + n + " (a mount point)");
      BERTH_TRY(UniqueFd sub, open_dir_at(dfd, n));
      BERTH_CHECK(remove_children(sub.get(), dev, where + "/" + n));
      if (::unlinkat(dfd, n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return errno_error("rmdir " + where + "/" + n);
    } else if (::unlinkat(dfd, n.c_str(), 0) != 0 && errno != ENOENT) {
      return errno_error("unlink " + where + "/" + n);
    }
  }
  return ok();
}

Status remove_tree_at(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return ok();
    return errno_error("stat " + name);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return errno_error("unlink " + name);
    return ok();
  }
  struct stat parent {};
  if (::fstat(dirfd, &parent) == 0 && parent.st_dev != st.st_dev)
    return errno_error(EBUSY, "remove " + name + " (a mount point)");
  BERTH_TRY(UniqueFd sub, open_dir_at(dirfd, name));
  BERTH_CHECK(remove_children(sub.get(), st.st_dev, name));
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return errno_error("rmdir " + name);
  return ok();
}

Status remove_tree(const std::string& path) { return remove_tree_at(AT_FDCWD, path); }

Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return errno_error("opendir " + path);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  return names;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Result<unsigned long long> process_start_time(pid_t pid) {
  BERTH_TRY(std::string stat, read_file("/proc/" + std::to_string(pid) + "/stat"));
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return make_error(Code::kInternal, "malformed /proc stat");
  const char* p = stat.c_str() + close + 2;  // field 3
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return make_error(Code::kInternal, "malformed /proc stat");
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace berth::fs
