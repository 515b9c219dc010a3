#include "tests/cgroups/fake_tree.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/fs.hpp"

namespace berth::cgroups::testing {

FakeTree::FakeTree() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/berth-cgroup-test.XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (!p) std::abort();
  path_ = p;
}

FakeTree::~FakeTree() { (void)fs::remove_tree(path_); }

void FakeTree::put(const std::string& file, const std::string& content) const {
  std::ofstream(path_ + "/" + file, std::ios::trunc) << content;
}

std::string FakeTree::get(const std::string& file) const {
  std::ifstream in(path_ + "/" + file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void FakeTree::remove(const std::string& file) const { ::unlink((path_ + "/" + file).c_str()); }

Cgroup FakeTree::cgroup() const {
  auto cg = Cgroup::open(path_);
  if (!cg) std::abort();
  return std::move(cg).value();
}

}  // namespace berth::cgroups::testing
