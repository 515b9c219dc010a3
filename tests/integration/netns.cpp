#include "tests/integration/netns.hpp"

#include <sys/random.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace berth::testing {
namespace {

std::string random_suffix() {
  unsigned char b[4];
  while (::getrandom(b, sizeof(b), 0) != static_cast<ssize_t>(sizeof(b))) {
  }
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
  return hex;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int status_of(int raw) { return raw == -1 ? -1 : (WIFEXITED(raw) ? WEXITSTATUS(raw) : -1); }

}  // namespace

TestNetns::TestNetns() : name_("berth-it-" + random_suffix()) {
  if (status_of(std::system(("ip netns add " + name_).c_str())) != 0)
    throw std::runtime_error("ip netns add " + name_ + " failed");
  if (status_of(std::system(("ip -n " + name_ + " link set lo up").c_str())) != 0)
    throw std::runtime_error("ip -n " + name_ + " link set lo up failed");
}

TestNetns::~TestNetns() { (void)std::system(("ip netns del " + name_).c_str()); }

int TestNetns::sh(const std::string& command) const {
  return status_of(std::system(("nsenter --net=" + path() + " sh -c " + quote(command)).c_str()));
}

std::string TestNetns::output(const std::string& command) const {
  FILE* p = ::popen(("nsenter --net=" + path() + " sh -c " + quote(command)).c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string TestNetns::links() const { return output("ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1"); }

}  // namespace berth::testing
