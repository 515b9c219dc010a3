#include "fetcher/artifact.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "fetcher/digest.hpp"
#include "fetcher/input_file.hpp"

namespace berth::fetcher {
namespace {

constexpr const char* kCacheDir = "sha256";
constexpr const char* kTmpDir = "tmp";

Result<std::string> normalize_sha(const std::string& s) {
  std::string hex = s.starts_with("sha256:") ? s.substr(7) : s;
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!is_sha256_hex(hex)) return make_error(Code::kInvalidArgument, "sha256 '" + s + "' is not 64 hex digits");
  return hex;
}

std::string default_output(const std::string& uri) {
  std::string path = uri.substr(0, uri.find_first_of("?#"));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool has_dot_components(const std::string& path) {
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string_view c(path.data() + i, j - i);
    if (c == "." || c == "..") return true;
    i = j + 1;
  }
  return false;
}

Status check_scheme(const std::string& uri) {
  if (uri.starts_with("file://") || uri.starts_with("http://") || uri.starts_with("https://")) return ok();
  return make_error(Code::kInvalidArgument, "unsupported URI scheme (http, https and file are)");
}

// The bytes of `in` copied to `out` (when out >= 0) and hashed, refusing past `limit`.
Status copy_bounded(int in, int out, uint64_t limit, const std::function<Error()>& over, std::string* hex_out) {
  Sha256 h;
  uint64_t total = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read");
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > limit) return over();
    h.update(buf, static_cast<size_t>(n));
    if (out >= 0) BERTH_CHECK(fs::write_all(out, buf, static_cast<size_t>(n)));
  }
  *hex_out = h.finish().hex();
  return ok();
}

Status check_output(const std::string& out) {
  if (out.empty() || out.front() == '/')
    return make_error(Code::kInvalidArgument, "output '" + out + "' must be a relative path inside the sandbox");
  size_t i = 0;
  while (i <= out.size()) {
    size_t j = out.find('/', i);
    if (j == std::string::npos) j = out.size();
    if (out.compare(i, j - i, "..") == 0)
      return make_error(Code::kInvalidArgument, "output '" + out + "' may not contain '..'");
    i = j + 1;
  }
  return ok();
}

Status copy_fd(int in, int out) {
  for (;;) {
    ssize_t n = ::sendfile(out, in, nullptr, 1 << 30);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("copy artifact");
    }
    if (n == 0) return ok();
  }
}

// Opens dest/<dir part of rel> (creating it) beneath dest, returning it and the last name.
Result<std::pair<UniqueFd, std::string>> open_parent_beneath(int dest, const std::string& rel) {
  auto slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "." : rel.substr(0, slash);
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (dir != ".") {
    // mkdir -p beneath dest, one component at a time.
    std::string cur;
    size_t i = 0;
    while (i <= dir.size()) {
      size_t j = dir.find('/', i);
      if (j == std::string::npos) j = dir.size();
      std::string comp = dir.substr(i, j - i);
      if (!comp.empty() && comp != ".") {
        BERTH_TRY(UniqueFd parent, fs::open_beneath(dest, cur.empty() ? "." : cur, O_RDONLY | O_DIRECTORY));
        if (::mkdirat(parent.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) return errno_error("mkdir " + comp);
        cur += (cur.empty() ? "" : "/") + comp;
      }
      i = j + 1;
    }
  }
  BERTH_TRY(UniqueFd parent, fs::open_beneath(dest, dir, O_RDONLY | O_DIRECTORY));
  return std::pair{std::move(parent), name};
}

}  // namespace

Result<std::unique_ptr<ArtifactCache>> ArtifactCache::open(const std::string& dir, ArtifactOptions options) {
  BERTH_CHECK_CTX(fs::mkdir_p(dir, 0700), "artifact cache");
  BERTH_TRY_CTX(UniqueFd fd, fs::open_dir(dir), "artifact cache");
  BERTH_CHECK_CTX(fs::remove_tree_at(fd.get(), kTmpDir), "clean artifact cache tmp");
  for (const char* d : {kCacheDir, kTmpDir})
    if (::mkdirat(fd.get(), d, 0700) != 0 && errno != EEXIST) return errno_error("create " + dir + "/" + d);
  return std::unique_ptr<ArtifactCache>(new ArtifactCache(dir, std::move(options), std::move(fd)));
}

ArtifactCache::Budget ArtifactCache::budget_left(uint64_t task_placed) const {
  uint64_t task_left = options_.task_max_bytes > task_placed ? options_.task_max_bytes - task_placed : 0;
  if (task_left < options_.max_bytes) return {task_left, options_.task_max_bytes_name, "left of the task's artifact"};
  return {options_.max_bytes, options_.max_bytes_name, "of the per-artifact"};
}

namespace {
Error over_budget(uint64_t have_at_least, uint64_t limit, const std::string& name, const char* what) {
  return make_error(Code::kInvalidArgument, "the artifact is larger (at least " + std::to_string(have_at_least) +
                                                " bytes) than the " + std::to_string(limit) + " bytes " + what +
                                                " budget (refused; the budget is " + name + ")");
}
}  // namespace

Result<std::pair<std::string, std::string>> ArtifactCache::file_root_of(const std::string& uri) const {
  std::string path = uri.substr(7);
  if (path.empty() || path.front() != '/')
    return make_error(Code::kInvalidArgument, "file URI must be file:///absolute/path");
  if (has_dot_components(path))
    return make_error(Code::kInvalidArgument, "file URI path may not contain '.' or '..' components");
  for (const auto& root : options_.file_roots) {
    std::string prefix = root == "/" ? "/" : root + "/";
    if (path.starts_with(prefix) && path.size() > prefix.size()) return std::pair{root, path.substr(prefix.size())};
  }
  std::string roots;
  for (const auto& r : options_.file_roots) roots += (roots.empty() ? "" : ", ") + r;
  return make_error(Code::kPermissionDenied,
                    path + " is not beneath a directory berthd may read artifacts from (" + options_.file_roots_name +
                        (roots.empty() ? " is empty, so file:// artifacts are off)" : ": " + roots + ")"));
}

// file:///abs/path, read only beneath one of file_roots. The root itself may be reached
// through symlinks (the operator chose it); inside it nothing resolves outside it.
Result<UniqueFd> ArtifactCache::open_file_uri(const std::string& uri) const {
  BERTH_TRY(auto where, file_root_of(uri));
  const auto& [root, rel] = where;
  BERTH_TRY_CTX(UniqueFd root_fd, fs::open_dir(root), "file root");
  auto in = open_input(root_fd.get(), rel, RESOLVE_BENEATH, InputKind::kFile, /*follow_last=*/true);
  if (!in && in.error().code == Code::kPermissionDenied)
    return make_error(Code::kPermissionDenied, uri.substr(7) + " resolves outside " + root +
                                                   " (a symlink leaves the directory " + options_.file_roots_name +
                                                   " allows)");
  if (!in) return std::move(in).error();
  return std::move(in->fd);
}

Status ArtifactCache::download(const std::string& uri, int fd, const Budget& budget, std::string* hex_out) {
  if (uri.starts_with("file://")) {
    BERTH_TRY(UniqueFd in, open_file_uri(uri));
    return copy_bounded(in.get(), fd, budget.bytes,
                        [&] { return over_budget(budget.bytes + 1, budget.bytes, budget.name, budget.what); }, hex_out);
  }
  BERTH_CHECK(check_scheme(uri));
  return download_http(uri, fd, budget, hex_out);
}

Status ArtifactCache::download_http(const std::string& uri, int fd, const Budget& budget, std::string* hex_out) {
  std::optional<Error> last;
  for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(200 << (attempt - 1)));
    if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) return errno_error("reset download file");
    Sha256 h;
    uint64_t total = 0;
    HttpRequest req;
    req.url = uri;
    req.tls = options_.tls;
    req.connect_timeout_s = options_.connect_timeout_s;
    req.low_speed_time_s = options_.low_speed_time_s;
    auto resp = http_perform(req, [&](const char* d, size_t n) -> Status {
      total += n;
      if (total > budget.bytes) return over_budget(total, budget.bytes, budget.name, budget.what);
      h.update(d, n);
      return fs::write_all(fd, d, n);
    });
    if (!resp) {
      last = std::move(resp).error();
      if (last->code == Code::kUnavailable) continue;
      return *last;
    }
    if (resp->status >= 200 && resp->status < 300) {
      *hex_out = h.finish().hex();
      return ok();
    }
    Code code = resp->status == 404 ? Code::kNotFound
                : (resp->status == 401 || resp->status == 403) ? Code::kPermissionDenied
                : (resp->status >= 500 || resp->status == 429) ? Code::kUnavailable
                                                               : Code::kInvalidArgument;
    last = make_error(code, "HTTP " + std::to_string(resp->status));
    if (code != Code::kUnavailable) return *last;
  }
  return *last;
}

Result<UniqueFd> ArtifactCache::obtain(const ArtifactSpec& spec, const std::string& hex, const Budget& budget) {
  // A file:// URI outside file_roots is refused even when its checksum is cached.
  if (spec.uri.starts_with("file://")) BERTH_CHECK(file_root_of(spec.uri));
  if (!hex.empty()) {
    std::lock_guard lk(mu_);
    std::string rel = std::string(kCacheDir) + "/" + hex;
    int fd = ::openat(dir_fd_.get(), rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      UniqueFd cached = UniqueFd::adopt(fd);
      struct stat st {};
      if (::fstat(cached.get(), &st) != 0) return errno_error("stat cached artifact");
      if (static_cast<uint64_t>(st.st_size) > budget.bytes)
        return over_budget(static_cast<uint64_t>(st.st_size), budget.bytes, budget.name, budget.what);
      touch_locked(rel);
      return cached;
    }
  }
  std::string tmp;
  {
    std::lock_guard lk(mu_);
    tmp = std::string(kTmpDir) + "/dl-" + std::to_string(::getpid()) + "-" + std::to_string(++tmp_counter_);
  }
  BERTH_TRY(UniqueFd fd, fs::open_at(dir_fd_.get(), tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0644));
  std::string got;
  auto st = download(spec.uri, fd.get(), budget, &got);
  if (!st) {
    ::unlinkat(dir_fd_.get(), tmp.c_str(), 0);
    return std::move(st).error();
  }
  if (!hex.empty() && got != hex) {
    ::unlinkat(dir_fd_.get(), tmp.c_str(), 0);
    return make_error(Code::kFailedPrecondition, "sha256 mismatch: expected " + hex + ", got " + got);
  }
  // Uncached (no checksum) downloads are used through the open fd and unlinked at once.
  if (hex.empty()) {
    ::unlinkat(dir_fd_.get(), tmp.c_str(), 0);
  } else {
    std::lock_guard lk(mu_);
    std::string rel = std::string(kCacheDir) + "/" + hex;
    if (::renameat(dir_fd_.get(), tmp.c_str(), dir_fd_.get(), rel.c_str()) != 0) {
      int err = errno;
      ::unlinkat(dir_fd_.get(), tmp.c_str(), 0);
      return errno_error(err, "add to artifact cache");
    }
    touch_locked(rel);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("rewind artifact");
  if (!hex.empty()) BERTH_CHECK(evict(hex));
  return fd;
}

void ArtifactCache::touch_locked(const std::string& rel) {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  bool after = now.tv_sec != last_use_.tv_sec ? now.tv_sec > last_use_.tv_sec : now.tv_nsec > last_use_.tv_nsec;
  if (!after) {
    now = last_use_;
    if (++now.tv_nsec == 1000000000) {
      now.tv_nsec = 0;
      ++now.tv_sec;
    }
  }
  last_use_ = now;
  struct timespec times[2] = {now, now};
  ::utimensat(dir_fd_.get(), rel.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

Status ArtifactCache::evict(const std::string& keep_hex) {
  std::lock_guard lk(mu_);
  BERTH_TRY(auto names, fs::list_dir(dir_ + "/" + kCacheDir));
  struct Entry {
    std::string name;
    uint64_t size;
    struct timespec used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (const auto& n : names) {
    struct stat st {};
    if (::fstatat(dir_fd_.get(), (std::string(kCacheDir) + "/" + n).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    entries.push_back({n, static_cast<uint64_t>(st.st_size), st.st_mtim});
    total += static_cast<uint64_t>(st.st_size);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.used.tv_sec != b.used.tv_sec ? a.used.tv_sec < b.used.tv_sec : a.used.tv_nsec < b.used.tv_nsec;
  });
  for (const auto& e : entries) {
    if (total <= options_.cache_max_bytes) break;
    if (e.name == keep_hex) continue;  // in use right now
    // Unlinking is safe for tasks that already hold the file open or have a copy.
    if (::unlinkat(dir_fd_.get(), (std::string(kCacheDir) + "/" + e.name).c_str(), 0) == 0) total -= e.size;
  }
  return ok();
}

Status ArtifactCache::check(const ArtifactSpec& spec) const {
  BERTH_CHECK(check_scheme(spec.uri));
  if (!spec.sha256.empty()) BERTH_CHECK(normalize_sha(spec.sha256));
  if (spec.extract) {
    BERTH_CHECK(archive_decompressors(default_output(spec.uri)));
    if (!spec.output.empty()) BERTH_CHECK(check_output(spec.output));
  } else {
    std::string out = spec.output.empty() ? default_output(spec.uri) : spec.output;
    if (out.empty()) return make_error(Code::kInvalidArgument, "no output name; set \"output\"");
    BERTH_CHECK(check_output(out));
  }
  if (spec.uri.starts_with("file://")) {
    BERTH_CHECK(file_root_of(spec.uri));
    if (!spec.sha256.empty() && is_cached(spec.sha256)) return ok();  // served without reading the source
    BERTH_TRY(UniqueFd in, open_file_uri(spec.uri));
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) return errno_error("stat");
    Budget b = budget_left(0);
    if (static_cast<uint64_t>(st.st_size) > b.bytes)
      return over_budget(static_cast<uint64_t>(st.st_size), b.bytes, b.name, b.what);
  }
  return ok();
}

Status ArtifactCache::fetch_all(std::span<const ArtifactSpec> specs, int dest_dir_fd) {
  uint64_t placed = 0;
  for (const auto& spec : specs) {
    auto st = fetch_one(spec, dest_dir_fd, placed);
    if (!st) return std::move(st).error().wrap("fetch '" + redact_url(spec.uri) + "'");
  }
  return ok();
}

// Measured first (decompressed, nothing written), so an archive over a budget leaves nothing
// in the sandbox; then unpacked within the same budgets.
Status ArtifactCache::extract(int data_fd, const ArtifactSpec& spec, int dest_dir_fd, const Budget& budget,
                              uint64_t* placed) {
  UnpackOptions uo;
  uo.limits = options_.limits;
  uo.limits.max_bytes = budget.bytes;
  uo.limits.max_bytes_name = budget.name;
  BERTH_TRY(uo.decompressors, archive_decompressors(default_output(spec.uri)));
  uo.whiteouts = WhiteoutMode::kLiteral;
  uo.keep_owners = false;
  uo.measure_only = true;
  BERTH_CHECK_CTX(unpack_fd(data_fd, dest_dir_fd, uo), "extract");
  if (::lseek(data_fd, 0, SEEK_SET) != 0) return errno_error("rewind artifact");
  UniqueFd target;
  if (spec.output.empty()) {
    BERTH_TRY(target, fs::open_beneath(dest_dir_fd, ".", O_RDONLY | O_DIRECTORY));
  } else {
    BERTH_CHECK(check_output(spec.output));
    BERTH_TRY(auto parent, open_parent_beneath(dest_dir_fd, spec.output + "/x"));
    target = std::move(parent.first);
  }
  uo.measure_only = false;
  BERTH_TRY_CTX(UnpackStats stats, unpack_fd(data_fd, target.get(), uo), "extract");
  *placed = stats.uncompressed_bytes;
  return ok();
}

Status ArtifactCache::fetch_one(const ArtifactSpec& spec, int dest_dir_fd, uint64_t& task_placed) {
  BERTH_CHECK(check(spec));
  std::string hex;
  if (!spec.sha256.empty()) {
    BERTH_TRY(hex, normalize_sha(spec.sha256));
  }
  Budget budget = budget_left(task_placed);
  BERTH_TRY(UniqueFd data, obtain(spec, hex, budget));
  uint64_t placed = 0;
  if (spec.extract) {
    BERTH_CHECK(extract(data.get(), spec, dest_dir_fd, budget, &placed));
    task_placed += placed;
    return ok();
  }
  struct stat st {};
  if (::fstat(data.get(), &st) != 0) return errno_error("stat artifact");
  placed = static_cast<uint64_t>(st.st_size);
  std::string out = spec.output.empty() ? default_output(spec.uri) : spec.output;
  BERTH_TRY(auto parent, open_parent_beneath(dest_dir_fd, out));
  std::string tmp = "." + parent.second + ".berth-tmp";
  int raw = ::openat(parent.first.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     spec.executable ? 0755 : 0644);
  if (raw < 0) return errno_error("create " + out);
  UniqueFd dst = UniqueFd::adopt(raw);
  auto st2 = copy_fd(data.get(), dst.get());
  if (st2 && ::fchmod(dst.get(), spec.executable ? 0755 : 0644) != 0) st2 = errno_error("chmod " + out);
  if (st2 && ::renameat(parent.first.get(), tmp.c_str(), parent.first.get(), parent.second.c_str()) != 0)
    st2 = errno_error("place " + out);
  if (!st2) {
    ::unlinkat(parent.first.get(), tmp.c_str(), 0);
    return st2;
  }
  task_placed += placed;
  return ok();
}

uint64_t ArtifactCache::cached_bytes() {
  std::lock_guard lk(mu_);
  uint64_t total = 0;
  auto names = fs::list_dir(dir_ + "/" + kCacheDir);
  if (!names) return 0;
  for (const auto& n : *names) {
    struct stat st {};
    if (::fstatat(dir_fd_.get(), (std::string(kCacheDir) + "/" + n).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

bool ArtifactCache::is_cached(const std::string& sha256) const {
  auto hex = normalize_sha(sha256);
  if (!hex) return false;
  return ::faccessat(dir_fd_.get(), (std::string(kCacheDir) + "/" + *hex).c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace berth::fetcher
