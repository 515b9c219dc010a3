#include "fetcher/unpacker.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace berth::fetcher {
namespace {

constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxName = 255;
constexpr size_t kReadChunk = 256 * 1024;
constexpr uint64_t kEntryCost = 1024;  // bytes an entry counts for in the compression ratio
constexpr std::string_view kWhPrefix = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

using Path = std::vector<std::string>;

std::string show(std::string_view p) {
  std::string s;
  for (char c : p.substr(0, 200)) s.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (p.size() > 200) s += "…";
  return s;
}

Error refuse(std::string_view entry, const std::string& why) {
  return make_error(Code::kInvalidArgument, "entry '" + show(entry) + "': " + why);
}

// Lexical split. Leading '/' is dropped (absolute paths are confined); '.' and empty
// components vanish; '..' is refused outright rather than cleaned, because no sane layer has it.
Result<Path> split_path(std::string_view raw, std::string_view entry) {
  if (raw.size() > kMaxPath) return refuse(entry, "path longer than 4096 bytes (refused)");
  Path out;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view c = raw.substr(i, j - i);
    if (c == "..") return refuse(entry, "'..' in entry path (refused: an entry may not climb out of the root)");
    if (c.size() > kMaxName) return refuse(entry, "a path component is longer than 255 bytes (refused)");
    if (!c.empty() && c != ".") out.emplace_back(c);
    i = j + 1;
  }
  return out;
}

std::string join(const Path& p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < p.size(); ++i) {
    if (i) s += '/';
    s += p[i];
  }
  return s.empty() ? "." : s;
}

Result<UniqueFd> open_in_root(int root, const std::string& path, int flags) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  for (;;) {
    long fd = ::syscall(SYS_openat2, root, path.c_str(), &how, sizeof(how));
    if (fd >= 0) return UniqueFd::adopt(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    return errno_error("open " + show(path));
  }
}

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

Error over_budget(const std::string& what, const std::string& budget_name) {
  return make_error(Code::kInvalidArgument, what + " (refused; the budget is " + budget_name + ")");
}

// Registers exactly the declared decompressors. ARCHIVE_WARN from a support call means
// libarchive would run an external program for that filter: refused, never run.
Status enable_decompressors(struct archive* a, const Decompressors& d) {
  auto add = [&](bool wanted, int (*support)(struct archive*), const char* name) -> Status {
    if (!wanted || support(a) == ARCHIVE_OK) return ok();
    return make_error(Code::kInternal, std::string(name) +
                                           " is not built into this libarchive (it would run an external program)");
  };
  BERTH_CHECK(add(d.gzip, archive_read_support_filter_gzip, "gzip"));
  BERTH_CHECK(add(d.zstd, archive_read_support_filter_zstd, "zstd"));
  BERTH_CHECK(add(d.xz, archive_read_support_filter_xz, "xz"));
  return ok();
}

struct DirTime {
  Path path;
  struct timespec times[2];
};

class Unpacker {
 public:
  Unpacker(const ReadFn& read, int root, const UnpackOptions& opts, const WrittenFn& on_written)
      : read_(read), root_(root), opts_(opts), on_written_(on_written) {}

  Result<UnpackStats> run();

 private:
  static la_ssize_t outer_read(struct archive*, void* self, const void** buf);
  static la_ssize_t inner_read(struct archive*, void* self, const void** buf);
  Status drain_outer();
  Status open_streams(struct archive* outer, struct archive* inner);
  Status check_stream_budgets();
  Status check_free_space();
  Status measure_entry();
  Status handle_entry(struct archive_entry* e);
  Result<UniqueFd> open_parent(const Path& p, std::string_view entry);
  Status remove_existing(int parent, const std::string& name, bool keep_dir);
  Status apply_meta(int fd, int parent, const std::string& name, struct archive_entry* e, bool is_link);
  Status write_file(int parent, const std::string& name, struct archive_entry* e, std::string_view entry);
  Status make_dir(const Path& p, struct archive_entry* e, std::string_view entry);
  Status make_whiteout(const Path& p, std::string_view entry);
  Status make_opaque(const Path& dir, std::string_view entry);
  Status make_hardlink(int parent, const std::string& name, struct archive_entry* e, std::string_view entry);
  Status set_dir_times();
  Error archive_failure(struct archive* a, const std::string& what);

  const ReadFn& read_;
  int root_;
  const UnpackOptions& opts_;
  const WrittenFn& on_written_;
  struct archive* outer_ = nullptr;
  struct archive* inner_ = nullptr;
  std::vector<char> in_buf_ = std::vector<char>(kReadChunk);
  std::optional<Error> source_error_;  // from read_ or from a budget, reported over libarchive's
  Sha256 diff_hash_;
  UnpackStats stats_;
  uint64_t written_ = 0;
  uint64_t compressed_ = 0;       // bytes taken from read_, for the ratio budget
  uint64_t next_free_check_ = 0;  // uncompressed offset of the next statvfs
  std::vector<DirTime> dir_times_;
};

la_ssize_t Unpacker::outer_read(struct archive*, void* self, const void** buf) {
  auto* u = static_cast<Unpacker*>(self);
  auto n = u->read_(u->in_buf_.data(), u->in_buf_.size());
  if (!n) {
    u->source_error_ = std::move(n).error();
    return -1;
  }
  u->compressed_ += *n;
  *buf = u->in_buf_.data();
  return static_cast<la_ssize_t>(*n);
}

// The tar reader's input is the outer (decompressing, raw-format) reader's data: this is the
// one place that sees every uncompressed byte, so the diff_id and the byte budget live here.
la_ssize_t Unpacker::inner_read(struct archive*, void* self, const void** buf) {
  auto* u = static_cast<Unpacker*>(self);
  size_t size = 0;
  la_int64_t offset = 0;
  int r = archive_read_data_block(u->outer_, buf, &size, &offset);
  if (r == ARCHIVE_EOF) return 0;
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
    if (!u->source_error_)
      u->source_error_ = make_error(Code::kInvalidArgument,
                                    std::string("decompress: ") + (archive_error_string(u->outer_) ?: "failed"));
    return -1;
  }
  u->stats_.uncompressed_bytes += size;
  if (auto st = u->check_stream_budgets(); !st) {
    u->source_error_ = std::move(st).error();
    return -1;
  }
  u->diff_hash_.update(*buf, size);
  return static_cast<la_ssize_t>(size);
}

// Byte, ratio and free-space budgets, judged on every block of the decompressed stream.
Status Unpacker::check_stream_budgets() {
  const UnpackLimits& l = opts_.limits;
  uint64_t out = stats_.uncompressed_bytes;
  if (out > l.max_bytes)
    return over_budget("uncompressed size exceeds the budget of " + std::to_string(l.max_bytes) + " bytes",
                       l.max_bytes_name);
  // An entry costs the store an inode and a directory entry beyond its tar header, so the
  // ratio counts it too: otherwise empty files compressed to a few bytes each would pass.
  uint64_t cost = out + stats_.entries * kEntryCost;
  if (l.max_ratio && cost > l.ratio_after_bytes && cost / std::max<uint64_t>(compressed_, 1) >= l.max_ratio)
    return over_budget("the archive expands more than " + std::to_string(l.max_ratio) + ":1 (" +
                           std::to_string(compressed_ >> 10) + " KiB compressed became " + mib(out) + " and " +
                           std::to_string(stats_.entries) + " entries), over the compression-ratio budget",
                       l.max_ratio_name);
  if (out >= next_free_check_) BERTH_CHECK(check_free_space());
  return ok();
}

Status Unpacker::check_free_space() {
  constexpr uint64_t kEvery = 8 << 20;
  next_free_check_ = stats_.uncompressed_bytes + kEvery;
  if (opts_.limits.min_free_bytes == 0) return ok();
  struct statvfs vfs {};
  if (::fstatvfs(root_, &vfs) != 0) return errno_error("statvfs of the unpack target");
  uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (avail < opts_.limits.min_free_bytes)
    return make_error(Code::kUnavailable, "the file system holds only " + mib(avail) + " free, less than the " +
                                              mib(opts_.limits.min_free_bytes) + " it must keep (refused; the budget is " +
                                              opts_.limits.min_free_name + ")");
  return ok();
}

Error Unpacker::archive_failure(struct archive* a, const std::string& what) {
  if (source_error_) return *source_error_;
  const char* msg = archive_error_string(a);
  return make_error(Code::kInvalidArgument, what + ": " + (msg ? msg : "malformed archive"));
}

Status Unpacker::drain_outer() {
  // The diff_id covers the whole stream, including padding after the tar end marker.
  const void* buf = nullptr;
  for (;;) {
    la_ssize_t n = inner_read(nullptr, this, &buf);
    if (n < 0) return *source_error_;
    if (n == 0) return ok();
  }
}

// The outer reader decompresses (declared filters only) into a raw stream; the inner one reads
// that stream as tar and never decompresses.
Status Unpacker::open_streams(struct archive* outer, struct archive* inner) {
  outer_ = outer;
  inner_ = inner;
  BERTH_CHECK(enable_decompressors(outer_, opts_.decompressors));
  archive_read_support_format_raw(outer_);
  if (archive_read_open(outer_, this, nullptr, outer_read, nullptr) != ARCHIVE_OK)
    return archive_failure(outer_, "open stream");
  struct archive_entry* raw_entry = nullptr;
  if (archive_read_next_header(outer_, &raw_entry) != ARCHIVE_OK) return archive_failure(outer_, "read stream");
  archive_read_support_format_tar(inner_);
  archive_read_support_format_gnutar(inner_);
  if (archive_read_open(inner_, this, nullptr, inner_read, nullptr) != ARCHIVE_OK)
    return archive_failure(inner_, "open tar (read as " + opts_.decompressors.describe() + ")");
  return ok();
}

Status Unpacker::measure_entry() {
  if (archive_read_data_skip(inner_) != ARCHIVE_OK) return archive_failure(inner_, "read tar data");
  return ok();
}

Result<UnpackStats> Unpacker::run() {
  using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;
  ArchivePtr outer(archive_read_new(), archive_read_free);
  ArchivePtr inner(archive_read_new(), archive_read_free);
  BERTH_CHECK(check_free_space());
  BERTH_CHECK(open_streams(outer.get(), inner.get()));
  for (;;) {
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return archive_failure(inner.get(), "read tar header (read as " + opts_.decompressors.describe() + ")");
    if (++stats_.entries > opts_.limits.max_entries)
      return over_budget("archive has more than " + std::to_string(opts_.limits.max_entries) + " entries",
                         opts_.limits.max_entries_name);
    auto st = opts_.measure_only ? measure_entry() : handle_entry(e);
    if (!st) {
      if (source_error_) return *source_error_;
      return std::move(st).error();
    }
  }
  BERTH_CHECK(drain_outer());
  if (!opts_.measure_only) BERTH_CHECK(set_dir_times());
  stats_.diff_id = diff_hash_.finish();
  return stats_;
}

Result<UniqueFd> Unpacker::open_parent(const Path& p, std::string_view entry) {
  size_t n = p.size() - 1;
  auto full = open_in_root(root_, join(p, n), O_RDONLY | O_DIRECTORY);
  if (full || full.error().sys_errno != ENOENT) {
    if (!full) return refuse(entry, "parent directory: " + full.error().message);
    return full;
  }
  // Some components are missing: create them one by one, each relative to the directory fd the
  // previous step resolved inside the root.
  BERTH_TRY(UniqueFd cur, open_in_root(root_, ".", O_RDONLY | O_DIRECTORY));
  for (size_t i = 0; i < n; ++i) {
    auto next = open_in_root(root_, join(p, i + 1), O_RDONLY | O_DIRECTORY);
    if (!next && next.error().sys_errno == ENOENT) {
      if (::mkdirat(cur.get(), p[i].c_str(), 0755) != 0 && errno != EEXIST)
        return refuse(entry, errno_error("create parent directory " + show(p[i])).message);
      next = open_in_root(root_, join(p, i + 1), O_RDONLY | O_DIRECTORY);
    }
    if (!next) return refuse(entry, "parent " + show(join(p, i + 1)) + " is not a directory inside the root (" +
                                        next.error().message + ")");
    cur = std::move(next).value();
  }
  return cur;
}

Status Unpacker::remove_existing(int parent, const std::string& name, bool keep_dir) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return ok();
    return errno_error("stat " + show(name));
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return ok();
    return fs::remove_tree_at(parent, name);
  }
  if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) return errno_error("unlink " + show(name));
  return ok();
}

Status Unpacker::apply_meta(int fd, int parent, const std::string& name, struct archive_entry* e, bool is_link) {
  if (opts_.keep_owners) {
    int r = is_link ? ::fchownat(parent, name.c_str(), archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW)
                    : ::fchown(fd, archive_entry_uid(e), archive_entry_gid(e));
    if (r != 0) return errno_error("chown " + show(name));
  }
  if (!is_link) {
    // After chown: chown clears setuid/setgid, so the mode goes on last.
    if (::fchmod(fd, archive_entry_mode(e) & 07777) != 0) return errno_error("chmod " + show(name));
    archive_entry_xattr_reset(e);
    const char* xname = nullptr;
    const void* xval = nullptr;
    size_t xlen = 0;
    while (archive_entry_xattr_next(e, &xname, &xval, &xlen) == ARCHIVE_OK) {
      std::string_view n(xname);
      if (n.starts_with("trusted.overlay.")) continue;  // see the policy in unpacker.hpp
      if (::fsetxattr(fd, xname, xval, xlen, 0) != 0 && errno != EOPNOTSUPP)
        return errno_error("set xattr " + show(n) + " on " + show(name));
    }
  }
  return ok();
}

Status Unpacker::write_file(int parent, const std::string& name, struct archive_entry* e, std::string_view entry) {
  la_int64_t size = archive_entry_size(e);
  if (size < 0 || static_cast<uint64_t>(size) > opts_.limits.max_bytes)
    return refuse(entry, "file size " + std::to_string(size) + " exceeds the budget of " +
                             std::to_string(opts_.limits.max_bytes) + " bytes (refused; the budget is " +
                             opts_.limits.max_bytes_name + ")");
  BERTH_CHECK(remove_existing(parent, name, false));
  int fd_raw = ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_raw < 0) return errno_error("create " + show(entry));
  UniqueFd fd = UniqueFd::adopt(fd_raw);
  const void* buf = nullptr;
  size_t len = 0;
  la_int64_t off = 0;
  for (;;) {
    int r = archive_read_data_block(inner_, &buf, &len, &off);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return archive_failure(inner_, "read data of '" + show(entry) + "'");
    // pwrite at the block's offset keeps sparse files sparse.
    const char* p = static_cast<const char*>(buf);
    size_t left = len;
    while (left > 0) {
      ssize_t w = ::pwrite(fd.get(), p, left, off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_error("write " + show(entry));
      }
      p += w;
      off += w;
      left -= static_cast<size_t>(w);
    }
    written_ += len;
    if (on_written_) on_written_(written_);
  }
  if (::ftruncate(fd.get(), size) != 0) return errno_error("truncate " + show(entry));
  BERTH_CHECK(apply_meta(fd.get(), parent, name, e, false));
  struct timespec ts[2] = {{archive_entry_atime(e), archive_entry_atime_nsec(e)},
                           {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  if (!archive_entry_atime_is_set(e)) ts[0] = ts[1];
  if (::futimens(fd.get(), ts) != 0) return errno_error("set times of " + show(entry));
  return ok();
}

Status Unpacker::make_dir(const Path& p, struct archive_entry* e, std::string_view entry) {
  UniqueFd dir;
  if (p.empty()) {
    BERTH_TRY(dir, open_in_root(root_, ".", O_RDONLY | O_DIRECTORY));
  } else {
    BERTH_TRY(UniqueFd parent, open_parent(p, entry));
    const std::string& name = p.back();
    BERTH_CHECK(remove_existing(parent.get(), name, true));
    if (::mkdirat(parent.get(), name.c_str(), 0700) != 0 && errno != EEXIST)
      return errno_error("mkdir " + show(entry));
    int fd = ::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno_error("open " + show(entry));
    dir = UniqueFd::adopt(fd);
    BERTH_CHECK(apply_meta(dir.get(), parent.get(), name, e, false));
  }
  if (p.empty()) BERTH_CHECK(apply_meta(dir.get(), -1, ".", e, false));
  // Directory times are set at the end: creating children would move them again.
  DirTime t{p, {{archive_entry_atime(e), archive_entry_atime_nsec(e)},
                {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}}};
  if (!archive_entry_atime_is_set(e)) t.times[0] = t.times[1];
  dir_times_.push_back(std::move(t));
  return ok();
}

Status Unpacker::make_whiteout(const Path& p, std::string_view entry) {
  std::string target = p.back().substr(kWhPrefix.size());
  if (target.empty() || target == "." || target == "..")
    return refuse(entry, "whiteout names the root or a parent (refused)");
  if (target.starts_with(kWhPrefix))
    return refuse(entry, "unsupported AUFS metadata entry (refused)");
  BERTH_TRY(UniqueFd parent, open_parent(p, entry));
  BERTH_CHECK(remove_existing(parent.get(), target, false));
  if (::mknodat(parent.get(), target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
    return errno_error("create overlay whiteout for '" + show(entry) + "' (needs CAP_MKNOD)");
  return ok();
}

Status Unpacker::make_opaque(const Path& p, std::string_view entry) {
  UniqueFd dir;
  if (p.size() == 1) {
    BERTH_TRY(dir, open_in_root(root_, ".", O_RDONLY | O_DIRECTORY));
  } else {
    Path dir_path(p.begin(), p.end() - 1);
    BERTH_TRY(UniqueFd parent, open_parent(dir_path, entry));
    const std::string& name = dir_path.back();
    BERTH_CHECK(remove_existing(parent.get(), name, true));
    if (::mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
      return errno_error("mkdir for '" + show(entry) + "'");
    int fd = ::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno_error("open directory of '" + show(entry) + "'");
    dir = UniqueFd::adopt(fd);
  }
  if (::fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
    return errno_error("mark '" + show(entry) + "' opaque (needs CAP_SYS_ADMIN)");
  return ok();
}

Status Unpacker::make_hardlink(int parent, const std::string& name, struct archive_entry* e, std::string_view entry) {
  const char* raw = archive_entry_hardlink(e);
  BERTH_TRY(Path target, split_path(raw, entry));
  if (target.empty()) return refuse(entry, "hardlink to the root (refused)");
  std::string tdir = join(target, target.size() - 1);
  auto tparent = open_in_root(root_, tdir, O_RDONLY | O_DIRECTORY);
  struct stat st {};
  if (!tparent || ::fstatat(tparent->get(), target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return refuse(entry, "hardlink target '" + show(raw) + "' is not inside the layer (refused)");
  if (S_ISDIR(st.st_mode)) return refuse(entry, "hardlink to a directory (refused)");
  BERTH_CHECK(remove_existing(parent, name, false));
  if (::linkat(tparent->get(), target.back().c_str(), parent, name.c_str(), 0) != 0)
    return errno_error("hardlink " + show(entry));
  return ok();
}

Status Unpacker::handle_entry(struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (!raw) return make_error(Code::kInvalidArgument, "tar entry without a path");
  std::string_view entry(raw);
  BERTH_TRY(Path p, split_path(entry, entry));
  mode_t type = archive_entry_filetype(e);

  if (opts_.whiteouts == WhiteoutMode::kOverlay && !p.empty() && p.back().starts_with(kWhPrefix)) {
    if (p.back() == kOpaque) return make_opaque(p, entry);
    return make_whiteout(p, entry);
  }
  if (type == AE_IFDIR) return make_dir(p, e, entry);
  if (p.empty()) return refuse(entry, "a non-directory entry for the root itself (refused)");
  if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
    ++stats_.skipped_devices;
    return ok();
  }
  BERTH_TRY(UniqueFd parent, open_parent(p, entry));
  const std::string& name = p.back();
  if (archive_entry_hardlink(e)) return make_hardlink(parent.get(), name, e, entry);

  switch (type) {
    case AE_IFREG:
      return write_file(parent.get(), name, e, entry);
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target || !*target) return refuse(entry, "symlink without a target");
      if (std::strlen(target) >= kMaxPath) return refuse(entry, "symlink target longer than 4095 bytes (refused)");
      BERTH_CHECK(remove_existing(parent.get(), name, false));
      // The target is stored as is: it is only ever followed later, inside the container's root.
      if (::symlinkat(target, parent.get(), name.c_str()) != 0) return errno_error("symlink " + show(entry));
      BERTH_CHECK(apply_meta(-1, parent.get(), name, e, true));
      struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                               {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      if (::utimensat(parent.get(), name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
        return errno_error("set times of " + show(entry));
      return ok();
    }
    case AE_IFIFO: {
      BERTH_CHECK(remove_existing(parent.get(), name, false));
      if (::mkfifoat(parent.get(), name.c_str(), 0600) != 0) return errno_error("mkfifo " + show(entry));
      // Opening a FIFO would block: work through the parent with no-follow instead.
      if (opts_.keep_owners &&
          ::fchownat(parent.get(), name.c_str(), archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) != 0)
        return errno_error("chown " + show(entry));
      if (::fchmodat(parent.get(), name.c_str(), archive_entry_mode(e) & 07777, 0) != 0)
        return errno_error("chmod " + show(entry));
      return ok();
    }
    default:
      return refuse(entry, "unknown entry type (refused)");
  }
}

Status Unpacker::set_dir_times() {
  // Deepest first is not needed: setting a directory's times does not touch its parent's.
  for (const auto& d : dir_times_) {
    auto fd = open_in_root(root_, join(d.path, d.path.size()), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd) continue;  // replaced by a later entry; its own metadata won
    if (::futimens(fd->get(), d.times) != 0) return errno_error("set times of " + show(join(d.path, d.path.size())));
  }
  return ok();
}

}  // namespace

std::string Decompressors::describe() const {
  std::string s = "tar";
  if (gzip) s += ", tar+gzip";
  if (zstd) s += ", tar+zstd";
  if (xz) s += ", tar+xz";
  return s;
}

Result<Decompressors> layer_decompressors(std::string_view mt) {
  if (mt.empty()) return kAnyLayer;
  if (mt.ends_with("+gzip") || mt.ends_with(".gzip")) return Decompressors{true, false, false};
  if (mt.ends_with("+zstd") || mt.ends_with(".zstd")) return Decompressors{false, true, false};
  if (mt.ends_with(".tar")) return Decompressors{};
  return make_error(Code::kInvalidArgument, "layer media type '" + std::string(mt) +
                                                "' names no compression berth reads (tar, tar+gzip, tar+zstd)");
}

Result<Decompressors> archive_decompressors(std::string_view name) {
  auto has = [&](std::initializer_list<std::string_view> exts) {
    for (auto e : exts)
      if (name.ends_with(e)) return true;
    return false;
  };
  if (has({".tar"})) return Decompressors{};
  if (has({".tar.gz", ".tgz"})) return Decompressors{true, false, false};
  if (has({".tar.zst", ".tar.zstd", ".tzst"})) return Decompressors{false, true, false};
  if (has({".tar.xz", ".txz"})) return Decompressors{false, false, true};
  return make_error(Code::kInvalidArgument, "cannot tell the archive type of '" + show(name) +
                                                "': extract reads .tar, .tar.gz/.tgz, .tar.zst/.tzst and .tar.xz/.txz");
}

Result<UnpackStats> unpack(const ReadFn& read, int root_fd, const UnpackOptions& options,
                           const WrittenFn& on_written) {
  Unpacker u(read, root_fd, options, on_written);
  return u.run();
}

Result<UnpackStats> unpack_fd(int fd, int root_fd, const UnpackOptions& options) {
  ReadFn read = [fd](void* buf, size_t len) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd, buf, len);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return errno_error("read archive");
    }
  };
  return unpack(read, root_fd, options);
}

}  // namespace berth::fetcher
