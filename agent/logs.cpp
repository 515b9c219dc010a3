#include "agent/logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.hpp"

namespace berth::agent {
namespace {

constexpr size_t kScanBlock = 64 * 1024;

UniqueFd open_log(const std::string& path) {
  auto fd = fs::open_at(AT_FDCWD, path, O_RDONLY);
  return fd ? std::move(fd).value() : UniqueFd();
}

ino_t inode_of(const UniqueFd& fd) {
  struct stat st {};
  return fd.valid() && ::fstat(fd.get(), &st) == 0 ? st.st_ino : 0;
}

// Finds where the last `want` lines start by reading a file backward from `end`. Counts the
// newlines seen in `seen`; `skip_last` drops the log's very last byte if it is a newline (it
// ends the last line rather than starting a new one). Returns the offset, or -1 if the lines
// start in an older file.
off_t scan_back(int fd, off_t end, long want, long& seen, bool& skip_last, uint64_t& budget) {
  char buf[kScanBlock];
  off_t pos = end;
  while (pos > 0) {
    if (budget < kScanBlock) return pos;  // scanned kMaxTailScan: start here, mid-line
    budget -= kScanBlock;
    size_t n = static_cast<size_t>(std::min<off_t>(pos, kScanBlock));
    ssize_t got = ::pread(fd, buf, n, pos - static_cast<off_t>(n));
    if (got != static_cast<ssize_t>(n)) return 0;  // shrank under us: start of this file
    for (size_t i = n; i-- > 0;) {
      if (skip_last) {
        skip_last = false;
        if (buf[i] == '\n') continue;
      }
      if (buf[i] == '\n' && ++seen == want) return pos - static_cast<off_t>(n) + static_cast<off_t>(i) + 1;
    }
    pos -= static_cast<off_t>(n);
  }
  return -1;
}

}  // namespace

// ---- LogFollower ----------------------------------------------------------------------------

LogFollower::LogFollower(std::string sandbox_dir, std::string stream)
    : path_(std::move(sandbox_dir) + "/" + std::move(stream)) {}

void LogFollower::open() {
  fd_ = open_log(path_);
  ino_ = inode_of(fd_);
}

bool LogFollower::reopen_if_rotated() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  if (fd_.valid() && st.st_ino == ino_) return false;
  UniqueFd fd = open_log(path_);
  if (!fd.valid()) return false;
  fd_ = std::move(fd);
  ino_ = inode_of(fd_);
  return true;
}

bool LogFollower::poll(std::string& out, size_t max_bytes) {
  size_t before = out.size();
  char buf[65536];
  for (int round = 0; round < 2; ++round) {
    // Drain the open file (it may have been rotated away: its data still counts), then
    // switch to the new file if there is one and drain that too.
    while (fd_.valid() && out.size() - before < max_bytes) {
      size_t want = std::min(sizeof(buf), max_bytes - (out.size() - before));
      ssize_t n = ::read(fd_.get(), buf, want);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    if (out.size() - before >= max_bytes || !reopen_if_rotated()) break;
  }
  return out.size() > before;
}

// ---- LogReader ------------------------------------------------------------------------------

LogReader::LogReader(std::string sandbox_dir, std::string stream)
    : dir_(std::move(sandbox_dir)), stream_(std::move(stream)), current_(dir_, stream_) {}

std::string LogReader::rotated_path(int k) const { return dir_ + "/" + stream_ + "." + std::to_string(k); }

void LogReader::seek_tail(long lines) {
  older_.clear();
  next_ = 0;
  current_.open();
  ino_t current_ino = inode_of(current_.fd());
  // Rotated files newest first, opened only as the lines asked for need them.
  std::vector<UniqueFd> newest_first;
  long seen = 0;
  bool skip_last = true;
  uint64_t budget = kMaxTailScan;
  off_t start = -1;  // offset in the oldest file taken
  if (lines == 0) {
    if (current_.fd().valid()) ::lseek(current_.fd().get(), 0, SEEK_END);
    return;
  }
  if (lines > 0 && current_.fd().valid()) {
    start = scan_back(current_.fd().get(), ::lseek(current_.fd().get(), 0, SEEK_END), lines, seen, skip_last, budget);
    ::lseek(current_.fd().get(), start < 0 ? 0 : start, SEEK_SET);
  }
  for (int k = 1; start < 0 && k <= kMaxLogFiles; ++k) {
    UniqueFd fd = open_log(rotated_path(k));
    if (!fd.valid()) break;
    if (current_ino != 0 && inode_of(fd) == current_ino) continue;  // rotated while we looked
    if (lines > 0) {
      start = scan_back(fd.get(), ::lseek(fd.get(), 0, SEEK_END), lines, seen, skip_last, budget);
      ::lseek(fd.get(), start < 0 ? 0 : start, SEEK_SET);
    }
    newest_first.push_back(std::move(fd));
  }
  older_.assign(std::make_move_iterator(newest_first.rbegin()), std::make_move_iterator(newest_first.rend()));
}

bool LogReader::read(std::string& out, size_t max_bytes) {
  size_t before = out.size();
  char buf[65536];
  while (next_ < older_.size() && out.size() - before < max_bytes) {
    size_t want = std::min(sizeof(buf), max_bytes - (out.size() - before));
    ssize_t n = ::read(older_[next_].get(), buf, want);
    if (n <= 0) {
      older_[next_++] = UniqueFd();  // done with it: close
      continue;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  if (next_ >= older_.size() && out.size() - before < max_bytes)
    current_.poll(out, max_bytes - (out.size() - before));
  return out.size() > before;
}

}  // namespace berth::agent
