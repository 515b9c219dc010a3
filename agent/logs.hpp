// Reading a task's logs from its sandbox: `stdout`, `stdout.1`, ... written by the shim with
// rotation (higher suffix = older). LogFollower reads the current file, then streams new bytes
// as they arrive, carrying on across a rotation by finishing the file it has open first.
// A LogFollower is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::agent {

// Existing files of one stream, oldest first.
std::vector<std::string> log_files(const std::string& sandbox_dir, const std::string& stream);

// The rotated files of a stream (not the current one), oldest first, concatenated.
std::string read_rotated(const std::string& sandbox_dir, const std::string& stream);
// The last `tail` lines of text (tail < 0: all of it).
std::string tail_lines(const std::string& text, long tail);

class LogFollower {
 public:
  LogFollower(std::string sandbox_dir, std::string stream);
  // Opens the current file at its start; read_rotated() + poll() then give the whole log.
  void open();
  // Appends bytes written since the last call; false if nothing new.
  bool poll(std::string& out, size_t max_bytes = 1 << 20);

 private:
  bool reopen_if_rotated();
  std::string path_;
  UniqueFd fd_;
  ino_t ino_ = 0;
};

}  // namespace berth::agent
