// TempDir: a fresh directory under $TMPDIR (or /tmp) for one test, removed with everything
// in it when the test ends. Tests of the sandbox component run without root.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/fs.hpp"

namespace berth::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/berth-test.XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    path_ = made ? made : "";
    fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  ~TempDir() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) (void)fs::remove_tree(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  void write(const std::string& name, const std::string& data) const {
    auto slash = name.rfind('/');
    if (slash != std::string::npos) (void)fs::mkdir_p(file(name.substr(0, slash)));
    int f = ::open(file(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f >= 0) {
      (void)fs::write_all(f, data.data(), data.size());
      ::close(f);
    }
  }
  std::string read(const std::string& name) const {
    auto r = fs::read_file(file(name));
    return r ? *r : std::string("<missing>");
  }
  bool exists(const std::string& name) const { return fs::exists(file(name)); }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace berth::testing
