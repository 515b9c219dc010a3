// The artifact fetcher: the launch spec's "fetch" entries (http, https and file URIs) placed
// into a task's sandbox before it starts. Downloads are verified by sha256 when one is given,
// and archives (tar, tar.gz, tar.zst, tar.xz — sniffed from the bytes) are extracted with the
// same safe unpacker as layers (whiteouts literal, owners not kept: files belong to the agent,
// which hands the sandbox to the task).
//
// Cache: <dir>/sha256/<hex>, keyed by the expected checksum, so only artifacts with a sha256
// are cached (without one there is no key that says "same bytes"). Entries enter by rename after
// verification; a hit touches the entry's mtime and the cache evicts least-recently-used entries
// when it grows past max_bytes. Half downloads live in <dir>/tmp/, emptied by open().
// Errors name the URI (without credentials or query) and the cause.
// Thread-safe: one cache is shared by all tasks.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

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
  UnpackLimits limits;
  TlsSettings tls;
  int max_attempts = 3;
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;
};

class ArtifactCache {
 public:
  static Result<std::unique_ptr<ArtifactCache>> open(const std::string& dir, ArtifactOptions options = {});

  // Fetches the artifact (or takes it from the cache) and places it under `dest_dir_fd`.
  Status fetch_into(const ArtifactSpec& spec, int dest_dir_fd);

  uint64_t cached_bytes();
  bool is_cached(const std::string& sha256);

 private:
  ArtifactCache(std::string dir, ArtifactOptions options, UniqueFd dir_fd)
      : dir_(std::move(dir)), options_(std::move(options)), dir_fd_(std::move(dir_fd)) {}
  // An fd open on the artifact's bytes (verified when a checksum was given).
  Result<UniqueFd> obtain(const ArtifactSpec& spec, const std::string& hex);
  Status download(const std::string& uri, int fd, std::string* hex_out);
  Status evict(const std::string& keep_hex);

  std::string dir_;
  ArtifactOptions options_;
  UniqueFd dir_fd_;
  std::mutex mu_;
  uint64_t tmp_counter_ = 0;
};

}  // namespace berth::fetcher
