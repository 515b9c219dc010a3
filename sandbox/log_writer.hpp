// LogWriter: appends one output stream of a task to <dir>/<name> ("stdout") with size-based
// rotation. When a write would push the file past max_bytes, the files shift
// name.(n-1) -> name.n ... name -> name.1 and a fresh name is started, so at most max_files
// files exist (name plus name.1 .. name.(max_files-1)); max_files == 1 truncates in place.
// max_bytes == 0 disables rotation. A chunk is split at its last newline that still fits, so a
// line crosses files only when it is longer than the space left in a fresh file.
// Invariant: size_ is the current length of the open file. Single-threaded (one shim loop).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::sandbox {

class LogWriter {
 public:
  // `dirfd` is borrowed and must outlive the writer (rotation renames relative to it).
  static Result<LogWriter> open(int dirfd, std::string name, uint64_t max_bytes, uint32_t max_files);

  Status append(std::string_view data);
  uint64_t size() const { return size_; }

 private:
  LogWriter(int dirfd, std::string name, uint64_t max_bytes, uint32_t max_files)
      : dirfd_(dirfd), name_(std::move(name)), max_bytes_(max_bytes), max_files_(max_files) {}
  Status reopen();
  Status rotate();

  int dirfd_;
  std::string name_;
  uint64_t max_bytes_;
  uint32_t max_files_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

}  // namespace berth::sandbox
