#include "common/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace berth::fs {
namespace {

// Where a directory lives: a walk stays where it started.
struct Mount {
  dev_t dev = 0;
  uint64_t mnt_id = 0;  // 0 when the kernel does not say
  bool operator==(const Mount&) const = default;
};

Result<Mount> mount_of(int fd) {
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) != 0) return errno_error("statx");
  Mount m;
  m.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  if (sx.stx_mask & STATX_MNT_ID) m.mnt_id = sx.stx_mnt_id;
  return m;
}

UniqueFd open_child(int dirfd, const char* name) {
  return UniqueFd::adopt(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// Opens the parent of `fd` through "..", checking it is on the same mount (it is, unless the
// tree was moved while we walked it).
Result<UniqueFd> climb(int fd, const Mount& mount) {
  UniqueFd up = open_child(fd, "..");
  if (!up) return errno_error("open ..");
  BERTH_TRY(Mount m, mount_of(up.get()));
  if (!(m == mount)) return errno_error(EXDEV, "the tree moved while it was walked");
  return up;
}

// The directory fds on the path from the top to the current directory: the top always, and
// the kMaxHeldFds deepest; the ones in between are reached again through "..".
class FdPath {
 public:
  FdPath(int top, Mount mount) : top_(top), mount_(mount) {}
  int current() const { return held_.empty() ? top_ : held_.back().get(); }
  size_t depth() const { return depth_; }
  void descend(UniqueFd child) {
    held_.push_back(std::move(child));
    ++depth_;
    if (held_.size() > kMaxHeldFds) held_.pop_front();
  }
  Status ascend() {
    UniqueFd done = std::move(held_.back());
    held_.pop_back();
    --depth_;
    if (held_.empty() && depth_ > 0) {
      BERTH_TRY(UniqueFd up, climb(done.get(), mount_));
      held_.push_back(std::move(up));
    }
    return ok();
  }

 private:
  int top_;
  Mount mount_;
  std::deque<UniqueFd> held_;
  size_t depth_ = 0;
};

Result<UniqueFd> enter_same_mount(int dirfd, const char* name, const Mount& mount, const std::string& where) {
  UniqueFd child = open_child(dirfd, name);
  if (!child) return errno_error("open " + where);
  BERTH_TRY(Mount m, mount_of(child.get()));
  if (!(m == mount)) return errno_error(EBUSY, where + " is a mount point");
  return child;
}

// ---- removal ----------------------------------------------------------------------------------

struct Scan {
  UniqueFd child;       // a non-empty subdirectory to empty first
  bool removed = false;  // something was removed in this pass
};

std::string at_depth(const std::string& top, size_t depth, const char* name) {
  return top + " (" + std::to_string(depth) + " levels down) '" + name + "'";
}

// One pass over `dirfd`: unlinks files, removes empty subdirectories, stops at the first
// subdirectory that is not empty and returns it.
Result<Scan> scan_for_removal(int dirfd, const Mount& mount, const std::string& top, size_t depth) {
  // A fresh open file description: its own offset, so every pass starts at the beginning.
  UniqueFd own = open_child(dirfd, ".");
  if (!own) return errno_error("open " + top);
  DIR* d = ::fdopendir(own.get());
  if (!d) return errno_error("opendir " + top);
  own.release();
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  Scan scan;
  while (struct dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (std::strcmp(n, ".") == 0 || std::strcmp(n, "..") == 0) continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return errno_error("stat " + at_depth(top, depth, n));
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (!is_dir) {
      if (::unlinkat(dirfd, n, 0) == 0 || errno == ENOENT) {
        scan.removed = true;
        continue;
      }
      if (errno != EISDIR) return errno_error("unlink " + at_depth(top, depth, n));
    }
    if (::unlinkat(dirfd, n, AT_REMOVEDIR) == 0 || errno == ENOENT) {
      scan.removed = true;
      continue;
    }
    if (errno != ENOTEMPTY && errno != EEXIST) return errno_error("rmdir " + at_depth(top, depth, n));
    BERTH_TRY(scan.child, enter_same_mount(dirfd, n, mount, at_depth(top, depth, n)));
    return scan;
  }
  return scan;
}

Status empty_tree(int top, const Mount& mount, const std::string& display) {
  FdPath path(top, mount);
  int idle_passes = 0;
  for (;;) {
    BERTH_TRY(Scan scan, scan_for_removal(path.current(), mount, display, path.depth()));
    // A pass that found the directory empty without removing anything, after which its parent
    // still cannot remove it, means someone refills it: give up instead of looping.
    if (scan.removed) idle_passes = 0;
    else if (!scan.child) ++idle_passes;
    if (idle_passes > 3)
      return errno_error(ENOTEMPTY, "remove " + display + ": it keeps changing while it is removed");
    if (scan.child) {
      path.descend(std::move(scan.child));
      continue;
    }
    if (path.depth() == 0) return ok();
    BERTH_CHECK_CTX(path.ascend(), "remove " + display);
  }
}

}  // namespace

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
  UniqueFd top = open_child(dirfd, name.c_str());
  if (!top) return errno_error("open " + name);
  BERTH_TRY(Mount mount, mount_of(top.get()));
  // Through "..": dirfd may be AT_FDCWD with `name` a whole path.
  if (UniqueFd parent = open_child(top.get(), ".."); parent)
    if (auto pm = mount_of(parent.get()); pm && !(*pm == mount))
      return errno_error(EBUSY, "remove " + name + " (a mount point)");
  BERTH_CHECK(empty_tree(top.get(), mount, name));
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return errno_error("rmdir " + name);
  return ok();
}

Status remove_tree(const std::string& path) { return remove_tree_at(AT_FDCWD, path); }

// ---- walking ----------------------------------------------------------------------------------

namespace {

struct Dirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

constexpr size_t kDentsBuffer = 32 * 1024;
constexpr uint64_t kCheckEvery = 1024;

class Walker {
 public:
  Walker(const WalkBudget& budget, const std::function<void(const struct stat&)>& on_entry, std::string display)
      : budget_(budget), on_entry_(on_entry), display_(std::move(display)), started_ms_(monotonic_ms()) {}
  Result<WalkTotals> run(int top, const Mount& mount);

 private:
  // Counts one entry; false when a budget ends the walk.
  bool count(const struct stat& st);
  // Reads `fd` from `offset` on; returns the first subdirectory to descend into (and the
  // offset after it), or nothing when the directory is done.
  // The subdirectory to descend into next (none when `dir` is invalid: this level is done) and
  // where to resume reading this level afterwards. A plain struct rather than
  // optional<pair<UniqueFd, …>>, on which g++ 12 -O1 -fsanitize=address warns of an
  // uninitialised fd in the disengaged destructor.
  struct Next {
    UniqueFd dir;
    off64_t resume_at = 0;
  };
  Result<Next> read_from(int fd, off64_t offset, const Mount& mount);

  const WalkBudget& budget_;
  const std::function<void(const struct stat&)>& on_entry_;
  std::string display_;
  int64_t started_ms_;
  WalkTotals totals_;
  std::vector<char> buf_ = std::vector<char>(kDentsBuffer);
};

bool Walker::count(const struct stat& st) {
  on_entry_(st);
  ++totals_.entries;
  if (totals_.entries >= budget_.max_entries) {
    totals_.stop = WalkStop::kEntryBudget;
    return false;
  }
  if (totals_.entries % kCheckEvery == 1) {  // the first entry, then every kCheckEvery
    if (budget_.cancel && budget_.cancel->load(std::memory_order_relaxed)) {
      totals_.stop = WalkStop::kCancelled;
      return false;
    }
    if (monotonic_ms() - started_ms_ > budget_.max_ms) {
      totals_.stop = WalkStop::kTimeBudget;
      return false;
    }
  }
  return true;
}

Result<Walker::Next> Walker::read_from(int fd, off64_t offset, const Mount& mount) {
  if (::lseek64(fd, offset, SEEK_SET) < 0) return errno_error("seek in " + display_);
  for (;;) {
    long n = ::getdents64(fd, buf_.data(), buf_.size());
    if (n < 0) return errno_error("read directory in " + display_);
    if (n == 0) return Next{};
    for (long pos = 0; pos < n;) {
      auto* e = reinterpret_cast<Dirent64*>(buf_.data() + pos);
      pos += e->d_reclen;
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      struct stat st {};
      if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk
        return errno_error("stat in " + display_);
      }
      if (!count(st)) return Next{};
      if (!S_ISDIR(st.st_mode) || st.st_dev != mount.dev) continue;
      UniqueFd child = open_child(fd, e->d_name);
      if (!child) continue;  // replaced by a non-directory meanwhile
      auto m = mount_of(child.get());
      if (!m || !(*m == mount)) continue;  // a mount point of the same file system: not ours
      return Next{std::move(child), e->d_off};
    }
  }
}

Result<WalkTotals> Walker::run(int top, const Mount& mount) {
  struct stat st {};
  if (::fstat(top, &st) != 0) return errno_error("stat " + display_);
  if (!count(st)) return totals_;
  FdPath path(top, mount);
  // Where to resume reading each level above the current one: 8 bytes a level.
  std::vector<off64_t> resume_at{0};
  for (;;) {
    BERTH_TRY(auto next, read_from(path.current(), resume_at.back(), mount));
    if (totals_.stop != WalkStop::kComplete) return totals_;
    if (next.dir) {
      resume_at.back() = next.resume_at;
      path.descend(std::move(next.dir));
      resume_at.push_back(0);
      continue;
    }
    if (path.depth() == 0) return totals_;
    BERTH_CHECK(path.ascend());
    resume_at.pop_back();
  }
}

}  // namespace

std::string WalkTotals::stop_reason(const WalkBudget& budget) const {
  switch (stop) {
    case WalkStop::kComplete: return "";
    case WalkStop::kEntryBudget: return "stopped at the budget of " + std::to_string(budget.max_entries) + " entries";
    case WalkStop::kTimeBudget: return "stopped at the time budget of " + std::to_string(budget.max_ms) + " ms";
    case WalkStop::kCancelled: return "cancelled";
  }
  return "";
}

Result<WalkTotals> walk_tree_at(int dirfd, const std::string& name, const WalkBudget& budget,
                                const std::function<void(const struct stat&)>& on_entry) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return WalkTotals{};
    return errno_error("stat " + name);
  }
  if (!S_ISDIR(st.st_mode)) {
    on_entry(st);
    return WalkTotals{1, WalkStop::kComplete};
  }
  UniqueFd top = open_child(dirfd, name.c_str());
  if (!top) return errno_error("open " + name);
  BERTH_TRY(Mount mount, mount_of(top.get()));
  Walker w(budget, on_entry, name);
  return w.run(top.get(), mount);
}

}  // namespace berth::fs
