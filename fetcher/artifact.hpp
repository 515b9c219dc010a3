// The artifact fetcher: the launch spec's "fetch" entries (http, https and file URIs) placed
// into a task's sandbox before it starts. Downloads are verified by sha256 when one is given,
// and archives are extracted with the same safe unpacker as layers (whiteouts literal, owners
// not kept: files belong to the agent, which hands the sandbox to the task). The decompressor
// is the one the URI's file name declares (.tar, .tar.gz/.tgz, .tar.zst/.tzst, .tar.xz/.txz),
// never sniffed from the bytes.
//
// What a URI may reach: only the http, https and file schemes (curl follows redirects to http
// and https only and sends no registry credentials: this class never sees them). file:// reads
// only regular files beneath `file_roots` (none by default), resolved with RESOLVE_BENEATH so
// symlinks cannot leave a root; a FIFO or a device is refused without being opened for
// reading. A cached artifact (by sha256) is served without reading its file:// source again,
// but its path must still lie beneath a root.
// Budgets: each artifact's bytes (downloaded, and extracted) within max_bytes, a task's
// artifacts together within task_max_bytes; an archive is measured (decompressed, nothing
// written) before it is extracted, so a refused artifact leaves no partial file in the
// sandbox, and a refused download leaves nothing in the cache. Errors name the budget.
//
// Cache: <dir>/sha256/<hex>, keyed by the expected checksum, so only artifacts with a sha256
// are cached (without one there is no key that says "same bytes"). Entries enter by rename after
// verification; a hit touches the entry's mtime and the cache evicts least-recently-used entries
// when it grows past max_bytes. Half downloads live in <dir>/tmp/, emptied by open().
// Errors name the URI (without credentials or query) and the cause.
// Thread-safe: one cache is shared by all tasks.
#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "fetcher/http.hpp"
#include "fetcher/unpacker.hpp"

namespace berth::fetcher {

struct ArtifactSpec {
  std::string uri;         // http://, https:// or file:///abs/path
  std::string sha256;      // 64 hex digits, or "sha256:<hex>"; empty: not verified, not cached
  bool extract = false;    // unpack the archive instead of placing the file
  bool executable = false; // mode 0755 instead of 0644 (placed files only)
  std::string output;      // relative name in the sandbox; default: the URI's last path component
};

struct ArtifactOptions {
  uint64_t cache_max_bytes = 1ull << 30;
  std::vector<std::string> file_roots;   // absolute dirs; empty: file:// is refused
  uint64_t max_bytes = 1ull << 30;       // per artifact, downloaded and extracted
  uint64_t task_max_bytes = 4ull << 30;  // all of one task's artifacts together
  // How errors name each setting (the agent sets its config keys).
  std::string file_roots_name = "file_roots";
  std::string max_bytes_name = "max_bytes";
  std::string task_max_bytes_name = "task_max_bytes";
  UnpackLimits limits;  // ratio, entries and free space for extraction; bytes come from above
  TlsSettings tls;
  int max_attempts = 3;
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;
};

class ArtifactCache {
 public:
  static Result<std::unique_ptr<ArtifactCache>> open(const std::string& dir, ArtifactOptions options = {});

  // Checks what can be checked before anything is created: scheme, checksum, output name,
  // archive type, and for file:// that the file is a regular file beneath file_roots and
  // within max_bytes. kInvalidArgument or kPermissionDenied (outside file_roots).
  Status check(const ArtifactSpec& spec) const;

  // Fetches one task's artifacts (or takes them from the cache) and places them under
  // `dest_dir_fd`, within the per-artifact and per-task budgets. Stops at the first failure.
  Status fetch_all(std::span<const ArtifactSpec> specs, int dest_dir_fd);
  // One artifact, as the only one of its task.
  Status fetch_into(const ArtifactSpec& spec, int dest_dir_fd) { return fetch_all({&spec, 1}, dest_dir_fd); }

  uint64_t cached_bytes();
  bool is_cached(const std::string& sha256) const;

 private:
  ArtifactCache(std::string dir, ArtifactOptions options, UniqueFd dir_fd)
      : dir_(std::move(dir)), options_(std::move(options)), dir_fd_(std::move(dir_fd)) {}
  // A byte budget and the setting that sets it (for messages).
  struct Budget {
    uint64_t bytes;
    const std::string& name;
    const char* what;
  };
  Budget budget_left(uint64_t task_placed) const;
  Status fetch_one(const ArtifactSpec& spec, int dest_dir_fd, uint64_t& task_placed);
  // The root a file:// path lies beneath (lexically) and the path relative to it.
  Result<std::pair<std::string, std::string>> file_root_of(const std::string& uri) const;
  Result<UniqueFd> open_file_uri(const std::string& uri) const;
  // An fd open on the artifact's bytes (verified when a checksum was given).
  Result<UniqueFd> obtain(const ArtifactSpec& spec, const std::string& hex, const Budget& budget);
  Status download(const std::string& uri, int fd, const Budget& budget, std::string* hex_out);
  Status download_http(const std::string& uri, int fd, const Budget& budget, std::string* hex_out);
  Status extract(int data_fd, const ArtifactSpec& spec, int dest_dir_fd, const Budget& budget,
                 uint64_t* placed);
  Status evict(const std::string& keep_hex);

  std::string dir_;
  ArtifactOptions options_;
  UniqueFd dir_fd_;
  std::mutex mu_;
  uint64_t tmp_counter_ = 0;
  struct timespec last_use_ {};  // the last "used" stamp given out; stamps strictly increase
  // Marks a cache entry used now. The kernel's file times tick coarsely (a few ms), so two uses
  // in one tick would tie and LRU order would be a coin toss: stamps are made strictly
  // increasing instead. mu_ held.
  void touch_locked(const std::string& rel);
};

}  // namespace berth::fetcher
