#include "agent/logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.hpp"

namespace berth::agent {

std::vector<std::string> log_files(const std::string& sandbox_dir, const std::string& stream) {
  std::vector<std::string> out;
  for (int i = 1;; ++i) {
    std::string p = sandbox_dir + "/" + stream + "." + std::to_string(i);
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  std::reverse(out.begin(), out.end());
  std::string current = sandbox_dir + "/" + stream;
  if (fs::exists(current)) out.push_back(current);
  return out;
}

std::string tail_lines(const std::string& text, long tail) {
  if (tail < 0) return text;
  if (tail == 0) return std::string();
  // A last line without a newline still counts as a line.
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  long seen = 0;
  size_t pos = end;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++seen == tail) break;
    --pos;
  }
  return text.substr(pos);
}

std::string read_rotated(const std::string& sandbox_dir, const std::string& stream) {
  std::string all;
  auto files = log_files(sandbox_dir, stream);
  if (!files.empty() && files.back() == sandbox_dir + "/" + stream) files.pop_back();
  for (const auto& f : files) {
    auto text = fs::read_file(f);
    if (text) all += *text;  // a file rotated away between listing and reading is skipped
  }
  return all;
}

LogFollower::LogFollower(std::string sandbox_dir, std::string stream)
    : path_(std::move(sandbox_dir) + "/" + std::move(stream)) {}

void LogFollower::open() {
  auto fd = fs::open_at(AT_FDCWD, path_, O_RDONLY);
  if (!fd) return;  // not written yet: poll() picks it up when it appears
  fd_ = std::move(fd).value();
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0) ino_ = st.st_ino;
}

bool LogFollower::reopen_if_rotated() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  if (fd_.valid() && st.st_ino == ino_) return false;
  auto fd = fs::open_at(AT_FDCWD, path_, O_RDONLY);
  if (!fd) return false;
  fd_ = std::move(fd).value();
  ino_ = st.st_ino;
  return true;
}

bool LogFollower::poll(std::string& out, size_t max_bytes) {
  size_t before = out.size();
  char buf[65536];
  for (int round = 0; round < 2; ++round) {
    // Drain the open file (it may have been rotated away: its data still counts), then
    // switch to the new file if there is one and drain that too.
    while (fd_.valid() && out.size() - before < max_bytes) {
      ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    if (!reopen_if_rotated()) break;
  }
  return out.size() > before;
}

}  // namespace berth::agent
