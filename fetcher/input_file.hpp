// Input files that a client, the config or an image layout names (image loads, file://
// artifacts), opened so that nothing about them can block or surprise berthd. A FIFO blocks
// open() and read() forever (and with them berthd's stop); a device may act when opened (a
// watchdog arms, a tape rewinds); a symlink may point anywhere. So: resolve with O_PATH (no
// open side effects), fstat, accept only a regular file or (when asked) a directory, then
// reopen with O_NONBLOCK, so even a path swapped in between cannot block, and check it is the
// same inode. The last component is not followed unless asked (and then only as far as the
// openat2 RESOLVE_* flags allow, which confine every component).
// Thread-safe: plain functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::fetcher {

struct InputFile {
  UniqueFd fd;           // O_RDONLY (O_NONBLOCK), O_CLOEXEC
  bool is_dir = false;
  uint64_t size = 0;     // of a regular file
};

enum class InputKind { kFile, kFileOrDirectory, kDirectory };

// Opens `path` relative to `dirfd` with openat2 `resolve` flags (e.g. RESOLVE_BENEATH for a
// name inside a layout). Errors name `path`: kNotFound when missing, kPermissionDenied when it
// resolves outside `dirfd` under RESOLVE_BENEATH, kInvalidArgument for a symlink or any type
// not in `kind` (FIFO, device, socket).
Result<InputFile> open_input(int dirfd, const std::string& path, uint64_t resolve, InputKind kind,
                             bool follow_last = false);

}  // namespace berth::fetcher
