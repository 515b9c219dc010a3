// The safe unpacker: reads a tar stream (uncompressed, or compressed as the input declares: a
// layer's media type, an artifact's file name) from a pull-based reader and recreates it under
// a root directory fd. Only the decompressors in UnpackOptions::decompressors are registered with
// libarchive, and only ones built into it: never the sniff-everything set, some of whose filters
// run external programs (lrzip, lzop, grzip …) as root on registry bytes.
// libarchive only parses; every write is ours, relative to the root through openat2 with
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV for parent directories and *at()
// calls with no-follow flags for the final component, so the kernel, not string checks, keeps
// every entry inside the root.
//
// Policy for hostile entries (tests/fetcher/hostile_layer_test.cpp shows each):
//   absolute path "/etc/x"            confined: taken relative to the root, like tar -x does
//   ".." anywhere in a path            refused: "'..' in entry path"
//   path > 4096 bytes / name > 255     refused
//   write through a symlink (in the    confined: the symlink is resolved as if the root were /
//     layer, or swapped in mid-archive)           (RESOLVE_IN_ROOT), so it lands inside
//   an entry replacing a symlink       the symlink itself is replaced, never followed
//   hardlink target                    confined like a path; ".." refused; a target that does not
//                                      exist inside the root, or is a directory, is refused
//   whiteout ".wh." / ".wh.." / of     refused: "whiteout names the root or a parent"
//     "." (the root or a parent)
//   char/block devices, sockets        skipped and counted (the runtime provides /dev)
//   trusted.overlay.* xattrs in the    dropped: only our whiteout translation may set overlay
//     archive                          metadata, or a layer could forge redirects/opaque dirs
//   over budget (bytes / entries /     refused: "… exceeds the budget of … (<budget name>)",
//     compression ratio / free space)  checked on the decompressed stream as it flows, so a bomb
//                                      stops at the budget; the name is the config key to raise
// OCI whiteouts (WhiteoutMode::kOverlay): ".wh.name" → char device 0:0 "name" (overlayfs
// whiteout), ".wh..wh..opq" → xattr trusted.overlay.opaque="y" on its directory. Both need
// CAP_MKNOD / CAP_SYS_ADMIN; without them unpacking a layer that has whiteouts fails clearly.
// Owners, modes (setuid/setgid/sticky too), mtimes, xattrs and hardlinks are kept.
// The diff_id (sha256 of the whole uncompressed stream, tar padding included) is computed
// while unpacking. On error the root is left partly written: callers unpack into a temp dir and
// throw it away (the content store does).
// Threading: unpack() runs in the calling thread and calls `read` from it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "fetcher/digest.hpp"

namespace berth::fetcher {

// The budgets of one unpack. An error names the budget it hit by its *_name, which callers set
// to the config key that sets it, so the message tells an operator what to change.
struct UnpackLimits {
  uint64_t max_bytes = 64ull << 30;          // uncompressed stream bytes
  uint64_t max_entries = 2'000'000;
  // Uncompressed : compressed bytes, each entry counting 1 KiB more (its inode and directory
  // entry), judged once past ratio_after_bytes (small inputs may compress very well); 0 =
  // unbounded. Real layers stay under ~20:1; zstd bombs reach 30000:1, empty-file bombs 200:1.
  uint64_t max_ratio = 100;
  uint64_t ratio_after_bytes = 64ull << 20;
  // Free space the root's file system keeps: checked before and while unpacking (statvfs).
  uint64_t min_free_bytes = 0;
  std::string max_bytes_name = "max_bytes";
  std::string max_entries_name = "max_entries";
  std::string max_ratio_name = "max_ratio";
  std::string min_free_name = "min_free_bytes";
};

// The decompressors an unpack may use; uncompressed tar is always read.
struct Decompressors {
  bool gzip = false;
  bool zstd = false;
  bool xz = false;
  std::string describe() const;  // "tar, tar+gzip" — for messages
};
// A layer of unknown type: what OCI layers may be.
inline constexpr Decompressors kAnyLayer{true, true, false};

// By a layer's media type: "…tar" none, "…+gzip"/".gzip" gzip, "…+zstd"/".zstd" zstd; empty
// (a descriptor without one) any of those; anything else kInvalidArgument.
Result<Decompressors> layer_decompressors(std::string_view media_type);
// By an archive's file name: .tar, .tar.gz/.tgz, .tar.zst/.tar.zstd/.tzst, .tar.xz/.txz;
// anything else kInvalidArgument listing these.
Result<Decompressors> archive_decompressors(std::string_view file_name);

enum class WhiteoutMode { kOverlay, kLiteral };

struct UnpackOptions {
  UnpackLimits limits;
  Decompressors decompressors = kAnyLayer;
  WhiteoutMode whiteouts = WhiteoutMode::kOverlay;
  bool keep_owners = true;  // false: files belong to the caller (artifacts)
  // Read the whole archive applying every budget but write nothing (root_fd is only used for
  // the free-space check): lets a caller know an archive fits before any of it lands.
  bool measure_only = false;
};

struct UnpackStats {
  Digest diff_id;               // sha256 of the uncompressed stream
  uint64_t uncompressed_bytes = 0;
  uint64_t entries = 0;
  uint64_t skipped_devices = 0;
};

// Fills buf with up to len bytes; 0 means end of stream.
using ReadFn = std::function<Result<size_t>(void* buf, size_t len)>;
// Called as bytes are written (file data only), for progress displays.
using WrittenFn = std::function<void(uint64_t total_written)>;

Result<UnpackStats> unpack(const ReadFn& read, int root_fd, const UnpackOptions& options,
                           const WrittenFn& on_written = nullptr);

// Convenience: unpack from an fd (a file or a pipe).
Result<UnpackStats> unpack_fd(int fd, int root_fd, const UnpackOptions& options);

}  // namespace berth::fetcher
