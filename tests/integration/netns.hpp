// TestNetns: a network namespace a test creates (`ip netns add berth-it-<random>`, lo up)
// and deletes in its destructor, so every network test (berthd included, through
// Agent::start_in_netns) runs there and never in the machine's own namespace. sh() runs a
// shell command inside it through `nsenter --net=` (not `ip netns exec`, which remounts /sys).
// Needs root and iproute2. Not thread-safe; one per test.
#pragma once

#include <string>

namespace berth::testing {

class TestNetns {
 public:
  TestNetns();
  ~TestNetns();
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // Runs `command` with sh inside the namespace; its exit status (-1 when it could not run).
  int sh(const std::string& command) const;
  // The stdout of `command` run inside the namespace.
  std::string output(const std::string& command) const;
  // The names of the links in the namespace, one per line ("lo\\nberth0\\n...").
  std::string links() const;

 private:
  std::string name_;
};

}  // namespace berth::testing
