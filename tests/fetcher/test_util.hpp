// Helpers shared by the fetcher tests: a temp dir that removes itself, unpacking from a string,
// and a snapshot of a tree (to show nothing outside a root changed).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "common/fs.hpp"
#include "fetcher/unpacker.hpp"

namespace berth::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/berth-fetcher-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)fs::remove_tree(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline Result<fetcher::UnpackStats> unpack_string(const std::string& data, const std::string& root,
                                                  fetcher::UnpackOptions opts = {}) {
  auto dir = fs::open_dir(root);
  if (!dir) return dir.error();
  size_t pos = 0;
  fetcher::ReadFn read = [&](void* buf, size_t len) -> Result<size_t> {
    size_t n = std::min(len, data.size() - pos);
    std::memcpy(buf, data.data() + pos, n);
    pos += n;
    return n;
  };
  return fetcher::unpack(read, dir->get(), opts);
}

// path → "type size mode mtime" for every entry under root (no following of symlinks).
inline std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  namespace sfs = std::filesystem;
  std::error_code ec;
  for (auto it = sfs::recursive_directory_iterator(root, sfs::directory_options::none, ec);
       it != sfs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    out[it->path().string()] = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                               std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + " " +
                               std::to_string(st.st_ino);
  }
  return out;
}

// path → type and size, ignoring times: what a user of the store can see.
inline std::map<std::string, std::string> listing(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& [path, desc] : snapshot(root)) {
    struct stat st {};
    ::lstat(path.c_str(), &st);
    out[path] = S_ISDIR(st.st_mode) ? "dir" : std::to_string(st.st_mode) + " " + std::to_string(st.st_size);
  }
  return out;
}

inline bool is_root() { return ::geteuid() == 0; }

}  // namespace berth::testing
