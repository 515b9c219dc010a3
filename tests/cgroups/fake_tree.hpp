// A fake cgroup directory in a temp dir for unit tests: files are plain files, so tests can
// seed what a kernel would show and read back what the library wrote. Removed on destruction.
#pragma once

#include <string>

#include "cgroups/cgroup.hpp"

namespace berth::cgroups::testing {

class FakeTree {
 public:
  FakeTree();
  ~FakeTree();
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::string& path() const { return path_; }
  void put(const std::string& file, const std::string& content) const;
  std::string get(const std::string& file) const;
  void remove(const std::string& file) const;
  Cgroup cgroup() const;

 private:
  std::string path_;
};

}  // namespace berth::cgroups::testing
