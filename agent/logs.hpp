// Reading a task's logs from its sandbox: `stdout`, `stdout.1`, ... written by the shim with
// rotation (higher suffix = older). A LogReader starts at the last N lines (found by reading
// backward from the end of the newest file, and only as many older files as those lines
// need) or at the oldest kept byte, then hands out the bytes from there on in bounded pieces,
// across the rotated files and on into the current one, which it follows by name across
// rotations (finishing the file it has open first).
//
// Invariants: memory is bounded by the piece size asked for, whatever the size of the logs;
// a file is opened once and read through its fd, so a rotation while reading loses nothing
// and repeats nothing of what was opened. At most kMaxLogFiles files of a stream are seen.
// Threading: a LogReader is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::agent {

// More rotated files than the launch spec allows (logging.max_files <= 100).
inline constexpr int kMaxLogFiles = 1000;
// A tail reads at most this much backward looking for its lines; past it, the output starts
// mid-line where the scan stopped (a 10-line tail of 64 GiB of lines without newlines).
inline constexpr uint64_t kMaxTailScan = 64ull << 20;

// The current file of a stream, followed by name: after a rotation it finishes the file it
// has open, then goes on with the new one.
class LogFollower {
 public:
  LogFollower(std::string sandbox_dir, std::string stream);
  // Opens the current file at its start (nothing yet: poll() picks it up when it appears).
  void open();
  const UniqueFd& fd() const { return fd_; }
  // Appends bytes written since the last call, at most max_bytes; false if nothing new.
  bool poll(std::string& out, size_t max_bytes = 1 << 20);

 private:
  bool reopen_if_rotated();
  std::string path_;
  UniqueFd fd_;
  ino_t ino_ = 0;
};

class LogReader {
 public:
  LogReader(std::string sandbox_dir, std::string stream);
  // Positions the reader at the start of the last `lines` lines (a last line without a
  // newline counts), reading back at most kMaxTailScan bytes; lines < 0: at the oldest byte
  // kept.
  void seek_tail(long lines);
  // Appends up to max_bytes from the position on; false if there is nothing new now.
  bool read(std::string& out, size_t max_bytes = 1 << 20);

 private:
  std::string rotated_path(int k) const;
  std::string dir_;
  std::string stream_;
  std::vector<UniqueFd> older_;  // rotated files still to read, oldest first
  size_t next_ = 0;              // index into older_
  LogFollower current_;
};

}  // namespace berth::agent
