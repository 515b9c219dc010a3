#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace berth::fs {

Result<UniqueFd> open_dir(const std::string& path) {
  return open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
}

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("open " + path);
  return UniqueFd::adopt(fd);
}

namespace {

// openat2 with the EINTR/EAGAIN policy of the header; the caller names what it opened.
long openat2_retrying(int dirfd, const char* path, int flags, mode_t mode, unsigned long long resolve) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  int races = 0;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0) return fd;
    // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
    if (errno == EINTR || (errno == EAGAIN && ++races < kMaxRenameRaces)) continue;
    return -1;
  }
}

unsigned long long resolve_flags(ResolveOptions how) {
  unsigned long long r = how.confine == Confine::kInRoot ? RESOLVE_IN_ROOT : RESOLVE_BENEATH;
  if (how.same_fs) r |= RESOLVE_NO_XDEV;
  return r;
}

}  // namespace

Result<UniqueFd> open_dir_nofollow(int dirfd, std::string_view rel) {
  std::string p = rel.empty() ? "." : std::string(rel);
  long fd = openat2_retrying(dirfd, p.c_str(), O_RDONLY | O_DIRECTORY, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  if (fd < 0) return errno_error("open directory " + p);
  return UniqueFd::adopt(static_cast<int>(fd));
}

Result<UniqueFd> open_confined(int dirfd, std::string_view path, int flags, mode_t mode, ResolveOptions how) {
  std::string p = path.empty() ? "." : std::string(path);
  long fd = openat2_retrying(dirfd, p.c_str(), flags, mode, resolve_flags(how));
  if (fd < 0) return errno_error("open " + p);
  return UniqueFd::adopt(static_cast<int>(fd));
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view c = path.substr(pos, next - pos);
    if (!c.empty() && c != ".") parts.emplace_back(c);
    pos = next + 1;
  }
  return parts;
}

bool has_dotdot(const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    if (p == "..") return true;
  return false;
}

std::string join_path(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < parts.size(); ++i) {
    if (i) s += '/';
    s += parts[i];
  }
  return s.empty() ? "." : s;
}

namespace {

// One component below `cur`: a plain directory (no symlink, not leaving `cur`), created when
// missing. ELOOP means the name is a symlink: the caller resolves it from the root.
long step_into(int cur, const std::string& name, mode_t mode, bool same_fs) {
  unsigned long long r = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | (same_fs ? RESOLVE_NO_XDEV : 0);
  long fd = openat2_retrying(cur, name.c_str(), O_RDONLY | O_DIRECTORY, 0, r);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (::mkdirat(cur, name.c_str(), mode) != 0 && errno != EEXIST) return -1;
  return openat2_retrying(cur, name.c_str(), O_RDONLY | O_DIRECTORY, 0, r);
}

}  // namespace

Result<UniqueFd> mkdir_p_beneath(int dirfd, std::string_view rel, mode_t mode, ResolveOptions how) {
  auto parts = split_path(rel);
  // Most calls find the whole path there already: one lookup.
  auto whole = open_confined(dirfd, rel, O_RDONLY | O_DIRECTORY, 0, how);
  if (whole || whole.error().sys_errno != ENOENT) return whole;
  BERTH_TRY(UniqueFd cur, open_confined(dirfd, ".", O_RDONLY | O_DIRECTORY, 0, how));
  for (size_t i = 0; i < parts.size(); ++i) {
    long fd = parts[i] == ".." ? (errno = ELOOP, -1) : step_into(cur.get(), parts[i], mode, how.same_fs);
    if (fd < 0 && errno == ELOOP) {
      // A symlink (or ".."): resolve the prefix from the root under the policy, so it cannot
      // lead out. Rare, so the prefix string costs nothing in the common case.
      std::string prefix = join_path(parts, i + 1);
      auto next = open_confined(dirfd, prefix, O_RDONLY | O_DIRECTORY, 0, how);
      if (!next && next.error().sys_errno == ENOENT)
        return Error{Code::kInvalidArgument, ENOENT,
                     "/" + prefix + " is a symlink to a path missing in the root (create its target first)"};
      if (!next) return std::move(next).error();
      cur = std::move(*next);
      continue;
    }
    if (fd < 0) return errno_error("mkdir " + join_path(parts, i + 1));
    cur = UniqueFd::adopt(static_cast<int>(fd));
  }
  return cur;
}

Result<RootedDir> RootedDir::open(const std::string& path, ResolveOptions how) {
  BERTH_TRY(UniqueFd fd, open_dir(path));
  return RootedDir(std::move(fd), path, how);
}

std::string RootedDir::show(std::string_view rel) const {
  if (rel.empty() || rel == ".") return display_;
  return display_ + (rel.front() == '/' ? "" : "/") + std::string(rel);
}

Result<UniqueFd> RootedDir::open(std::string_view rel, int flags, mode_t mode) const {
  auto r = open_confined(fd_.get(), rel, flags, mode, how_);
  if (!r) return std::move(r).error().wrap(display_);
  return r;
}

Result<UniqueFd> RootedDir::mkdir_p(std::string_view rel, mode_t mode) const {
  auto r = mkdir_p_beneath(fd_.get(), rel, mode, how_);
  if (!r) return std::move(r).error().wrap(display_);
  return r;
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

namespace {

std::atomic<uint64_t> g_temp_counter{0};

// O_EXCL on a name no other writer in this process (counter) or another (pid) uses.
Result<std::pair<UniqueFd, std::string>> create_temp(int dirfd, const std::string& name, mode_t mode) {
  for (int attempt = 0;; ++attempt) {
    std::string tmp = name + "." + std::to_string(::getpid()) + "." +
                      std::to_string(g_temp_counter.fetch_add(1, std::memory_order_relaxed)) + ".tmp";
    int fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) return std::pair{UniqueFd::adopt(fd), tmp};
    // EEXIST: left by a crashed process that had our pid; take the next number.
    if (errno != EEXIST || attempt > 1000) return errno_error("create " + tmp);
  }
}

}  // namespace

Status write_file_atomic(int dirfd, const std::string& name, const std::string& data, mode_t mode,
                         Durability durability) {
  bool sync = durability == Durability::kDurable;
  BERTH_TRY(auto created, create_temp(dirfd, name, mode));
  auto& [fd, tmp] = created;
  auto fail = [&](Error e) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return e;
  };
  auto written = write_all(fd.get(), data.data(), data.size());
  if (!written) return fail(std::move(written).error().wrap("write " + tmp));
  if (sync && ::fsync(fd.get()) != 0) return fail(errno_error("fsync " + tmp));
  fd.reset();
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) return fail(errno_error("rename " + tmp));
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
